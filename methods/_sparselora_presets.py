"""SparseLoRA's per-layer schedules from the paper (Khaki et al., ICML 2025), as data.

The paper tuned two schedules on LLaMA-3-8B (32 layers, 0-based layer indices):

- ``llama3-8b-math`` (Math10K; 1.6x over LoRA): FFN sparsity 0.99 on layers 3-30;
  attention (q/k/v/o) 0.75 on layers 14-19, 21-23 and 25-29; the others dense.
- ``llama3-8b-csr`` (commonsense reasoning; 1.3x): FFN 0.97 on layers 17-30;
  attention 0.2 on layers 17-19, 21-23 and 25-29.

Both run the first 5% of the steps dense (``Config.dense_warmup``'s default, 0.05).
``math`` and ``csr`` are the same schedules scaled to any depth: layer j of L is
sparse where the paper's layer at the same fraction of depth, int((j + 0.5)·32 / L), is.
The ``llama3-8b-*`` forms fit 32-layer models only; any other depth is refused.

``PAPER_LORA``: the paper's LoRA (q/k/v/o, rank 32, alpha 64; the MLP is not LoRA-wrapped).
"""

PAPER_DEPTH = 32
PAPER_LORA = {"r": 32, "alpha": 64, "target_modules": ("q_proj", "k_proj", "v_proj", "o_proj")}
ATTN_LAYERS = (*range(14, 20), *range(21, 24), *range(25, 30))

# name -> ((FFN sparsity, FFN layers), (attention sparsity, attention layers)) at PAPER_DEPTH
SCHEDULES = {
    "math": ((0.99, tuple(range(3, 31))), (0.75, ATTN_LAYERS)),
    "csr": ((0.97, tuple(range(17, 31))), (0.2, (*range(17, 20), *range(21, 24), *range(25, 30)))),
}
PRESETS = ("llama3-8b-math", "llama3-8b-csr", "math", "csr")


def format_layers(layers) -> str:
    """1, 2, 3, 5 -> '1-3, 5'."""
    runs, layers = [], sorted(layers)
    for i in layers:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs)


def get_preset_peak(name: str) -> tuple[float, float]:
    """(FFN, attention) sparsity of the sparse layers of preset ``name``."""
    (ffn_s, _), (attn_s, _) = SCHEDULES[name.removeprefix("llama3-8b-")]
    return ffn_s, attn_s


def get_preset_schedule(name: str, num_layers: int) -> tuple[list, list]:
    """Per-layer (FFN, attention) sparsity of preset ``name`` for a model of ``num_layers`` layers."""
    if name not in PRESETS:
        raise ValueError(f"methods.sparselora.Config.preset={name!r}: use one of {', '.join(PRESETS)} (or '' for none)")
    exact = name.startswith("llama3-8b-")
    (ffn_s, ffn_layers), (attn_s, attn_layers) = SCHEDULES[name.removeprefix("llama3-8b-")]
    if exact and num_layers != PAPER_DEPTH:
        raise ValueError(
            f"methods.sparselora.Config.preset={name!r} lists layers {format_layers(ffn_layers)} (FFN) and "
            f"{format_layers(attn_layers)} (attention) of a {PAPER_DEPTH}-layer model; this model has {num_layers} "
            f"layers: use preset={name.removeprefix('llama3-8b-')!r} (the same schedule scaled to its depth)"
        )

    def paper_layer(j: int) -> int:
        return j if exact else int((j + 0.5) * PAPER_DEPTH / num_layers)

    ffn = [ffn_s if paper_layer(j) in ffn_layers else 0.0 for j in range(num_layers)]
    attn = [attn_s if paper_layer(j) in attn_layers else 0.0 for j in range(num_layers)]
    return ffn, attn
