# `torch.nn.functional` under `replicate`: the losses and activations the notebooks call,
# computed by crossent's `loss` module.
import torch
import _torch

_Tensor = torch.Tensor


def _reduction(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        if reduce is False:
            return "none"
        return "sum" if size_average is False else "mean"
    return reduction


def _implicit_dim(name, x, dim):
    if dim is None:
        import warnings
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.")
        return 0 if x.dim() in (0, 1, 3) else 1
    return dim


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return input.softmax(_implicit_dim("softmax", input, dim))


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return input.log_softmax(_implicit_dim("log_softmax", input, dim))


def relu(input, inplace=False):
    return input.relu()


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


def linear(input, weight, bias=None):
    out = input @ weight.t()
    if bias is not None:
        out = out + bias
    if out.grad_fn is not None:
        out.grad_fn = torch._GradFn("AddmmBackward0" if input.dim() == 2 and bias is not None else out.grad_fn._name)
    return out


def _weight(weight):
    return None if weight is None else weight._h


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    r = _reduction(size_average, reduce, reduction)
    h = _torch.nll_loss(input._h, target._h, _weight(weight), ignore_index, r)
    return torch._wrap(h, "NllLossBackward0", (input,))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean", label_smoothing=0.0):
    r = _reduction(size_average, reduce, reduction)
    h = _torch.cross_entropy(input._h, target._h, _weight(weight), ignore_index, r, float(label_smoothing))
    class_indices = target.dtype is torch.int64
    name = "NllLossBackward0" if class_indices and label_smoothing == 0.0 else ("SumBackward0" if r == "sum" else ("DivBackward1" if r == "mean" else "NegBackward0"))
    return torch._wrap(h, name, (input,))


def one_hot(tensor, num_classes=-1):
    return torch._wrap(_torch.one_hot(tensor._h, num_classes))


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    r = _reduction(size_average, reduce, reduction)
    h = _torch.binary_cross_entropy(input._h, target._h, _weight(weight), None, r, False)
    return torch._wrap(h, "BinaryCrossEntropyBackward0", (input,))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
    r = _reduction(size_average, reduce, reduction)
    h = _torch.binary_cross_entropy(input._h, target._h, _weight(weight), _weight(pos_weight), r, True)
    return torch._wrap(h, "BinaryCrossEntropyWithLogitsBackward0", (input,))


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    r = _reduction(size_average, reduce, reduction)
    d = (input - target) ** 2
    out = d.mean() if r == "mean" else (d.sum() if r == "sum" else d)
    if out.grad_fn is not None:
        out.grad_fn = torch._GradFn("MseLossBackward0")
    return out


def logsigmoid(input):
    # PyTorch's kernel: min(x, 0) - log1p(exp(-|x|)).
    return input.clamp(max=0.0) - (-input.abs()).exp().log1p()


def softplus(input, beta=1.0, threshold=20.0):
    scaled = input * beta
    return torch.where(scaled > threshold, input, scaled.exp().log1p() / beta)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    r = _reduction(size_average, reduce, reduction)
    if log_target:
        pointwise = target.exp() * (target - input)
    else:
        pointwise = torch.xlogy(target, target) - target * input
    if r == "batchmean":
        return pointwise.sum() / input.size(0)
    if r == "sum":
        return pointwise.sum()
    if r == "mean":
        return pointwise.mean()
    return pointwise
