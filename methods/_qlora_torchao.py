"""QLoRA's torchao backend: every linear layer but the heads gets a frozen NF4 weight
(torchao's ``NF4Tensor``: 4-bit NormalFloat in blocks of 64 values, the blocks' scales
quantized again to int8 in blocks of up to 256 scales: double quantization), and peft's
LoRA wraps those layers as it wraps any ``nn.Linear``.

An ``nn.Linear`` whose weight is an ``NF4Tensor`` needs no module of its own: the tensor
routes ``F.linear`` to torchao's ``linear_nf4``, which de-quantizes the weight to the
input's dtype in the forward pass and again in the backward pass (the 4-bit weight is
what autograd keeps), so ``torch.compile`` traces it like any layer.

torchao asks that a weight's number of 64-value blocks be a multiple of the scales' block
(256). A layer whose block count is not (e.g. SmolLM2-135M's 576-wide projections) takes
the largest power of two that divides it, at most 256; ``stats`` records the sizes used.
"""

import importlib
import math

import torch

BLOCK_SIZE = 64  # values per NF4 block (QLoRA's and bitsandbytes' 4-bit block)
SCALER_BLOCK_SIZE = 256  # scales per block of the double quantization (QLoRA's)


def get_nf4_api():
    """(to_nf4, NF4Tensor) from torchao: ``torchao.quantization`` (0.18 on) or
    ``torchao.dtypes.nf4tensor`` (earlier releases)."""
    try:
        module = importlib.import_module("torchao.quantization.quantize_.workflows.nf4.nf4_tensor")
    except ImportError:
        module = importlib.import_module("torchao.dtypes.nf4tensor")
    return module.to_nf4, module.NF4Tensor


def get_scaler_block_size(numel: int) -> int:
    """The double quantization's block: 256 scales where the block count allows, else the
    largest power of two dividing the block count."""
    if numel % BLOCK_SIZE:
        raise ValueError(f"qlora.backend='torchao': a weight of {numel} values is not a multiple of "
                         f"the NF4 block ({BLOCK_SIZE}); use backend='bitsandbytes' for this model")
    return math.gcd(numel // BLOCK_SIZE, SCALER_BLOCK_SIZE)


def is_nf4(p: torch.Tensor) -> bool:
    """True for torchao's NF4 weight (by class name: torchao need not be imported)."""
    return type(p).__name__ == "NF4Tensor"


def quantize_in_place(model: torch.nn.Module, *, heads, dtype: torch.dtype) -> torch.nn.Module:
    """Swap the weight of every ``nn.Linear`` but the heads for an NF4 one, quantized on the
    layer's device one layer at a time from its weight in ``dtype``; cast the rest to ``dtype``."""
    to_nf4, _ = get_nf4_api()
    for name, module in model.named_modules():
        if type(module) is not torch.nn.Linear or name.rsplit(".", 1)[-1] in heads:
            continue
        weight = module.weight.detach().to(dtype)
        nf4 = to_nf4(weight, BLOCK_SIZE, get_scaler_block_size(weight.numel()))
        module.weight = torch.nn.Parameter(nf4, requires_grad=False)
        del weight
    for p in model.parameters():  # what is not 4-bit: norms, embeddings, heads, biases
        if not is_nf4(p) and p.is_floating_point() and p.dtype != dtype:
            p.data = p.data.to(dtype)
    return model


def get_scaler_block_sizes(model: torch.nn.Module) -> dict:
    """{scaler block size: NF4 weights using it}, for the record."""
    sizes: dict = {}
    for p in model.parameters():
        if is_nf4(p):
            sizes[str(p.scaler_block_size)] = sizes.get(str(p.scaler_block_size), 0) + 1
    return sizes


def get_optimizer_class():
    """torchao's 8-bit AdamW, or None where this torchao has none."""
    try:
        from torchao.optim import AdamW8bit
    except ImportError:
        return None
    return AdamW8bit
