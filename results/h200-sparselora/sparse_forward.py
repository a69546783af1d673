"""Zero-shot perplexity of a model run dense vs. through SparseLoRA's sparse forward (no training).

Usage: python results/h200-sparselora/sparse_forward.py GGUF TEXT [--blocks N] [--seq L] [--json PATH]

The sparse forward (training mode, gradients on, no backward) is what LoRA trains against on the
LM task, where every token is sparse. If it is far worse than the dense forward, training adapts
the adapters to a different network than the dense one evaluated afterwards.
"""

import argparse
import copy
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from methods import sparselora  # noqa: E402

CONFIGS = {  # name -> sparselora.Config options (LoRA B is 0 at init: the adapters add nothing)
    "default 0.9:0.5, dense first/last": {},
    "ffn 0.9 only (attn dense)": {"attn_sparsity": 0.0},
    "attn 0.5 only (ffn dense)": {"ffn_sparsity": 0.0},
    "ffn 0.5 : attn 0.25": {"ffn_sparsity": 0.5, "attn_sparsity": 0.25},
    "0.9:0.5 on the last half only": {"dense_first": 15},
    "preset math": {"preset": "math"},
    "preset csr": {"preset": "csr"},
    # exact proxies (rank = hidden size): the estimator's own score without the SVD error
    "ffn 0.9 only, exact proxies": {"attn_sparsity": 0.0, "svd_rank": 576},
    "ffn 0.5 only": {"ffn_sparsity": 0.5, "attn_sparsity": 0.0},
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("gguf")
    p.add_argument("text")
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--only", default="", help="comma-separated config name prefixes (dense always runs)")
    p.add_argument("--json")
    args = p.parse_args()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(args.gguf)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    ids = tok(Path(args.text).read_text()[:400_000], return_tensors="pt")["input_ids"][0]
    blocks = ids[: args.blocks * args.seq].view(args.blocks, args.seq).to(device)
    out = {}
    loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).to(device)
    for name, options in {"dense": None, **CONFIGS}.items():
        if options is not None and args.only and not any(name.startswith(o) for o in args.only.split(",")):
            continue
        model = copy.deepcopy(loaded)  # the plain model (a SparseLoRA model itself cannot be deep-copied)
        if options is not None:
            cfg = sparselora.Config(dropout=0.0, dense_warmup=0.0, **options)
            model = sparselora.apply(model, cfg, task_type="CAUSAL_LM")
        model.train()  # the sparse path runs in training forwards with gradients on
        losses = []
        for b in blocks:
            with torch.enable_grad():
                losses.append(model(input_ids=b[None], labels=b[None]).loss.item())
        out[name] = math.exp(sum(losses) / len(losses))
        print(f"{name:<40}{out[name]:>10.2f}", flush=True)
        del model
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
