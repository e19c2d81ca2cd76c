//! MNIST checking and loading, on the shared copy and on damaged copies made from it.

use candle_core::Device;
use crossent::mnist::{self, Location};
use std::io::Write;
use std::path::{Path, PathBuf};

fn shared() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    assert!(
        dir.join("train-images-idx3-ubyte").is_file(),
        "the tests need MNIST at {}",
        dir.display()
    );
    dir
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crossent-mnist-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn at(dir: &Path) -> Location {
    Location {
        dir: dir.to_path_buf(),
        chosen_by: "--data-dir",
    }
}

/// A copy of the shared folder: links for every file but `replaced`, written instead.
fn copy_with(name: &str, replaced: &str, bytes: &[u8]) -> PathBuf {
    let dir = scratch(name);
    for file in mnist::FILES {
        if file.name != replaced {
            std::os::unix::fs::symlink(shared().join(file.name), dir.join(file.name)).unwrap();
        }
    }
    std::fs::write(dir.join(replaced), bytes).unwrap();
    dir
}

fn load_error(dir: &Path, verify: bool) -> String {
    match mnist::load_lesson(&at(dir), verify, &Device::Cpu) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn the_shared_copy_loads_with_the_lessons_split_and_verifies() {
    let data = mnist::load_lesson(&at(&shared()), true, &Device::Cpu).unwrap();
    assert_eq!(data.x_train.dims(), [50_000, 784]);
    assert_eq!(data.x_valid.dims(), [10_000, 784]);
    let first: Vec<i64> = data.y_train.narrow(0, 0, 10).unwrap().to_vec1().unwrap();
    assert_eq!(first, [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    // The README's fact: y_valid[0] is the label of training image 50000, a 3.
    assert_eq!(data.y_valid.get(0).unwrap().to_scalar::<i64>().unwrap(), 3);
}

#[test]
fn a_missing_folder_or_file_is_named() {
    let err = load_error(Path::new("/nonexistent/mnist"), false);
    assert!(err.contains("does not exist"), "{err}");
    let empty = scratch("empty");
    let err = load_error(&empty, false);
    assert!(
        err.contains("MNIST file train-images-idx3-ubyte is missing"),
        "{err}"
    );
    assert!(err.contains("--data-dir"), "{err}");
}

#[test]
fn a_truncated_file_is_named() {
    let original = std::fs::read(shared().join("t10k-labels-idx1-ubyte")).unwrap();
    let dir = copy_with("truncated", "t10k-labels-idx1-ubyte", &original[..5000]);
    let err = load_error(&dir, false);
    assert!(
        err.contains("t10k-labels-idx1-ubyte is truncated: 5000 bytes, 10008 expected"),
        "{err}"
    );
}

#[test]
fn a_wrong_magic_number_is_named() {
    let mut bytes = std::fs::read(shared().join("t10k-labels-idx1-ubyte")).unwrap();
    bytes[3] = 3; // 2049 -> 2051
    let dir = copy_with("magic", "t10k-labels-idx1-ubyte", &bytes);
    let err = load_error(&dir, false);
    assert!(err.contains("has magic number 2051, not 2049"), "{err}");
}

#[test]
fn an_out_of_range_label_is_named() {
    let mut bytes = std::fs::read(shared().join("t10k-labels-idx1-ubyte")).unwrap();
    bytes[8 + 7] = 12;
    let dir = copy_with("label", "t10k-labels-idx1-ubyte", &bytes);
    let err = load_error(&dir, false);
    assert!(
        err.contains("has label 12 at index 7, out of range 0..=9"),
        "{err}"
    );
}

#[test]
fn verify_catches_a_changed_file_that_is_still_well_formed() {
    let mut bytes = std::fs::read(shared().join("t10k-labels-idx1-ubyte")).unwrap();
    bytes[8] = (bytes[8] + 1) % 10;
    let dir = copy_with("md5", "t10k-labels-idx1-ubyte", &bytes);
    assert!(mnist::load_lesson(&at(&dir), false, &Device::Cpu).is_ok());
    let err = load_error(&dir, true);
    assert!(
        err.contains("not the published 27ae3e4e09519cfbb04c329615203637"),
        "{err}"
    );
}

#[test]
fn gzipped_files_load_like_plain_ones() {
    let labels = std::fs::read(shared().join("train-labels-idx1-ubyte")).unwrap();
    let dir = scratch("gz");
    for file in mnist::FILES {
        if file.name != "train-labels-idx1-ubyte" {
            std::os::unix::fs::symlink(shared().join(file.name), dir.join(file.name)).unwrap();
        }
    }
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.join("train-labels-idx1-ubyte.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&labels).unwrap();
    gz.finish().unwrap();
    let data = mnist::load_lesson(&at(&dir), true, &Device::Cpu).unwrap();
    let first: Vec<i64> = data.y_train.narrow(0, 0, 3).unwrap().to_vec1().unwrap();
    assert_eq!(first, [5, 0, 4]);
    std::fs::write(dir.join("train-labels-idx1-ubyte.gz"), b"not gzip").unwrap();
    let err = load_error(&dir, false);
    assert!(err.contains("is not a valid gzip file"), "{err}");
}
