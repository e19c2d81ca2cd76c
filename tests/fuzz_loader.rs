//! The MNIST loader under thousands of seeded random mutations of small valid IDX files,
//! plain and gzipped: bytes flipped, files cut or extended, header fields set to
//! extremes, compressed streams damaged or given extra members. Never a panic, memory
//! bounded, and either a one-line error or exactly the original data.

mod common;

use crossent::mnist::{self, IdxFile, Location};
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::Path;

const CASES: usize = 4000;

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Four small files in MNIST's layout (4 training and 3 test digits) and their spec.
fn originals() -> ([IdxFile; 4], [Vec<u8>; 4]) {
    let counts = [4, 4, 3, 3];
    let bytes: Vec<Vec<u8>> = mnist::FILES
        .iter()
        .zip(counts)
        .map(|(file, n)| {
            if file.is_images() {
                let pixels: Vec<u8> = (0..n * 784).map(|i| (i * 37 % 256) as u8).collect();
                mnist::idx::images_file(&pixels)
            } else {
                mnist::idx::labels_file(&(0..n as u8).map(|i| (i * 3) % 10).collect::<Vec<_>>())
            }
        })
        .collect();
    let spec: Vec<IdxFile> = mnist::FILES
        .iter()
        .zip(counts)
        .zip(&bytes)
        .map(|((file, count), bytes)| IdxFile {
            count,
            md5: leak(mnist::idx::md5_hex(bytes)),
            ..*file
        })
        .collect();
    (spec.try_into().unwrap(), bytes.try_into().unwrap())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

const EXTREMES: [u32; 7] = [0, 1, 28, 2049, 0x7fff_ffff, 0x8000_0000, u32::MAX];

/// One random mutation of `bytes`, described for the failure message.
fn mutate(rng: &mut rand_chacha::ChaCha8Rng, bytes: &mut Vec<u8>) -> String {
    match rng.random_range(0..5) {
        0 => {
            let k = rng.random_range(1..=4);
            for _ in 0..k {
                let at = rng.random_range(0..bytes.len());
                bytes[at] ^= rng.random_range(1..=255u8);
            }
            format!("{k} bytes flipped")
        }
        1 => {
            let at = rng.random_range(0..bytes.len());
            bytes.truncate(at);
            format!("cut at {at}")
        }
        2 => {
            let extra = if rng.random_bool(0.1) {
                1 << 20
            } else {
                rng.random_range(1..100)
            };
            bytes.extend((0..extra).map(|_| rng.random::<u8>()));
            format!("extended by {extra}")
        }
        3 => {
            let words = bytes.len().min(16) / 4;
            let word = rng.random_range(0..words.max(1));
            let value = EXTREMES[rng.random_range(0..EXTREMES.len())];
            if bytes.len() >= 4 * word + 4 {
                bytes[4 * word..4 * word + 4].copy_from_slice(&value.to_be_bytes());
            }
            format!("header word {word} set to {value}")
        }
        _ => {
            let at = rng.random_range(0..bytes.len());
            bytes.insert(at, rng.random());
            format!("a byte inserted at {at}")
        }
    }
}

/// A file's content, gunzipped (every member) where it is gzipped.
fn content(bytes: &[u8], gz: bool) -> Vec<u8> {
    if !gz {
        return bytes.to_vec();
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(bytes), &mut out).unwrap();
    out
}

/// IDX's magic number and the item count, as the format spells them (big-endian): 2051
/// for images, 2049 for labels.
fn literal_header(file: &IdxFile) -> [u8; 8] {
    let magic: [u8; 4] = if file.is_images() {
        [0, 0, 8, 3]
    } else {
        [0, 0, 8, 1]
    };
    let n = (file.count as u32).to_be_bytes();
    [
        magic[0], magic[1], magic[2], magic[3], n[0], n[1], n[2], n[3],
    ]
}

fn peak_rss_kib() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss
}

fn write_case(dir: &Path, spec: &[IdxFile; 4], files: &[Vec<u8>], gz: &[bool]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    for ((file, bytes), &gz) in spec.iter().zip(files).zip(gz) {
        let name = if gz {
            format!("{}.gz", file.name)
        } else {
            file.name.to_string()
        };
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn mutated_idx_files_never_panic_and_give_an_error_or_the_original_data() {
    let (spec, original) = originals();
    let dir = common::scratch_dir("fuzz");
    let location = Location {
        dir: dir.to_path_buf(),
        chosen_by: "--data-dir",
    };
    // Positive control: the unmutated files load, plain and gzipped, with and without md5.
    for gz in [[false; 4], [true; 4]] {
        let files: Vec<Vec<u8>> = original
            .iter()
            .map(|b| if gz[0] { gzip(b) } else { b.clone() })
            .collect();
        write_case(&dir, &spec, &files, &gz);
        for verify in [true, false] {
            let read = mnist::read_checked_as(&location, &spec, verify).unwrap();
            assert_eq!(
                read, original,
                "the originals load (gz {}, md5 {verify})",
                gz[0]
            );
        }
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
    let start = std::time::Instant::now();
    let rss_before = peak_rss_kib();
    let (mut refused, mut intact, mut accepted_unverified) = (0, 0, 0);
    for case in 0..CASES {
        let target = rng.random_range(0..4);
        let gz: Vec<bool> = (0..4).map(|_| rng.random_bool(0.5)).collect();
        let mut files: Vec<Vec<u8>> = original
            .iter()
            .zip(&gz)
            .map(|(b, &gz)| if gz { gzip(b) } else { b.clone() })
            .collect();
        let what = if gz[target] && rng.random_bool(0.5) {
            // The uncompressed content mutated, then compressed (possibly in two members).
            let mut plain = original[target].clone();
            let what = mutate(&mut rng, &mut plain);
            files[target] = if rng.random_bool(0.3) && plain.len() > 1 {
                let half = plain.len() / 2;
                [gzip(&plain[..half]), gzip(&plain[half..])].concat()
            } else {
                gzip(&plain)
            };
            format!("content {what}, gzipped")
        } else {
            format!(
                "{} {}",
                if gz[target] { "gz" } else { "plain" },
                mutate(&mut rng, &mut files[target])
            )
        };
        write_case(&dir, &spec, &files, &gz);
        for verify in [true, false] {
            let result =
                std::panic::catch_unwind(|| mnist::read_checked_as(&location, &spec, verify));
            let result = result.unwrap_or_else(|_| {
                panic!(
                    "case {case} ({}: {what}): the loader panicked",
                    spec[target].name
                )
            });
            match result {
                Ok(read) if verify => {
                    assert_eq!(
                        read, original,
                        "case {case} ({}: {what}): accepted data that is not the original",
                        spec[target].name
                    );
                    intact += 1;
                }
                Ok(read) => {
                    // Without md5, what is accepted is what the files hold, under headers
                    // spelled out here byte for byte, with labels that are digits.
                    for (k, (file, bytes)) in spec.iter().zip(&read).enumerate() {
                        assert_eq!(bytes, &content(&files[k], gz[k]), "case {case}: {what}");
                        assert_eq!(&bytes[..8], &literal_header(file), "case {case}: {what}");
                        if file.is_images() {
                            assert_eq!(&bytes[8..16], &[0, 0, 0, 28, 0, 0, 0, 28]);
                            assert_eq!(bytes.len(), 16 + file.count * 784, "case {case}");
                        } else {
                            assert_eq!(bytes.len(), 8 + file.count, "case {case}");
                            assert!(bytes[8..].iter().all(|&l| l <= 9), "case {case}: {what}");
                        }
                    }
                    accepted_unverified += 1;
                }
                Err(e) => {
                    let e = format!("{e:#}");
                    assert_eq!(e.lines().count(), 1, "case {case}: {e}");
                    assert!(e.contains("MNIST file"), "case {case}: {e}");
                    refused += usize::from(verify);
                }
            }
        }
    }
    assert!(
        refused > 0 && intact > 0,
        "{refused} refused, {intact} intact"
    );
    assert!(
        accepted_unverified > 0 && accepted_unverified > intact,
        "without md5 some mutations (a pixel changed) are accepted: {accepted_unverified}"
    );
    let grown_mib = (peak_rss_kib() - rss_before) as f64 / 1024.0;
    assert!(grown_mib < 64.0, "peak memory grew by {grown_mib:.0} MiB");
    let _ = writeln!(
        std::io::stderr(),
        "loader fuzz: {CASES} mutated cases (each checked with and without md5), {refused} \
         refused, {intact} accepted unchanged, {accepted_unverified} accepted without md5, \
         in {:.1} s; peak memory grew {grown_mib:.1} MiB",
        start.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
