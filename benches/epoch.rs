//! One training epoch of the minibatch lesson (782 batches of 64, 784-50-10, SGD lr 0.5,
//! index slicing) through the code chapter 5 uses, timed in release; when PyTorch is
//! installed, the same loop in PyTorch is timed in the same run
//! (`scripts/bench_epoch_pytorch.py`) and the ratio printed.
//!
//! Run: `cargo bench --bench epoch` (MNIST from `MNIST_DIR`, else `../shared/data/mnist`).

use anyhow::{Context, Result};
use candle_core::Device;
use candle_nn::{Module as _, Optimizer as _};
use crossent::lesson::{Linear, SeededRng};
use crossent::mnist;
use crossent::train::{slices, train_epoch};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const RUNS: usize = 5;

fn main() -> Result<()> {
    crossent::cli::settle_thread_count();
    let dir = std::env::var_os("MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist"));
    let location = mnist::Location {
        dir: dir.clone(),
        chosen_by: "MNIST_DIR or ../shared/data/mnist",
    };
    let device = Device::Cpu;
    let data = mnist::load_lesson(&location, false, &device)?;
    let n = data.x_train.dim(0)?;

    let mut times = Vec::new();
    let mut rng = SeededRng::new(0);
    for run in 0..=RUNS {
        let l1 = Linear::new(&mut rng, 784, 50, &device)?;
        let l2 = Linear::new(&mut rng, 50, 10, &device)?;
        let params = vec![
            l1.weight.clone(),
            l1.bias.clone(),
            l2.weight.clone(),
            l2.bias.clone(),
        ];
        let model = candle_nn::seq()
            .add(l1.to_candle())
            .add(candle_nn::Activation::Relu)
            .add(l2.to_candle());
        let mut opt = candle_nn::SGD::new(params, 0.5)?;
        let start = Instant::now();
        let epoch = train_epoch(
            slices(&data.x_train, &data.y_train, 64),
            n.div_ceil(64),
            |xb| Ok(model.forward(xb)?),
            |grads| Ok(opt.step(grads)?),
        )?;
        let elapsed = start.elapsed().as_secs_f64();
        if run > 0 {
            times.push(elapsed);
        }
        std::hint::black_box(epoch.batch_losses.len());
    }
    let ours = median(&mut times);
    println!("crossent epoch (candle, chapter 5's loop): median {ours:.3} s over {RUNS} runs");

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_epoch_pytorch.py");
    let python = Command::new("python3")
        .arg(&script)
        .arg(&dir)
        .arg(RUNS.to_string())
        .output()
        .context("cannot run python3")?;
    let stdout = String::from_utf8_lossy(&python.stdout);
    match stdout.trim().parse::<f64>() {
        Ok(torch) if python.status.success() => {
            println!("PyTorch epoch (same loop):                  median {torch:.3} s");
            println!(
                "ratio crossent / PyTorch:                   {:.2}",
                ours / torch
            );
        }
        _ => println!(
            "PyTorch not measured: {}",
            String::from_utf8_lossy(&python.stderr)
                .lines()
                .last()
                .unwrap_or("no output")
        ),
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
