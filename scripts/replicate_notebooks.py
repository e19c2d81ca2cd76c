"""Writes the notebooks `replicate`'s tests run, and executes them as Jupyter does.

Usage: python3 scripts/replicate_notebooks.py OUT_DIR

Each notebook below is this project's own code (never a notebook's text): cells on
softmax, log_softmax, NLL, cross-entropy, binary cross-entropy and a focal loss, a small
model trained with SGD, and draws that nothing seeds. Each is executed by nbclient in a
fresh IPython kernel, with today's PyTorch, so that its outputs are what Jupyter shows:
the oracle `replicate/tests/replicate.rs` compares the embedded interpreter's outputs
with. `tests/data/replicate/` holds them.

Needs: pip install torch nbformat nbclient ipykernel
"""

import os
import sys

import nbclient
import nbformat

LOSSES = [
    "# Losses on seeded draws",
    "import torch\nimport torch.nn.functional as F\nfrom torch import nn",
    "torch.manual_seed(42)\nlogits = torch.randn(4, 5)\ntarget = torch.randint(5, (4,))\nlogits",
    "target",
    "logits.shape, logits.size(0), len(target)",
    "## softmax and its logarithm",
    "probs = F.softmax(logits, dim=1)\nprobs",
    "probs.sum(dim=1)",
    "torch.log_softmax(logits, dim=-1)",
    "logits.exp() / logits.exp().sum(-1, keepdim=True)",
    "logits.logsumexp(dim=1)",
    "(logits - logits.logsumexp(dim=1, keepdim=True)).exp().sum(1)",
    "## picking the target's probability",
    "probs[range(4), target]",
    "probs[torch.arange(4), target].log().neg().mean()",
    "probs.gather(1, target.unsqueeze(1))",
    "F.nll_loss(probs.log(), target)",
    "F.cross_entropy(logits, target)",
    "F.cross_entropy(logits, target, reduction='none')",
    "F.cross_entropy(logits, target, reduction='sum').item()",
    "weights = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0])\nF.cross_entropy(logits, target, weight=weights)",
    "F.cross_entropy(logits, target, label_smoothing=0.1)",
    "masked = target.clone()\nmasked[0] = -100\nF.cross_entropy(logits, masked)",
    "soft = F.softmax(torch.randn(4, 5), dim=1)\nF.cross_entropy(logits, soft)",
    "nn.CrossEntropyLoss()(logits, target), nn.NLLLoss()(F.log_softmax(logits, 1), target)",
    "one_hot = F.one_hot(target, num_classes=5)\none_hot",
    "-(one_hot * F.log_softmax(logits, 1)).sum(1).mean()",
    "torch.allclose(-(one_hot * F.log_softmax(logits, 1)).sum(1).mean(), F.cross_entropy(logits, target))",
    "## the largest logit",
    "logits.max(dim=1)",
    "values, indices = logits.max(1)\nindices == target",
    "(logits.argmax(dim=1) == target).float().mean()",
    "logits.min(), logits.max(), logits.argmax()",
    "## binary cross-entropy",
    "torch.manual_seed(7)\nz = torch.randn(6)\ny = (torch.rand(6) > 0.5).float()\nz, y",
    "p = torch.sigmoid(z)\np",
    "F.binary_cross_entropy(p, y)",
    "-(y * p.log() + (1 - y) * (1 - p).log()).mean()",
    "F.binary_cross_entropy_with_logits(z, y)",
    "nn.BCEWithLogitsLoss(pos_weight=torch.tensor(2.0))(z, y)",
    "nn.BCELoss(reduction='none')(p, y)",
    "## a focal loss",
    "def focal_loss(logits, target, gamma=2.0):\n"
    "    logp = F.log_softmax(logits, dim=1)\n"
    "    logp_t = logp.gather(1, target.view(-1, 1)).squeeze(1)\n"
    "    p_t = logp_t.exp()\n"
    "    return (-(1 - p_t) ** gamma * logp_t).mean()\n"
    "\n"
    "focal_loss(logits, target), focal_loss(logits, target, gamma=0.0)",
    "## shapes, masks and printing",
    "x = torch.arange(12).view(3, 4)\nx",
    "x.t(), x.reshape(2, 6)[1], x[:, 1:3]",
    "x[x > 5]",
    "x.float().mean(dim=0)",
    "torch.where(x % 2 == 0, x, torch.zeros_like(x))",
    "torch.stack([x[0], x[1]]), torch.cat([x, x], dim=0).shape",
    "torch.zeros(2, 3).scatter_(1, torch.tensor([[0], [2]]), 1.0)",
    "torch.linspace(0, 1, 5), torch.ones(3, dtype=torch.long), torch.tensor([True, False])",
    "torch.tensor([1e-6, 1.0, 1000.0])",
    "nan = torch.log(torch.tensor([0.5, 0.0, -1.0]))\nnan, torch.isnan(nan), nan[~torch.isnan(nan)].sum()",
    "print(f'loss {F.cross_entropy(logits, target).item():.4f}')\nprint(logits[0])",
    "torch.log2(torch.tensor([0.1, 0.5, 0.25])).sum()",
    "[round(v, 3) for v in probs[0].tolist()]",
]

TRAINING = [
    "# A classifier trained with SGD",
    "import torch\nfrom torch import nn\nimport torch.nn.functional as F",
    "torch.manual_seed(0)\nX = torch.randn(32, 4)\ny = (X[:, 0] + X[:, 1] > 0).long()\ny[:8]",
    "model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))\nmodel",
    "model[0].weight.shape, model[0].bias",
    "loss_func = nn.CrossEntropyLoss()\nloss = loss_func(model(X), y)\nloss",
    "loss.backward()\nmodel[2].bias.grad",
    "opt = torch.optim.SGD(model.parameters(), lr=0.5)\n"
    "for epoch in range(20):\n"
    "    loss = loss_func(model(X), y)\n"
    "    loss.backward()\n"
    "    opt.step()\n"
    "    opt.zero_grad()\n"
    "    if epoch % 5 == 0:\n"
    "        print(epoch, round(loss.item(), 4))",
    "with torch.no_grad():\n    accuracy = (model(X).argmax(1) == y).float().mean()\naccuracy",
    "class Logistic(nn.Module):\n"
    "    def __init__(self, n_in):\n"
    "        super().__init__()\n"
    "        self.lin = nn.Linear(n_in, 1)\n"
    "    def forward(self, x):\n"
    "        return self.lin(x).squeeze(1)\n"
    "\n"
    "logistic = Logistic(4)\nlogistic",
    "bce = nn.BCEWithLogitsLoss()\n"
    "for step in range(30):\n"
    "    loss = bce(logistic(X), y.float())\n"
    "    loss.backward()\n"
    "    with torch.no_grad():\n"
    "        for p in logistic.parameters():\n"
    "            p -= 0.3 * p.grad\n"
    "            p.grad.zero_()\n"
    "loss",
    "w = torch.tensor([0.5, -0.3], requires_grad=True)\nw",
    "out = (w * torch.tensor([2.0, 4.0])).sum()\nout.backward()\nw.grad",
    "logits = torch.tensor([[2.0, 1.0, 0.1]], requires_grad=True)\n"
    "F.cross_entropy(logits, torch.tensor([0]))",
    "l = F.cross_entropy(logits, torch.tensor([0]))\nl.backward()\nlogits.grad",
    "F.softmax(logits, dim=1) - F.one_hot(torch.tensor([0]), 3)",
]

UNSEEDED = [
    "import torch\nimport torch.nn.functional as F",
    "scores = torch.randn(3, 4)\nscores.shape",
    "scores",
    "labels = torch.randint(4, size=(3,))\nlabels",
    "F.cross_entropy(scores, labels)",
    "labels.shape[0], range(labels.shape[0])",
]

IDIOMS = [
    "import numpy as np\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F",
    "g = torch.Generator().manual_seed(12)\nlogits = torch.randn(4, 10, generator=g)\nlogits[0]",
    "labels = torch.LongTensor([2, 3, 0, 1])\nprobs = F.softmax(logits, dim=1)\nprobs.gather(1, labels.view(-1, 1))",
    "np.log(0.5)",
    "torch.manual_seed(3)\ntarget = torch.empty(3, dtype=torch.long).random_(5)\ntarget",
    "inputs = torch.randn(3, 5, requires_grad=True)\nloss = nn.CrossEntropyLoss()(inputs, target)\nloss.backward()\nloss",
    "inputs.grad",
    "torch.Tensor([1, 2]), torch.eye(3)",
    "m = nn.Softmax(dim=1)\nm(logits[:2]).sum(axis=1)",
    "def ce(p, y):\n    return -torch.log(p[range(len(y)), y]).mean()\nce",
    "print(f'{ce(probs, labels):.5f}', f'{ce(probs, labels).item():.3e}')",
    "torch.randint(0, 10, (2, 3), generator=g)",
    "w = torch.randn(3, requires_grad=True)\nx = torch.tensor([1.0, 2.0, 3.0])\n"
    "for step in range(3):\n"
    "    loss = ((w * x).sum() - 1) ** 2\n"
    "    loss.backward()\n"
    "    w.data -= 0.01 * w.grad.data\n"
    "    w.grad.data.zero_()\n"
    "w, w.grad",
    "z = torch.tensor([0.5, 2.0])\nz.exp_()\nz.clamp_(max=3.0)\nz",
]

FOCAL = [
    "# Focal losses for binary targets",
    "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F",
    "torch.manual_seed(11)\nlogits = torch.randn(8)\ntargets = (torch.rand(8) > 0.5).float()\nlogits, targets",
    "class FocalLoss(nn.Module):\n"
    "    def __init__(self, alpha=0.25, gamma=2.0, reduction='mean'):\n"
    "        super(FocalLoss, self).__init__()\n"
    "        self.alpha, self.gamma, self.reduction = alpha, gamma, reduction\n"
    "\n"
    "    def forward(self, logits, targets):\n"
    "        if not (targets.size() == logits.size()):\n"
    "            raise ValueError('sizes differ')\n"
    "        bce = F.binary_cross_entropy_with_logits(logits, targets, reduction='none')\n"
    "        p = torch.sigmoid(logits)\n"
    "        p_t = p * targets + (1 - p) * (1 - targets)\n"
    "        alpha_t = self.alpha * targets + (1 - self.alpha) * (1 - targets)\n"
    "        loss = alpha_t * (1 - p_t).pow(self.gamma) * bce\n"
    "        return loss.mean() if self.reduction == 'mean' else loss\n"
    "\n"
    "FocalLoss()",
    "FocalLoss()(logits, targets), FocalLoss(gamma=0.0, alpha=0.5)(logits, targets)",
    "FocalLoss(reduction='none')(logits, targets)",
    "def clamped_focal(logits, targets, gamma=2):\n"
    "    p = torch.sigmoid(logits)\n"
    "    p = torch.where(targets >= 0.5, p, 1 - p)\n"
    "    logp = -torch.log(torch.clamp(p, 1e-4, 1 - 1e-4))\n"
    "    return (logp * (1 - p) ** gamma).mean()\n"
    "\n"
    "clamped_focal(logits, targets)",
    "bce = F.binary_cross_entropy_with_logits(logits, targets, reduction='none')\n"
    "torch.pow(1 - torch.exp(-bce), 2) * bce",
    "w = (1 - torch.sigmoid(logits).detach()).pow(2)\n"
    "w[targets == 0] *= 0.75\n"
    "w[targets > 0] *= 0.25\n"
    "F.binary_cross_entropy(torch.sigmoid(logits), targets, w, reduction='sum')",
    "try:\n    FocalLoss()(logits, targets[:4])\nexcept ValueError as e:\n    print('refused:', e)",
    "x = torch.tensor([-10, 10], dtype=torch.float32)\ny = torch.tensor([0, 1], dtype=torch.float32)\nF.binary_cross_entropy_with_logits(x, y)",
    "probs = torch.rand([2, 3, 4])\nprobs.shape, probs.mean(dim=(1, 2))",
]

ENTROPY = [
    "# Entropy, KL divergence and their stable forms",
    "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F",
    "p = torch.tensor([0.5, 0.25, 0.25, 0.0])\nq = torch.tensor([0.4, 0.3, 0.2, 0.1])\n-(torch.xlogy(p, p)).sum()",
    "torch.xlogy(p, p / q).sum(), (p * (p / q).log()).sum()",
    "F.kl_div(q.log(), p, reduction='sum'), F.kl_div(q.log(), p, reduction='batchmean')",
    "nn.KLDivLoss(reduction='batchmean', log_target=True)(q.log().unsqueeze(0), p.clamp(min=1e-8).log().unsqueeze(0))",
    "torch.manual_seed(5)\nscores = torch.randn(2, 6) * 4\nF.kl_div(F.log_softmax(scores, 1), F.softmax(scores * 0.5, 1), reduction='batchmean')",
    "x = torch.tensor([-30.0, -1.0, 0.0, 1e-7, 3.0, 30.0])\nF.logsigmoid(x)",
    "F.softplus(x), nn.Softplus(beta=2.0)(x)",
    "torch.log1p(torch.tensor([1e-8, 1e-4, 0.5])), torch.log(1 + torch.tensor([1e-8, 1e-4, 0.5]))",
    "nn.LogSigmoid()(x).exp()",
]

NOTEBOOKS = {"losses": LOSSES, "training": TRAINING, "unseeded": UNSEEDED, "idioms": IDIOMS, "focal": FOCAL, "entropy": ENTROPY}


def notebook(cells):
    nb = nbformat.v4.new_notebook()
    for source in cells:
        if source.startswith("#") and "\n" not in source:
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(source))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nb = notebook(cells)
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
        # Nothing of this machine stays in the file: no paths, times or versions.
        nb.metadata.pop("language_info", None)
        for cell in nb.cells:
            cell.metadata = {}
            if cell.cell_type == "code":
                cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
        path = os.path.join(out, name + ".ipynb")
        with open(path, "w") as f:
            nbformat.write(nb, f)
        print("wrote", path)


if __name__ == "__main__":
    main()
