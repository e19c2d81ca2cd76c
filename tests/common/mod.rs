//! What the tests share: the chapters' numbers, finding MNIST as the chapters do and
//! saying so when it is not there, reading a chapter's summary.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

/// Every chapter's number, in order (a new chapter's binary is `chapter-N`).
pub const CHAPTERS: [usize; 6] = [1, 2, 3, 4, 5, 6];

/// The chapters that run without MNIST (chapter 1 then draws its figures without it).
pub const WITHOUT_MNIST: [usize; 5] = [1, 2, 3, 4, 6];

/// MNIST's folder, found where the chapters look (without fetching). Without it the test
/// prints one `skipped` line past libtest's output capture, so that it shows in every
/// run, and returns `None`; under CI (`CI=true`) a missing MNIST fails the test instead,
/// so CI never skips silently.
pub fn mnist_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(found) = crossent::mnist::find(None) {
        if crossent::mnist::locate::holds_mnist(&found.dir) {
            return Some(found.dir);
        }
    }
    let looked = crossent::mnist::locate::describe(&crossent::mnist::locate::search_path());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and MNIST is missing (looked in MNIST_DIR, {looked}); CI must not skip");
    }
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: MNIST not found (MNIST_DIR, {looked}); put the four IDX files in \
         data/mnist or set MNIST_DIR, or run `cargo run --release --bin chapter-5` once with a \
         network to fetch them into the user cache"
    );
    None
}

/// A headless Chromium, if installed (`.ci/run` installs Debian's).
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium-headless-shell", "chromium", "chromium-browser"]
        .iter()
        .flat_map(|name| {
            [
                PathBuf::from("/usr/bin").join(name),
                PathBuf::from("/usr/lib/chromium").join(name),
                PathBuf::from("/usr/lib/chromium-headless-shell").join(name),
            ]
        })
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and no headless Chromium is installed; .ci/run installs it");
        }
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped the browser test: no headless Chromium (apt-get install chromium-headless-shell)"
        );
    }
    found
}

/// The count a chapter's summary line starting with `label` ends with (`verbatim: 22`).
pub fn summary_count(stdout: &str, label: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no '{label}' line in:\n{stdout}"));
    line.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("'{line}' does not end in a count"))
}

/// A scratch place in the system's temp folder, removed with everything below it when
/// dropped, a failing test's included.
pub struct Scratch {
    _root: tempfile::TempDir,
    path: PathBuf,
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

impl AsRef<std::path::Path> for Scratch {
    fn as_ref(&self) -> &std::path::Path {
        &self.path
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path.as_os_str()
    }
}

impl Scratch {
    /// The folder that holds it, which dropping it removes.
    pub fn root(&self) -> &std::path::Path {
        self._root.path()
    }
}

fn scratch_root(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("crossent-{name}-"))
        .tempdir()
        .expect("a scratch folder in the system's temp folder")
}

/// A scratch folder, made.
pub fn scratch_dir(name: &str) -> Scratch {
    let root = scratch_root(name);
    let path = root.path().to_path_buf();
    Scratch { _root: root, path }
}

/// A scratch path not made yet, for a folder the code under test must create.
pub fn scratch_path(name: &str) -> Scratch {
    let root = scratch_root(name);
    let path = root.path().join(name);
    Scratch { _root: root, path }
}
