"""Re-runs a chapter's notebook in PyTorch under new random draws, for the tests.

Usage: python3 scripts/rerun_notebooks.py CHAPTER SEED NOTEBOOK.ipynb

NOTEBOOK is the notebook the chapter writes (`chapter-N --write-notebook`): its code
cells are the original notebook's code. They run here in one IPython shell, after
`torch.manual_seed(SEED)`, as Jupyter would run them; what each cell displays
(`text/plain`) or prints (stdout) is written as JSON, a list of [code, printed] pairs.
`tests/notebooks.rs` holds the output for chapters 2 and 4 (seed 2026): a re-run of the
notebook with other numbers, which the chapter must replicate from the file alone.

Needs: pip install torch ipython nbformat
"""

import json
import sys

import nbformat
import torch
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

# The chapters' notebooks import fastai; its `tensor` and star imports are all that
# their code uses of it.
FASTAI = "import torch\nfrom torch import tensor, nn\nimport torch.nn.functional as F\n"


def main():
    chapter, seed, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    nb = nbformat.read(path, as_version=4)
    shell = InteractiveShell.instance()
    # The displayed value is formatted below; the shell's own "Out[n]:" print is not.
    shell.displayhook.write_output_prompt = lambda: None
    shell.displayhook.write_format_data = lambda *args, **kwargs: None
    shell.run_cell(FASTAI)
    torch.manual_seed(seed)
    pairs = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code = cell.source
        if code.startswith("!") or "fastai" in code:
            continue
        with capture_output() as captured:
            result = shell.run_cell(code)
        if result.error_in_exec is not None:
            raise SystemExit(f"chapter {chapter}: {code!r} failed: {result.error_in_exec}")
        printed = captured.stdout
        if result.result is not None:
            text = shell.display_formatter.format(result.result)[0]["text/plain"]
            printed += text + "\n"
        pairs.append([code, printed.rstrip("\n")])
    json.dump(pairs, sys.stdout, indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
