"""The WikiText-2 collapse (issue 14, item 5): SmolLM2-135M, the real tier's LM protocol
(150 steps, batch 8 x 512, fp32, lr 1e-3, LoRA r 8 on q/v, the training loop of the suite),
one run per variant. For each: perplexity on held-out WikiText-2 test blocks before and after
training, evaluated dense (as the suite does) and through the sparse forward (training mode,
no backward), so that a collapse of the dense evaluation can be told from a broken method.

Usage: python results/h200-sparselora/wikitext.py GGUF DATA_DIR [--steps 150] [--eval-blocks 40] [--json PATH]
"""

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fixtures.training.settings import TrainSettings  # noqa: E402
from fixtures.training.train import train  # noqa: E402
from methods import get_method  # noqa: E402

lora, sparselora = get_method("lora"), get_method("sparselora")  # the modules plus the default hooks

VARIANTS = {  # name -> (method, Config options); the real tier: lr 1e-3, LoRA defaults (r 8, q/v)
    "lora": (lora, {}),
    "sparselora 0.9:0.5 (the real tier)": (sparselora, {}),
    "sparselora 0.9:0.5, last half only": (sparselora, {"dense_first": 15}),
    "sparselora 0.5:0.25 (milder)": (sparselora, {"ffn_sparsity": 0.5, "attn_sparsity": 0.25}),
    "sparselora ffn 0.9 only": (sparselora, {"attn_sparsity": 0.0}),
    "sparselora attn 0.5 only": (sparselora, {"ffn_sparsity": 0.0}),
    "sparselora preset math": (sparselora, {"preset": "math"}),
}


def get_ppl(model, blocks, *, sparse: bool, batch: int = 8) -> float:
    """Mean-token perplexity of ``blocks``; ``sparse`` runs SparseLoRA's training forward."""
    model.train(sparse)
    losses = []
    with torch.set_grad_enabled(sparse):
        for i in range(0, len(blocks), batch):
            b = blocks[i : i + batch]
            losses.append(model(input_ids=b, labels=b).loss.float().item())
    model.train()
    return math.exp(sum(losses) / len(losses))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("gguf")
    p.add_argument("data")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--eval-blocks", type=int, default=40)
    p.add_argument("--only", default="", help="comma-separated variant name prefixes")
    p.add_argument("--json")
    args = p.parse_args()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    path = Path(args.gguf)
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).to(device)
    seq = 512

    def blocks_of(name: str, stride: int):
        ids = tok(Path(args.data, "wikitext2", name).read_text(), return_tensors="pt")["input_ids"][0]
        return ids.unfold(0, seq, stride).contiguous().to(device)

    train_blocks = blocks_of("validation.txt", 256)  # the real tier: train on validation, stride 256
    eval_blocks = blocks_of("test.txt", seq)[: args.eval_blocks]
    g = torch.Generator().manual_seed(0)

    def batches():
        while True:
            for i in torch.randperm(len(train_blocks), generator=g).view(-1)[: len(train_blocks) // 8 * 8].view(-1, 8):
                b = train_blocks[i.to(device)]
                yield {"input_ids": b, "labels": b}

    settings = TrainSettings(batch_size=8, max_length=seq, log_every=50, measure=False)
    results = {"protocol": {"steps": args.steps, "batch": 8, "seq": seq, "eval_blocks": len(eval_blocks),
                            "train_blocks": len(train_blocks), "dtype": "fp32", "lr": 1e-3}}
    for name, (method, options) in VARIANTS.items():
        if args.only and not any(name.startswith(o) for o in args.only.split(",")):
            continue
        torch.manual_seed(0)
        cfg = method.Config(lr=1e-3, **options)
        model = method.apply(copy.deepcopy(loaded), cfg, task_type="CAUSAL_LM")
        row = {"options": options, "dense_before": get_ppl(model, eval_blocks, sparse=False)}
        if method is sparselora:
            get_state = sparselora.get_state
            get_state(model).active = True
            row["sparse_before"] = get_ppl(model, eval_blocks, sparse=True)
            get_state(model).active = cfg.dense_warmup == 0
        t0 = time.perf_counter()
        result = train(model, batches(), method=method, cfg=cfg, settings=settings, total_steps=args.steps,
                       device=device, label=name)
        row["train_s"] = time.perf_counter() - t0
        row["loss_curve"] = result.loss_curve
        row["dense_after"] = get_ppl(model, eval_blocks, sparse=False)
        if method is sparselora:
            row["sparse_after"] = get_ppl(model, eval_blocks, sparse=True)
            row["compute_sparsity"] = sparselora.stats(model, cfg)["compute_sparsity"]
        results[name] = row
        print(f"RESULT {name:<40} dense {row['dense_before']:.2f} -> {row['dense_after']:.2f}"
              + (f"   sparse {row['sparse_before']:.2f} -> {row['sparse_after']:.2f}   compute_sparsity "
                 f"{row['compute_sparsity']:.3f}" if "sparse_after" in row else "")
              + f"   ({row['train_s']:.0f} s)", flush=True)
        del model
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
