//! Fetching MNIST once into the user cache, from the Hugging Face copy (`ylecun/mnist`)
//! through the ecosystem's own client, `hf-hub`.
//!
//! The hub serves MNIST as two parquet files (train and test) of PNG images and labels.
//! They are downloaded into a temporary folder inside the cache, decoded, and written as
//! the four IDX files that the rest of the project reads. Every file is checked (header,
//! size, labels, and the published md5 sum) while still in memory, then written under a
//! unique temporary name and renamed: an interrupted or corrupt fetch leaves nothing a
//! later run would take as good. `HF_ENDPOINT` points the client at another server (the
//! tests serve the files from 127.0.0.1); `HF_HUB_OFFLINE=1` forbids the fetch.
//!
//! The fetch is bounded in time and size (`Limits`): the client's connect and read
//! timeouts, a bound on each answer, on silence and on the least rate while a file
//! streams, a cap on each file's size (announced or streamed), and retries of transient
//! failures, each said on stderr.

use super::idx::{self, IdxFile, SIDE};
use anyhow::{anyhow, bail, Context, Result};
use hf_hub::progress::{DownloadEvent, ProgressEvent, ProgressHandler};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

/// The dataset on the hub, and the revision that holds its parquet conversion.
pub const DATASET: (&str, &str) = ("ylecun", "mnist");
/// The revision of the dataset that holds its parquet conversion.
pub const REVISION: &str = "refs/convert/parquet";
/// The default hub, unless `HF_ENDPOINT` names another.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// One split on the hub: its parquet file and the two IDX files made from it.
pub struct Split {
    /// The parquet file's path in the dataset.
    pub parquet: &'static str,
    /// The images file made from it.
    pub images: IdxFile,
    /// The labels file made from it.
    pub labels: IdxFile,
}

/// MNIST's two splits, with the published IDX files they must give.
pub fn mnist_splits() -> [Split; 2] {
    let [train_images, train_labels, test_images, test_labels] = idx::FILES;
    [
        Split {
            parquet: "mnist/train/0000.parquet",
            images: train_images,
            labels: train_labels,
        },
        Split {
            parquet: "mnist/test/0000.parquet",
            images: test_images,
            labels: test_labels,
        },
    ]
}

/// The hub's address: `HF_ENDPOINT`, else huggingface.co.
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
        .trim_end_matches('/')
        .to_string()
}

/// Whether `HF_HUB_OFFLINE` forbids network access, as the hub's own clients read it.
pub fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// What a fetch did.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// Bytes downloaded (the parquet files).
    pub downloaded: u64,
    /// How long the fetch took.
    pub seconds: f64,
    /// The IDX files written, with their md5 sums.
    pub written: Vec<(String, String)>,
}

/// The bounds a fetch keeps to, in time and size; `Limits::from_env` reads them.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// To open a connection (`CROSSENT_FETCH_CONNECT_TIMEOUT`, seconds; 10).
    pub connect: Duration,
    /// From asking for a file to its answer's headers (`HF_HUB_ETAG_TIMEOUT`, as the
    /// hub's Python client reads it; 10).
    pub answer: Duration,
    /// The longest silence while a file streams (`HF_HUB_DOWNLOAD_TIMEOUT`; 30).
    pub stall: Duration,
    /// The least rate, bytes per second (`CROSSENT_FETCH_MIN_RATE`; 4096) ...
    pub min_rate: u64,
    /// ... kept over every window of this length (`CROSSENT_FETCH_RATE_TIME`; 30), as
    /// curl's `--speed-limit` and `--speed-time` do.
    pub rate_window: Duration,
    /// The most bytes one file may have, announced or streamed
    /// (`CROSSENT_FETCH_MAX_BYTES`; 48 MiB, three times MNIST's larger file).
    pub max_bytes: u64,
    /// How many times a transient failure (a 5xx answer, a reset or refused connection,
    /// no answer) is retried (`CROSSENT_FETCH_RETRIES`; 2).
    pub retries: usize,
    /// The wait before the first retry, doubled for each next (`CROSSENT_FETCH_BACKOFF`,
    /// seconds; 1).
    pub backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            answer: Duration::from_secs(10),
            stall: Duration::from_secs(30),
            min_rate: 4096,
            rate_window: Duration::from_secs(30),
            max_bytes: 48 << 20,
            retries: 2,
            backoff: Duration::from_secs(1),
        }
    }
}

impl Limits {
    /// The defaults, with each variable of the environment that is set in its place; a
    /// value that is not a number is one error naming it.
    ///
    /// ```
    /// let limits = crossent::mnist::fetch::Limits::from_env()?;
    /// assert!(limits.max_bytes > 0);
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `from_env` over any source of variables.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let d = Self::default();
        let seconds = |name: &str, default: Duration| -> Result<Duration> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e6)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| anyhow!("{name}={v:?} is not a number of seconds above 0")),
            }
        };
        let number = |name: &str, default: u64| -> Result<u64> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| anyhow!("{name}={v:?} is not a whole number")),
            }
        };
        Ok(Self {
            connect: seconds("CROSSENT_FETCH_CONNECT_TIMEOUT", d.connect)?,
            answer: seconds("HF_HUB_ETAG_TIMEOUT", d.answer)?,
            stall: seconds("HF_HUB_DOWNLOAD_TIMEOUT", d.stall)?,
            min_rate: number("CROSSENT_FETCH_MIN_RATE", d.min_rate)?,
            rate_window: seconds("CROSSENT_FETCH_RATE_TIME", d.rate_window)?,
            max_bytes: number("CROSSENT_FETCH_MAX_BYTES", d.max_bytes)?,
            retries: number("CROSSENT_FETCH_RETRIES", d.retries as u64)?.min(10) as usize,
            backoff: seconds("CROSSENT_FETCH_BACKOFF", d.backoff)?,
        })
    }
}

/// Fetches `splits` from the hub at `endpoint` into `dest` as IDX files, within the
/// limits the environment sets (see `Limits::from_env`); see the module doc.
pub fn fetch_into(dest: &Path, endpoint: &str, splits: &[Split]) -> Result<Fetched> {
    fetch_within(dest, endpoint, splits, &Limits::from_env()?)
}

/// `fetch_into` within the given limits.
pub fn fetch_within(
    dest: &Path,
    endpoint: &str,
    splits: &[Split],
    limits: &Limits,
) -> Result<Fetched> {
    std::fs::create_dir_all(dest).with_context(|| {
        format!(
            "cannot create the MNIST cache folder {}; set XDG_CACHE_HOME to a writable folder",
            dest.display()
        )
    })?;
    let files: Vec<&str> = splits.iter().map(|s| s.parquet).collect();
    let dataset_url = format!("{endpoint}/datasets/{}/{}", DATASET.0, DATASET.1);
    // Said once the hub answers (its first download starts), so that an offline run
    // ends in its one error line.
    let announcement = std::sync::Arc::new(std::sync::Mutex::new(Some(format!(
        "fetching MNIST from {dataset_url} ({REVISION}: {}) into {}",
        files.join(", "),
        dest.display()
    ))));
    let start = Instant::now();
    // Removed on every way out, with whatever was downloaded into it.
    let download = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(dest)
        .with_context(|| {
            format!(
                "cannot write into the MNIST cache folder {}",
                dest.display()
            )
        })?;
    let http = reqwest::Client::builder()
        .connect_timeout(limits.connect)
        .read_timeout(limits.stall)
        .user_agent(concat!("crossent/", env!("CARGO_PKG_VERSION"), " hf-hub/1"))
        .build()
        .map_err(|e| anyhow!("cannot set up the HTTP client: {}", first_line(&e)))?;
    // Retries are made here, where each can be said on stderr; the client makes none.
    let client = hf_hub::HFClient::builder()
        .endpoint(endpoint)
        .client(http)
        .retry_max_attempts(0)
        .build()
        .map_err(|e| anyhow!("cannot reach {endpoint}: {}", first_line(&e)))?;
    let repo = client.dataset(DATASET.0, DATASET.1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the fetch's event loop")?;
    let mut downloaded = 0;
    let mut checked: Vec<(IdxFile, Vec<u8>)> = Vec::new();
    for split in splits {
        let path = download.path().join(split.parquet.replace('/', "-"));
        let what = || format!("{} from {dataset_url}", split.parquet);
        let bytes = runtime.block_on(with_retries(limits, &what(), || {
            let bar = Bar::new(split.parquet, announcement.clone());
            stream_to_file(&repo, split.parquet, &path, limits, bar)
        }))?;
        downloaded += bytes;
        let (images, labels) = idx_from_parquet(&path, split)
            .map_err(|e| anyhow!("the fetched {} {e}", split.parquet))?;
        // The parquet file is no longer needed: at most one is on disk at a time.
        let _ = std::fs::remove_file(&path);
        for (file, bytes) in [(split.images, images), (split.labels, labels)] {
            idx::check(&file, &bytes)
                .and_then(|()| idx::check_md5(&file, &bytes))
                .map_err(|e| {
                    anyhow!(
                        "{} made from the fetched {} {e}; nothing was written",
                        file.name,
                        split.parquet
                    )
                })?;
            checked.push((file, bytes));
        }
    }
    let mut written = Vec::new();
    for (file, bytes) in &checked {
        crate::files::write_file(dest, file.name, bytes)?;
        written.push((file.name.to_string(), idx::md5_hex(bytes)));
    }
    let seconds = start.elapsed().as_secs_f64();
    eprintln!(
        "fetched {:.1} MB in {seconds:.1} s; wrote {} IDX files, md5 verified",
        downloaded as f64 / 1e6,
        written.len()
    );
    Ok(Fetched {
        downloaded,
        seconds,
        written,
    })
}

/// Why one try at a file failed, and whether another may succeed.
#[derive(Debug)]
struct Failure {
    what: String,
    transient: bool,
}

impl Failure {
    fn final_(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            transient: false,
        }
    }
    fn transient(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            transient: true,
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or has been retried
/// `limits.retries` times; each retry is one line on stderr.
async fn with_retries<F, Fut>(limits: &Limits, what: &str, mut attempt: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<u64, Failure>>,
{
    let tries = limits.retries + 1;
    let mut wait = limits.backoff;
    for k in 1..=tries {
        match attempt().await {
            Ok(bytes) => return Ok(bytes),
            Err(failure) if failure.transient && k < tries => {
                eprintln!(
                    "fetch: {what}: {}; retrying in {:.1} s (try {} of {tries})",
                    failure.what,
                    wait.as_secs_f64(),
                    k + 1
                );
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(failure) => {
                let after = if failure.transient {
                    format!(" (after {tries} tries)")
                } else {
                    String::new()
                };
                bail!(
                    "cannot fetch {what}: {}{after}; retry later, or point HF_ENDPOINT at a \
                     hub that answers",
                    failure.what
                )
            }
        }
    }
    unreachable!("the last try returns")
}

/// Downloads one file of the dataset into `path`, within `limits`: the bytes written.
async fn stream_to_file(
    repo: &hf_hub::repository::HFRepository<hf_hub::repository::RepoTypeDataset>,
    file: &str,
    path: &Path,
    limits: &Limits,
    bar: Bar,
) -> std::result::Result<u64, Failure> {
    use futures_util::StreamExt;
    use std::io::Write;
    let opened = tokio::time::timeout(
        limits.answer,
        repo.download_file_stream()
            .filename(file)
            .revision(REVISION.to_string())
            .progress(hf_hub::progress::Progress::new(bar))
            .send(),
    )
    .await
    .map_err(|_| {
        Failure::transient(format!(
            "no answer for {:.0} s",
            limits.answer.as_secs_f64()
        ))
    })?;
    let (announced, mut stream) = opened.map_err(classify)?;
    if let Some(len) = announced.filter(|&len| len > limits.max_bytes) {
        return Err(Failure::final_(format!(
            "the hub announces {len} bytes, over the {} a file of MNIST may have \
             (CROSSENT_FETCH_MAX_BYTES); nothing was downloaded",
            limits.max_bytes
        )));
    }
    let mut out = std::fs::File::create(path)
        .map_err(|e| Failure::final_(format!("cannot write {}: {e}", path.display())))?;
    let mut written: u64 = 0;
    let mut window_start = Instant::now();
    let mut window_bytes: u64 = 0;
    loop {
        let next = tokio::time::timeout(limits.stall, stream.next())
            .await
            .map_err(|_| {
                Failure::final_(format!(
                    "no byte for {:.0} s after {written} bytes (HF_HUB_DOWNLOAD_TIMEOUT)",
                    limits.stall.as_secs_f64()
                ))
            })?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| {
            let mut failure = classify(e);
            failure.what = format!("{} after {written} bytes", failure.what);
            failure
        })?;
        if written + chunk.len() as u64 > limits.max_bytes {
            return Err(Failure::final_(format!(
                "the hub streams past {} bytes, more than a file of MNIST may have \
                 (CROSSENT_FETCH_MAX_BYTES)",
                limits.max_bytes
            )));
        }
        out.write_all(&chunk)
            .map_err(|e| Failure::final_(format!("cannot write {}: {e}", path.display())))?;
        written += chunk.len() as u64;
        window_bytes += chunk.len() as u64;
        let elapsed = window_start.elapsed();
        if elapsed >= limits.rate_window {
            let rate = window_bytes as f64 / elapsed.as_secs_f64();
            if rate < limits.min_rate as f64 {
                return Err(Failure::final_(format!(
                    "the hub sends {rate:.0} bytes/s, under {} for {:.0} s \
                     (CROSSENT_FETCH_MIN_RATE, CROSSENT_FETCH_RATE_TIME)",
                    limits.min_rate,
                    elapsed.as_secs_f64()
                )));
            }
            window_start = Instant::now();
            window_bytes = 0;
        }
    }
    if let Some(len) = announced.filter(|&len| len != written) {
        return Err(Failure::transient(format!(
            "the answer ended after {written} of the {len} bytes it announced"
        )));
    }
    out.sync_all()
        .map_err(|e| Failure::final_(format!("cannot write {}: {e}", path.display())))?;
    Ok(written)
}

/// Whether a client error may pass on a retry: 5xx answers, rate limits, refused, reset
/// or timed-out connections may; 404, 401, 403 and malformed answers are final.
fn classify(e: hf_hub::HFError) -> Failure {
    use hf_hub::HFError;
    match &e {
        HFError::Http { context } => {
            let status = context.status;
            let text = format!("the hub answered {status}");
            if status.is_server_error() || status.as_u16() == 408 {
                Failure::transient(text)
            } else {
                Failure::final_(text)
            }
        }
        HFError::RateLimited { .. } => Failure::transient("the hub answered 429 (rate limited)"),
        HFError::EntryNotFound { .. }
        | HFError::RepoNotFound { .. }
        | HFError::RevisionNotFound { .. } => Failure::final_(format!(
            "the hub answered 404 ({}), which is final",
            first_line(&e)
        )),
        HFError::AuthRequired { .. } | HFError::Forbidden { .. } => Failure::final_(format!(
            "the hub refused access ({}), which is final",
            first_line(&e)
        )),
        HFError::Request { source, .. } => {
            let what = if source.is_connect() {
                "cannot connect".to_string()
            } else if source.is_timeout() {
                "no answer in time".to_string()
            } else {
                format!("the connection failed ({})", first_line(&e))
            };
            Failure::transient(what)
        }
        _ => Failure::final_(first_line(&e)),
    }
}

fn first_line(err: &dyn std::fmt::Display) -> String {
    err.to_string().lines().next().unwrap_or("").to_string()
}

/// Decodes one split's parquet file (rows of `image.bytes` as PNG and `label`) into the
/// bytes of its images and labels IDX files.
pub fn idx_from_parquet(
    path: &Path,
    split: &Split,
) -> std::result::Result<(Vec<u8>, Vec<u8>), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read ({e})"))?;
    let reader = SerializedFileReader::new(file).map_err(|e| format!("is not parquet ({e})"))?;
    let rows = reader.metadata().file_metadata().num_rows();
    if rows != split.images.count as i64 {
        return Err(format!("holds {rows} rows, not {}", split.images.count));
    }
    let mut images = Vec::with_capacity(split.images.count * SIDE * SIDE);
    let mut labels = Vec::with_capacity(split.labels.count);
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| format!("cannot be read as parquet ({e})"))?;
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| format!("row {i} cannot be read ({e})"))?;
        let mut png = None;
        let mut label = None;
        for (name, field) in row.get_column_iter() {
            match (name.as_str(), field) {
                ("image", Field::Group(image)) => {
                    for (name, field) in image.get_column_iter() {
                        if let ("bytes", Field::Bytes(bytes)) = (name.as_str(), field) {
                            png = Some(bytes.data());
                        }
                    }
                }
                ("label", Field::Long(l)) => label = Some(*l),
                ("label", Field::Int(l)) => label = Some(i64::from(*l)),
                _ => {}
            }
        }
        let png = png.ok_or_else(|| format!("row {i} has no image bytes"))?;
        let label = label.ok_or_else(|| format!("row {i} has no label"))?;
        let label = u8::try_from(label)
            .ok()
            .filter(|l| *l <= 9)
            .ok_or_else(|| format!("row {i} has label {label}, out of range 0..=9"))?;
        images.extend(decode_digit(png).map_err(|e| format!("row {i}'s image {e}"))?);
        labels.push(label);
    }
    if labels.len() != split.labels.count {
        return Err(format!(
            "gave {} rows, not {}",
            labels.len(),
            split.labels.count
        ));
    }
    Ok((idx::images_file(&images), idx::labels_file(&labels)))
}

/// Decodes one 28×28 grey PNG, refusing any other size before decoding its pixels.
fn decode_digit(png: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(png), image::ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(SIDE as u32);
    limits.max_image_height = Some(SIDE as u32);
    limits.max_alloc = Some(1 << 20);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| format!("is not a 28x28 PNG ({e})"))?;
    if (image.width(), image.height()) != (SIDE as u32, SIDE as u32) {
        return Err(format!(
            "is {}x{}, not 28x28",
            image.width(),
            image.height()
        ));
    }
    Ok(image.into_luma8().into_raw())
}

/// Says what is fetched when the first download starts, then shows a progress bar on a
/// terminal (elsewhere the start and end lines say enough).
struct Bar {
    bar: Option<indicatif::ProgressBar>,
    announcement: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Bar {
    fn new(name: &str, announcement: std::sync::Arc<std::sync::Mutex<Option<String>>>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::hidden();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(name.to_string());
            bar
        });
        Self { bar, announcement }
    }
}

impl ProgressHandler for Bar {
    fn on_progress(&self, event: &ProgressEvent) {
        let ProgressEvent::Download(event) = event else {
            return;
        };
        if let DownloadEvent::Start { total_bytes, .. } = event {
            if let Some(line) = self.announcement.lock().ok().and_then(|mut a| a.take()) {
                eprintln!("{line}");
            }
            if let Some(bar) = &self.bar {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_length(*total_bytes);
            }
        }
        let Some(bar) = &self.bar else {
            return;
        };
        match event {
            DownloadEvent::Start { .. } => {}
            DownloadEvent::Progress { files } => {
                if let Some(file) = files.last() {
                    bar.set_position(file.bytes_completed);
                }
            }
            DownloadEvent::AggregateProgress {
                bytes_completed, ..
            } => bar.set_position(*bytes_completed),
            DownloadEvent::Complete => bar.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_the_environment_and_bad_values_are_named() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Limits::from_lookup(|_| None).unwrap(), Limits::default());
        let set = Limits::from_lookup(vars(&[
            ("HF_HUB_ETAG_TIMEOUT", "2.5"),
            ("HF_HUB_DOWNLOAD_TIMEOUT", "7"),
            ("CROSSENT_FETCH_MAX_BYTES", "1000"),
            ("CROSSENT_FETCH_RETRIES", "0"),
        ]))
        .unwrap();
        assert_eq!(set.answer, Duration::from_millis(2500));
        assert_eq!(set.stall, Duration::from_secs(7));
        assert_eq!((set.max_bytes, set.retries), (1000, 0));
        let err = Limits::from_lookup(vars(&[("HF_HUB_DOWNLOAD_TIMEOUT", "soon")])).unwrap_err();
        assert!(
            err.to_string().contains("HF_HUB_DOWNLOAD_TIMEOUT=\"soon\""),
            "{err}"
        );
        assert!(Limits::from_lookup(vars(&[("HF_HUB_ETAG_TIMEOUT", "-1")])).is_err());
    }
}
