//! Cross-entropy forward and forward+backward at 64×10, 4096×1000 and 1024×32000 (f32):
//! the project's fused loss against candle-nn's `cross_entropy`, a plain pass over the
//! logits as the memory baseline, and PyTorch's `F.cross_entropy` on the same shapes when
//! PyTorch is installed (`scripts/bench_cross_entropy_pytorch.py`), all in one run.
//!
//! The pass and the fused forward are timed twice: warm (the same logits every time, in
//! cache when they fit) and cold (cycling through copies that together exceed the last
//! level cache, so every pass reads memory). The second pair is the comparison with one
//! memory pass that the README quotes.
//!
//! Run: `cargo bench --bench cross_entropy`.

use anyhow::Result;
use candle_core::{Device, Tensor, Var};
use crossent::loss::{self, CrossEntropyOptions};
use crossent::random::Generator;
use std::process::Command;
use std::time::Instant;

const SHAPES: [(usize, usize); 3] = [(64, 10), (4096, 1000), (1024, 32000)];

/// The cold timings cycle through copies of the logits totalling at least this much,
/// four times the 32 MB last-level cache of the reference machine.
const EVICT_BYTES: usize = 128 << 20;

/// The median time of `f` in milliseconds, over enough repetitions for ~0.5 s.
fn time_ms(mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let start = Instant::now();
    f()?;
    let once = start.elapsed().as_secs_f64();
    let reps = ((0.5 / once.max(1e-6)) as usize).clamp(5, 2000);
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[times.len() / 2])
}

fn main() -> Result<()> {
    crossent::cli::keep_freed_memory();
    let device = Device::Cpu;
    let mut rng = Generator::manual_seed(1);
    let opts = CrossEntropyOptions::default();
    let torch = pytorch_times();
    println!(
        "threads: RAYON_NUM_THREADS={}",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into())
    );
    println!(
        "{:>12} | {:>17} {:>17} | {:>10} {:>10} | {:>10} {:>10} {:>10} | {:>11} {:>9}",
        "shape",
        "pass warm/cold",
        "fused fwd w/c",
        "candle fwd",
        "torch fwd",
        "fused f+b",
        "candle f+b",
        "torch f+b",
        "fwd/pass w/c",
        "vs torch"
    );
    for (k, &(n, c)) in SHAPES.iter().enumerate() {
        let x = Tensor::from_vec(rng.uniform_values(n * c, -4.0, 4.0), (n, c), &device)?;
        let t: Vec<u32> = (0..n).map(|i| (i * 7919 % c) as u32).collect();
        let target = Tensor::from_vec(t, n, &device)?;
        let var = Var::from_tensor(&x)?;
        let pass = time_ms(|| {
            std::hint::black_box(x.sum_all()?);
            Ok(())
        })?;
        let fused_fwd = time_ms(|| {
            std::hint::black_box(loss::cross_entropy(&x, &target, &opts)?);
            Ok(())
        })?;
        let copies: Vec<Tensor> = (0..EVICT_BYTES.div_ceil(n * c * 4))
            .map(|_| x.copy())
            .collect::<candle_core::Result<_>>()?;
        let mut next = 0;
        let mut cold = |f: &dyn Fn(&Tensor) -> Result<()>| {
            next = (next + 1) % copies.len();
            f(&copies[next])
        };
        let pass_cold = time_ms(|| {
            cold(&|x| {
                std::hint::black_box(x.sum_all()?);
                Ok(())
            })
        })?;
        let fused_fwd_cold = time_ms(|| {
            cold(&|x| {
                std::hint::black_box(loss::cross_entropy(x, &target, &opts)?);
                Ok(())
            })
        })?;
        drop(copies);
        let candle_fwd = time_ms(|| {
            std::hint::black_box(candle_nn::loss::cross_entropy(&x, &target)?);
            Ok(())
        })?;
        let fused_fb = time_ms(|| {
            let g = loss::cross_entropy(var.as_tensor(), &target, &opts)?.backward()?;
            std::hint::black_box(g);
            Ok(())
        })?;
        let candle_fb = time_ms(|| {
            let g = candle_nn::loss::cross_entropy(var.as_tensor(), &target)?.backward()?;
            std::hint::black_box(g);
            Ok(())
        })?;
        let (tf, tfb) = torch
            .as_ref()
            .and_then(|t| t.get(k).copied())
            .map_or((f64::NAN, f64::NAN), |v| v);
        println!(
            "{:>12} | {:>17} {:>17} | {candle_fwd:>10.3} {tf:>10.3} | {fused_fb:>10.3} {candle_fb:>10.3} {tfb:>10.3} | {:>11} {:>9}",
            format!("{n}x{c}"),
            format!("{pass:.3}/{pass_cold:.3}"),
            format!("{fused_fwd:.3}/{fused_fwd_cold:.3}"),
            format!("{:.2}/{:.2}", fused_fwd / pass, fused_fwd_cold / pass_cold),
            if tf.is_nan() {
                "-".to_string()
            } else {
                format!("{:.2}/{:.2}", fused_fwd / tf, fused_fb / tfb)
            }
        );
    }
    if torch.is_none() {
        println!("PyTorch not measured (pip install torch to compare)");
    }
    Ok(())
}

/// PyTorch's (forward, forward+backward) milliseconds per shape, if it is installed.
fn pytorch_times() -> Option<Vec<(f64, f64)>> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/bench_cross_entropy_pytorch.py"
    );
    let out = Command::new("python3").arg(script).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    text.lines()
        .map(|l| {
            let mut it = l.split_whitespace().map(|v| v.parse::<f64>());
            Some((it.next()?.ok()?, it.next()?.ok()?))
        })
        .collect()
}
