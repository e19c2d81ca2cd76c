"""Reference values for `crossent::reduce` and `crossent::pointwise`, from PyTorch itself.

Usage: python3 scripts/dump_torch_reductions.py > tests/data/torch-reductions.json
       python3 scripts/dump_torch_reductions.py --log2-all > FILE   (see below)

Every input is drawn by PyTorch's generator after `torch.manual_seed`, which
`crossent::random::Generator` draws bit for bit, so only the outputs are kept:
- `sum`: `torch.sum` and `torch.mean` of `torch.randn(n) * 10` (seed n) as float32 bits,
  at lengths around PyTorch's vector width (8), its four interleaved sums (32) and its
  cascade's block sizes, up to 32,767 (longer sums are split between threads);
- `log2`: `torch.log2` over a million values of three kinds (a hash of the output bits,
  FNV-1a over the 32-bit words, and how many differ from the correctly rounded log2);
- `log2_values`: single inputs and outputs, among them floats where PyTorch's log2 is
  not the correctly rounded one, subnormals, zero, infinity and negatives.

`--log2-exceptions FILE` writes `src/pointwise/log2-exceptions.zlib`: the positive finite
floats where `torch.log2` is not the correctly rounded log2 (each one unit away), as
zlib-compressed little-endian words, the gap from the previous float's bits with bit 31
set where PyTorch's result is one below.

`--chapter-6-kl FIRST END` writes, for each seed in FIRST..END, what the KL cells of
chapter 6's notebook (d2l's information theory) print after `torch.manual_seed(seed)`:
`tests/data/chapter-6-kl-seeds.txt`, one line a seed.

`--log2-all` writes `torch.log2` of every positive finite float32 (bits 1 to
0x7f7fffff, in order) as raw little-endian words, 8.6 GB: the ignored test
`log2_is_pytorchs_on_every_positive_float` reads it from the file named by
`CROSSENT_TORCH_LOG2_ALL` (a named pipe will do).

Needs: pip install torch numpy
"""

import json
import sys

import numpy as np
import torch

SUM_LENGTHS = sorted(set(
    list(range(1, 41))
    + [k + d for k in (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384) for d in (-1, 0, 1)]
    + [10000, 32767]
))


def fnv(words):
    h = 0xcbf29ce484222325
    for w in words.tolist():
        h = ((h ^ w) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def bits(x):
    return int(np.float32(x).view(np.uint32))


def log2_inputs(kind, seed, n):
    torch.manual_seed(seed)
    if kind == "rand":
        return torch.rand(n)
    if kind == "rand*100":
        return torch.rand(n) * 100
    if kind == "randn.abs()*1e-30":
        return torch.randn(n).abs() * 1e-30
    raise ValueError(kind)


def log2_blocks():
    """Every positive finite float32, in blocks of 65,536: the inputs and torch.log2."""
    for hi in range(0, 0x7f80):
        words = np.arange(1 << 16, dtype=np.uint32) | np.uint32(hi << 16)
        if hi == 0:
            words = words[1:]
        yield words, torch.from_numpy(words.view(np.float32)).log2().numpy()


def log2_exceptions(path):
    import zlib
    table = []
    previous = 0
    for words, torch_out in log2_blocks():
        with np.errstate(divide="ignore"):
            exact = np.log2(words.view(np.float32).astype(np.float64)).astype(np.float32)
        differ = torch_out.view(np.uint32) != exact.view(np.uint32)
        steps = torch_out.view(np.uint32)[differ].astype(np.int64) - exact.view(np.uint32)[differ].astype(np.int64)
        assert set(steps.tolist()) <= {-1, 1}, "PyTorch's log2 is within one unit"
        for w, step in zip(words[differ].tolist(), steps.tolist()):
            table.append((w - previous) | (0x80000000 if step < 0 else 0))
            previous = w
    with open(path, "wb") as f:
        f.write(zlib.compress(np.array(table, dtype="<u4").tobytes(), 9))
    print(f"{len(table)} floats", file=sys.stderr)


def chapter_6_kl(first, end):
    """The notebook's KL cells, as it runs them, under each seed."""
    def nansum(x):
        return x[~torch.isnan(x)].sum()

    def kl_divergence(p, q):
        return nansum(p * torch.log2(p / q)).abs().item()

    for seed in range(first, end):
        torch.manual_seed(seed)
        p, q1, q2 = (torch.sort(torch.normal(mean, 1, (10000,)))[0] for mean in (0, -1, 1))
        kl_pq1, kl_pq2 = kl_divergence(p, q1), kl_divergence(p, q2)
        similar = abs(kl_pq1 - kl_pq2) / ((kl_pq1 + kl_pq2) / 2) * 100
        kl_q2p = kl_divergence(q2, p)
        differ = abs(kl_q2p - kl_pq2) / ((kl_q2p + kl_pq2) / 2) * 100
        print(seed, repr((kl_pq1, kl_pq2, similar)), repr((kl_q2p, differ)))


def main():
    if sys.argv[1:2] == ["--chapter-6-kl"]:
        chapter_6_kl(int(sys.argv[2]), int(sys.argv[3]))
        return
    if sys.argv[1:2] == ["--log2-exceptions"]:
        log2_exceptions(sys.argv[2])
        return
    if sys.argv[1:] == ["--log2-all"]:
        out = sys.stdout.buffer
        for _, torch_out in log2_blocks():
            out.write(torch_out.tobytes())
        return
    sums = []
    for n in SUM_LENGTHS:
        torch.manual_seed(n)
        x = torch.randn(n) * 10
        sums.append({"n": n, "sum": bits(x.sum().item()), "mean": bits(x.mean().item())})
    log2 = []
    for kind in ("rand", "rand*100", "randn.abs()*1e-30"):
        x = log2_inputs(kind, 7, 1_000_000)
        y = torch.log2(x).numpy()
        exact = np.log2(x.numpy().astype(np.float64)).astype(np.float32)
        log2.append({"kind": kind, "seed": 7, "n": 1_000_000,
                     "fnv": fnv(y.view(np.uint32)),
                     "not_correctly_rounded": int((y.view(np.uint32) != exact.view(np.uint32)).sum())})
    # Single values: specials, subnormals, and the first floats above 1 and below 1 where
    # PyTorch's log2 is not the correctly rounded one.
    singles = [0.0, -0.0, float("inf"), -1.0, 1.0, 0.5, 2.0, 1 / 64, 1e-45, 1e-40, 1.17549435e-38, 3.4028235e38]
    words = np.arange(0x3f800000, 0x3f800000 + (1 << 22), dtype=np.uint32)
    for block in (words, words - np.uint32(1 << 22), words + np.uint32(0x10000000), np.arange(1, 1 << 22, dtype=np.uint32)):
        x = block.view(np.float32)
        y = torch.from_numpy(x).log2().numpy()
        exact = np.log2(x.astype(np.float64)).astype(np.float32)
        differ = x[y.view(np.uint32) != exact.view(np.uint32)]
        singles.extend(float(v) for v in differ[:50])
    x = torch.tensor(singles, dtype=torch.float32)
    y = torch.log2(x)
    values = [[bits(a), bits(b)] for a, b in zip(x.tolist(), y.tolist())]
    json.dump({"torch": torch.__version__, "sum": sums, "log2": log2, "log2_values": values},
              sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
