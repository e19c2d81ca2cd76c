//! MNIST checking and loading, on the copy the chapters find and on damaged copies made
//! from it. Each test that needs MNIST says `skipped` without it (see `common`).

mod common;

use candle_core::Device;
use crossent::mnist::{self, Location};
use std::io::Write;
use std::path::Path;

fn scratch(name: &str) -> common::Scratch {
    common::scratch_dir(&format!("mnist-{name}"))
}

fn at(dir: &Path) -> Location {
    Location {
        dir: dir.to_path_buf(),
        chosen_by: "--data-dir",
    }
}

/// A copy of the MNIST folder: links for every file but `replaced`, written instead.
fn copy_with(source: &Path, name: &str, replaced: &str, bytes: &[u8]) -> common::Scratch {
    let dir = scratch(name);
    for file in mnist::FILES {
        if file.name != replaced {
            std::os::unix::fs::symlink(source.join(file.name), dir.join(file.name)).unwrap();
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
fn the_found_copy_loads_with_the_lessons_split_and_verifies() {
    let Some(source) = common::mnist_or_skip("the_found_copy_loads_with_the_lessons_split") else {
        return;
    };
    let data = mnist::load_lesson(&at(&source), true, &Device::Cpu).unwrap();
    assert_eq!(data.x_train.dims(), [50_000, 784]);
    assert_eq!(data.x_valid.dims(), [10_000, 784]);
    let first: Vec<i64> = data.y_train.narrow(0, 0, 10).unwrap().to_vec1().unwrap();
    assert_eq!(first, [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    // The data README's fact: y_valid[0] is the label of training image 50000, a 3.
    assert_eq!(data.y_valid.get(0).unwrap().to_scalar::<i64>().unwrap(), 3);
}

#[test]
fn loading_gives_what_candle_datasets_gives() {
    let Some(source) = common::mnist_or_skip("loading_gives_what_candle_datasets_gives") else {
        return;
    };
    let ours = mnist::load_lesson(&at(&source), false, &Device::Cpu).unwrap();
    let theirs = candle_datasets::vision::mnist::load_dir(&source).unwrap();
    let x = candle_core::Tensor::cat(&[&ours.x_train, &ours.x_valid], 0).unwrap();
    // The same grey levels: ours are level / 256, candle-datasets' level / 255.
    let levels = |t: &candle_core::Tensor, scale: f64| (t * scale).unwrap().round().unwrap();
    let same = levels(&x, 256.0)
        .eq(&levels(&theirs.train_images, 255.0))
        .unwrap()
        .flatten_all()
        .unwrap()
        .min(0)
        .unwrap()
        .to_scalar::<u8>()
        .unwrap();
    assert_eq!(same, 1, "every grey level equal");
    let x256 = (&x * 256.0).unwrap();
    assert_eq!(
        max_abs(&(&x256 - x256.round().unwrap()).unwrap()),
        0.0,
        "grey level / 256 is exact in float32"
    );
    let y = candle_core::Tensor::cat(&[&ours.y_train, &ours.y_valid], 0).unwrap();
    let theirs_y = theirs
        .train_labels
        .to_dtype(candle_core::DType::I64)
        .unwrap();
    assert_eq!(
        y.to_vec1::<i64>().unwrap(),
        theirs_y.to_vec1::<i64>().unwrap()
    );
}

fn max_abs(t: &candle_core::Tensor) -> f32 {
    t.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// The course's `02_fully_connected` printed the training set's mean and standard
/// deviation as `(tensor(0.1304), tensor(0.3073))`: grey level / 256 gives them.
#[test]
fn the_lesson_data_has_the_course_mean_and_std() {
    let Some(source) = common::mnist_or_skip("the_lesson_data_has_the_course_mean_and_std") else {
        return;
    };
    let data = mnist::load_lesson(&at(&source), false, &Device::Cpu).unwrap();
    // In float64: a float32 sum of 39.2 million values drifts (candle's gives 0.3059).
    let x = data
        .x_train
        .flatten_all()
        .unwrap()
        .to_dtype(candle_core::DType::F64)
        .unwrap();
    let mean = x.mean_all().unwrap();
    let centred = x.broadcast_sub(&mean).unwrap();
    let n = x.dim(0).unwrap() as f64;
    // torch's std is the unbiased one.
    let std = ((centred.sqr().unwrap().sum_all().unwrap() / (n - 1.0)).unwrap())
        .sqrt()
        .unwrap();
    let f32_repr = |t: &candle_core::Tensor| {
        crossent::pt::repr(&t.to_dtype(candle_core::DType::F32).unwrap()).unwrap()
    };
    let printed = crossent::pt::tuple(&[f32_repr(&mean), f32_repr(&std)]);
    assert_eq!(printed, "(tensor(0.1304), tensor(0.3073))");
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
    let file = empty.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = load_error(&file, false);
    assert!(err.contains("is not a folder"), "{err}");
}

#[test]
fn a_truncated_file_is_named() {
    let Some(source) = common::mnist_or_skip("a_truncated_file_is_named") else {
        return;
    };
    let original = std::fs::read(source.join("t10k-labels-idx1-ubyte")).unwrap();
    let dir = copy_with(
        &source,
        "truncated",
        "t10k-labels-idx1-ubyte",
        &original[..5000],
    );
    let err = load_error(&dir, false);
    assert!(
        err.contains("t10k-labels-idx1-ubyte is truncated: 5000 bytes, 10008 expected"),
        "{err}"
    );
}

#[test]
fn a_too_long_file_is_refused_before_it_is_read() {
    let Some(source) = common::mnist_or_skip("a_too_long_file_is_refused") else {
        return;
    };
    let dir = copy_with(&source, "long", "t10k-labels-idx1-ubyte", b"");
    // A sparse 2 GiB file: refused by its length, without reading it.
    let file = std::fs::File::create(dir.join("t10k-labels-idx1-ubyte")).unwrap();
    file.set_len(2 << 30).unwrap();
    let err = load_error(&dir, false);
    assert!(err.contains("is too long: 2147483648 bytes"), "{err}");
}

#[test]
fn a_wrong_magic_number_is_named() {
    let Some(source) = common::mnist_or_skip("a_wrong_magic_number_is_named") else {
        return;
    };
    let mut bytes = std::fs::read(source.join("t10k-labels-idx1-ubyte")).unwrap();
    bytes[3] = 3; // 2049 -> 2051
    let dir = copy_with(&source, "magic", "t10k-labels-idx1-ubyte", &bytes);
    let err = load_error(&dir, false);
    assert!(err.contains("has magic number 2051, not 2049"), "{err}");
}

#[test]
fn an_out_of_range_label_is_named() {
    let Some(source) = common::mnist_or_skip("an_out_of_range_label_is_named") else {
        return;
    };
    let mut bytes = std::fs::read(source.join("t10k-labels-idx1-ubyte")).unwrap();
    bytes[8 + 7] = 12;
    let dir = copy_with(&source, "label", "t10k-labels-idx1-ubyte", &bytes);
    let err = load_error(&dir, false);
    assert!(
        err.contains("has label 12 at index 7, out of range 0..=9"),
        "{err}"
    );
}

#[test]
fn verify_catches_a_changed_file_that_is_still_well_formed() {
    let Some(source) = common::mnist_or_skip("verify_catches_a_changed_file") else {
        return;
    };
    let mut bytes = std::fs::read(source.join("t10k-labels-idx1-ubyte")).unwrap();
    bytes[8] = (bytes[8] + 1) % 10;
    let dir = copy_with(&source, "md5", "t10k-labels-idx1-ubyte", &bytes);
    assert!(mnist::load_lesson(&at(&dir), false, &Device::Cpu).is_ok());
    let err = load_error(&dir, true);
    assert!(
        err.contains("not the published 27ae3e4e09519cfbb04c329615203637"),
        "{err}"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn gzipped_files_load_like_plain_ones_even_in_several_members() {
    let Some(source) = common::mnist_or_skip("gzipped_files_load_like_plain_ones") else {
        return;
    };
    let labels = std::fs::read(source.join("train-labels-idx1-ubyte")).unwrap();
    let dir = scratch("gz");
    for file in mnist::FILES {
        if file.name != "train-labels-idx1-ubyte" {
            std::os::unix::fs::symlink(source.join(file.name), dir.join(file.name)).unwrap();
        }
    }
    let gz_path = dir.join("train-labels-idx1-ubyte.gz");
    // Two gzip members, as `cat a.gz b.gz` makes: gunzip reads both, and so must we.
    let mut two_members = gzip(&labels[..30_000]);
    two_members.extend(gzip(&labels[30_000..]));
    std::fs::write(&gz_path, &two_members).unwrap();
    let plain = mnist::load_lesson(&at(&source), false, &Device::Cpu).unwrap();
    let data = mnist::load_lesson(&at(&dir), true, &Device::Cpu).unwrap();
    assert_eq!(
        data.y_train.to_vec1::<i64>().unwrap(),
        plain.y_train.to_vec1::<i64>().unwrap()
    );
    std::fs::write(&gz_path, b"not gzip").unwrap();
    let err = load_error(&dir, false);
    assert!(err.contains("is not a valid gzip file"), "{err}");
    // A gzip bomb: far more than a labels file may hold, refused one byte past the limit.
    std::fs::write(&gz_path, gzip(&vec![0u8; 64 << 20])).unwrap();
    let err = load_error(&dir, false);
    assert!(
        err.contains("is too long: it inflates past 60008 bytes"),
        "{err}"
    );
}

#[test]
fn a_folder_or_fifo_in_place_of_a_file_is_named_for_what_it_is() {
    let dir = scratch("not-files");
    std::fs::create_dir(dir.join("train-images-idx3-ubyte")).unwrap();
    let err = load_error(&dir, false);
    assert!(
        err.contains("train-images-idx3-ubyte is a folder, not a file"),
        "{err}"
    );
    std::fs::remove_dir(dir.join("train-images-idx3-ubyte")).unwrap();
    let fifo = dir.join("train-images-idx3-ubyte");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    // Never opened (that would wait for a writer): refused by its kind.
    let err = load_error(&dir, false);
    assert!(err.contains("is a FIFO, not a file"), "{err}");
    std::fs::remove_file(&fifo).unwrap();
    std::os::unix::fs::symlink(dir.join("nowhere"), &fifo).unwrap();
    let err = load_error(&dir, false);
    assert!(err.contains("is a symbolic link to nothing"), "{err}");
}
