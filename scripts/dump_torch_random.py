"""Dumps what PyTorch's seeded CPU generator draws, for `tests/random.rs`.

Usage: python3 scripts/dump_torch_random.py > tests/data/torch-random.json

Each case seeds one generator and makes a sequence of calls on it; each call's result is
kept as its bits (float32 as the uint32 of its bits, int64 as itself): whole when short,
else as the SHA-256 of its little-endian bytes with its first values. The Rust test
replays the same calls on `crossent::random::Generator` and compares the bits.

Needs: pip install torch numpy
"""

import hashlib
import json
import math
import sys

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

WHOLE = 64

SIZES = list(range(1, 41)) + [47, 48, 49, 63, 64, 65, 100, 1000, 1001]


def record(op, args, t):
    t = t.detach().contiguous()
    if t.dtype == torch.float32:
        arr = t.numpy().view(np.uint32).astype(np.uint32).ravel()
        dtype = "f32"
    elif t.dtype == torch.int64:
        arr = t.numpy().astype(np.int64).ravel()
        dtype = "i64"
    else:
        raise SystemExit(f"unexpected dtype {t.dtype}")
    out = {"op": op, "args": args, "dtype": dtype, "shape": list(t.shape)}
    if arr.size <= WHOLE:
        out["values"] = [int(v) for v in arr]
    else:
        out["sha256"] = hashlib.sha256(arr.astype("<u4" if dtype == "f32" else "<i8").tobytes()).hexdigest()
        out["head"] = [int(v) for v in arr[:8]]
    return out


def call(g, op, **args):
    """Runs one op on generator `g` (None: the global one) as the test names it."""
    kw = {} if g is None else {"generator": g}
    if op == "rand":
        t = torch.rand(args["shape"], **kw)
    elif op == "randn":
        t = torch.randn(args["shape"], **kw)
    elif op == "normal":
        t = torch.normal(args["mean"], args["std"], args["shape"], **kw)
    elif op == "uniform":
        t = torch.empty(args["shape"]).uniform_(args["from"], args["to"], **kw)
    elif op == "randint":
        t = torch.randint(args["low"], args["high"], args["shape"], **kw)
    elif op == "randperm":
        t = torch.randperm(args["n"], **kw)
    elif op == "multinomial":
        w = torch.tensor(args["weights"], dtype=torch.float32)
        t = torch.multinomial(w, args["k"], args["replacement"], **kw)
    elif op == "bernoulli":
        t = torch.empty(args["shape"]).bernoulli_(args["p"], **kw)
    elif op == "linear":
        assert g is None
        layer = nn.Linear(args["in"], args["out"])
        return [record(op + ".weight", args, layer.weight), record(op + ".bias", args, layer.bias)]
    elif op == "embedding":
        assert g is None
        t = nn.Embedding(args["n"], args["d"]).weight
    elif op == "dataloader":
        assert g is None
        ds = TensorDataset(torch.arange(args["n"]))
        gen = None
        if args.get("own_generator") is not None:
            gen = torch.Generator()
            gen.manual_seed(args["own_generator"])
        dl = DataLoader(ds, batch_size=args["bs"], shuffle=True, generator=gen)
        order = torch.cat([b[0] for b in dl])
        # The global stream after the pass shows how many words it took.
        after = torch.rand(2)
        return [record(op, args, order), record(op + ".after", args, after)]
    else:
        raise SystemExit(f"unknown op {op}")
    return [record(op, args, t)]


def weights(n, seed):
    rng = np.random.default_rng(seed)
    return [float(np.float32(v)) for v in rng.random(n) + 0.01]


def cases():
    seeds = [0, 7, 42, 2147483647, 2**32 + 5, -1]
    for seed in seeds:
        yield seed, "fresh generator per size: randn", [[("randn", {"shape": [n]})] for n in SIZES]
        yield seed, "one generator: randn of every size in turn", [[("randn", {"shape": [n]}) for n in SIZES]]
        yield seed, "one generator: rand of every size in turn", [[("rand", {"shape": [n]}) for n in SIZES]]
    yield 0, "fresh generator per size: rand", [[("rand", {"shape": [n]})] for n in SIZES]
    for seed in [0, 1, 2019]:
        yield seed, "a million values", [
            [("randn", {"shape": [1000000]})],
            [("rand", {"shape": [1000000]})],
            [("randn", {"shape": [999999]})],
            [("normal", {"mean": 0.5, "std": 2.0, "shape": [1000000]})],
        ]
    yield 3, "2-D shapes", [[
        ("randn", {"shape": [5, 3]}),
        ("randn", {"shape": [6, 2]}),
        ("randn", {"shape": [4, 4]}),
        ("randn", {"shape": [3, 7]}),
        ("randn", {"shape": [50, 784]}),
        ("rand", {"shape": [64, 10]}),
        ("randint", {"low": 0, "high": 10, "shape": [3, 5]}),
    ]]
    yield 11, "normal with a mean and std", [[
        ("normal", {"mean": 2.0, "std": 3.0, "shape": [5]}),
        ("normal", {"mean": -1.5, "std": 0.25, "shape": [7]}),
        ("normal", {"mean": 2.0, "std": 3.0, "shape": [33]}),
        ("normal", {"mean": 0.0, "std": 1.0, "shape": [3]}),
    ]]
    yield 5, "uniform_", [[
        ("uniform", {"from": -0.0357142857142857, "to": 0.0357142857142857, "shape": [50, 784]}),
        ("uniform", {"from": -1.0, "to": 3.0, "shape": [17]}),
        ("uniform", {"from": 0.0, "to": 1.0, "shape": [9]}),
    ]]
    for seed in [0, 42]:
        yield seed, "randint", [[
            ("randint", {"low": 0, "high": 10, "shape": [40]}),
            ("randint", {"low": -5, "high": 5, "shape": [17]}),
            ("randint", {"low": 0, "high": 2**28 - 1, "shape": [9]}),
            ("randint", {"low": 0, "high": 2**28, "shape": [9]}),
            ("randint", {"low": -3, "high": 2**40, "shape": [9]}),
            ("randint", {"low": 0, "high": 50000, "shape": [1000]}),
        ]]
        yield seed, "randperm", [[("randperm", {"n": n}) for n in list(range(1, 41)) + [64, 1000, 50000]]]
        yield seed, "multinomial", [[
            ("multinomial", {"weights": weights(27, 1), "k": 1, "replacement": True}),
            ("multinomial", {"weights": weights(27, 2), "k": 1, "replacement": False}),
            ("multinomial", {"weights": weights(27, 3), "k": 5, "replacement": False}),
            ("multinomial", {"weights": weights(27, 4), "k": 5, "replacement": True}),
            ("multinomial", {"weights": [weights(10, 5), weights(10, 6), weights(10, 7)], "k": 2, "replacement": False}),
            ("multinomial", {"weights": [weights(10, 8), weights(10, 9)], "k": 40, "replacement": True}),
            ("randn", {"shape": [3]}),
        ]]
        yield seed, "bernoulli", [[
            ("bernoulli", {"p": 0.3, "shape": [20]}),
            ("bernoulli", {"p": 0.5, "shape": [1000]}),
            ("rand", {"shape": [3]}),
        ]]
    for seed in [0, 2019]:
        yield seed, "nn: Linear and Embedding in construction order", [[
            ("linear", {"in": 784, "out": 50}),
            ("linear", {"in": 50, "out": 10}),
            ("embedding", {"n": 27, "d": 10}),
            ("embedding", {"n": 3, "d": 4}),
            ("linear", {"in": 3, "out": 2}),
        ]]
        yield seed, "DataLoader(shuffle=True): two passes", [[
            ("dataloader", {"n": 100, "bs": 10}),
            ("dataloader", {"n": 100, "bs": 10}),
            ("dataloader", {"n": 50000, "bs": 64}),
            ("dataloader", {"n": 30, "bs": 7, "own_generator": 123}),
        ]]
    # From 214,748,364 on (u32::MAX / 20) randperm shuffles inside-out with 64-bit words.
    yield 9, "randperm above the small limit", [[("randperm", {"n": 214748364}), ("rand", {"shape": [3]})]]
    yield 2026, "mixed calls on one generator", [[
        ("randn", {"shape": [3]}),
        ("rand", {"shape": [5]}),
        ("randn", {"shape": [1]}),
        ("randn", {"shape": [20]}),
        ("randn", {"shape": [1]}),
        ("randint", {"low": 0, "high": 5, "shape": [4]}),
        ("randn", {"shape": [2]}),
        ("randperm", {"n": 10}),
        ("multinomial", {"weights": weights(5, 10), "k": 1, "replacement": True}),
        ("randn", {"shape": [15]}),
        ("randn", {"shape": [16]}),
        ("bernoulli", {"p": 0.5, "shape": [3]}),
        ("randn", {"shape": [5, 3]}),
    ]]


def main():
    out = {"torch": torch.__version__, "cases": []}
    for seed, what, runs in cases():
        for calls in runs:
            torch.manual_seed(seed)
            results = []
            for op, args in calls:
                results.extend(call(None, op, **args))
            out["cases"].append({"seed": seed, "what": what, "calls": [[op, args] for op, args in calls], "results": results})
    # A torch.Generator() never seeded, and one of its own next to the global stream.
    g = torch.Generator()
    out["unseeded_generator"] = [record("randn", {"shape": [20]}, torch.randn(20, generator=g))]
    json.dump(out, sys.stdout, separators=(",", ":"))
    print()
    print(f"{len(out['cases'])} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
