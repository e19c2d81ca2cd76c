//! Chapter 5 given a seeded re-run of the lesson (`--notebook`), where each training
//! output that is not verbatim is trained again with rounding noise to measure its
//! tolerance (`lesson::sensitivity`, on every core), timed as a whole process in release,
//! beside the same chapter without a file (no output compared after training, so no
//! re-training) in the same rounds. Two files, both from the course's own `.ipynb` re-run
//! under seed 31337 (`tests/data/rerun-chapter-5-course-seed-31337.json`): as Jupyter
//! wrote it, and with the last digit of every training output changed, so that no
//! training output is verbatim and every one is re-trained (the worst case).
//!
//! Run: `cargo bench --bench seeded_lesson` (MNIST found or fetched as the chapters do).

use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Instant;

const ROUNDS: usize = 3;
const CHAPTER: &str = env!("CARGO_BIN_EXE_chapter-5");

/// The re-run as a notebook file; with `nudged`, every training output's first number
/// moved by one unit of its last digit.
fn notebook(nudged: bool) -> Result<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rerun-chapter-5-course-seed-31337.json"
    );
    let cells: Vec<(String, Vec<Value>)> = serde_json::from_slice(&std::fs::read(path)?)?;
    let cells: Vec<Value> = cells
        .into_iter()
        .map(|(code, mut outputs)| {
            let trains = code.contains("fit(") || code.contains("loss,acc");
            for o in &mut outputs {
                if o["output_type"] == "execute_result" {
                    o["execution_count"] = Value::Null;
                }
                if nudged && trains {
                    nudge(o);
                }
            }
            json!({"cell_type": "code", "execution_count": null, "metadata": {},
                   "outputs": outputs, "source": code})
        })
        .collect();
    Ok(json!({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}))
}

/// Changes the last digit of the first `tensor(0.dddd` the output shows.
fn nudge(output: &mut Value) {
    let text = match output.get_mut("data") {
        Some(data) => &mut data["text/plain"],
        None => &mut output["text"],
    };
    let Some(s) = text.as_str().map(str::to_string) else {
        return;
    };
    let Some(at) = s.find("tensor(0.") else {
        return;
    };
    let digits = at + "tensor(0.".len();
    let end = digits + s[digits..].chars().take_while(char::is_ascii_digit).count();
    if end == digits {
        return;
    }
    let last = s.as_bytes()[end - 1];
    let changed = if last == b'9' {
        '8'
    } else {
        (last + 1) as char
    };
    *text = json!(format!("{}{changed}{}", &s[..end - 1], &s[end..]));
}

fn time(args: &[&str]) -> Result<f64> {
    let start = Instant::now();
    let out = Command::new(CHAPTER)
        .args(args)
        .output()
        .context("chapter-5 runs")?;
    let seconds = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "chapter-5 {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(seconds)
}

fn main() -> Result<()> {
    let location = crossent::mnist::find_or_fetch(None)?;
    let data = location
        .dir
        .to_str()
        .context("a UTF-8 MNIST path")?
        .to_string();
    let dir = tempfile::tempdir()?;
    let figures = dir.path().join("figures");
    let figures = figures.to_str().context("a UTF-8 path")?;
    let write = |name: &str, nb: Value| -> Result<String> {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec(&nb)?)?;
        Ok(path.to_str().context("a UTF-8 path")?.to_string())
    };
    let seeded = write("seeded.ipynb", notebook(false)?)?;
    let nudged = write("nudged.ipynb", notebook(true)?)?;
    let base = ["--data-dir", data.as_str(), "--out", figures];
    println!(
        "chapter-5 as a whole process, {ROUNDS} rounds (seconds; ratio to the run without a file)"
    );
    for round in 1..=ROUNDS {
        let alone = time(&base)?;
        let with = |file: &str| {
            let mut args = base.to_vec();
            args.extend(["--notebook", file]);
            time(&args)
        };
        let file = with(&seeded)?;
        let worst = with(&nudged)?;
        println!(
            "round {round}: without a file {alone:.2}; the seeded re-run {file:.2} ({:.2}x); \
             every training output re-trained {worst:.2} ({:.2}x)",
            file / alone,
            worst / alone
        );
    }
    Ok(())
}
