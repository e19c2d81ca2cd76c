//! `replicate` end to end: notebooks of this project's own code, executed by Jupyter with
//! PyTorch (`scripts/replicate_notebooks.py`, kept in `replicate/tests/data/`), run again
//! in the embedded interpreter and compared output by output; hostile cells; bad input;
//! the written notebook.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{scratch_dir, summary_count};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn replicate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replicate"))
        .args(args)
        .output()
        .expect("replicate runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Replicates one of the tests' notebooks, which must pass with `verbatim` outputs
/// verbatim and none mismatched; gives its stdout.
fn replicated_verbatim(name: &str, verbatim: u64) -> String {
    let out = replicate(&[data(name).to_str().unwrap()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert_eq!(summary_count(&text, "verbatim"), verbatim, "{text}");
    assert_eq!(summary_count(&text, "mismatched"), 0, "{text}");
    text
}

/// Writes a notebook of code cells without outputs, as a user's unexecuted file.
fn write_notebook(dir: &Path, name: &str, cells: &[&str]) -> PathBuf {
    let cells: Vec<serde_json::Value> = cells
        .iter()
        .enumerate()
        .map(|(i, source)| {
            serde_json::json!({
                "cell_type": "code", "execution_count": null, "id": format!("cell-{i}"),
                "metadata": {}, "outputs": [], "source": source,
            })
        })
        .collect();
    let nb =
        serde_json::json!({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5});
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(&nb).unwrap()).unwrap();
    path
}

/// The reason `replicate` gave for not running the cell whose source starts with `code`.
fn reason_for(stdout: &str, code: &str) -> String {
    let start = stdout
        .find(&format!("    {code}"))
        .unwrap_or_else(|| panic!("no cell `{code}` in:\n{stdout}"));
    let rest = &stdout[start..];
    let line = rest
        .lines()
        .find(|l| l.trim_start().starts_with("->"))
        .unwrap_or_else(|| panic!("cell `{code}` has no verdict"));
    line.trim().to_string()
}

#[test]
fn every_output_of_the_losses_notebook_is_pytorchs_to_the_last_digit() {
    let text = replicated_verbatim("losses.ipynb", 49);
    assert_eq!(
        summary_count(&text, "outputs compared with the notebook"),
        49
    );
    assert!(text.contains("cells reproduced: 50 of 50"), "{text}");
    // The float the sum reduction gives, through PyTorch's own order of summation.
    assert!(text.contains("\n7.896927833557129\n"), "{text}");
}

#[test]
fn a_model_trained_with_sgd_prints_as_pytorchs() {
    let text = replicated_verbatim("training.ipynb", 14);
    assert!(text.contains("grad_fn=<NllLossBackward0>"), "{text}");
}

#[test]
fn common_idioms_run_and_a_module_outside_the_subset_stops_only_the_cells_that_use_it() {
    let text = replicated_verbatim("idioms.ipynb", 12);
    // torch.Generator, random_, torch.Tensor(...), nn.Softmax, a function's display,
    // `.data` written through, in-place forms (`exp_`).
    assert!(text.contains("cells reproduced: 13 of 14"), "{text}");
    assert_eq!(
        reason_for(&text, "np.log"),
        "-> not run: numpy is not in the subset"
    );
    assert!(text.contains("<function __main__.ce(p, y)>"), "{text}");
}

#[test]
fn focal_losses_and_binary_cross_entropy_are_pytorchs_even_where_they_cancel() {
    let text = replicated_verbatim("focal.ipynb", 10);
    // -10 - log_sigmoid(-10) in float32, as PyTorch's kernel rounds it.
    assert!(text.contains("tensor(4.5588e-05)"), "{text}");
}

#[test]
fn entropy_and_kl_divergence_in_their_stable_forms_are_pytorchs() {
    // xlogy, kl_div (sum, batchmean, log targets), logsigmoid, softplus, log1p.
    let text = replicated_verbatim("entropy.ipynb", 9);
    assert!(text.contains("cells reproduced: 10 of 10"), "{text}");
}

#[test]
fn unseeded_draws_are_shown_and_what_does_not_depend_on_them_is_compared() {
    let text = replicated_verbatim("unseeded.ipynb", 2);
    // The shape and the batch size are compared; the draws and the loss are not.
    assert_eq!(
        summary_count(&text, "outputs that cannot match by design"),
        3
    );
    assert!(
        reason_for(&text, "scores\n").contains("random draws the notebook did not seed"),
        "{text}"
    );
}

#[test]
fn a_changed_output_is_a_mismatch_and_fails_the_run() {
    let dir = scratch_dir("replicate-mismatch");
    let original = std::fs::read_to_string(data("losses.ipynb")).unwrap();
    // One digit of one printed output changed, as a notebook edited by hand would be.
    let edited = original.replacen("7.896927833557129", "7.896927833557128", 1);
    assert_ne!(original, edited);
    let path = dir.join("edited.ipynb");
    std::fs::write(&path, edited).unwrap();
    let out = replicate(&[path.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert_eq!(summary_count(&text, "mismatched"), 1);
}

#[test]
fn hostile_cells_each_end_in_one_line_and_touch_nothing() {
    let dir = scratch_dir("replicate-hostile");
    let notebook = write_notebook(
        &dir,
        "hostile.ipynb",
        &[
            "import os\nos.remove('x')",
            "open('/etc/passwd').read()",
            "__import__('subprocess').run(['true'])",
            "import socket\nsocket.socket()",
            "while True:\n    pass",
            "import torch\nbig = torch.zeros(10**12)",
            "zeros = [0] * 10**10",
            "def deep(n):\n    return deep(n + 1)\ndeep(0)",
            "print('x' * 10**7)",
            "torch.fft.fft(torch.zeros(4))",
            "still = torch.ones(2)\nstill",
            "big.shape",
        ],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_replicate"))
        .args([notebook.to_str().unwrap(), "--cell-timeout", "2"])
        .current_dir(&*dir)
        .output()
        .unwrap();
    let text = stdout(&out);
    let expect = [
        ("import os", "os.remove is not in the subset"),
        ("open(", "open is not in the subset"),
        ("__import__(", "subprocess.run is not in the subset"),
        ("import socket", "socket.socket is not in the subset"),
        ("while True", "stopped at the cell time limit (2 s)"),
        ("import torch", "over the cap on tensor memory (4 GiB)"),
        ("zeros = [0]", "ran out of memory"),
        ("def deep", "RecursionError"),
        ("print('x'", "printed more than 1 MiB"),
        ("torch.fft", "torch.fft is not in the subset"),
        ("big.shape", "depends on cell 6, which did not run (`big`)"),
    ];
    for (code, why) in expect {
        let reason = reason_for(&text, code);
        assert!(
            reason.starts_with("-> not run") && reason.contains(why),
            "{code}: {reason}"
        );
    }
    // The cells after the hostile ones still run, in a fresh interpreter brought back.
    assert!(text.contains("tensor([1., 1.])"), "{text}");
    // Nothing was written beside the notebook.
    let left: Vec<_> = std::fs::read_dir(&*dir).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn magics_shell_lines_and_modules_outside_the_subset_are_said_and_their_dependents_too() {
    let dir = scratch_dir("replicate-magics");
    let notebook = write_notebook(
        &dir,
        "magics.ipynb",
        &[
            "!pip install d2l",
            "%matplotlib inline\nimport torch\nx = torch.tensor([1.0, 2.0])",
            "import matplotlib.pyplot as plt",
            "plt.plot(x)",
            "import math\nplt.show()",
            "math.sqrt(4.0)",
            "%%timeit\nx.sum()",
            "def double(input):\n    return input * 2\n\ndouble(x)",
            "display(x)\nprint('and')\ndisplay(x + 1)",
            "torch.set_printoptions(precision=2)\ny = torch.tensor([1.5, 2.25])",
            "y",
        ],
    );
    let out = replicate(&[notebook.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        reason_for(&text, "!pip").contains("a shell command"),
        "{text}"
    );
    assert!(
        text.contains("`%matplotlib inline`: IPython magics"),
        "{text}"
    );
    assert!(
        text.contains("matplotlib.pyplot: imported as a stand-in"),
        "{text}"
    );
    assert!(reason_for(&text, "plt.plot").contains("matplotlib.pyplot is not in the subset"));
    assert!(reason_for(&text, "%%timeit").contains("a cell magic (`%%timeit`)"));
    // A cell not run still binds what it imports: the next cell has `math`.
    assert!(text.contains("math.sqrt(4.0)\nOut[6]:\n2.0"), "{text}");
    assert!(text.contains("tensor([2., 4.])"), "{text}");
    // IPython's display, in order with what the cell prints.
    assert!(
        text.contains("tensor([1., 2.])\nand\ntensor([2., 3.])"),
        "{text}"
    );
    // Print options are noted, not followed: the tensors after them are not compared.
    assert!(
        reason_for(&text, "y\n").contains("changed PyTorch's print options"),
        "{text}"
    );
}

#[test]
fn an_error_the_notebook_raised_too_is_shown_and_checked() {
    let dir = scratch_dir("replicate-errors");
    let error = |name: &str, value: &str| serde_json::json!({"output_type": "error", "ename": name, "evalue": value, "traceback": []});
    let cells = [
        (
            "x = 1\nx / 0",
            error("ZeroDivisionError", "division by zero"),
        ),
        ("y = 2\ny.nope", error("AttributeError", "something else")),
    ];
    let cells: Vec<serde_json::Value> = cells
        .iter()
        .enumerate()
        .map(|(i, (source, output))| {
            serde_json::json!({"cell_type": "code", "execution_count": i + 1, "id": format!("e{i}"),
                               "metadata": {}, "outputs": [output], "source": source})
        })
        .collect();
    let path = dir.join("errors.ipynb");
    let nb =
        serde_json::json!({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5});
    std::fs::write(&path, nb.to_string()).unwrap();
    let out = replicate(&[path.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        text.contains("ZeroDivisionError: division by zero"),
        "{text}"
    );
    assert!(
        text.contains("AttributeError: 'int' object has no attribute 'nope'"),
        "{text}"
    );
    // The second raises another error than the notebook's: a failed check, a failed run.
    assert!(
        text.contains("checks of the chapter's own: 1 passed, 1 failed"),
        "{text}"
    );
    assert!(!out.status.success());
}

#[test]
fn bad_input_is_one_line_and_a_failing_exit() {
    let dir = scratch_dir("replicate-bad");
    let missing = dir.join("absent.ipynb");
    let corrupt = dir.join("corrupt.ipynb");
    std::fs::write(&corrupt, "{\"cells\": [").unwrap();
    let r_notebook = dir.join("r.ipynb");
    std::fs::write(
        &r_notebook,
        r#"{"cells": [], "metadata": {"kernelspec": {"language": "R", "name": "ir"}}, "nbformat": 4, "nbformat_minor": 5}"#,
    )
    .unwrap();
    let unwritable = dir.join("no/such/folder/out.ipynb");
    let good = data("unseeded.ipynb");
    for args in [
        vec![missing.to_str().unwrap()],
        vec![corrupt.to_str().unwrap()],
        vec![corrupt.to_str().unwrap(), "--cell-timeout", "0"],
        vec![r_notebook.to_str().unwrap()],
        vec![
            good.to_str().unwrap(),
            "--out",
            unwritable.to_str().unwrap(),
        ],
        vec!["--no-such-flag"],
    ] {
        let out = replicate(&args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn the_written_notebook_holds_the_run_and_two_runs_are_the_same_bytes() {
    let dir = scratch_dir("replicate-out");
    let (first, second) = (dir.join("first.ipynb"), dir.join("second.ipynb"));
    let input = data("training.ipynb");
    let a = replicate(&[input.to_str().unwrap(), "--out", first.to_str().unwrap()]);
    let b = replicate(&[input.to_str().unwrap(), "--out", second.to_str().unwrap()]);
    assert!(a.status.success() && b.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    let (first, second) = (
        std::fs::read(first).unwrap(),
        std::fs::read(second).unwrap(),
    );
    assert_eq!(first, second);
    let written: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(written["nbformat"], 4);
    let text = String::from_utf8(first).unwrap();
    assert!(
        text.contains("NllLossBackward0"),
        "the outputs are in the file"
    );
    assert!(
        !text.contains(dir.to_str().unwrap()),
        "no path of this machine"
    );
}
