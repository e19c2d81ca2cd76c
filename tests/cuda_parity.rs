//! With `--features cuda`: every chapter on CUDA computes what it computes on the CPU.
//! Each chapter runs on both with `CROSSENT_RECORD`, and the unrounded values behind
//! every printed tensor are compared, value by value, within 1e-5 (relative to the
//! value's size past 1): far finer than the harness's own 2e-4 device tolerance on the
//! printed digits. Chapter 5 is compared up to and including the first epoch's result
//! (later epochs amplify last-bit differences, as any two devices do). Without a usable
//! GPU the test says so on a line of its own ("skipped: no CUDA device"), a skip the
//! machine decides, not CI. Build and run:
//! `cargo test --release --features cuda --test cuda_parity`.
#![cfg(feature = "cuda")]

mod common;

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::Command;

const CHAPTERS: [(&str, &str); 5] = [
    ("chapter-1", env!("CARGO_BIN_EXE_chapter-1")),
    ("chapter-2", env!("CARGO_BIN_EXE_chapter-2")),
    ("chapter-3", env!("CARGO_BIN_EXE_chapter-3")),
    ("chapter-4", env!("CARGO_BIN_EXE_chapter-4")),
    ("chapter-5", env!("CARGO_BIN_EXE_chapter-5")),
];

/// The largest difference allowed between a CPU and a CUDA value, scaled by the value's
/// size where it is above 1.
const PARITY: f64 = 1e-5;

#[test]
fn every_chapter_computes_the_same_values_on_cuda() {
    let Some(mnist) = common::mnist_or_skip("every_chapter_computes_the_same_values_on_cuda")
    else {
        return;
    };
    let dir = common::scratch_dir("cuda");
    for (name, binary) in CHAPTERS {
        let run = |device: &str| {
            let record = dir.join(format!("{name}-{device}.json"));
            let mut cmd = Command::new(binary);
            cmd.args(["--device", device])
                .env("CROSSENT_RECORD", &record);
            if name == "chapter-1" || name == "chapter-5" {
                cmd.arg("--data-dir").arg(&mnist).arg("--out").arg(&dir);
            }
            (cmd.output().expect("the chapter runs"), record)
        };
        let (gpu, gpu_record) = run("cuda");
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
        let stdout = String::from_utf8_lossy(&gpu.stdout);
        assert!(gpu.status.success(), "{name} failed on CUDA: {err}");
        assert!(
            stdout.contains("mismatched: 0\n"),
            "{name} on CUDA:\n{stdout}"
        );
        let (cpu, cpu_record) = run("cpu");
        assert!(cpu.status.success(), "{name} failed on the CPU");
        let (cpu, gpu) = (outputs(&cpu_record), outputs(&gpu_record));
        assert_eq!(cpu.len(), gpu.len(), "{name}: the same outputs on both");
        let upto = if name == "chapter-5" {
            first_epoch_end(&read(&cpu_record))
        } else {
            cpu.len()
        };
        let mut compared = 0;
        let mut worst: f64 = 0.0;
        for (k, (a, b)) in cpu.iter().zip(&gpu).take(upto).enumerate() {
            assert_eq!(
                a.len(),
                b.len(),
                "{name}: output {k} holds other values on CUDA"
            );
            for (x, y) in a.iter().zip(b) {
                let off = (x - y).abs() / x.abs().max(1.0);
                assert!(
                    off <= PARITY || (x.is_nan() && y.is_nan()),
                    "{name}: output {k}: {x} on the CPU, {y} on CUDA"
                );
                worst = worst.max(off);
                compared += 1;
            }
        }
        assert!(compared > 0, "{name}: no recorded value was compared");
        println!("{name}: {compared} values equal on CUDA within {worst:e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn read(path: &Path) -> Vec<Value> {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The unrounded values of each output record, in order.
fn outputs(path: &Path) -> Vec<Vec<f64>> {
    read(path)
        .iter()
        .filter(|r| r["kind"] == "output")
        .map(|r| {
            r["values"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default()
        })
        .collect()
}

/// How many outputs chapter 5 prints up to and including the first after its first
/// training loop (`for epoch in range(epochs):`).
fn first_epoch_end(records: &[Value]) -> usize {
    let mut outputs = 0;
    let mut trained = false;
    for record in records {
        match record["kind"].as_str() {
            Some("cell")
                if record["code"]
                    .as_str()
                    .unwrap_or("")
                    .contains("for epoch in") =>
            {
                trained = true
            }
            Some("output") => {
                outputs += 1;
                if trained {
                    return outputs;
                }
            }
            _ => {}
        }
    }
    outputs
}
