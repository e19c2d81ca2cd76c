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

const CHAPTER_1: &str = env!("CARGO_BIN_EXE_chapter-1");
const CHAPTER_3: &str = env!("CARGO_BIN_EXE_chapter-3");
const CHAPTER_4: &str = env!("CARGO_BIN_EXE_chapter-4");

/// The shared MNIST folder beside the project, which the tests and CI use.
fn shared_mnist() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    assert!(
        dir.join("train-images-idx3-ubyte").is_file(),
        "the tests need MNIST at {} (../shared/data/mnist beside the project)",
        dir.display()
    );
    dir
}

/// A fresh folder for one test's output.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("crossent-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn chapter_1_reproduces_its_notebook_and_writes_six_pngs() {
    let out_dir = scratch("chapter-1");
    let mnist = shared_mnist();
    let out = run(
        CHAPTER_1,
        &[
            "--out",
            out_dir.to_str().unwrap(),
            "--data-dir",
            mnist.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "chapter-1 failed:\n{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("mismatched: 0\n"), "{text}");
    assert!(text.contains("figures written: 6\n"), "{text}");
    let mut pngs: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pngs.sort();
    assert_eq!(
        pngs,
        [
            "1-nll-of-linspace.png",
            "2-neg-log.png",
            "3-entropy-plus-kl.png",
            "4-softmax.png",
            "5-cross-soft.png",
            "6-library-cross-entropy.png"
        ],
        "exactly the six figures, no partial files"
    );
    for png in &pngs {
        let image = image::open(out_dir.join(png)).expect("a valid PNG");
        assert_eq!((image.width(), image.height()), (900, 560), "{png}");
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    snapshot("chapter-1", &text);
}

#[test]
fn chapter_1_without_mnist_still_runs_and_says_so() {
    let out_dir = scratch("chapter-1-no-mnist");
    let empty = scratch("empty-mnist");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(
        CHAPTER_1,
        &[
            "--out",
            out_dir.to_str().unwrap(),
            "--data-dir",
            empty.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("-> not run: no MNIST files"), "{text}");
    assert!(text.contains("cells reproduced: 15 of 16\n"), "{text}");
    let _ = std::fs::remove_dir_all(&out_dir);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn chapter_1_with_an_unusable_output_folder_fails_in_one_line() {
    let blocker = scratch("blocker");
    std::fs::write(&blocker, b"a file, not a folder").unwrap();
    let target = blocker.join("figures");
    let out = run(CHAPTER_1, &["--out", target.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot create the output folder"), "{err}");
    assert!(err.contains("--out"), "{err}");
    let _ = std::fs::remove_file(&blocker);
}

#[test]
fn chapter_3_reproduces_its_notebook() {
    let out = run(CHAPTER_3, &[], &[]);
    assert!(out.status.success(), "chapter-3 failed:\n{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("verbatim: 1\n"), "{text}");
    snapshot("chapter-3", &text);
}

#[test]
fn chapter_4_reproduces_its_notebook() {
    let out = run(CHAPTER_4, &[], &[]);
    assert!(out.status.success(), "chapter-4 failed:\n{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("verbatim: 11\n"), "{text}");
    assert!(text.contains("mismatched: 0\n"), "{text}");
    snapshot("chapter-4", &text);
}

#[test]
fn chapter_4_on_rounded_inputs_reports_the_mismatches_and_fails() {
    let out = run(CHAPTER_4, &["--as-printed"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("-> MISMATCH"), "{text}");
    assert!(text.contains("result: FAILED"), "{text}");
}

#[test]
fn every_chapter_is_the_same_with_one_or_two_threads() {
    let mnist = shared_mnist();
    let out_dir = scratch("threads");
    let data_args = [
        "--data-dir",
        mnist.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    for (binary, args) in [
        (CHAPTER_1, &data_args[..]),
        (CHAPTER_3, &[][..]),
        (CHAPTER_4, &[][..]),
        (CHAPTER_5, &data_args[..]),
    ] {
        let one = run(binary, args, &[("RAYON_NUM_THREADS", "1")]);
        let two = run(binary, args, &[("RAYON_NUM_THREADS", "2")]);
        assert!(one.status.success() && two.status.success(), "{binary}");
        assert_eq!(stdout(&one), stdout(&two), "{binary}");
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}

const CHAPTER_5: &str = env!("CARGO_BIN_EXE_chapter-5");

#[test]
fn chapter_5_trains_on_real_mnist_and_reproduces_the_lesson() {
    let out_dir = scratch("chapter-5");
    let mnist = shared_mnist();
    let out = run(
        CHAPTER_5,
        &[
            "--data-dir",
            mnist.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "chapter-5 failed:\n{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("mismatched: 0\n"), "{text}");
    assert!(text.contains("figures written: 6\n"), "{text}");
    assert!(
        text.contains("check: after five epochs the validation accuracy is above 0.96"),
        "{text}"
    );
    for png in [
        "valid-0.png",
        "valid-0-sampled.png",
        "train-shuffled-1.png",
        "train-shuffled-2.png",
        "training-loss.png",
        "validation.png",
    ] {
        image::open(out_dir.join(png)).unwrap_or_else(|e| panic!("{png}: {e}"));
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    snapshot("chapter-5", &text);
}

#[test]
fn chapter_5_without_mnist_fails_in_one_line() {
    let empty = scratch("chapter-5-empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(CHAPTER_5, &["--data-dir", empty.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("train-images-idx3-ubyte is missing"), "{err}");
    assert!(err.contains("--download"), "{err}");
    assert!(
        stdout(&out).is_empty(),
        "nothing printed before the data is checked"
    );
    let _ = std::fs::remove_dir_all(&empty);
}
