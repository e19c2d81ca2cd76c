"""Re-runs a chapter's notebook in PyTorch under new random draws, for the tests.

Usage: python3 scripts/rerun_notebooks.py CHAPTER SEED|none NOTEBOOK.ipynb [MNIST_DIR]
       python3 scripts/rerun_notebooks.py 5 SEED --course 03_minibatch_training.ipynb [MNIST_DIR]

With `--course`, the lesson's own `.ipynb` (fast.ai's course-v3, `nbs/dl2/`; fetch it,
never commit it) is executed as Jupyter executes it, by nbclient in a fresh kernel, after
one first cell `import torch` / `torch.manual_seed(SEED)`, in the file's own cell layout:
see `run_course` below. With `ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2
DNNL_MAX_CPU_ISA=AVX2` in the environment, PyTorch runs its AVX2 kernels on an AVX-512
machine and sums as another machine does (the tests keep seed 31337 both ways).

NOTEBOOK is the notebook the chapter writes (`chapter-N --write-notebook`): its code
cells are the original notebook's code. They run here in one IPython shell, after
`torch.manual_seed(SEED)`, as today's Jupyter would run them: what each cell displays
(`text/plain`, laid out by today's IPython), prints (stdout) and shows as a figure
(matplotlib's `<Figure size …>` text, after the cell's value, as the inline backend
shows it) is written as JSON, a list of [code, printed] pairs. The first pair is the
seeding cell itself, `torch.manual_seed(SEED)`, which the tests put first in the
re-run notebook, as a user who wants a reproducible run does. With `none` instead of a
seed nothing seeds PyTorch: its generator keeps the seed it drew from /dev/urandom at
start-up, as in a fresh Jupyter kernel, and no seeding pair is written (chapters 2 and
4 recover that seed with `--recover-seed`).

Chapter 6 (d2l's information theory) seeds its own draws in a cell of its own
(`torch.manual_seed(1)`): a re-run under SEED changes that cell's seed, as a user re-running
the notebook with another seed does, and writes no seeding pair.

Chapter 5 (fast.ai's lesson) is re-run from the course's own file with `--course`,
offline: `from exp.nb_02 import *` finds a module written here (`COURSE_EXP`) whose
`get_data()` builds the course's `mnist.pkl.gz` split from the IDX files in MNIST_DIR
(default ../shared/data/mnist): the first 50,000 training images for training, the next
10,000 for validation, each grey level / 256 as the course's pickle stored it.

`tests/notebooks.rs` holds the output in `tests/data/` (chapters 2 and 4 with seed 2026,
chapter 5 with seed 31337 from the course's file, chapter 6 with seed 2): a re-run of the notebook with other numbers, which the
chapter must replicate from the file alone.

Needs: pip install torch ipython nbformat matplotlib numpy (and nbclient ipykernel for
`--course`)
"""

import json
import os
import re
import sys

import nbformat
import torch
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

# The chapters' notebooks import fastai; its `tensor` and star imports are all that
# their code uses of it.
FASTAI = "import torch\nfrom torch import tensor, nn\nimport torch.nn.functional as F\n"

# The course's `exp/nb_02.py` (what `from exp.nb_02 import *` brings), offline: the names
# the lesson uses, and `get_data()` reading the IDX files in $MNIST_DIR instead of
# downloading the course's pickle (the same split and grey levels / 256).
COURSE_EXP = r'''
import operator, os, pickle, gzip, math
from pathlib import Path
import numpy as np
import torch, matplotlib as mpl
import matplotlib.pyplot as plt
from torch import tensor, nn
from torch.nn import init

def test(a, b, cmp, cname=None):
    if cname is None: cname = cmp.__name__
    assert cmp(a, b), f"{cname}:\n{a}\n{b}"

def test_eq(a, b): test(a, b, operator.eq, '==')
def near(a, b): return torch.allclose(a, b, rtol=1e-3, atol=1e-5)
def test_near(a, b): test(a, b, near)
def normalize(x, m, s): return (x - m) / s
def test_near_zero(a, tol=1e-3): assert a.abs() < tol, f"Near zero: {a}"
def mse(output, targ): return (output.squeeze(-1) - targ).pow(2).mean()

def _idx(name, offset):
    with open(Path(os.environ["MNIST_DIR"]) / name, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)

def get_data():
    images = _idx("train-images-idx3-ubyte", 16).reshape(60000, 784)
    labels = _idx("train-labels-idx1-ubyte", 8).astype(np.int64)
    x = images.astype(np.float32) / 256
    return map(tensor, (x[:50000], labels[:50000], x[50000:], labels[50000:]))
'''


def run_course(seed, path, mnist):
    """Executes the course's notebook file itself with nbclient (a fresh IPython kernel,
    as Jupyter runs it), a seed cell first, in a scratch folder holding the offline
    `exp/nb_02.py`; writes every code cell in the file's order as [code, outputs], where
    outputs are the cell's nbformat outputs with their images left out (their
    `text/plain`, `<Figure size …>`, stays) and the scratch folder's path made `.`."""
    import shutil
    import tempfile

    import nbclient

    nb = nbformat.read(path, as_version=4)
    seeding = nbformat.v4.new_code_cell(f"import torch\ntorch.manual_seed({int(seed)})")
    nb.cells.insert(0, seeding)
    scratch = tempfile.mkdtemp(prefix="crossent-rerun-")
    try:
        os.makedirs(os.path.join(scratch, "exp"))
        open(os.path.join(scratch, "exp", "__init__.py"), "w").close()
        with open(os.path.join(scratch, "exp", "nb_02.py"), "w") as f:
            f.write(COURSE_EXP)
        os.environ["MNIST_DIR"] = os.path.abspath(mnist)
        client = nbclient.NotebookClient(
            nb, timeout=900, kernel_name="python3", allow_errors=False,
            resources={"metadata": {"path": scratch}})
        client.execute()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            output = json.loads(json.dumps(output))
            data = output.get("data")
            if data is not None:
                output["data"] = {k: v for k, v in data.items() if k == "text/plain"}
            if "text" in output:
                # No path of this machine: the scratch folder, the shell's python.
                text = output["text"].replace(scratch, ".")
                output["text"] = re.sub(r"/\S*/bin/(python3?)", r"\1", text)
            output.pop("execution_count", None)
            outputs.append(output)
        cells.append([cell.source, outputs])
    json.dump(cells, sys.stdout, indent=1, ensure_ascii=False)
    print()


def default_mnist():
    return os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")


def main():
    if len(sys.argv) > 3 and sys.argv[3] == "--course":
        mnist = sys.argv[5] if len(sys.argv) > 5 else default_mnist()
        return run_course(sys.argv[2], sys.argv[4], mnist)
    chapter, seed, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    nb = nbformat.read(path, as_version=4)
    shell = InteractiveShell.instance()
    # The displayed value is formatted below; the shell's own "Out[n]:" print is not.
    shell.displayhook.write_output_prompt = lambda: None
    shell.displayhook.write_format_data = lambda *args, **kwargs: None
    # `%matplotlib inline` asks the shell for a GUI loop, which only a kernel has; the
    # inline backend itself needs none.
    shell.enable_gui = lambda gui=None: None
    if chapter == 5:
        raise SystemExit("chapter 5's lesson is re-run from its own file: use --course")
    shell.run_cell(FASTAI)
    own_seed_cell = chapter == 6
    if own_seed_cell or seed == "none":
        # As a fresh kernel: PyTorch seeded itself from /dev/urandom at start-up.
        pairs = []
    else:
        seeding = f"torch.manual_seed({int(seed)})"
        shell.run_cell(seeding)
        pairs = [[seeding, ""]]
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code = cell.source
        if code.startswith("!") or "fastai" in code or "??" in code:
            continue
        if own_seed_cell and seed != "none":
            code = code.replace("torch.manual_seed(1)", f"torch.manual_seed({int(seed)})")
        with capture_output() as captured:
            result = shell.run_cell(code)
        if result.error_in_exec is not None:
            raise SystemExit(f"chapter {chapter}: {code!r} failed: {result.error_in_exec}")
        printed = captured.stdout
        if result.result is not None:
            text = shell.display_formatter.format(result.result)[0]["text/plain"]
            printed += text + "\n"
        # Figures the inline backend shows after the cell's value.
        for output in captured.outputs:
            text = output.data.get("text/plain")
            if text is not None and "image/png" in output.data:
                printed += text + "\n"
        pairs.append([code, printed.rstrip("\n")])
    json.dump(pairs, sys.stdout, indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
