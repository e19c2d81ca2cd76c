//! `replicate` against Jupyter, whole processes in release, in the same rounds:
//! - an empty notebook (startup: the supervisor reads it; no interpreter is needed), and a
//!   notebook of one cell `1 + 1` (the interpreter process started, `torch` loaded);
//! - a notebook through `replicate`, beside `jupyter nbconvert --execute` of the same file
//!   (a fresh kernel importing PyTorch), and their ratio.
//!
//! The notebook is `CROSSENT_BENCH_NOTEBOOK` (d2l's `information-theory.ipynb`, fetched,
//! for the figure the README gives), else the tests' `losses.ipynb`. Jupyter is the one
//! beside `CROSSENT_PYTHON` (a venv with torch, nbconvert and ipykernel); without it only
//! `replicate` is timed.
//!
//! Run: `cargo bench -p crossent-replicate --bench replicate`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;
const REPLICATE: &str = env!("CARGO_BIN_EXE_replicate");

fn timed(mut command: Command) -> Duration {
    let start = Instant::now();
    let out = command.output().expect("the command runs");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        command,
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn replicate(notebook: &Path) -> Command {
    let mut c = Command::new(REPLICATE);
    c.arg(notebook);
    c
}

/// `jupyter nbconvert --execute` beside the Python in `CROSSENT_PYTHON`, if it has torch.
fn jupyter(notebook: &Path, out_dir: &Path) -> Option<Command> {
    let python = PathBuf::from(std::env::var_os("CROSSENT_PYTHON")?);
    let ok = Command::new(&python)
        .args(["-c", "import torch, nbconvert, ipykernel"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return None;
    }
    let mut c = Command::new(python);
    c.args([
        "-m",
        "jupyter",
        "nbconvert",
        "--execute",
        "--to",
        "notebook",
        "--output-dir",
    ])
    .arg(out_dir)
    .arg(notebook);
    Some(c)
}

fn seconds(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn main() {
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let empty = scratch.path().join("empty.ipynb");
    std::fs::write(
        &empty,
        r#"{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}"#,
    )
    .unwrap();
    let one_cell = scratch.path().join("one-cell.ipynb");
    std::fs::write(
        &one_cell,
        r#"{"cells": [{"cell_type": "code", "execution_count": 1, "id": "a", "metadata": {},
            "outputs": [{"data": {"text/plain": "2"}, "execution_count": 1, "metadata": {},
            "output_type": "execute_result"}], "source": "1 + 1"}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}"#,
    )
    .unwrap();
    let notebook = std::env::var_os("CROSSENT_BENCH_NOTEBOOK")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/losses.ipynb"));
    println!(
        "notebook: {}",
        notebook.file_name().unwrap().to_string_lossy()
    );
    for round in 1..=ROUNDS {
        let startup = timed(replicate(&empty));
        let interpreter = timed(replicate(&one_cell));
        let ours = timed(replicate(&notebook));
        let theirs = jupyter(&notebook, scratch.path()).map(timed);
        match theirs {
            Some(theirs) => println!(
                "round {round}: empty notebook {}, one cell {}, replicate {}, jupyter nbconvert --execute {}, ratio {:.3}",
                seconds(startup),
                seconds(interpreter),
                seconds(ours),
                seconds(theirs),
                ours.as_secs_f64() / theirs.as_secs_f64()
            ),
            None => println!(
                "round {round}: empty notebook {}, one cell {}, replicate {} (no CROSSENT_PYTHON with torch: Jupyter not timed)",
                seconds(startup),
                seconds(interpreter),
                seconds(ours)
            ),
        }
    }
}
