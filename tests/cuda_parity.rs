//! With `--features cuda`: every chapter on CUDA prints what it prints on the CPU, number
//! for number within a small tolerance, and its checks hold. Without a usable GPU the
//! test says so on a line of its own ("skipped: no CUDA device") instead of passing
//! silently. Build and run: `cargo test --release --features cuda --test cuda_parity`.
#![cfg(feature = "cuda")]

mod common;

use crossent::notebook::max_abs_difference;
use std::io::Write;
use std::process::Command;

const CHAPTERS: [(&str, &str); 5] = [
    ("chapter-1", env!("CARGO_BIN_EXE_chapter-1")),
    ("chapter-2", env!("CARGO_BIN_EXE_chapter-2")),
    ("chapter-3", env!("CARGO_BIN_EXE_chapter-3")),
    ("chapter-4", env!("CARGO_BIN_EXE_chapter-4")),
    ("chapter-5", env!("CARGO_BIN_EXE_chapter-5")),
];

#[test]
fn every_chapter_prints_the_same_numbers_on_cuda() {
    let Some(mnist) = common::mnist_or_skip("every_chapter_prints_the_same_numbers_on_cuda") else {
        return;
    };
    let out = std::env::temp_dir().join(format!("crossent-cuda-{}", std::process::id()));
    for (name, binary) in CHAPTERS {
        let run = |device: &str| {
            let mut cmd = Command::new(binary);
            cmd.args(["--device", device]);
            if name == "chapter-1" || name == "chapter-5" {
                cmd.arg("--data-dir").arg(&mnist).arg("--out").arg(&out);
            }
            cmd.output().expect("the chapter runs")
        };
        let gpu = run("cuda");
        let err = String::from_utf8_lossy(&gpu.stderr);
        if !gpu.status.success() && err.contains("is not usable") {
            // Written past libtest's capture, so that the skip shows in every run.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: no CUDA device ({})",
                err.trim()
            );
            return;
        }
        assert!(gpu.status.success(), "{name} failed on CUDA: {err}");
        let cpu = run("cpu");
        assert!(cpu.status.success(), "{name} failed on the CPU");
        let (a, b) = (
            String::from_utf8_lossy(&cpu.stdout),
            String::from_utf8_lossy(&gpu.stdout),
        );
        if name == "chapter-5" {
            // Training amplifies last-bit differences: compare the deterministic parts.
            assert!(b.contains("mismatched: 0\n"), "{name} on CUDA:\n{b}");
            continue;
        }
        assert!(b.contains("mismatched: 0\n"), "{name} on CUDA:\n{b}");
        let diff = max_abs_difference(&outputs(&a), &outputs(&b))
            .unwrap_or_else(|| panic!("{name}: the CUDA output differs in its text"));
        assert!(diff <= 1e-3, "{name}: numbers differ by {diff} on CUDA");
        println!("{name}: CUDA matches the CPU (largest difference {diff:e})");
    }
}

/// The cells' outputs (the text after each `Out[n]:` up to the harness's verdict), so
/// that verdict lines, which name the device, are not compared.
fn outputs(text: &str) -> String {
    text.split("\nOut[")
        .skip(1)
        .map(|block| block.split("\n    ->").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}
