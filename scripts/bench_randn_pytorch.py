"""Times torch.randn on 10^6 float32 values after torch.manual_seed (single thread, as
the chapters run); prints the median milliseconds of each round given on the command
line, one per line. Used by `cargo bench --bench random` when PyTorch is installed.

Usage: python3 scripts/bench_randn_pytorch.py ROUNDS
"""
import statistics
import sys
import time

try:
    import torch
except ImportError:
    sys.exit("PyTorch is not installed")

N = 1_000_000
torch.set_num_threads(1)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
for _ in range(rounds):
    times = []
    for rep in range(20):
        torch.manual_seed(rep)
        start = time.perf_counter()
        torch.randn(N)
        times.append((time.perf_counter() - start) * 1e3)
    print(f"{statistics.median(times):.3f}")
