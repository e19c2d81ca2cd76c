//! MNIST: finding it, fetching it once when it is nowhere, checking it, loading it.
//!
//! The folder is looked for in one order (`locate`): `--data-dir`, `MNIST_DIR`,
//! `data/mnist` in the project, the user cache, `../shared/data/mnist`. When none holds
//! it, it is fetched once into the user cache (`fetch`). Each of the four IDX files may
//! be plain or gzipped; every file's magic number, counts, image size and byte length
//! are checked before use (with `--verify` also its md5 sum), reading no more than the
//! file may hold (`idx`), and every label must be a digit. A missing, truncated or wrong
//! file is a one-line error that names the file, what is wrong and how to get MNIST.
//! The data is never part of the project.

pub mod fetch;
pub mod idx;
pub mod locate;

use anyhow::{anyhow, bail, Result};
use candle_core::{DType, Device, Tensor};

pub use idx::{IdxFile, FILES};
pub use locate::{find, present_files, Location};

/// How to get MNIST, for error messages.
pub const HOW_TO_GET: &str = "put the four MNIST IDX files (train-images-idx3-ubyte and \
     the others, plain or .gz) in a folder and pass --data-dir DIR or set MNIST_DIR, or \
     run once with a network to fetch them into the user cache";

/// The folder to read: the one found (see `locate`), else MNIST fetched into the user
/// cache. A folder the user named is returned as it is, present or not, and the loader
/// says what is wrong with it. Fails in one line naming every place looked when MNIST is
/// nowhere and cannot be fetched.
pub fn find_or_fetch(data_dir: Option<&std::path::Path>) -> Result<Location> {
    if let Some(named) = locate::named(data_dir) {
        return Ok(named);
    }
    let hub = (!fetch::offline()).then(fetch::endpoint);
    find_or_fetch_in(
        &locate::search_path(),
        locate::cache_dir(),
        hub.as_deref(),
        &fetch::mnist_splits(),
    )
}

/// `find_or_fetch` over given places: the first of `search` that holds the files, else
/// `splits` fetched from the hub at `hub` into `cache`. `hub` is `None` where
/// `HF_HUB_OFFLINE` forbids the fetch (`find_or_fetch` reads the environment; this reads
/// only its arguments, so that a test's hub on 127.0.0.1 is reached whatever is set).
pub fn find_or_fetch_in(
    search: &[Location],
    cache: Option<Location>,
    hub: Option<&str>,
    splits: &[fetch::Split],
) -> Result<Location> {
    if let Some(found) = search.iter().find(|l| locate::holds_mnist(&l.dir)) {
        return Ok(found.clone());
    }
    let looked = locate::describe(search);
    let Some(cache) = cache else {
        bail!(
            "MNIST is in none of {looked}, and there is no user cache to fetch it into \
             (set XDG_CACHE_HOME or HOME); {HOW_TO_GET}"
        );
    };
    let Some(endpoint) = hub else {
        bail!(
            "MNIST is in none of {looked}, and HF_HUB_OFFLINE is set, so it is not fetched; \
             {HOW_TO_GET}"
        );
    };
    match fetch::fetch_into(&cache.dir, endpoint, splits) {
        Ok(_) => Ok(cache),
        Err(e) => Err(anyhow!(
            "MNIST is in none of {looked}, and fetching it failed: {}; {HOW_TO_GET}",
            format!("{e:#}").replace('\n', " ")
        )),
    }
}

/// The lesson's split: the first 50000 training images for training, the last 10000 for
/// validation; pixels in [0, 1) as the course's `mnist.pkl.gz` stores them (float32 grey
/// level / 256, 784 per image), labels int64.
pub struct LessonData {
    /// The 50,000 training images, `(50000, 784)`, grey levels in [0, 1].
    pub x_train: Tensor,
    /// Their labels.
    pub y_train: Tensor,
    /// The 10,000 validation images, `(10000, 784)`.
    pub x_valid: Tensor,
    /// Their labels.
    pub y_valid: Tensor,
}

/// The number of training images the lesson trains on.
pub const N_TRAIN: usize = 50_000;

/// Checks and loads MNIST's training set from `location` onto `device` (moved there
/// once), split as the lesson splits it.
pub fn load_lesson(location: &Location, verify: bool, device: &Device) -> Result<LessonData> {
    let [images, labels, ..] = read_checked(location, verify)?;
    let n = FILES[0].count;
    let images = pixels(images, n)?.to_device(device)?;
    let labels = Tensor::from_vec(labels[8..].to_vec(), n, &Device::Cpu)?
        .to_dtype(DType::I64)?
        .to_device(device)?;
    let n_valid = n - N_TRAIN;
    Ok(LessonData {
        x_train: images.narrow(0, 0, N_TRAIN)?,
        y_train: labels.narrow(0, 0, N_TRAIN)?,
        x_valid: images.narrow(0, N_TRAIN, n_valid)?,
        y_valid: labels.narrow(0, N_TRAIN, n_valid)?,
    })
}

/// What the course's `mnist.pkl.gz` divides each grey level by: 256, not 255. Its
/// `02_fully_connected` prints the training mean and standard deviation as
/// `(tensor(0.1304), tensor(0.3073))`, which /256 gives and /255 (0.1310, 0.3085) does not.
pub const LESSON_SCALE: f32 = 256.0;

/// An images file's pixels as the lesson had them: `(n, 784)` float32, grey level / 256
/// (exact in float32). The files are read once, checked in memory and turned into tensors
/// here, so gzipped files need no unpacked copy on disk; a test shows the grey levels
/// equal to those of `candle_datasets::vision::mnist::load_dir` (which divides by 255).
fn pixels(file: Vec<u8>, n: usize) -> Result<Tensor> {
    let mut bytes = file;
    bytes.drain(..16);
    Ok(
        (Tensor::from_vec(bytes, (n, idx::SIDE * idx::SIDE), &Device::Cpu)?
            .to_dtype(DType::F32)?
            / f64::from(LESSON_SCALE))?,
    )
}

/// Reads and checks MNIST's four files in `location`, in `FILES` order.
pub fn read_checked(location: &Location, verify: bool) -> Result<[Vec<u8>; 4]> {
    read_checked_as(location, &FILES, verify)
}

/// Reads and checks the four files `files` describes in `location` (the tests use small
/// files of their own).
pub fn read_checked_as(
    location: &Location,
    files: &[IdxFile; 4],
    verify: bool,
) -> Result<[Vec<u8>; 4]> {
    let dir = &location.dir;
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => bail!(
            "the MNIST folder {} (chosen by {}) is not a folder; {HOW_TO_GET}",
            dir.display(),
            location.chosen_by
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "the MNIST folder {} (chosen by {}) does not exist; {HOW_TO_GET}",
            dir.display(),
            location.chosen_by
        ),
        Err(e) => bail!(
            "the MNIST folder {} (chosen by {}) cannot be read ({e}); {HOW_TO_GET}",
            dir.display(),
            location.chosen_by
        ),
    }
    let mut read = Vec::with_capacity(4);
    for &file in files {
        let plain = dir.join(file.name);
        let gz = dir.join(format!("{}.gz", file.name));
        use idx::Entry;
        let (bytes, shown) = match (idx::entry(&plain), idx::entry(&gz)) {
            (Entry::File, _) => (idx::read_plain(&file, &plain), plain),
            (Entry::Missing, Entry::File) => (idx::read_gz(&file, &gz), gz),
            (Entry::Missing, Entry::Missing) => bail!(
                "MNIST file {} is missing in {} (chosen by {}); {HOW_TO_GET}",
                file.name,
                dir.display(),
                location.chosen_by
            ),
            (Entry::NotAFile(what), _) | (Entry::Missing, Entry::NotAFile(what)) => {
                let shown = if idx::entry(&plain) == Entry::Missing {
                    gz
                } else {
                    plain
                };
                bail!(
                    "MNIST file {} is {what}, not a file; {HOW_TO_GET}",
                    shown.display()
                )
            }
            (Entry::Unreadable(e), _) | (Entry::Missing, Entry::Unreadable(e)) => bail!(
                "MNIST file {} cannot be looked at ({e}); {HOW_TO_GET}",
                plain.display()
            ),
        };
        let bytes = bytes
            .and_then(|bytes| idx::check(&file, &bytes).map(|()| bytes))
            .and_then(|bytes| {
                if verify {
                    idx::check_md5(&file, &bytes)?;
                }
                Ok(bytes)
            })
            .map_err(|what| anyhow!("MNIST file {} {what}; {HOW_TO_GET}", shown.display()))?;
        read.push(bytes);
    }
    Ok(read.try_into().expect("four files"))
}
