//! The MNIST fetch, without a network: a server on 127.0.0.1 plays the Hugging Face hub
//! (`HF_ENDPOINT`-style endpoint handed to the client), serving parquet files laid out as
//! `ylecun/mnist`'s conversion is (PNG images in `image.bytes`, `label` as int64). The
//! files land verified in a temporary cache; a truncated or corrupt response is refused
//! with nothing left behind; a second run does not fetch again; and, where MNIST is
//! found, the real data written to parquet and fetched back passes the published md5s.

mod common;

use crossent::mnist::fetch::{self, Split};
use crossent::mnist::{self, IdxFile, Location};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the test server answers.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Whole,
    /// Announces the whole length, sends half, and closes.
    CutShort,
    /// The whole length, with bytes in the middle changed.
    Corrupt,
}

/// A hub on 127.0.0.1 serving `files` (by the path's end) until dropped; it stops by
/// itself after a minute in any case.
struct Hub {
    endpoint: String,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(files: Vec<(&'static str, Vec<u8>)>, answer: Answer) -> Hub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (count, stopped) = (requests.clone(), stop.clone());
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stopped.load(Ordering::SeqCst) && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = respond(stream, &files, answer);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Hub {
        endpoint,
        requests,
        stop,
    }
}

/// Reads one request's head (at most 16 KiB, within 5 s): its method and path, or `None`
/// when the client left first. Also bounds the stream's writes to 5 s.
fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<(String, String)>> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 << 10 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        request.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&request);
    let mut words = text.split_whitespace().map(str::to_string);
    Ok(Some((
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    )))
}

fn respond(
    mut stream: TcpStream,
    files: &[(&str, Vec<u8>)],
    answer: Answer,
) -> std::io::Result<()> {
    let Some((method, path)) = read_request(&mut stream)? else {
        return Ok(());
    };
    let (method, path) = (method.as_str(), path.as_str());
    let found = files
        .iter()
        .find(|(name, _)| path.contains("/ylecun/mnist/resolve/") && path.ends_with(name));
    let Some((_, body)) = found else {
        return stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    };
    let mut body = body.clone();
    if answer == Answer::Corrupt {
        let middle = body.len() / 2;
        for b in &mut body[middle..middle + 64] {
            *b ^= 0x5a;
        }
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\
         ETag: \"fixture\"\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if method == "GET" {
        let sent = if answer == Answer::CutShort {
            body.len() / 2
        } else {
            body.len()
        };
        stream.write_all(&body[..sent])?;
    }
    stream.flush()
}

/// A split's rows as the hub's parquet conversion holds them (labels as int64).
fn parquet_of(images: &[u8], labels: &[u8]) -> Vec<u8> {
    parquet_with_labels(images, labels, LabelType::Int64)
}

/// The physical type of a parquet file's label column: the hub's conversion writes
/// int64 (a `ClassLabel`); other writers of the same schema use int32.
#[derive(Clone, Copy)]
enum LabelType {
    Int64,
    Int32,
}

fn parquet_with_labels(images: &[u8], labels: &[u8], label_type: LabelType) -> Vec<u8> {
    let label_column = match label_type {
        LabelType::Int64 => "int64",
        LabelType::Int32 => "int32",
    };
    let schema = parquet::schema::parser::parse_message_type(&format!(
        "message schema {{
            optional group image {{ optional binary bytes; optional binary path (STRING); }}
            optional {label_column} label;
        }}"
    ))
    .unwrap();
    let pngs: Vec<ByteArray> = images
        .chunks(28 * 28)
        .map(|pixels| {
            let mut png = Vec::new();
            image::ImageEncoder::write_image(
                image::codecs::png::PngEncoder::new(&mut png),
                pixels,
                28,
                28,
                image::ExtendedColorType::L8,
            )
            .unwrap();
            ByteArray::from(png)
        })
        .collect();
    let n = labels.len();
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(
        &mut out,
        Arc::new(schema),
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut column = 0;
    while let Some(mut col) = group.next_column().unwrap() {
        match column {
            // image.bytes: present (definition level 2) in every row.
            0 => {
                col.typed::<ByteArrayType>()
                    .write_batch(&pngs, Some(&vec![2; n]), None)
                    .unwrap();
            }
            // image.path: null (the image is there, its path is not).
            1 => {
                col.typed::<ByteArrayType>()
                    .write_batch(&[], Some(&vec![1; n]), None)
                    .unwrap();
            }
            _ => match label_type {
                LabelType::Int64 => {
                    let labels: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
                    col.typed::<Int64Type>()
                        .write_batch(&labels, Some(&vec![1; n]), None)
                        .unwrap();
                }
                LabelType::Int32 => {
                    let labels: Vec<i32> = labels.iter().map(|&l| i32::from(l)).collect();
                    col.typed::<Int32Type>()
                        .write_batch(&labels, Some(&vec![1; n]), None)
                        .unwrap();
                }
            },
        }
        col.close().unwrap();
        column += 1;
    }
    group.close().unwrap();
    writer.close().unwrap();
    out
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A small MNIST-like pair of splits (5 training and 3 test digits) with the IDX files
/// they must give, and their parquet files.
fn small_splits() -> (Vec<Split>, Vec<(&'static str, Vec<u8>)>) {
    let [train_images, train_labels, test_images, test_labels] = mnist::FILES;
    let mut splits = Vec::new();
    let mut served = Vec::new();
    for (parquet, images, labels, n, seed) in [
        (
            "mnist/train/0000.parquet",
            train_images,
            train_labels,
            5,
            1u8,
        ),
        ("mnist/test/0000.parquet", test_images, test_labels, 3, 7u8),
    ] {
        let pixels: Vec<u8> = (0..n * 784)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect();
        let digits: Vec<u8> = (0..n).map(|i| (i as u8 + seed) % 10).collect();
        let with = |file: IdxFile, bytes: Vec<u8>| IdxFile {
            count: n,
            md5: leak(mnist::idx::md5_hex(&bytes)),
            ..file
        };
        splits.push(Split {
            parquet,
            images: with(images, mnist::idx::images_file(&pixels)),
            labels: with(labels, mnist::idx::labels_file(&digits)),
        });
        served.push((parquet, parquet_of(&pixels, &digits)));
    }
    (splits, served)
}

fn scratch(name: &str) -> common::Scratch {
    common::scratch_path(&format!("fetch-{name}"))
}

fn cache_at(dir: &Path) -> Location {
    Location {
        dir: dir.to_path_buf(),
        chosen_by: "the user cache",
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_fetch_lands_verified_in_the_cache_and_is_not_repeated() {
    let (splits, served) = small_splits();
    let hub = serve(served, Answer::Whole);
    let cache = scratch("good");
    let search = [cache_at(&cache)];
    let found = mnist::find_or_fetch_in(
        &search,
        Some(cache_at(&cache)),
        Some(&hub.endpoint),
        &splits,
    )
    .unwrap();
    assert_eq!(found.dir, *cache);
    assert_eq!(
        entries(&cache),
        [
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte"
        ],
        "the four IDX files and nothing else (no temporary files or downloads)"
    );
    for split in &splits {
        for file in [split.images, split.labels] {
            let bytes = std::fs::read(cache.join(file.name)).unwrap();
            assert_eq!(mnist::idx::check(&file, &bytes), Ok(()));
            assert_eq!(mnist::idx::check_md5(&file, &bytes), Ok(()));
        }
    }
    // Against the format's own bytes, not the project's reader: the 5 training images'
    // header, their first pixels as the fixture drew them, and the labels' header.
    let images = std::fs::read(cache.join("train-images-idx3-ubyte")).unwrap();
    assert_eq!(
        images[..16],
        [0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 28, 0, 0, 0, 28]
    );
    assert_eq!(images[16..20], [1, 32, 63, 94], "pixels i * 31 + 1");
    assert_eq!(images.len(), 16 + 5 * 784);
    let labels = std::fs::read(cache.join("t10k-labels-idx1-ubyte")).unwrap();
    assert_eq!(
        labels,
        [0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9],
        "3 labels, (i + 7) % 10"
    );
    let requests = hub.requests.load(Ordering::SeqCst);
    assert_eq!(requests, 4, "a HEAD and a GET for each of the two files");
    mnist::find_or_fetch_in(
        &search,
        Some(cache_at(&cache)),
        Some(&hub.endpoint),
        &splits,
    )
    .unwrap();
    assert_eq!(
        hub.requests.load(Ordering::SeqCst),
        requests,
        "the second run finds the cache and asks the hub nothing"
    );
    let _ = std::fs::remove_dir_all(&cache);
}

/// Fetches from a hub that answers as told, within limits that retry quickly (and
/// without the `HF_HUB_OFFLINE` check, so that the environment cannot stop the fetch
/// before the server); the error, and the requests the hub saw.
fn refused(answer: Answer, name: &str) -> (String, usize) {
    let (splits, served) = small_splits();
    let hub = serve(served, answer);
    let cache = scratch(name);
    let limits = fetch::Limits {
        backoff: Duration::from_millis(10),
        ..fetch::Limits::default()
    };
    let err = fetch::fetch_within(&cache, &hub.endpoint, &splits, &limits)
        .expect_err("a bad response must be refused");
    let err = format!("{err:#}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        entries(&cache),
        Vec::<String>::new(),
        "nothing is left behind"
    );
    let _ = std::fs::remove_dir_all(&cache);
    (err, hub.requests.load(Ordering::SeqCst))
}

#[test]
fn a_truncated_response_is_refused_with_nothing_left_behind() {
    let (err, requests) = refused(Answer::CutShort, "cut");
    assert!(err.contains("mnist/train/0000.parquet"), "{err}");
    assert!(
        err.contains("(after 3 tries)"),
        "a short answer is retried: {err}"
    );
    assert_eq!(requests, 6, "a HEAD and a GET, three times");
}

#[test]
fn a_corrupt_response_is_refused_with_nothing_left_behind() {
    let (err, requests) = refused(Answer::Corrupt, "corrupt");
    assert!(
        err.contains("the fetched mnist/train/0000.parquet"),
        "{err}"
    );
    assert_eq!(
        requests, 2,
        "a HEAD and a GET, not retried: the bytes arrived"
    );
}

#[test]
fn a_hub_that_is_not_there_is_one_line_naming_the_places_looked() {
    // A port that was just free: nothing listens there.
    let endpoint = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let (splits, _) = small_splits();
    let cache = scratch("absent");
    let search = [Location {
        dir: cache.join("elsewhere"),
        chosen_by: "data/mnist in the project",
    }];
    let err = mnist::find_or_fetch_in(&search, Some(cache_at(&cache)), Some(&endpoint), &splits)
        .expect_err("no hub, no MNIST");
    let err = format!("{err:#}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("data/mnist in the project"), "{err}");
    assert!(err.contains("--data-dir"), "{err}");
    assert_eq!(entries(&cache), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn real_mnist_through_the_hub_layout_passes_the_published_md5s() {
    let Some(source) = common::mnist_or_skip("real_mnist_through_the_hub_layout") else {
        return;
    };
    let read = |name: &str| std::fs::read(source.join(name)).unwrap();
    let start = Instant::now();
    let served = vec![
        (
            "mnist/train/0000.parquet",
            parquet_of(
                &read("train-images-idx3-ubyte")[16..],
                &read("train-labels-idx1-ubyte")[8..],
            ),
        ),
        (
            "mnist/test/0000.parquet",
            parquet_of(
                &read("t10k-images-idx3-ubyte")[16..],
                &read("t10k-labels-idx1-ubyte")[8..],
            ),
        ),
    ];
    let size: usize = served.iter().map(|(_, b)| b.len()).sum();
    let made = start.elapsed();
    let hub = serve(served, Answer::Whole);
    let cache = scratch("real");
    let fetched = fetch::fetch_into(&cache, &hub.endpoint, &fetch::mnist_splits()).unwrap();
    assert_eq!(fetched.downloaded as usize, size);
    for file in mnist::FILES {
        assert_eq!(
            read(file.name),
            std::fs::read(cache.join(file.name)).unwrap()
        );
    }
    let sums: Vec<String> = fetched
        .written
        .iter()
        .map(|(name, md5)| format!("{name} {md5}"))
        .collect();
    let _ = writeln!(
        std::io::stderr(),
        "fetch over loopback: {:.1} MB of parquet (made in {:.1} s) fetched and written as IDX \
         in {:.2} s; md5: {}",
        size as f64 / 1e6,
        made.as_secs_f64(),
        fetched.seconds,
        sums.join(", ")
    );
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn offline_nothing_is_fetched_and_the_error_says_why() {
    let (splits, served) = small_splits();
    let hub = serve(served, Answer::Whole);
    let cache = scratch("offline");
    let err = mnist::find_or_fetch_in(&[], Some(cache_at(&cache)), None, &splits)
        .expect_err("offline, MNIST cannot be had");
    let err = format!("{err:#}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("HF_HUB_OFFLINE is set"), "{err}");
    assert_eq!(
        hub.requests.load(Ordering::SeqCst),
        0,
        "the hub is never asked"
    );
    assert_eq!(entries(&cache), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn int32_labels_are_read_as_the_int64_ones() {
    let (splits, served) = small_splits();
    let dir = scratch("int32");
    std::fs::create_dir_all(&dir).unwrap();
    for (split, (name, int64_file)) in splits.iter().zip(&served) {
        let int64_path = dir.join("int64.parquet");
        std::fs::write(&int64_path, int64_file).unwrap();
        let from_int64 = fetch::idx_from_parquet(&int64_path, split).unwrap();
        let labels = &from_int64.1[8..];
        let images = &from_int64.0[16..];
        assert!(
            labels.iter().any(|&l| l != 0),
            "{name}: labels that can tell a lost one"
        );
        let int32_path = dir.join("int32.parquet");
        std::fs::write(
            &int32_path,
            parquet_with_labels(images, labels, LabelType::Int32),
        )
        .unwrap();
        let from_int32 = fetch::idx_from_parquet(&int32_path, split).unwrap();
        assert_eq!(from_int32, from_int64, "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn concurrent_fetches_into_one_fresh_cache_all_succeed() {
    let (splits, served) = small_splits();
    let hub = serve(served, Answer::Whole);
    let cache = scratch("concurrent");
    let splits = Arc::new(splits);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (cache, endpoint, splits) =
                (cache.to_path_buf(), hub.endpoint.clone(), splits.clone());
            std::thread::spawn(move || {
                mnist::find_or_fetch_in(&[], Some(cache_at(&cache)), Some(&endpoint), &splits)
            })
        })
        .collect();
    for run in runs {
        run.join().unwrap().unwrap();
    }
    assert_eq!(entries(&cache).len(), 4, "{:?}", entries(&cache));
    for split in splits.iter() {
        for file in [split.images, split.labels] {
            let bytes = std::fs::read(cache.join(file.name)).unwrap();
            assert_eq!(mnist::idx::check_md5(&file, &bytes), Ok(()));
        }
    }
    let _ = std::fs::remove_dir_all(&cache);
}

/// How a misbehaving hub answers a GET (a HEAD is answered with the file's headers).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Misbehaviour {
    /// Accepts the connection, reads the request, and never answers.
    Silent,
    /// Announces the file, then sends a byte every 50 ms.
    Trickle,
    /// Announces 20 GB and streams zeros.
    HugeLength,
    /// Announces no length and streams zeros until the client leaves.
    Endless,
    /// Sends half of the first GET's body, then resets the connection; then answers well.
    ResetFirstGet,
    /// Answers the first two requests 503, then well.
    UnavailableTwice,
    /// Answers 404 to everything.
    NotFound,
}

/// A hub on 127.0.0.1 that misbehaves as told, a thread per connection; it stops when
/// dropped, and by itself after a minute.
fn misbehaving(files: Vec<(&'static str, Vec<u8>)>, how: Misbehaviour) -> Hub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (count, stopped) = (requests.clone(), stop.clone());
    let files = Arc::new(files);
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stopped.load(Ordering::SeqCst) && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    let (files, stopped) = (files.clone(), stopped.clone());
                    std::thread::spawn(move || {
                        let _ = misbehave(stream, &files, how, n, &stopped, deadline);
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Hub {
        endpoint,
        requests,
        stop,
    }
}

fn misbehave(
    mut stream: TcpStream,
    files: &[(&str, Vec<u8>)],
    how: Misbehaviour,
    nth: usize,
    stop: &AtomicBool,
    deadline: Instant,
) -> std::io::Result<()> {
    let Some((method, path)) = read_request(&mut stream)? else {
        return Ok(());
    };
    let (method, path) = (method.as_str(), path.as_str());
    let body = files
        .iter()
        .find(|(name, _)| path.ends_with(name))
        .map(|(_, b)| b.clone())
        .unwrap_or_default();
    let running = || !stop.load(Ordering::SeqCst) && Instant::now() < deadline;
    let head = |len: Option<u64>| {
        let length = len
            .map(|l| format!("Content-Length: {l}\r\n"))
            .unwrap_or_default();
        format!(
            "HTTP/1.1 200 OK\r\n{length}Content-Type: application/octet-stream\r\n\
             ETag: \"fixture\"\r\nConnection: close\r\n\r\n"
        )
    };
    let refuse = |status: &str| {
        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    };
    match how {
        Misbehaviour::Silent => {
            while running() {
                std::thread::sleep(Duration::from_millis(20));
            }
            return Ok(());
        }
        Misbehaviour::NotFound => return stream.write_all(refuse("404 Not Found").as_bytes()),
        Misbehaviour::UnavailableTwice if nth < 2 => {
            return stream.write_all(refuse("503 Service Unavailable").as_bytes())
        }
        _ => {}
    }
    let huge = 20u64 << 30;
    let announced = match how {
        Misbehaviour::HugeLength => Some(huge),
        Misbehaviour::Endless => None,
        _ => Some(body.len() as u64),
    };
    stream.write_all(head(announced).as_bytes())?;
    if method != "GET" {
        return Ok(());
    }
    match how {
        Misbehaviour::Trickle => {
            for b in &body {
                if !running() {
                    break;
                }
                stream.write_all(&[*b])?;
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Misbehaviour::HugeLength | Misbehaviour::Endless => {
            let zeros = vec![0u8; 64 << 10];
            while running() {
                stream.write_all(&zeros)?;
            }
        }
        Misbehaviour::ResetFirstGet if GETS_RESET.fetch_add(1, Ordering::SeqCst) == 0 => {
            stream.write_all(&body[..body.len() / 2])?;
            reset(&stream);
        }
        _ => stream.write_all(&body)?,
    }
    stream.flush()
}

/// GETs answered by the `ResetFirstGet` hub so far (one such hub runs in this binary).
static GETS_RESET: AtomicUsize = AtomicUsize::new(0);

/// Closes the connection with a reset (RST) instead of an orderly close.
fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `linger` for its size; the descriptor is the stream's own.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Limits short enough for a test: a second to answer, two of silence (longer than the
/// answer's bound, as by default, so that the answer's bound is the one that fires), a
/// 1 s rate window, 1 MiB a file, two retries after 50 ms.
fn short_limits() -> fetch::Limits {
    fetch::Limits {
        connect: Duration::from_secs(1),
        answer: Duration::from_secs(1),
        stall: Duration::from_secs(2),
        min_rate: 4096,
        rate_window: Duration::from_secs(1),
        max_bytes: 1 << 20,
        retries: 2,
        backoff: Duration::from_millis(50),
    }
}

/// The most bytes under `dir` at any moment while `work` runs (polled every 2 ms).
fn most_bytes_under(dir: &Path, work: impl FnOnce()) -> u64 {
    fn size(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => size(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
    let done = Arc::new(AtomicBool::new(false));
    let (watched, finished) = (dir.to_path_buf(), done.clone());
    let watcher = std::thread::spawn(move || {
        let mut most = 0;
        while !finished.load(Ordering::SeqCst) {
            most = most.max(size(&watched));
            std::thread::sleep(Duration::from_millis(2));
        }
        most.max(size(&watched))
    });
    work();
    done.store(true, Ordering::SeqCst);
    watcher.join().unwrap()
}

/// Fetches the small splits from a hub misbehaving as told: the result, the seconds it
/// took, the most bytes ever under the cache, and the requests the hub saw.
fn fetch_from(
    how: Misbehaviour,
    name: &str,
) -> (Result<(), String>, f64, u64, usize, common::Scratch) {
    let (splits, served) = small_splits();
    let hub = misbehaving(served, how);
    let cache = scratch(name);
    std::fs::create_dir_all(&cache).unwrap();
    let start = Instant::now();
    let mut result = Ok(());
    let most = most_bytes_under(&cache, || {
        result = fetch::fetch_within(&cache, &hub.endpoint, &splits, &short_limits())
            .map(|_| ())
            .map_err(|e| format!("{e:#}"));
    });
    let seconds = start.elapsed().as_secs_f64();
    (
        result,
        seconds,
        most,
        hub.requests.load(Ordering::SeqCst),
        cache,
    )
}

/// Asserts a fetch failed in one line saying `says`, leaving nothing in the cache.
fn assert_refused(result: &Result<(), String>, cache: &Path, says: &str) {
    let err = result.as_ref().expect_err("the fetch must fail");
    assert!(err.contains(says), "{err:?} should say {says:?}");
    assert!(!err.contains('\n'), "{err}");
    assert!(err.contains("HF_ENDPOINT"), "says what to do: {err}");
    assert!(
        entries(cache).is_empty(),
        "nothing left: {:?}",
        entries(cache)
    );
    let _ = std::fs::remove_dir_all(cache);
}

#[test]
fn a_silent_hub_ends_after_its_retries_in_one_line() {
    let (result, seconds, _, requests, cache) = fetch_from(Misbehaviour::Silent, "silent");
    assert_refused(&result, &cache, "no answer for 1 s (after 3 tries)");
    assert_eq!(requests, 3, "one request and two retries");
    assert!(seconds < 10.0, "{seconds} s");
}

#[test]
fn a_trickling_hub_is_refused_for_its_rate() {
    let (result, seconds, _, requests, cache) = fetch_from(Misbehaviour::Trickle, "trickle");
    assert_refused(&result, &cache, "bytes/s, under 4096");
    assert_eq!(requests, 2, "a HEAD and a GET: a slow hub is not retried");
    assert!(seconds < 10.0, "{seconds} s");
}

#[test]
fn a_hub_announcing_gigabytes_is_refused_before_the_body() {
    let (result, _, most, _, cache) = fetch_from(Misbehaviour::HugeLength, "huge");
    assert_refused(&result, &cache, "announces 21474836480 bytes");
    assert_eq!(most, 0, "not a byte of it was written");
}

#[test]
fn a_hub_streaming_past_the_cap_without_a_length_is_cut_at_the_cap() {
    let (result, _, most, _, cache) = fetch_from(Misbehaviour::Endless, "endless");
    assert_refused(&result, &cache, "streams past 1048576 bytes");
    assert!(most <= 1 << 20, "{most} bytes were on disk at once");
}

#[test]
fn a_reset_midway_is_retried_and_the_fetch_succeeds() {
    let (result, _, _, requests, cache) = fetch_from(Misbehaviour::ResetFirstGet, "reset");
    assert_eq!(result, Ok(()));
    assert_eq!(
        GETS_RESET.load(Ordering::SeqCst),
        3,
        "the reset GET, its retry, the test file's GET"
    );
    assert_eq!(
        requests, 6,
        "a HEAD and a GET for each file, plus the retried pair"
    );
    assert_eq!(entries(&cache).len(), 4, "{:?}", entries(&cache));
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_503_then_a_good_answer_fetches() {
    let (result, _, _, requests, cache) = fetch_from(Misbehaviour::UnavailableTwice, "503");
    assert_eq!(result, Ok(()));
    assert_eq!(requests, 6, "two 503s, then a HEAD and a GET for each file");
    assert_eq!(entries(&cache).len(), 4);
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_404_is_final_at_once() {
    let (result, seconds, _, requests, cache) = fetch_from(Misbehaviour::NotFound, "404");
    assert_refused(&result, &cache, "404");
    assert!(result.unwrap_err().contains("final"));
    assert_eq!(requests, 1, "no retry after a 404");
    assert!(seconds < 1.0, "{seconds} s");
}
