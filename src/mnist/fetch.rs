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

use super::idx::{self, IdxFile, SIDE};
use anyhow::{anyhow, bail, Context, Result};
use hf_hub::progress::{DownloadEvent, ProgressEvent, ProgressHandler};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The dataset on the hub, and the revision that holds its parquet conversion.
pub const DATASET: (&str, &str) = ("ylecun", "mnist");
pub const REVISION: &str = "refs/convert/parquet";
/// The default hub, unless `HF_ENDPOINT` names another.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// One split on the hub: its parquet file and the two IDX files made from it.
pub struct Split {
    pub parquet: &'static str,
    pub images: IdxFile,
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
    pub seconds: f64,
    /// The IDX files written, with their md5 sums.
    pub written: Vec<(String, String)>,
}

/// Fetches `splits` from the hub at `endpoint` into `dest` as IDX files; see the module
/// doc.
pub fn fetch_into(dest: &Path, endpoint: &str, splits: &[Split]) -> Result<Fetched> {
    if offline() {
        bail!("HF_HUB_OFFLINE is set, so MNIST is not fetched");
    }
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
    let client = hf_hub::HFClient::builder()
        .endpoint(endpoint)
        .retry_max_attempts(3)
        .build_sync()
        .map_err(|e| anyhow!("cannot reach {endpoint}: {}", first_line(&e)))?;
    let repo = client.dataset(DATASET.0, DATASET.1);
    let mut downloaded = 0;
    let mut checked: Vec<(IdxFile, Vec<u8>)> = Vec::new();
    for split in splits {
        let path: PathBuf = repo
            .download_file()
            .filename(split.parquet)
            .revision(REVISION)
            .local_dir(download.path().to_path_buf())
            .progress(hf_hub::progress::Progress::new(Bar::new(
                split.parquet,
                announcement.clone(),
            )))
            .send()
            .map_err(|e| {
                anyhow!(
                    "cannot fetch {} from {dataset_url}: {}",
                    split.parquet,
                    first_line(&e)
                )
            })?;
        downloaded += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let (images, labels) = idx_from_parquet(&path, split)
            .map_err(|e| anyhow!("the fetched {} {e}", split.parquet))?;
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
