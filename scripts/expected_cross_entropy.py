"""Prints the PyTorch reference values that tests/loss_pytorch.rs holds: losses and
input gradients of torch.nn.functional.cross_entropy / nll_loss for each option and
their combinations, on small fixed inputs. Regenerate with
    python3 scripts/expected_cross_entropy.py > /tmp/cases.rs
and paste the cases into the test."""
import math
import torch
import torch.nn.functional as F

X = [[0.5, -1.25, 2.0, 0.75], [1.5, 0.25, -0.5, 3.0], [-2.0, 0.0, 1.0, -0.25]]
W = [0.5, 1.0, 2.0, 1.5]
P = [[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1], [0.0, 0.0, 1.0, 0.0]]
XS = [[[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]], [[0.0, 1.0], [-1.5, 0.5], [2.5, -2.0]]]


def fmt(t):
    vals = t.detach().reshape(-1).tolist()
    out = []
    for v in vals:
        if math.isnan(v):
            out.append("f64::NAN")
        elif math.isinf(v):
            out.append("f64::INFINITY" if v > 0 else "f64::NEG_INFINITY")
        else:
            out.append(repr(float(v)))
    return "&[" + ", ".join(out) + "]"


def case(name, x, target, dtype=torch.float32, fn="ce", **kw):
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    loss = (F.cross_entropy if fn == "ce" else F.nll_loss)(xt, target, **kw)
    loss.sum().backward()
    print(f'    ("{name}", {fmt(loss)}, {fmt(xt.grad)}),')


t = torch.tensor([1, 3, 0])
print("// name, expected loss values, expected gradient of loss.sum() w.r.t. the input")
case("mean", X, t)
case("none", X, t, reduction="none")
case("sum", X, t, reduction="sum")
case("weight_mean", X, t, weight=torch.tensor(W))
case("weight_none", X, t, weight=torch.tensor(W), reduction="none")
case("weight_sum", X, t, weight=torch.tensor(W), reduction="sum")
case("ignore_default", X, torch.tensor([1, -100, 0]))
case("ignore_3", X, t, ignore_index=3)
case("ignore_weight", X, torch.tensor([1, -100, 2]), weight=torch.tensor(W))
case("smooth_mean", X, t, label_smoothing=0.1)
case("smooth_none", X, t, label_smoothing=0.25, reduction="none")
case("smooth_weight", X, t, label_smoothing=0.1, weight=torch.tensor(W))
case("smooth_weight_ignore", X, torch.tensor([1, -100, 2]), label_smoothing=0.2, weight=torch.tensor(W))
case("smooth_weight_ignore_sum", X, torch.tensor([1, -100, 2]), label_smoothing=0.2, weight=torch.tensor(W), reduction="sum")
case("prob_mean", X, torch.tensor(P))
case("prob_none", X, torch.tensor(P), reduction="none")
case("prob_weight_sum", X, torch.tensor(P), weight=torch.tensor(W), reduction="sum")
case("prob_smooth_weight", X, torch.tensor(P), weight=torch.tensor(W), label_smoothing=0.3)
case("spatial_mean", XS, torch.tensor([[2, 0], [1, 1]]))
case("spatial_none_ignore", XS, torch.tensor([[2, -100], [0, 1]]), reduction="none")
case("spatial_weight_smooth", XS, torch.tensor([[2, 0], [1, 1]]), weight=torch.tensor([1.0, 2.0, 0.5]), label_smoothing=0.1)
case("one_dim", X[0], torch.tensor(2))
case("f64_weight_smooth", X, t, dtype=torch.float64, weight=torch.tensor(W, dtype=torch.float64), label_smoothing=0.05)
case("all_ignored", X, torch.tensor([-100, -100, -100]))
case("masked_logit", [[0.0, float("-inf"), 1.0, 2.0]], torch.tensor([0]))
case("masked_target", [[0.0, float("-inf"), 1.0, 2.0]], torch.tensor([1]), reduction="none")
case("nll_weight_ignore", X, torch.tensor([1, -100, 2]), fn="nll", weight=torch.tensor(W))
case("nll_spatial_sum", XS, torch.tensor([[2, 0], [1, 1]]), fn="nll", reduction="sum")
# Edge cases (issue 14): a mean over zero total weight, and no classes at all.
W0 = [1.0, 0.0, 2.0, 1.5]
case("nll_all_ignored", X, torch.tensor([-100, -100, -100]), fn="nll")
case("nll_weight_zero", X, torch.tensor([1, 1, 1]), fn="nll", weight=torch.tensor(W0))
case("smooth_weight_zero", X, torch.tensor([1, 1, 1]), weight=torch.tensor(W0), label_smoothing=0.4)
case("smooth_all_ignored", X, torch.tensor([-100, -100, -100]), label_smoothing=0.4)
case("prob_no_classes", [[], [], []], torch.zeros(3, 0))
case("prob_no_classes_sum", [[], [], []], torch.zeros(3, 0), reduction="sum")
