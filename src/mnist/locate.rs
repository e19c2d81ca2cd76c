//! Where MNIST is looked for, in one order for the chapters, tests and benches:
//! `--data-dir`, `MNIST_DIR`, `data/mnist` in the project, the user cache
//! (`$XDG_CACHE_HOME/crossent/mnist`, else `~/.cache/crossent/mnist`), then
//! `../shared/data/mnist` beside the project. A folder named by the flag or the variable
//! is used as it is; of the others, the first that holds all four files is.

use super::idx::FILES;
use std::path::{Path, PathBuf};

/// A folder MNIST is read from, and what chose it.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    /// The folder.
    pub dir: PathBuf,
    /// `--data-dir`, `MNIST_DIR`, `data/mnist in the project`, `the user cache`, …
    pub chosen_by: &'static str,
}

impl Location {
    /// Whether the user named this folder (`--data-dir`, `MNIST_DIR`): it is then used
    /// as it is, never searched past or fetched into.
    pub fn is_explicit(&self) -> bool {
        matches!(self.chosen_by, "--data-dir" | "MNIST_DIR")
    }
}

/// The folder the user named: the flag, else `MNIST_DIR`.
pub fn named(data_dir: Option<&Path>) -> Option<Location> {
    if let Some(dir) = data_dir {
        return Some(Location {
            dir: dir.to_path_buf(),
            chosen_by: "--data-dir",
        });
    }
    std::env::var_os("MNIST_DIR")
        .filter(|d| !d.is_empty())
        .map(|dir| Location {
            dir: PathBuf::from(dir),
            chosen_by: "MNIST_DIR",
        })
}

/// The user cache of this project: `$XDG_CACHE_HOME/crossent`, else
/// `~/.cache/crossent`; `None` when neither variable gives an absolute path.
pub fn user_cache() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
        .map(|cache| cache.join("crossent"))
}

/// The user cache's MNIST folder, where a fetch writes.
pub fn cache_dir() -> Option<Location> {
    user_cache().map(|dir| Location {
        dir: dir.join("mnist"),
        chosen_by: "the user cache",
    })
}

/// The folders searched when the user names none, in order.
pub fn search_path() -> Vec<Location> {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut places = vec![Location {
        dir: project.join("data").join("mnist"),
        chosen_by: "data/mnist in the project",
    }];
    places.extend(cache_dir());
    places.push(Location {
        dir: project.join("..").join("shared").join("data").join("mnist"),
        chosen_by: "../shared/data/mnist",
    });
    places
}

/// Whether `dir` holds all four MNIST files, each plain or gzipped.
pub fn holds_mnist(dir: &Path) -> bool {
    FILES.iter().all(|file| {
        dir.join(file.name).is_file() || dir.join(format!("{}.gz", file.name)).is_file()
    })
}

/// The folder to read: the one the user named, else the first searched folder that
/// holds MNIST; `None` when there is none (then it may be fetched).
pub fn find(data_dir: Option<&Path>) -> Option<Location> {
    named(data_dir).or_else(|| search_path().into_iter().find(|l| holds_mnist(&l.dir)))
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

/// Folders, for an error message: `data/mnist in the project (PATH), …`.
pub fn describe(places: &[Location]) -> String {
    places
        .iter()
        .map(|l| format!("{} ({})", l.chosen_by, l.dir.display()))
        .collect::<Vec<_>>()
        .join(", ")
}
