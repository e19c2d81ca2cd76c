//! MNIST: finding the files, checking them, loading them through candle-datasets.
//!
//! The folder is `--data-dir`, else `MNIST_DIR`, else `data/mnist` in the project. Each
//! of the four IDX files may be plain or gzipped. Before loading, every file's magic
//! number, counts, image size and byte length are checked (with `--verify` also its md5
//! sum), and every label must be a digit; a missing, truncated or wrong file is an error
//! that names the file, what is wrong and how to get MNIST. The data is never part of
//! the project.

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use std::io::Read;
use std::path::{Path, PathBuf};

/// One of the four IDX files of MNIST.
#[derive(Clone, Copy, Debug)]
pub struct IdxFile {
    pub name: &'static str,
    /// 2051 for images, 2049 for labels.
    magic: u32,
    count: usize,
    /// The md5 sum of the uncompressed file, as published.
    md5: &'static str,
}

impl IdxFile {
    fn is_images(&self) -> bool {
        self.magic == 2051
    }

    fn expected_len(&self) -> usize {
        if self.is_images() {
            16 + self.count * 28 * 28
        } else {
            8 + self.count
        }
    }
}

/// The four files, in the order candle-datasets reads them.
pub const FILES: [IdxFile; 4] = [
    IdxFile {
        name: "train-images-idx3-ubyte",
        magic: 2051,
        count: 60_000,
        md5: "6bbc9ace898e44ae57da46a324031adb",
    },
    IdxFile {
        name: "train-labels-idx1-ubyte",
        magic: 2049,
        count: 60_000,
        md5: "a25bea736e30d166cdddb491f175f624",
    },
    IdxFile {
        name: "t10k-images-idx3-ubyte",
        magic: 2051,
        count: 10_000,
        md5: "2646ac647ad5339dbf082846283269ea",
    },
    IdxFile {
        name: "t10k-labels-idx1-ubyte",
        magic: 2049,
        count: 10_000,
        md5: "27ae3e4e09519cfbb04c329615203637",
    },
];

/// How to get MNIST, for error messages.
pub const HOW_TO_GET: &str = "get the four MNIST IDX files (train-images-idx3-ubyte and the \
     others, plain or .gz) into a folder and pass --data-dir DIR or set MNIST_DIR";

/// Where the chapter looks for MNIST, and why there.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub dir: PathBuf,
    /// `--data-dir`, `MNIST_DIR` or `data/mnist in the project`.
    pub chosen_by: &'static str,
}

/// The folder to read MNIST from: the flag, else `MNIST_DIR`, else the project's
/// `data/mnist`.
pub fn locate(data_dir: Option<&Path>) -> Location {
    if let Some(dir) = data_dir {
        return Location {
            dir: dir.to_path_buf(),
            chosen_by: "--data-dir",
        };
    }
    if let Some(dir) = std::env::var_os("MNIST_DIR").filter(|d| !d.is_empty()) {
        return Location {
            dir: PathBuf::from(dir),
            chosen_by: "MNIST_DIR",
        };
    }
    Location {
        dir: Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data")
            .join("mnist"),
        chosen_by: "data/mnist in the project",
    }
}

/// The MNIST files present in `dir` (plain or gzipped), sorted by name.
pub fn present_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for file in FILES {
        for candidate in [file.name.to_string(), format!("{}.gz", file.name)] {
            if dir.join(&candidate).is_file() {
                found.push(candidate);
            }
        }
    }
    found.sort();
    found
}

/// The lesson's split: the first 50000 training images for training, the last 10000 for
/// validation; pixels in [0, 1] (float32, 784 per image), labels int64.
pub struct LessonData {
    pub x_train: Tensor,
    pub y_train: Tensor,
    pub x_valid: Tensor,
    pub y_valid: Tensor,
}

/// The number of training images the lesson trains on.
pub const N_TRAIN: usize = 50_000;

/// Checks and loads MNIST from `location` onto `device` (moved there once).
pub fn load_lesson(location: &Location, verify: bool, device: &Device) -> Result<LessonData> {
    let dir = checked_dir(location, verify)?;
    let dataset = candle_datasets::vision::mnist::load_dir(&dir)
        .map_err(|e| anyhow!("cannot load MNIST from {}: {e}", dir.display()))?;
    split(dataset.train_images, dataset.train_labels, device)
}

/// Downloads MNIST through candle-datasets' hub loader (needs a network).
pub fn download_lesson(device: &Device) -> Result<LessonData> {
    let dataset = std::panic::catch_unwind(candle_datasets::vision::mnist::load)
        .map_err(|_| anyhow!("the MNIST download returned data that could not be decoded"))?
        .map_err(|e| {
            anyhow!(
                "cannot download MNIST ({}); check the network, or {HOW_TO_GET}",
                e.to_string().lines().next().unwrap_or("")
            )
        })?;
    split(dataset.train_images, dataset.train_labels, device)
}

fn split(images: Tensor, labels: Tensor, device: &Device) -> Result<LessonData> {
    let n = images.dim(0)?;
    if n != 60_000 || labels.dim(0)? != 60_000 {
        bail!("MNIST's training set has {n} images; 60000 expected. {HOW_TO_GET}");
    }
    let max_label = labels.max(0)?.to_dtype(DType::U32)?.to_scalar::<u32>()?;
    if max_label > 9 {
        bail!("an MNIST training label is {max_label}, out of range 0..=9; the labels file is corrupt. {HOW_TO_GET}");
    }
    let images = images.to_device(device)?;
    let labels = labels.to_dtype(DType::I64)?.to_device(device)?;
    let n_valid = n - N_TRAIN;
    Ok(LessonData {
        x_train: images.narrow(0, 0, N_TRAIN)?,
        y_train: labels.narrow(0, 0, N_TRAIN)?,
        x_valid: images.narrow(0, N_TRAIN, n_valid)?,
        y_valid: labels.narrow(0, N_TRAIN, n_valid)?,
    })
}

/// Checks every file and returns a folder of plain IDX files for candle-datasets: the
/// MNIST folder itself, or (for gzipped files) a cache folder they were unpacked into.
fn checked_dir(location: &Location, verify: bool) -> Result<PathBuf> {
    let dir = &location.dir;
    if !dir.is_dir() {
        bail!(
            "the MNIST folder {} (chosen by {}) does not exist; {HOW_TO_GET}",
            dir.display(),
            location.chosen_by
        );
    }
    let mut unpacked = Vec::new();
    for file in FILES {
        let plain = dir.join(file.name);
        let gz = dir.join(format!("{}.gz", file.name));
        let (bytes, shown) = if plain.is_file() {
            let bytes = std::fs::read(&plain)
                .with_context(|| format!("cannot read MNIST file {}", plain.display()))?;
            (bytes, plain.clone())
        } else if gz.is_file() {
            let mut bytes = Vec::new();
            flate2::read::GzDecoder::new(
                std::fs::File::open(&gz)
                    .with_context(|| format!("cannot read MNIST file {}", gz.display()))?,
            )
            .read_to_end(&mut bytes)
            .map_err(|e| {
                anyhow!(
                    "MNIST file {} is not a valid gzip file ({e}); {HOW_TO_GET}",
                    gz.display()
                )
            })?;
            unpacked.push((file.name, bytes.clone()));
            (bytes, gz.clone())
        } else {
            bail!(
                "MNIST file {} is missing in {} (chosen by {}); {HOW_TO_GET}",
                file.name,
                dir.display(),
                location.chosen_by
            );
        };
        check_idx(&file, &bytes)
            .map_err(|what| anyhow!("MNIST file {} {what}; {HOW_TO_GET}", shown.display()))?;
        if verify {
            let sum = md5_hex(&bytes);
            if sum != file.md5 {
                bail!(
                    "MNIST file {} has md5 {sum}, not the published {}; {HOW_TO_GET}",
                    shown.display(),
                    file.md5
                );
            }
        }
    }
    if unpacked.is_empty() {
        return Ok(dir.clone());
    }
    unpack_to_cache(dir, unpacked)
}

/// Checks one file's header, size and (for labels) that every label is a digit.
fn check_idx(file: &IdxFile, bytes: &[u8]) -> std::result::Result<(), String> {
    let word = |i: usize| -> Option<u32> {
        bytes
            .get(4 * i..4 * i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let magic = word(0).ok_or("is truncated: shorter than its header")?;
    if magic != file.magic {
        return Err(format!(
            "has magic number {magic}, not {} (not an IDX {} file)",
            file.magic,
            if file.is_images() { "image" } else { "label" }
        ));
    }
    let count = word(1).ok_or("is truncated: shorter than its header")? as usize;
    if count != file.count {
        return Err(format!("holds {count} items, not {}", file.count));
    }
    if file.is_images() {
        let rows = word(2).ok_or("is truncated: shorter than its header")?;
        let cols = word(3).ok_or("is truncated: shorter than its header")?;
        if (rows, cols) != (28, 28) {
            return Err(format!("has {rows}x{cols} images, not 28x28"));
        }
    }
    if bytes.len() != file.expected_len() {
        let what = if bytes.len() < file.expected_len() {
            "is truncated"
        } else {
            "is too long"
        };
        return Err(format!(
            "{what}: {} bytes, {} expected",
            bytes.len(),
            file.expected_len()
        ));
    }
    if !file.is_images() {
        if let Some((i, label)) = bytes[8..].iter().enumerate().find(|(_, &l)| l > 9) {
            return Err(format!(
                "has label {label} at index {i}, out of range 0..=9"
            ));
        }
    }
    Ok(())
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes unpacked files next to the plain ones candle-datasets needs, in a cache folder
/// of the build output; each file is written to a temporary name and renamed.
fn unpack_to_cache(source: &Path, unpacked: Vec<(&str, Vec<u8>)>) -> Result<PathBuf> {
    let cache = crate::plot::build_output_dir().join("mnist-unpacked");
    std::fs::create_dir_all(&cache)
        .with_context(|| format!("cannot create {} to unpack MNIST", cache.display()))?;
    for (name, bytes) in unpacked {
        let partial = cache.join(format!(".{name}.partial"));
        std::fs::write(&partial, &bytes)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, cache.join(name))
            .with_context(|| format!("cannot write {}", cache.join(name).display()))?;
    }
    for file in FILES {
        let plain = source.join(file.name);
        if plain.is_file() {
            std::fs::copy(&plain, cache.join(file.name))
                .with_context(|| format!("cannot copy {}", plain.display()))?;
        }
    }
    Ok(cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels_file(count: u32, labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(2049u32.to_be_bytes());
        b.extend(count.to_be_bytes());
        b.extend(labels);
        b
    }

    #[test]
    fn checks_headers_sizes_and_labels() {
        let small = IdxFile {
            name: "labels",
            magic: 2049,
            count: 3,
            md5: "",
        };
        assert_eq!(check_idx(&small, &labels_file(3, &[1, 2, 3])), Ok(()));
        assert_eq!(
            check_idx(&small, &labels_file(3, &[1, 2])),
            Err("is truncated: 10 bytes, 11 expected".into())
        );
        assert_eq!(
            check_idx(&small, &labels_file(4, &[1, 2, 3, 4])),
            Err("holds 4 items, not 3".into())
        );
        assert_eq!(
            check_idx(&small, &labels_file(3, &[1, 12, 3])),
            Err("has label 12 at index 1, out of range 0..=9".into())
        );
        let mut wrong_magic = labels_file(3, &[1, 2, 3]);
        wrong_magic[3] = 3;
        assert!(check_idx(&small, &wrong_magic)
            .unwrap_err()
            .contains("magic number 2051"));
        assert_eq!(
            check_idx(&small, &[0, 0]),
            Err("is truncated: shorter than its header".into())
        );
    }

    #[test]
    fn md5_of_known_bytes() {
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }
}
