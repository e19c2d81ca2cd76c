//! One training epoch of the minibatch lesson (782 batches of 64, 784-50-10, SGD lr 0.5,
//! index slicing) through the code chapter 5 uses, timed in release; when PyTorch is
//! installed, the same loop in PyTorch is timed in the same run
//! (`scripts/bench_epoch_pytorch.py`) and the ratio printed. Beside it, in the same
//! rounds, the levers one by one: candle-nn's `Linear` and `SGD` (the composed path),
//! the library's `FusedLinear` with candle-nn's `SGD`, and both library pieces (what
//! chapter 5 uses).
//!
//! Run: `cargo bench --bench epoch` (MNIST found or fetched as the chapters do). For a
//! profile, `EPOCH_ONLY=library|fused|composed` times that variant alone, without
//! PyTorch.

use anyhow::{Context, Result};
use candle_core::{Device, Tensor, Var};
use candle_nn::{Module, Optimizer};
use crossent::lesson::model::{sequential, Linear};
use crossent::lesson::training::{slices, train_epoch};
use crossent::mnist;
use crossent::optim::Sgd;
use crossent::random::Generator;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const RUNS: usize = 4;
const ROUNDS: usize = 3;

#[derive(Clone, Copy)]
enum Variant {
    /// candle-nn's `Linear` and `SGD`.
    Composed,
    /// The library's `FusedLinear`, candle-nn's `SGD`.
    FusedLinear,
    /// The library's `FusedLinear` and in-place `Sgd`: chapter 5's.
    Library,
}

const VARIANTS: [(Variant, &str); 3] = [
    (Variant::Library, "crossent epoch (chapter 5's loop)"),
    (Variant::FusedLinear, "  fused Linear + candle-nn SGD"),
    (Variant::Composed, "  candle-nn Linear + SGD (composed)"),
];

fn composed_model(rng: &mut Generator, device: &Device) -> Result<(impl Module, Vec<Var>)> {
    let l1 = Linear::new(rng, 784, 50, device)?;
    let l2 = Linear::new(rng, 50, 10, device)?;
    let candle = |l: &Linear| {
        candle_nn::Linear::new(
            l.weight.as_tensor().clone(),
            Some(l.bias.as_tensor().clone()),
        )
    };
    let model = candle_nn::seq()
        .add(candle(&l1))
        .add(candle_nn::Activation::Relu)
        .add(candle(&l2));
    let params = [l1.weight, l1.bias, l2.weight, l2.bias].to_vec();
    Ok((model, params))
}

fn epoch(variant: Variant, rng: &mut Generator, x: &Tensor, y: &Tensor) -> Result<f64> {
    let device = x.device();
    let n = x.dim(0)?;
    let time = |forward: &dyn Fn(&Tensor) -> Result<Tensor>,
                step: &mut dyn FnMut(&candle_core::backprop::GradStore) -> Result<()>|
     -> Result<f64> {
        let start = Instant::now();
        let epoch = train_epoch(slices(x, y, 64), n.div_ceil(64), forward, step)?;
        std::hint::black_box(epoch.batch_losses.len());
        Ok(start.elapsed().as_secs_f64())
    };
    match variant {
        Variant::Library => {
            let (model, params, _) = sequential(rng, 784, 50, 10, device)?;
            let mut opt = Sgd::new(params, 0.5)?;
            time(&|xb| Ok(model.forward(xb)?), &mut |g| Ok(opt.step(g)?))
        }
        Variant::FusedLinear => {
            let (model, params, _) = sequential(rng, 784, 50, 10, device)?;
            let mut opt = candle_nn::SGD::new(params, 0.5)?;
            time(&|xb| Ok(model.forward(xb)?), &mut |g| Ok(opt.step(g)?))
        }
        Variant::Composed => {
            let (model, params) = composed_model(rng, device)?;
            let mut opt = candle_nn::SGD::new(params, 0.5)?;
            time(&|xb| Ok(model.forward(xb)?), &mut |g| Ok(opt.step(g)?))
        }
    }
}

fn main() -> Result<()> {
    crossent::cli::settle_thread_count();
    crossent::cli::keep_freed_memory();
    let location = mnist::find_or_fetch(None)?;
    let device = Device::Cpu;
    let data = mnist::load_lesson(&location, false, &device)?;

    // Rounds alternate between all of them so that a busy spell of the machine hits each.
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_epoch_pytorch.py");
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut torch = Vec::new();
    let mut torch_missing = None;
    let mut rng = Generator::manual_seed(0);
    if let Ok(only) = std::env::var("EPOCH_ONLY") {
        let variant = match only.as_str() {
            "library" => Variant::Library,
            "fused" => Variant::FusedLinear,
            "composed" => Variant::Composed,
            other => anyhow::bail!("EPOCH_ONLY={other}: library, fused or composed"),
        };
        let mut times: Vec<f64> = (0..8)
            .map(|_| epoch(variant, &mut rng, &data.x_train, &data.y_train))
            .collect::<Result<_>>()?;
        println!("{only}: median {:.3} s over 8 epochs", median(&mut times));
        return Ok(());
    }
    for _round in 0..ROUNDS {
        for (k, (variant, _)) in VARIANTS.iter().enumerate() {
            for run in 0..=RUNS {
                let seconds = epoch(*variant, &mut rng, &data.x_train, &data.y_train)?;
                if run > 0 {
                    ours[k].push(seconds);
                }
            }
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
    let medians: Vec<f64> = ours.iter_mut().map(|v| median(v)).collect();
    for ((_, label), (m, times)) in VARIANTS.iter().zip(medians.iter().zip(&ours)) {
        println!("{label:<42} median {m:.3} s over {} epochs", times.len());
    }
    match torch_missing {
        None => {
            let torch_median = median(&mut torch);
            println!(
                "{:<42} median {torch_median:.3} s over {} epochs",
                "PyTorch epoch (same loop, default threads)",
                torch.len()
            );
            println!(
                "{:<42} {:.2}",
                "ratio crossent / PyTorch:",
                medians[0] / torch_median
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
