//! One training epoch of the minibatch lesson (782 batches of 64, 784-50-10, SGD lr 0.5,
//! index slicing) through the code chapter 5 uses, timed in release; when PyTorch is
//! installed, the same loop in PyTorch is timed in the same run
//! (`scripts/bench_epoch_pytorch.py`) and the ratio printed.
//!
//! Run: `cargo bench --bench epoch` (MNIST found or fetched as the chapters do).

use anyhow::{Context, Result};
use candle_core::Device;
use candle_nn::{Module as _, Optimizer as _};
use crossent::lesson::{sequential, SeededRng};
use crossent::linear::Sgd;
use crossent::mnist;
use crossent::train::{slices, train_epoch};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const RUNS: usize = 4;
const ROUNDS: usize = 3;

fn main() -> Result<()> {
    crossent::cli::settle_thread_count();
    crossent::cli::keep_freed_memory();
    let location = mnist::find_or_fetch(None)?;
    let device = Device::Cpu;
    let data = mnist::load_lesson(&location, false, &device)?;
    let n = data.x_train.dim(0)?;

    // Rounds alternate between the two so that a busy spell of the machine hits both.
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_epoch_pytorch.py");
    let mut ours = Vec::new();
    let mut torch = Vec::new();
    let mut torch_missing = None;
    let mut rng = SeededRng::new(0);
    for _round in 0..ROUNDS {
        for run in 0..=RUNS {
            let (model, params, _) = sequential(&mut rng, 784, 50, 10, &device)?;
            let mut opt = Sgd::new(params, 0.5)?;
            let start = Instant::now();
            let epoch = train_epoch(
                slices(&data.x_train, &data.y_train, 64),
                n.div_ceil(64),
                |xb| Ok(model.forward(xb)?),
                |grads| Ok(opt.step(grads)?),
            )?;
            let elapsed = start.elapsed().as_secs_f64();
            if run > 0 {
                ours.push(elapsed);
            }
            std::hint::black_box(epoch.batch_losses.len());
        }
        if torch_missing.is_none() {
            let python = Command::new("python3")
                .arg(&script)
                .arg(&location.dir)
                .arg(RUNS.to_string())
                .output()
                .context("cannot run python3")?;
            let stdout = String::from_utf8_lossy(&python.stdout);
            let parsed: Vec<f64> = stdout
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            if python.status.success() && !parsed.is_empty() {
                torch.extend(parsed);
            } else {
                torch_missing = Some(
                    String::from_utf8_lossy(&python.stderr)
                        .lines()
                        .last()
                        .unwrap_or("no output")
                        .to_string(),
                );
            }
        }
    }
    let ours_median = median(&mut ours);
    println!(
        "crossent epoch (candle, chapter 5's loop): median {ours_median:.3} s over {} epochs",
        ours.len()
    );
    match torch_missing {
        None => {
            let torch_median = median(&mut torch);
            println!(
                "PyTorch epoch (same loop):                  median {torch_median:.3} s over {} epochs",
                torch.len()
            );
            println!(
                "ratio crossent / PyTorch:                   {:.2}",
                ours_median / torch_median
            );
        }
        Some(why) => println!("PyTorch not measured: {why}"),
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
