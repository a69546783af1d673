"""Usage: PYTHONPATH=. python results/cpu-sparselora/host_overhead.py

The host's share of a SparseLoRA step on the instruct task, without a GPU: a Llama of
SmolLM2-135M's depth (30 layers, 9:3-like GQA) but tiny widths (64 hidden, 128 FFN), so on one
CPU thread the step time is mostly op dispatch, the part that bounds SmolLM2's GPU step at
batch 32 x ~40 tokens. LoRA q/v r 8 for both; SparseLoRA as results/h200-instruct/run3.sh runs
it (FFN 0.65, attention 0.3, dense_first/last 2, context-aware, 22 of 24 positions prompt).
Prints ms per step (forward, backward, AdamW) for each method, 3 warm-up + 20 timed steps.
"""

import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from methods import lora, sparselora

COMMON = dict(r=8, alpha=16, dropout=0.0, target_modules=("q_proj", "v_proj"), lr=1e-3)
CONFIGS = {
    "lora": (lora, lora.Config(**COMMON)),
    "sparselora": (sparselora, sparselora.Config(**COMMON, ffn_sparsity=0.65, attn_sparsity=0.3, dense_first=2,
                                                  dense_last=2, dense_warmup=0.0, context_aware=True)),
}


def build(method, cfg) -> torch.nn.Module:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=256, hidden_size=64, num_hidden_layers=30, num_attention_heads=8,
                         num_key_value_heads=2, intermediate_size=128, use_cache=False)
    model = LlamaForCausalLM(config).requires_grad_(False)
    return method.apply(model, cfg, task_type="CAUSAL_LM")


def time_step(method, cfg, steps: int = 20) -> float:
    model = build(method, cfg).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    ids = torch.randint(0, 256, (4, 24), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[:, :22] = -100

    def step():
        if hasattr(method, "set_context"):
            method.set_context(model, cfg, 22)
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    torch.set_num_threads(1)
    times = {name: time_step(method, cfg) for name, (method, cfg) in CONFIGS.items()}
    for name, ms in times.items():
        print(f"{name:<12}{ms:8.1f} ms/step")
    print(f"sparselora / lora: {times['sparselora'] / times['lora']:.2f}x")


if __name__ == "__main__":
    main()
