"""Usage: PYTHONPATH=. python results/cpu-sparselora/estimator.py [--shape llama-8b] [--tokens 3072] [--json F]

Times SparseLoRA's attention estimator for one layer of a shape (fixtures.models.shapes):
the q/k/v scores of ``tokens`` sparse rows (the paper's protocol: batch 8 x 384 prompt
positions), then the per-head top-k. Two routes over the same SVD proxies (rank 8):

- ``direct``: each proxy's (rows, out) output, then its channel norms (the estimator before
  ``ProxyGroup``);
- ``gram``: ``ProxyGroup``, one input GEMM and each proxy's r x r Gram matrix.

Random weights and inputs (the cost does not depend on their values). CUDA in bf16 when there
is a GPU (synchronised, eager), else the CPU in fp32. Prints ms per call (median of 20 after
5 warm-up calls) and whether both routes chose the same channels.
"""

import argparse
import json
import statistics
import time

import torch

from fixtures.models.shapes import SHAPES
from methods._sparselora_estimator import (
    Proxy,
    ProxyGroup,
    get_channel_norms,
    select_attention,
)


class DirectGroup:
    """The estimator's earlier route: each proxy's outputs, then their norms."""

    def __init__(self, proxies):
        self.proxies = proxies

    def get_norms(self, x):
        return [get_channel_norms(p(x)) for p in self.proxies]


def time_calls(fn, device, *, warmup: int = 5, calls: int = 20) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--shape", default="llama-8b", choices=sorted(SHAPES))
    parser.add_argument("--tokens", type=int, default=8 * 384)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--json")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    shape = SHAPES[args.shape]
    generator = torch.Generator().manual_seed(0)
    widths = (shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim, shape.kv_heads * shape.head_dim)
    proxies = [Proxy(torch.randn(out, shape.hidden, generator=generator).div(shape.hidden ** 0.5).to(device, dtype),
                     None, args.rank) for out in widths]
    x = torch.randn(args.tokens, shape.hidden, generator=generator).to(device, dtype)
    kwargs = dict(heads=shape.heads, kv_heads=shape.kv_heads, sparsity=args.sparsity, rope=True)
    routes = {"direct": DirectGroup(proxies), "gram": ProxyGroup(proxies)}
    record = {"shape": args.shape, "tokens": args.tokens, "rank": args.rank, "device": str(device),
              "dtype": str(dtype).removeprefix("torch."), "torch": torch.__version__,
              "threads": torch.get_num_threads()}
    chosen = {}
    with torch.no_grad():
        for name, group in routes.items():
            chosen[name] = select_attention(x, group, **kwargs)
            record[f"{name}_ms"] = time_calls(lambda: select_attention(x, group, **kwargs), device)
            record[f"{name}_flops"] = sum(p.flops(args.tokens) for p in proxies) if name == "direct" else \
                group.flops(args.tokens)
    record["same_channels"] = {role: bool(torch.equal(chosen["direct"][role], chosen["gram"][role]))
                               for role in chosen["gram"]}
    record["speedup"] = record["direct_ms"] / record["gram_ms"]
    print(json.dumps(record, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
