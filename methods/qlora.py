"""QLoRA (Dettmers et al., 2023): a 4-bit NF4 base (double quantization) with LoRA on top.

The base is re-loaded through transformers' ``BitsAndBytesConfig`` so that the
quantization is bitsandbytes' own; the task head stays unquantized. On CUDA the
optimizer is bitsandbytes' paged 8-bit AdamW; on CPU (bitsandbytes >= 0.46 has a
CPU backend) compute runs in fp32 and the optimizer is plain AdamW.
"""

import tempfile
from dataclasses import dataclass

import torch

from methods._common import adamw
from methods._common import no_after_step as after_step  # noqa: F401  (a method hook)
from methods._common import no_penalty as penalty  # noqa: F401
from methods._common import weight_sparsity as stats  # noqa: F401
from methods.lora import Config as LoraConfig
from methods.lora import make_lora_config

# Heads that must stay in full precision (sequence classification crashes otherwise).
HEAD_MODULES = ("classifier", "score", "lm_head")
COMPUTE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Config(LoraConfig):
    """LoRA settings (see methods.lora.Config) plus the 4-bit base.

    Args:
        quant_type: bitsandbytes 4-bit type ("nf4" or "fp4").
        double_quant: quantize the quantization constants too.
        compute_dtype: dtype of the de-quantized matmuls on CUDA ("bfloat16");
            CPU always computes in float32.
    """

    quant_type: str = "nf4"
    double_quant: bool = True
    compute_dtype: str = "bfloat16"

    def __post_init__(self):
        super().__post_init__()
        if self.quant_type not in ("nf4", "fp4"):
            raise ValueError(f"methods.qlora.Config.quant_type={self.quant_type!r}: use 'nf4' or 'fp4'")
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(
                f"methods.qlora.Config.compute_dtype={self.compute_dtype!r}: use one of {sorted(COMPUTE_DTYPES)}"
            )


def quantize(model: torch.nn.Module, cfg: Config) -> torch.nn.Module:
    """Re-load ``model`` with its linear layers in bitsandbytes 4-bit, on the model's device."""
    from transformers import BitsAndBytesConfig

    device = next(model.parameters()).device
    dtype = COMPUTE_DTYPES[cfg.compute_dtype] if device.type == "cuda" else torch.float32
    bnb_config = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=cfg.quant_type,
        bnb_4bit_use_double_quant=cfg.double_quant,
        bnb_4bit_compute_dtype=dtype,
        llm_int8_skip_modules=list(HEAD_MODULES),
    )
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        return type(model).from_pretrained(
            tmp, quantization_config=bnb_config, device_map={"": device}, dtype=dtype
        )


def apply(model: torch.nn.Module, cfg: Config, *, task_type: str) -> torch.nn.Module:
    """Quantize the base to 4-bit, prepare it for k-bit training, add LoRA."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    model = quantize(model, cfg)
    # On AVX512-BF16 CPUs bitsandbytes repacks a 4-bit weight for inference at its first
    # no-grad eval forward (e.g. a zero-shot perplexity before training), and later training
    # forwards then run gemv_4bit, which has no autograd: wrong gradients and a UserWarning.
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, make_lora_config(model, cfg, task_type=task_type))


def make_optimizer(params, cfg: Config, *, device: torch.device) -> torch.optim.Optimizer:
    """Paged 8-bit AdamW on CUDA (QLoRA's memory trick); plain AdamW elsewhere."""
    if device.type != "cuda":
        return adamw(params, cfg, device=device)
    import bitsandbytes as bnb

    return bnb.optim.PagedAdamW8bit(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
