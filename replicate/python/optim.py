# `torch.optim` under `replicate`: plain SGD (with optional momentum-free weight decay),
# the step PyTorch takes, `p -= lr * grad`, in crossent's `Sgd` arithmetic.
import torch
import _torch


class Optimizer:
    def __init__(self, params, defaults):
        self.param_groups = [dict(defaults, params=list(params))]

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None


class SGD(Optimizer):
    def __init__(self, params, lr, momentum=0, weight_decay=0):
        if momentum:
            raise TypeError("SGD with momentum is not in the subset")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"]:
                    g = g + p.detach() * group["weight_decay"]
                p._h = _torch.sgd_step(p._h, g._h, float(group["lr"]))

    def __repr__(self):
        g = self.param_groups[0]
        return f"SGD (\nParameter Group 0\n    lr: {g['lr']}\n    weight_decay: {g['weight_decay']}\n)"
