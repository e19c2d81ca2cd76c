//! Runs each chapter binary and snapshots its whole stdout (see `snapshots/`).
//!
//! Under CI (`CI=true`) insta writes no snapshot and a missing one fails the test.

use std::process::{Command, Output};

fn run(binary: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("the chapter binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

const CHAPTER_2: &str = env!("CARGO_BIN_EXE_chapter-2");

#[test]
fn chapter_2_reproduces_its_notebook() {
    let out = run(CHAPTER_2, &[], &[]);
    assert!(out.status.success(), "chapter-2 failed:\n{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("verbatim: 22\n"), "{text}");
    assert!(text.contains("mismatched: 0\n"), "{text}");
    snapshot("chapter-2", &text);
}

#[test]
fn chapter_2_is_the_same_with_one_or_two_threads() {
    let one = run(CHAPTER_2, &[], &[("RAYON_NUM_THREADS", "1")]);
    let two = run(CHAPTER_2, &[], &[("RAYON_NUM_THREADS", "2")]);
    assert!(one.status.success() && two.status.success());
    assert_eq!(stdout(&one), stdout(&two));
}

#[test]
fn chapter_2_on_rounded_inputs_reports_the_mismatches_and_fails() {
    let out = run(CHAPTER_2, &["--as-printed"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("-> MISMATCH: the notebook printed:"),
        "{text}"
    );
    assert!(text.contains("tensor([[4.0056,"), "{text}");
    assert!(text.contains("result: FAILED"), "{text}");
}

#[test]
fn unknown_flags_get_one_line_and_exit_2() {
    let out = run(CHAPTER_2, &["--frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--frobnicate"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn bad_device_values_get_one_line_and_exit_2() {
    let out = run(CHAPTER_2, &["--device", "gpu"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unknown device 'gpu'"), "{err}");
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_is_refused_cleanly() {
    let out = run(CHAPTER_2, &["--device", "cuda"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("built without CUDA"), "{err}");
    assert!(
        stdout(&out).is_empty(),
        "nothing is printed before the device is open"
    );
}

#[test]
fn help_lists_the_flags() {
    let out = run(CHAPTER_2, &["--help"], &[]);
    assert!(out.status.success());
    let text = stdout(&out);
    for flag in ["--device", "--as-printed", "--help"] {
        assert!(text.contains(flag), "{text}");
    }
}
