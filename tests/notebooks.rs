//! Notebooks in and out: the chapters read a notebook file as their oracle and write
//! their run as a notebook.
//!
//! Every notebook here is written by the tests themselves: a chapter writes its own
//! (`--write-notebook`), and the tests turn it into the variants found in the wild
//! (Colab's nbformat 4.0, fastai's 4.2 with null execution counts, 4.5 with foreign ids),
//! into a re-run with other random draws (its outputs computed with PyTorch by
//! `scripts/rerun_notebooks.py`, kept in `tests/data/`), and into hostile files.
//! Python's nbformat, nbconvert and nbdime check what is written where they are installed
//! (`.ci/run` installs them; without them those tests print a `skipped` line, and fail
//! under `CI=true`).

mod common;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CHAPTERS: [&str; 6] = [
    env!("CARGO_BIN_EXE_chapter-1"),
    env!("CARGO_BIN_EXE_chapter-2"),
    env!("CARGO_BIN_EXE_chapter-3"),
    env!("CARGO_BIN_EXE_chapter-4"),
    env!("CARGO_BIN_EXE_chapter-5"),
    env!("CARGO_BIN_EXE_chapter-6"),
];
const REPORT: &str = env!("CARGO_BIN_EXE_report");

fn chapter(n: usize) -> &'static str {
    CHAPTERS[n - 1]
}

fn scratch(name: &str) -> common::Scratch {
    common::scratch_dir(&format!("nb-{name}"))
}

fn run(binary: &str, args: &[&str]) -> Output {
    Command::new(binary)
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

/// Runs chapter `n` (one of `common::WITHOUT_MNIST`) writing its notebook to `path`.
fn write_own(n: usize, path: &Path, extra: &[&str]) -> Output {
    let out_dir = path.with_extension("figures");
    let mut args = vec!["--write-notebook", path.to_str().unwrap()];
    if n == 1 {
        args.extend(["--out", out_dir.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    let out = run(chapter(n), &args);
    assert!(out.status.success(), "chapter-{n}: {}", text(&out.stderr));
    out
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

fn code_cells(nb: &Value) -> Vec<&Value> {
    nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["cell_type"] == "code")
        .collect()
}

fn source(cell: &Value) -> String {
    match &cell["source"] {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().map(|l| l.as_str().unwrap()).collect(),
        _ => String::new(),
    }
}

/// The Python that has nbformat and nbdime (`CROSSENT_PYTHON`, else `python3`), or a
/// visible skip (a failure under CI).
fn python_or_skip(test: &str) -> Option<String> {
    let python = std::env::var("CROSSENT_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import nbformat, nbconvert, nbdime"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and {python} lacks nbformat/nbconvert/nbdime; CI must not skip");
    }
    eprintln!(
        "skipped {test}: {python} lacks nbformat, nbconvert or nbdime (pip install nbformat \
         nbconvert nbdime, or set CROSSENT_PYTHON to a Python that has them)"
    );
    None
}

fn python(python: &str, script: &str, args: &[&str]) -> Output {
    Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap()
}

const VALIDATE: &str = r#"
import sys, nbformat
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5), path
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids)), path
    # Laid out byte for byte as Python's nbformat writes it.
    assert nbformat.writes(nb) + "\n" == open(path, encoding="utf-8").read(), path
print("valid", len(sys.argv) - 1)
"#;

#[test]
fn every_chapter_writes_a_valid_notebook_whose_bytes_two_runs_repeat() {
    let dir = scratch("own");
    let mut paths = Vec::new();
    for n in common::WITHOUT_MNIST {
        let first = dir.join(format!("chapter-{n}.ipynb"));
        let second = dir.join(format!("chapter-{n}-again.ipynb"));
        write_own(n, &first, &[]);
        write_own(n, &second, &[]);
        let bytes = std::fs::read(&first).unwrap();
        assert_eq!(bytes, std::fs::read(&second).unwrap(), "chapter {n}");
        let body = text(&bytes);
        assert!(
            !body.contains("/tmp") && !body.contains("../shared"),
            "chapter {n}"
        );
        let nb = read_json(&first);
        assert_eq!(nb["metadata"]["kernelspec"]["name"], "python3");
        assert_eq!(nb["metadata"]["crossent"]["chapter"], n);
        assert_eq!(nb["metadata"]["crossent"]["passed"], true);
        paths.push(first);
    }
    if let Some(mnist) = common::mnist_or_skip("chapter 5's written notebook") {
        let path = dir.join("chapter-5.ipynb");
        let figures = dir.join("chapter-5-figures");
        let out = run(
            chapter(5),
            &[
                "--data-dir",
                mnist.to_str().unwrap(),
                "--out",
                figures.to_str().unwrap(),
                "--write-notebook",
                path.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "chapter-5: {}", text(&out.stderr));
        let nb = read_json(&path);
        let images = code_cells(&nb)
            .iter()
            .flat_map(|c| c["outputs"].as_array().unwrap())
            .filter(|o| o["data"]["image/png"].is_string())
            .count();
        assert_eq!(images, 6, "chapter 5 draws six figures");
        paths.push(path);
    }
    // Chapter 1's figures are PNGs in display_data outputs, with a text alternative.
    let nb = read_json(&paths[0]);
    let images: Vec<&Value> = code_cells(&nb)
        .iter()
        .flat_map(|c| c["outputs"].as_array().unwrap())
        .filter(|o| o["data"]["image/png"].is_string())
        .collect();
    assert_eq!(images.len(), 6, "chapter 1 draws six figures");
    assert!(images.iter().all(|o| o["data"]["text/plain"].is_array()));
    // Chapter 2's verbatim outputs are execute_results with our text.
    let nb = read_json(&paths[1]);
    let x = code_cells(&nb)
        .into_iter()
        .find(|c| source(c) == "x")
        .unwrap();
    assert_eq!(x["metadata"]["crossent"]["status"], "verbatim");
    assert_eq!(x["outputs"][0]["output_type"], "execute_result");
    if let Some(py) = python_or_skip("written notebooks validate under Python's nbformat") {
        let args: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
        let out = python(&py, VALIDATE, &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        // GitHub's view: nbconvert renders it to HTML with our outputs in it.
        let html = dir.join("chapter-2.html");
        let out = Command::new(&py)
            .args(["-m", "nbconvert", "--to", "html", "--output"])
            .arg(&html)
            .arg(&paths[1])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(page.contains("1.3577"), "the rendered page shows our loss");
        if let Some(browser) = common::chromium() {
            let shot = dir.join("chapter-2-notebook.png");
            let out = Command::new(&browser)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                ])
                .arg(format!(
                    "--user-data-dir={}",
                    dir.join(".profile").display()
                ))
                .args(["--window-size=1000,1400"])
                .arg(format!("--screenshot={}", shot.display()))
                .arg(format!("file://{}", html.display()))
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
            let image = image::open(&shot).unwrap().to_rgb8();
            let background = *image.get_pixel(image.width() - 1, image.height() - 1);
            let inked = image.pixels().filter(|p| **p != background).count();
            assert!(
                inked * 50 > (image.width() * image.height()) as usize,
                "the notebook as GitHub-like HTML renders blank ({inked} pixels)"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Turns the notebook chapter 2 wrote into the forms notebooks have in the wild.
fn variant(own: &Value, form: &str) -> Value {
    let mut nb = own.clone();
    let cells = nb["cells"].as_array_mut().unwrap();
    for (k, cell) in cells.iter_mut().enumerate() {
        let obj = cell.as_object_mut().unwrap();
        obj.remove("id");
        let joined = source(&Value::Object(obj.clone()));
        match form {
            // Colab: nbformat 4.0, ids in metadata.id, execution_count 0, one string.
            "colab" => {
                obj.insert("source".into(), joined.into());
                obj.insert("metadata".into(), json!({"id": format!("colab{k:03}x")}));
                if obj["cell_type"] == "code" {
                    obj.insert("execution_count".into(), 0.into());
                }
            }
            // fastai: nbformat 4.2, no ids, execution_count null, even in the results.
            "fastai" => {
                obj.insert("metadata".into(), json!({}));
                if obj["cell_type"] == "code" {
                    obj.insert("execution_count".into(), Value::Null);
                    for output in obj["outputs"].as_array_mut().unwrap() {
                        if output.get("execution_count").is_some() {
                            output["execution_count"] = Value::Null;
                        }
                    }
                }
            }
            // 4.5 with ids of another tool's.
            _ => {
                obj.insert("id".into(), format!("foreign-{k}").into());
            }
        }
    }
    nb["nbformat_minor"] = match form {
        "colab" => 0,
        "fastai" => 2,
        _ => 5,
    }
    .into();
    nb
}

#[test]
fn chapter_2_reads_each_form_of_the_wild_and_its_own() {
    let dir = scratch("variants");
    let own_path = dir.join("own.ipynb");
    let plain = write_own(2, &own_path, &[]);
    let own = read_json(&own_path);
    let summary_of = |s: &str| s[s.find("\nSummary:").unwrap()..].to_string();
    // Read back, its own notebook matches every cell by id and prints the same run; the
    // notebook written from it holds each cell's annotations once, not twice.
    let again_path = dir.join("again.ipynb");
    let back = run(
        chapter(2),
        &[
            "--notebook",
            own_path.to_str().unwrap(),
            "--write-notebook",
            again_path.to_str().unwrap(),
        ],
    );
    let annotations = |nb: &Value| {
        code_cells(nb)
            .iter()
            .flat_map(|c| c["outputs"].as_array().unwrap())
            .filter(|o| o["metadata"]["crossent"] == "annotations")
            .count()
    };
    assert!(annotations(&own) > 0);
    assert_eq!(annotations(&read_json(&again_path)), annotations(&own));
    assert!(back.status.success(), "{}", text(&back.stderr));
    let back_text = text(&back.stdout);
    assert!(
        back_text.contains("matched to its 27 code cells: 27 (27 by id)"),
        "{back_text}"
    );
    assert!(back_text.contains("code cells of the file not reproduced: none"));
    assert_eq!(summary_of(&back_text), summary_of(&text(&plain.stdout)));
    for form in ["colab", "fastai", "foreign-ids"] {
        let path = dir.join(format!("{form}.ipynb"));
        write_json(&path, &variant(&own, form));
        let out = run(chapter(2), &["--notebook", path.to_str().unwrap()]);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{form}: {}", text(&out.stderr));
        assert!(stdout.contains("verbatim: 22\n"), "{form}: {stdout}");
        assert!(stdout.contains("mismatched: 0\n"), "{form}");
        assert!(stdout.contains("27 (27 by source)"), "{form}: {stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The re-run's printed outputs, by code in the order the cells ran, as
/// `scripts/rerun_notebooks.py` wrote them.
fn rerun_outputs(chapter: usize, run: &str) -> Vec<(String, String)> {
    let path = format!(
        "{}/tests/data/rerun-chapter-{chapter}-{run}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The chapter's own notebook with the re-run's outputs in place of ours: each cell takes
/// the next output the re-run printed for its code (two cells may share their code).
fn rerun_notebook(own: &Value, outputs: &[(String, String)]) -> Value {
    let mut nb = own.clone();
    let mut unused: Vec<&(String, String)> = outputs.iter().collect();
    for cell in nb["cells"].as_array_mut().unwrap() {
        if cell["cell_type"] != "code" {
            continue;
        }
        let code = source(cell);
        cell.as_object_mut().unwrap().remove("id");
        let printed = unused
            .iter()
            .position(|(c, _)| *c == code)
            .map(|i| &unused.remove(i).1);
        cell["outputs"] = match printed {
            Some(p) if !p.is_empty() => json!([{"output_type": "execute_result",
                "execution_count": null, "metadata": {}, "data": {"text/plain": p}}]),
            _ => json!([]),
        };
        cell["metadata"] = json!({});
    }
    nb["metadata"] = json!({"kernelspec": {"name": "python3", "display_name": "Python 3"}});
    nb
}

#[test]
fn a_rerun_under_new_random_draws_is_replicated_from_the_file() {
    let dir = scratch("rerun");
    for (n, verbatim, first_input) in [(2, 22, "0.3655,  1.9065"), (4, 11, "0.7311,  3.8129")] {
        let own_path = dir.join(format!("own-{n}.ipynb"));
        write_own(n, &own_path, &[]);
        let rerun = rerun_notebook(&read_json(&own_path), &rerun_outputs(n, "seed-2026"));
        let path = dir.join(format!("rerun-{n}.ipynb"));
        write_json(&path, &rerun);
        let replication = dir.join(format!("replication-{n}.ipynb"));
        let out = run(
            chapter(n),
            &[
                "--notebook",
                path.to_str().unwrap(),
                "--write-notebook",
                replication.to_str().unwrap(),
            ],
        );
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "chapter {n}: {}\n{stdout}",
            text(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("verbatim: {verbatim}\n")),
            "{stdout}"
        );
        assert!(stdout.contains("mismatched: 0\n"), "{stdout}");
        assert!(
            stdout.contains(first_input),
            "the re-run's draws are used: {stdout}"
        );
        // The original's code cells unchanged, our outputs in them, the source named.
        let written = read_json(&replication);
        let theirs: Vec<String> = code_cells(&rerun).iter().map(|c| source(c)).collect();
        let ours: Vec<String> = code_cells(&written).iter().map(|c| source(c)).collect();
        assert_eq!(theirs, ours);
        assert_eq!(
            written["metadata"]["crossent"]["source"]["file"],
            format!("rerun-{n}.ipynb")
        );
        assert_eq!(
            written["metadata"]["crossent"]["source"]["sha256"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
        if let Some(py) = python_or_skip("nbdiff of a re-run against its replication") {
            let out = python(&py, VALIDATE, &[replication.to_str().unwrap()]);
            assert!(out.status.success(), "{}", text(&out.stderr));
            let out = Command::new(&py)
                .args(["-m", "nbdime", "diff", "-s", "--no-color"])
                .arg(&path)
                .arg(&replication)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
            let diff = text(&out.stdout);
            assert!(!diff.contains("source"), "no source changes: {diff}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// d2l's information theory notebook re-run with `torch.manual_seed(2)` in its own seed
/// cell (PyTorch 2.15): chapter 6 takes the seed from that cell and prints all nine
/// outputs verbatim, the KL cells' Python floats included. Without the seed line the
/// KL outputs are shown and not compared; a `--seed` that contradicts the file is one
/// line.
#[test]
fn chapter_6_replicates_a_rerun_under_another_seed_from_its_seed_cell() {
    let dir = scratch("rerun-6");
    let own_path = dir.join("own-6.ipynb");
    write_own(6, &own_path, &[]);
    let mut rerun = rerun_notebook(&read_json(&own_path), &rerun_outputs(6, "seed-2"));
    let seeded_as = |rerun: &mut Value, line: &str| {
        let cell = rerun["cells"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|c| source(c).contains("tensor_len = 10000"))
            .unwrap();
        let code = source(cell);
        let rest = &code[code.find('\n').unwrap()..];
        cell["source"] = format!("{line}{rest}").into();
    };
    seeded_as(&mut rerun, "torch.manual_seed(2)");
    let path = dir.join("rerun-6.ipynb");
    write_json(&path, &rerun);
    let out = run(chapter(6), &["--notebook", path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    assert!(stdout.contains("verbatim: 9\n"), "{stdout}");
    assert!(stdout.contains("mismatched: 0\n"), "{stdout}");
    assert!(
        stdout.contains("(8714.5654296875, 8500.9521484375, 2.481636468733638)"),
        "{stdout}"
    );
    assert!(stdout.contains("after torch.manual_seed(2) (the notebook file's seed cell"));

    let out = run(
        chapter(6),
        &["--notebook", path.to_str().unwrap(), "--seed", "3"],
    );
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("--seed 3 contradicts the notebook file"),
        "{err}"
    );

    seeded_as(&mut rerun, "# no seed");
    write_json(&path, &rerun);
    let out = run(chapter(6), &["--notebook", path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    assert!(stdout.contains("verbatim: 7\n"), "{stdout}");
    assert!(stdout.contains("mismatched: 0\n"), "{stdout}");
    assert_eq!(
        common::summary_count(&stdout, "outputs that cannot match by design"),
        2
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Re-runs that set no seed: `--recover-seed` searches all 2³² seeds for the one the
/// run drew from, and the chapter then replicates the run verbatim from its true draws.
/// Chapter 2's is the seed-2026 re-run without its seeding cell (so the seed to find is
/// known); chapter 4's ran in a fresh IPython whose PyTorch seeded itself from
/// /dev/urandom. Where PyTorch is installed (`CROSSENT_TORCH_PYTHON`), the Python the
/// chapter prints for its draws runs in it and prints the file's numbers. Each search
/// takes about a minute on two cores.
#[test]
fn recover_seed_replicates_an_unseeded_rerun_from_its_true_draws() {
    let dir = scratch("recover");
    for (n, run_name, verbatim, seed) in [
        (2, "seed-2026", 22, Some("seed 2026 ")),
        (4, "unseeded", 11, None),
    ] {
        let own_path = dir.join(format!("own-{n}.ipynb"));
        write_own(n, &own_path, &[]);
        let outputs = rerun_outputs(n, run_name);
        let rerun = rerun_notebook(&read_json(&own_path), &outputs);
        let path = dir.join(format!("rerun-{n}.ipynb"));
        write_json(&path, &rerun);
        let out = run(
            chapter(n),
            &["--notebook", path.to_str().unwrap(), "--recover-seed"],
        );
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "chapter {n}: {stderr}\n{stdout}");
        assert!(stderr.contains("searching 4294967296 seeds"), "{stderr}");
        assert!(
            stdout.contains("recovered now from the notebook's prints (--recover-seed)"),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("verbatim: {verbatim}\n")),
            "{stdout}"
        );
        assert!(stdout.contains("mismatched: 0\n"), "{stdout}");
        if let Some(seed) = seed {
            assert!(stdout.contains(seed), "{stdout}");
        }
        confirm_in_pytorch(&stdout, &outputs);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the Python a chapter printed for its draws in PyTorch, when it is installed, and
/// checks that its numbers are the re-run's printed draws, in order.
fn confirm_in_pytorch(stdout: &str, outputs: &[(String, String)]) {
    let Some(py) = std::env::var("CROSSENT_TORCH_PYTHON").ok() else {
        println!("skipped: PyTorch's confirmation of a recovered seed (set CROSSENT_TORCH_PYTHON to a Python with torch)");
        return;
    };
    let label = stdout
        .find("[the same draws in PyTorch")
        .expect("the chapter prints its draws' Python");
    let code: String = stdout[label..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect();
    let out = Command::new(py).args(["-c", &code]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let numbers = |t: &str| -> Vec<String> {
        crossent::printed::numbers(t)
            .into_iter()
            .map(|n| format!("{:.4}", n.value))
            .collect()
    };
    let torch = numbers(&text(&out.stdout));
    let printed: Vec<String> = outputs
        .iter()
        .filter(|(code, _)| {
            ["x", "target", "input"].contains(&code.as_str()) || code.starts_with("activations =")
        })
        .flat_map(|(_, p)| numbers(p))
        .collect();
    assert_eq!(torch, printed, "PyTorch's draws from the recovered seed");
}

/// The seed of chapter 5's re-run in `tests/data`.
const LESSON_SEED: u64 = 31337;

/// A re-run made by `scripts/rerun_notebooks.py --course`: the file's code cells in its
/// order, each with the nbformat outputs Jupyter gave it (images left out), as a notebook.
fn course_rerun_notebook(run: &str) -> Value {
    let path = format!(
        "{}/tests/data/rerun-chapter-5-course-{run}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let cells: Vec<(String, Vec<Value>)> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let cells: Vec<Value> = cells
        .into_iter()
        .map(|(code, outputs)| {
            let outputs: Vec<Value> = outputs
                .into_iter()
                .map(|mut o| {
                    if o["output_type"] == "execute_result" {
                        o["execution_count"] = Value::Null;
                    }
                    o
                })
                .collect();
            json!({"cell_type": "code", "execution_count": null, "metadata": {},
                   "outputs": outputs, "source": code})
        })
        .collect();
    json!({"cells": cells, "metadata": {"kernelspec": {"name": "python3",
           "display_name": "Python 3"}}, "nbformat": 4, "nbformat_minor": 4})
}

/// Fast.ai's lesson re-run as a user does today: its own `.ipynb` from the course,
/// `torch.manual_seed` in a first cell, executed by Jupyter (nbclient, today's IPython and
/// PyTorch) on the course's data, in the file's own cell layout, which splits and merges
/// cells otherwise than the chapter. Twice: with PyTorch's AVX-512 kernels, and with its
/// AVX2 ones (`ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2
/// DNNL_MAX_CPU_ISA=AVX2`), which sum otherwise, as another machine does: three training
/// outputs differ between the two. The chapter reads the seed from the file, draws what
/// PyTorch drew, pairs each of its cells with the file cells its code spans, and compares
/// every output: none is left uncompared because of the layout, none differs beyond the
/// tolerance it measures, from either machine.
#[test]
fn a_seeded_rerun_of_the_lesson_is_replicated_whole() {
    let Some(mnist) = common::mnist_or_skip("chapter 5's seeded re-run") else {
        return;
    };
    let dir = scratch("rerun-5");
    let figures = dir.join("figures");
    let (data, out) = (mnist.to_str().unwrap(), figures.to_str().unwrap());
    for kernels in ["", "-avx2"] {
        let rerun = course_rerun_notebook(&format!("seed-{LESSON_SEED}{kernels}"));
        assert_eq!(
            source(&rerun["cells"][0]),
            format!("import torch\ntorch.manual_seed({LESSON_SEED})")
        );
        let path = dir.join(format!("rerun-5{kernels}.ipynb"));
        write_json(&path, &rerun);
        let written = dir.join(format!("replication-5{kernels}.ipynb"));
        let replicated = run(
            chapter(5),
            &[
                "--data-dir",
                data,
                "--out",
                out,
                "--notebook",
                path.to_str().unwrap(),
                "--write-notebook",
                written.to_str().unwrap(),
            ],
        );
        let stdout = text(&replicated.stdout);
        assert!(
            replicated.status.success(),
            "{kernels}: {}\n{stdout}",
            text(&replicated.stderr)
        );
        assert!(
            stdout.contains(&format!(
                "torch.manual_seed({LESSON_SEED}) before the first cell"
            )),
            "the file's seed is used: {stdout}"
        );
        assert!(stdout.contains("mismatched: 0\n"), "{stdout}");
        assert!(
            stdout.contains("outputs that cannot match by design: 0\n"),
            "nothing left seed-dependent: {stdout}"
        );
        assert!(
            !stdout.contains("printed nothing"),
            "no output is missed for the layout: {stdout}"
        );
        assert!(
            stdout.contains(
                "display conventions: grad_fn=<…Backward0>, IPython 8+ sequences, figures 640x480"
            ),
            "today's conventions read from the file: {stdout}"
        );
        // Cells the chapter merges or splits are paired with every file cell they span.
        for span in [
            "(notebook cells 44–47, by source)",
            "(notebook cell 28, line 1 of 4, by source)",
            "(notebook cell 28, lines 2–4 of 4, by source)",
        ] {
            assert!(stdout.contains(span), "{span}: {stdout}");
        }
        let count = |label: &str| common::summary_count(&stdout, label);
        assert_eq!(
            count("outputs compared with the notebook:"),
            35,
            "every output that printed is compared"
        );
        assert_eq!(count("verbatim:") + count("within a stated tolerance:"), 35);
        assert!(count("verbatim:") >= 28, "{stdout}");
        // Every output of the file is accounted for: the two left are not the lesson's.
        assert!(
            stdout.contains("outputs of the file compared with none of the chapter's: 2\n"),
            "{stdout}"
        );
        assert!(
            stdout.contains("    file cell 1: a seeding cell"),
            "{stdout}"
        );
        assert!(
            stdout.contains("    file cell 102: a shell command"),
            "{stdout}"
        );
        // The outputs before any training are PyTorch's to the last printed digit.
        for before_training in [
            "tensor(2.3112, grad_fn=<NegBackward0>)",
            "tensor([-2.3026, -2.3180, -2.2331], grad_fn=<IndexBackward0>)",
        ] {
            assert!(
                stdout.contains(before_training),
                "{before_training}: {stdout}"
            );
        }
        // The written notebook keeps the file's layout and says which conventions it used.
        let replication = read_json(&written);
        assert_eq!(code_cells(&replication).len(), code_cells(&rerun).len());
        let summary = &replication["metadata"]["crossent"]["summary"];
        assert_eq!(summary["display_conventions"]["grad_fn_number"], true);
        assert_eq!(summary["display_conventions"]["ipython8_sequences"], true);
        assert_eq!(
            summary["display_conventions"]["figure_size"],
            json!([640, 480])
        );
        assert_eq!(summary["mismatched"], 0);
        assert_eq!(summary["not_comparable_by_design"], 0);
        let uncompared = &replication["metadata"]["crossent"]["matching"]["uncompared_outputs"];
        assert_eq!(uncompared.as_array().map(Vec::len), Some(2), "{uncompared}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Chapter 2's own notebook laid out otherwise: a cell that prints nothing merged into the
/// next, and a cell that prints split after its first line. Each chapter cell pairs with
/// the file cells its code spans, so every output is compared as in the chapter's layout.
#[test]
fn a_notebook_whose_cells_are_split_and_merged_otherwise_is_compared_whole() {
    let dir = scratch("relayout");
    let own_path = dir.join("own-2.ipynb");
    let own_stdout = text(&write_own(2, &own_path, &[]).stdout);
    let own = read_json(&own_path);
    let mut cells: Vec<Value> = Vec::new();
    let (mut merged, mut split) = (0, 0);
    for cell in own["cells"].as_array().unwrap() {
        let mut cell = cell.clone();
        cell.as_object_mut().unwrap().remove("id");
        cell["metadata"] = json!({});
        if cell["cell_type"] != "code" {
            continue;
        }
        let code = source(&cell);
        let printed = !cell["outputs"].as_array().unwrap().is_empty();
        let previous_silent = cells
            .last()
            .is_some_and(|p| p["outputs"].as_array().unwrap().is_empty() && merged < 3);
        let lines: Vec<&str> = code.lines().collect();
        if printed && previous_silent {
            let previous = cells.last_mut().unwrap();
            previous["source"] = json!(format!("{}\n\n{code}", source(previous)));
            previous["outputs"] = cell["outputs"].clone();
            merged += 1;
        } else if printed && lines.len() >= 2 && split < 3 {
            let mut head = cell.clone();
            head["source"] = json!(lines[0]);
            head["outputs"] = json!([]);
            cell["source"] = json!(lines[1..].join("\n"));
            cells.push(head);
            cells.push(cell);
            split += 1;
        } else {
            cells.push(cell);
        }
    }
    assert!(merged > 0 && split > 0, "merged {merged}, split {split}");
    let mut relaid = own.clone();
    relaid["cells"] = json!(cells);
    let path = dir.join("relaid-2.ipynb");
    write_json(&path, &relaid);
    let replicated = run(chapter(2), &["--notebook", path.to_str().unwrap()]);
    let stdout = text(&replicated.stdout);
    assert!(replicated.status.success(), "{}", text(&replicated.stderr));
    let count = |text: &str, label: &str| common::summary_count(text, label);
    let compared = count(&own_stdout, "outputs compared with the notebook:");
    assert_eq!(
        count(&stdout, "outputs compared with the notebook:"),
        compared,
        "{stdout}"
    );
    assert_eq!(count(&stdout, "verbatim:"), compared, "{stdout}");
    assert!(!stdout.contains("printed nothing"), "{stdout}");
    assert!(stdout.contains("notebook cells "), "a span: {stdout}");
    assert!(stdout.contains(", line 1 of "), "a part: {stdout}");
    assert!(
        stdout.contains("outputs of the file compared with none of the chapter's: none"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_notebook_seed_and_a_contradicting_flag_are_one_line() {
    let Some(mnist) = common::mnist_or_skip("a notebook seed against --seed") else {
        return;
    };
    let dir = scratch("seed-flag");
    let own_path = dir.join("own.ipynb");
    let data = mnist.to_str().unwrap();
    let figures = dir.join("figures");
    let own = run(
        chapter(5),
        &[
            "--data-dir",
            data,
            "--out",
            figures.to_str().unwrap(),
            "--write-notebook",
            own_path.to_str().unwrap(),
        ],
    );
    assert!(own.status.success(), "{}", text(&own.stderr));
    let mut nb = read_json(&own_path);
    nb["cells"].as_array_mut().unwrap().insert(
        0,
        json!({"cell_type": "code", "execution_count": 1, "id": "seed", "metadata": {},
               "outputs": [], "source": "torch.manual_seed(5)"}),
    );
    let path = dir.join("seeded.ipynb");
    write_json(&path, &nb);
    let out = run(
        chapter(5),
        &[
            "--data-dir",
            data,
            "--notebook",
            path.to_str().unwrap(),
            "--seed",
            "6",
        ],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--seed 6 contradicts the notebook file"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_wrong_chapters_notebook_is_one_line() {
    let dir = scratch("wrong");
    let four = dir.join("four.ipynb");
    write_own(4, &four, &[]);
    let two = dir.join("two.ipynb");
    write_own(2, &two, &[]);
    for (n, file, says) in [
        (2, &four, "has no code cell `x`"),
        (
            1,
            &two,
            "does not look like chapter 1's notebook: only 0 of",
        ),
        (3, &two, "does not look like chapter 3's notebook"),
    ] {
        let out = run(chapter(n), &["--notebook", file.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "chapter {n}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(says), "{err}");
        assert!(out.stdout.is_empty(), "nothing printed before the verdict");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `binary` and gives its exit code, stdout, stderr and its own peak memory in
/// bytes (from `wait4`, which reports the child's resource use alone).
// The child is reaped by wait4, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run_measured(binary: &str, args: &[&str]) -> (Option<i32>, String, String, u64) {
    use std::io::Read;
    let mut child = Command::new(binary)
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let mut status = 0;
    // SAFETY: wait4 reaps this child (never waited for otherwise) and fills `usage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (
        code,
        out.join().unwrap(),
        err.join().unwrap(),
        usage.ru_maxrss as u64 * 1024,
    )
}

#[test]
fn hostile_notebooks_end_in_one_line_bounded_in_memory() {
    let dir = scratch("hostile");
    let mut cases: Vec<(PathBuf, &str)> = Vec::new();
    let mut file = |name: &str, bytes: &[u8], says: &'static str| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        cases.push((path, says));
    };
    file("not-json.ipynb", b"this is not json", "not valid JSON");
    file(
        "truncated.ipynb",
        b"{\"nbformat\": 4, \"cells\": [{\"cell_type\"",
        "cut short",
    );
    file("list.ipynb", b"[1, 2, 3]", "not a notebook");
    file(
        "v3.ipynb",
        br#"{"nbformat": 3, "nbformat_minor": 0, "worksheets": []}"#,
        "nbformat 3",
    );
    file(
        "no-cells.ipynb",
        br#"{"nbformat": 4, "metadata": {}}"#,
        "no list of cells",
    );
    file(
        "utf8.ipynb",
        b"{\"nbformat\": 4, \"cells\": [\"\xff\xfe\"]}",
        "not UTF-8",
    );
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    file("deep.ipynb", deep.as_bytes(), "nests deeper");
    let million = format!(
        "{{\"nbformat\": 4, \"metadata\": {{}}, \"cells\": [{}]}}",
        vec!["{}"; 1_000_000].join(",")
    );
    file("million-cells.ipynb", million.as_bytes(), "1000000 cells");
    let base64 = format!(
        "{{\"nbformat\": 4, \"cells\": [{{\"cell_type\": \"code\", \"source\": \"x\", \
         \"outputs\": [{{\"output_type\": \"display_data\", \"data\": {{\"image/png\": \"{}\"}}}}]}}]}}",
        "A".repeat(100 << 20)
    );
    file("base64.ipynb", base64.as_bytes(), "over the 32 MiB");
    drop(base64);
    let sparse = dir.join("sparse.ipynb");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    cases.push((sparse, "over the 32 MiB"));
    let folder = dir.join("folder.ipynb");
    std::fs::create_dir_all(&folder).unwrap();
    cases.push((folder, "is a folder"));
    let fifo = dir.join("fifo.ipynb");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads the NUL-terminated path only.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    cases.push((fifo, "not a regular file"));
    cases.push((dir.join("missing.ipynb"), "cannot read the notebook"));
    for (path, says) in &cases {
        let (code, stdout, err, peak) =
            run_measured(chapter(2), &["--notebook", path.to_str().unwrap()]);
        assert_eq!(code, Some(1), "{}: {err}", path.display());
        assert_eq!(err.lines().count(), 1, "{}: {err}", path.display());
        assert!(err.contains(says), "{}: {err}", path.display());
        assert!(!err.contains("panicked"), "{err}");
        assert!(stdout.is_empty(), "{}", path.display());
        assert!(
            peak < 500 << 20,
            "{}: peak memory {} MB",
            path.display(),
            peak >> 20
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_notebook_destination_is_one_line_before_the_run() {
    let dir = scratch("unwritable");
    for (dest, says) in [
        (dir.join("no/such/folder/x.ipynb"), "does not exist"),
        (dir.to_path_buf(), "it is a folder"),
    ] {
        let out = run(chapter(2), &["--write-notebook", dest.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(says), "{err}");
        assert!(out.stdout.is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_report_takes_a_folder_of_notebooks_and_writes_one_per_chapter() {
    let dir = scratch("report");
    let notebooks = dir.join("in");
    std::fs::create_dir_all(&notebooks).unwrap();
    write_own(2, &notebooks.join("chapter-2.ipynb"), &[]);
    std::fs::write(notebooks.join("stray.ipynb"), b"{}").unwrap();
    let out_dir = dir.join("out");
    let empty = dir.join("no-mnist");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(
        REPORT,
        &[
            "--out",
            out_dir.to_str().unwrap(),
            "--notebooks",
            notebooks.to_str().unwrap(),
            "--data-dir",
            empty.to_str().unwrap(),
        ],
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("stray.ipynb"),
        "a file naming no chapter is said: {err}"
    );
    for n in common::WITHOUT_MNIST {
        let written = read_json(&out_dir.join(format!("chapter-{n}.ipynb")));
        assert_eq!(written["metadata"]["crossent"]["chapter"], n);
    }
    let two = read_json(&out_dir.join("chapter-2.ipynb"));
    assert_eq!(
        two["metadata"]["crossent"]["source"]["file"],
        "chapter-2.ipynb"
    );
    assert_eq!(
        two["metadata"]["crossent"]["matching"]["matched_by"]["id"],
        27
    );
    if let Some(py) = python_or_skip("the report's notebooks validate") {
        let written: Vec<String> = common::WITHOUT_MNIST
            .iter()
            .map(|n| {
                out_dir
                    .join(format!("chapter-{n}.ipynb"))
                    .display()
                    .to_string()
            })
            .collect();
        let args: Vec<&str> = written.iter().map(String::as_str).collect();
        let out = python(&py, VALIDATE, &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let json = read_json(&out_dir.join("report.json"));
    let file = &json["chapters"][1]["notebook_file"];
    assert_eq!(file["file"], "chapter-2.ipynb");
    assert_eq!(file["matched_by"]["id"], 27);
    assert_eq!(json["chapters"][1]["cells"][1]["matched"]["rule"], "id");
    assert!(json["chapters"][2].get("notebook_file").is_none());
    let index = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert!(index.contains("href=\"chapter-2.ipynb\""), "{index}");
    let page = std::fs::read_to_string(out_dir.join("chapter-2.html")).unwrap();
    assert!(page.contains("href=\"chapter-2.ipynb\""));
    assert!(page.contains("notebook file: chapter-2.ipynb"));
    let _ = std::fs::remove_dir_all(&dir);
}
