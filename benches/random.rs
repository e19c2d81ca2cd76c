//! `randn` of 10⁶ float32 values, bit for bit as PyTorch draws them: the project's
//! generator (`crossent::random::Generator::randn`) against `torch.randn` timed in the same
//! run (`scripts/bench_randn_pytorch.py`, when PyTorch is installed), in alternating
//! rounds, both on one thread.
//!
//! Run: `cargo bench --bench random`.

use anyhow::Result;
use crossent::random::Generator;
use std::process::Command;
use std::time::Instant;

const N: usize = 1_000_000;
const ROUNDS: usize = 5;

/// The median milliseconds of 20 draws of `N` normals, each after a fresh seed.
fn ours() -> f64 {
    let mut times: Vec<f64> = (0..20)
        .map(|rep| {
            let mut g = Generator::manual_seed(rep);
            let start = Instant::now();
            std::hint::black_box(g.normal_values(N, 0.0, 1.0));
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// One round of PyTorch's, or why there is none.
fn pytorch(python: &str) -> std::result::Result<f64, String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/bench_randn_pytorch.py"
    );
    let out = Command::new(python)
        .args([script, "1"])
        .output()
        .map_err(|e| format!("{python} does not run ({e})"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("unreadable timing ({e})"))
}

fn main() -> Result<()> {
    let python = std::env::var("CROSSENT_PYTHON").unwrap_or_else(|_| "python3".into());
    println!("randn of {N} float32 values, median ms of 20 draws, {ROUNDS} alternating rounds");
    println!("round  crossent  torch.randn  ratio");
    for round in 1..=ROUNDS {
        let ours = ours();
        match pytorch(&python) {
            Ok(torch) => println!(
                "{round:>5}  {ours:>8.3}  {torch:>11.3}  {:>5.2}",
                ours / torch
            ),
            Err(why) => println!("{round:>5}  {ours:>8.3}  (PyTorch: {why})"),
        }
    }
    Ok(())
}
