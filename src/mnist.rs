//! Finding the MNIST files: `--data-dir`, else `MNIST_DIR`, else `data/mnist` in the
//! project. The data is never part of the project; see the README for how to get it.

use std::path::{Path, PathBuf};

/// The four IDX files of MNIST, as published (each may also be gzipped, `.gz`).
pub const FILES: [&str; 4] = [
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
];

/// How to get MNIST, for error messages.
pub const HOW_TO_GET: &str = "put the four MNIST IDX files (train-images-idx3-ubyte, ...) \
     in a folder and pass --data-dir DIR or set MNIST_DIR";

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
    for name in FILES {
        for candidate in [name.to_string(), format!("{name}.gz")] {
            if dir.join(&candidate).is_file() {
                found.push(candidate);
            }
        }
    }
    found.sort();
    found
}
