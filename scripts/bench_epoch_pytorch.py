"""Times one epoch of the minibatch lesson in PyTorch: 782 batches of 64 by index
slicing, 784-50-10, SGD lr 0.5. Prints the seconds of each of RUNS epochs (after one
warm-up) on stdout; used by `cargo bench --bench epoch` when PyTorch is installed.

Usage: python3 scripts/bench_epoch_pytorch.py MNIST_DIR [RUNS]
"""
import gzip
import os
import sys
import time

try:
    import torch
    import torch.nn.functional as F
    from torch import nn, optim
except ImportError:
    sys.exit("PyTorch is not installed (pip install torch)")


def read_idx(path, offset):
    opener = gzip.open if not os.path.exists(path) else open
    name = path if os.path.exists(path) else path + ".gz"
    with opener(name, "rb") as f:
        data = f.read()
    return torch.frombuffer(bytearray(data[offset:]), dtype=torch.uint8)


def main():
    folder = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    images = read_idx(os.path.join(folder, "train-images-idx3-ubyte"), 16)
    labels = read_idx(os.path.join(folder, "train-labels-idx1-ubyte"), 8)
    x = images.view(60000, 784).float().div(255.0)[:50000].contiguous()
    y = labels.long()[:50000].contiguous()
    n, bs, lr = x.shape[0], 64, 0.5
    torch.manual_seed(0)
    times = []
    for run in range(runs + 1):
        model = nn.Sequential(nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 10))
        opt = optim.SGD(model.parameters(), lr=lr)
        start = time.perf_counter()
        for i in range((n - 1) // bs + 1):
            xb, yb = x[i * bs : i * bs + bs], y[i * bs : i * bs + bs]
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
        if run > 0:
            times.append(time.perf_counter() - start)
    print(" ".join(f"{t:.4f}" for t in times))


main()
