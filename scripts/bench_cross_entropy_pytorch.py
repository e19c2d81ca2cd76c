"""Times torch.nn.functional.cross_entropy (forward, and forward+backward) on the shapes
of benches/cross_entropy.rs; prints one line per shape: 'forward_ms forward_backward_ms'
(medians). Used by `cargo bench --bench cross_entropy` when PyTorch is installed."""
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("PyTorch is not installed")

SHAPES = [(64, 10), (4096, 1000), (1024, 32000)]


def median_ms(f):
    f()
    start = time.perf_counter()
    f()
    once = time.perf_counter() - start
    reps = max(5, min(2000, int(0.5 / max(once, 1e-6))))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


torch.manual_seed(1)
for n, c in SHAPES:
    x = (torch.rand(n, c) * 8 - 4).requires_grad_()
    t = torch.tensor([(i * 7919) % c for i in range(n)])
    with torch.no_grad():
        fwd = median_ms(lambda: F.cross_entropy(x, t))

    def fb():
        x.grad = None
        F.cross_entropy(x, t).backward()

    print(f"{fwd:.4f} {median_ms(fb):.4f}")
