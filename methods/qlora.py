"""QLoRA (Dettmers et al., 2023): a 4-bit NF4 base (double quantization) with LoRA on top.

By default the base is re-loaded through transformers' ``BitsAndBytesConfig`` (saved to a
temporary folder first); ``build="in_place"`` instead swaps each linear layer for a
bitsandbytes ``Linear4bit`` quantized on the model's device, one layer at a time (no copy
of the model on disk, and the peak is the bf16 model plus one layer). Either way the
quantization is bitsandbytes' own and the task head stays unquantized.

``upcast="all"`` (default) is peft's ``prepare_model_for_kbit_training``: every frozen
parameter that is not 4-bit goes to fp32. ``upcast="needed"`` keeps the norms, embeddings
and head in the compute dtype under bf16 (LlamaRMSNorm computes in fp32 internally
anyway); under fp16 compute the norms go to fp32; on CPU everything computes in fp32.
``stats`` records what stays in which dtype.

On CUDA the optimizer is bitsandbytes' paged 8-bit AdamW (``optimizer="8bit"``, the default);
on CPU (bitsandbytes >= 0.46 has a CPU backend) compute runs in fp32 and the optimizer is plain
AdamW. ``optimizer="adamw"`` takes torch's fused AdamW on CUDA too, as torchtune's QLoRA recipes
do: the adapter is small (42M parameters at 8B, rank 16 on every linear layer), so fp32 moments
cost about 0.25 GiB more there, while the 8-bit optimizers step parameter by parameter from
Python (bitsandbytes' paged one also synchronizes the device each step).

``backend="torchao"`` quantizes with torchao's NF4 tensor instead (block 64, double
quantization; ``methods._qlora_torchao``), always in place; its weights de-quantize to the
input's dtype. On CUDA its optimizer is torchao's 8-bit AdamW (plain AdamW where that
torchao has none), or torch's with ``optimizer="adamw"``. ``stats`` records the backend, its
version and the optimizer.
A backend whose package is missing, or that cannot run on the device, raises
``MethodUnavailable``: the case skips, saying what to install.
"""

import importlib
import importlib.util
import tempfile
from dataclasses import dataclass

import torch

from methods import _qlora_torchao as torchao_backend
from methods._common import MethodUnavailable, adamw
from methods._common import weight_sparsity
from methods.lora import Config as LoraConfig
from methods.lora import make_lora_config

# Heads that must stay in full precision (sequence classification crashes otherwise).
HEAD_MODULES = ("classifier", "score", "lm_head")
COMPUTE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
BUILDS = ("reload", "in_place")
UPCASTS = ("all", "needed")
OPTIMIZERS = ("8bit", "adamw")
# backend -> (the package it imports, what to pip install, devices it runs on)
BACKENDS = {
    "bitsandbytes": ("bitsandbytes", "bitsandbytes", ("cuda", "cpu")),
    "torchao": ("torchao", "torchao (or: pip install 'peft-bench[torchao]')", ("cuda", "cpu")),
}


@dataclass(frozen=True)
class Config(LoraConfig):
    """LoRA settings (see methods.lora.Config) plus the 4-bit base.

    Args:
        quant_type: bitsandbytes 4-bit type ("nf4" or "fp4").
        double_quant: quantize the quantization constants too.
        compute_dtype: dtype of the de-quantized matmuls on CUDA ("bfloat16");
            CPU always computes in float32.
        build: "reload" (save, re-load through transformers' quantizer; the default) or
            "in_place" (swap the linear layers for bitsandbytes 4-bit ones on the device).
        upcast: "all" (peft's k-bit preparation: every other frozen parameter to fp32; the
            default) or "needed" (only what the compute dtype needs, see the module doc).
        backend: "bitsandbytes" (the default) or "torchao" (torchao's NF4 tensor, built in
            place; quant_type must be "nf4" and double_quant true).
        optimizer: on CUDA, "8bit" (the backend's 8-bit AdamW: bitsandbytes' paged one, QLoRA's
            memory trick, or torchao's; the default) or "adamw" (torch's fused AdamW).
    """

    quant_type: str = "nf4"
    double_quant: bool = True
    compute_dtype: str = "bfloat16"
    build: str = "reload"
    upcast: str = "all"
    backend: str = "bitsandbytes"
    optimizer: str = "8bit"

    def __post_init__(self):
        super().__post_init__()
        if self.quant_type not in ("nf4", "fp4"):
            raise ValueError(f"methods.qlora.Config.quant_type={self.quant_type!r}: use 'nf4' or 'fp4'")
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(
                f"methods.qlora.Config.compute_dtype={self.compute_dtype!r}: use one of {sorted(COMPUTE_DTYPES)}"
            )
        if self.build not in BUILDS:
            raise ValueError(f"methods.qlora.Config.build={self.build!r}: use one of {BUILDS}")
        if self.upcast not in UPCASTS:
            raise ValueError(f"methods.qlora.Config.upcast={self.upcast!r}: use one of {UPCASTS}")
        if self.backend not in BACKENDS:
            raise ValueError(f"methods.qlora.Config.backend={self.backend!r}: use one of {tuple(BACKENDS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"methods.qlora.Config.optimizer={self.optimizer!r}: use one of {OPTIMIZERS}")
        if self.backend == "torchao" and (self.quant_type != "nf4" or not self.double_quant):
            raise ValueError(f"methods.qlora.Config.backend='torchao' quantizes to NF4 with double quantization "
                             f"only; got quant_type={self.quant_type!r}, double_quant={self.double_quant}: "
                             "set quant_type='nf4' and double_quant=true, or backend='bitsandbytes'")


def get_compute_dtype(device: torch.device, cfg: Config) -> torch.dtype:
    """The matmul dtype: the Config's on CUDA, float32 on CPU."""
    return COMPUTE_DTYPES[cfg.compute_dtype] if device.type == "cuda" else torch.float32


def quantize(model: torch.nn.Module, cfg: Config) -> torch.nn.Module:
    """Re-load ``model`` with its linear layers in bitsandbytes 4-bit, on the model's device."""
    from transformers import BitsAndBytesConfig

    device = next(model.parameters()).device
    dtype = get_compute_dtype(device, cfg)
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


def quantize_in_place(model: torch.nn.Module, cfg: Config) -> torch.nn.Module:
    """Swap every linear layer but the heads for a bitsandbytes ``Linear4bit`` quantized on the
    layer's device, one layer at a time; the rest is cast to the compute dtype."""
    import bitsandbytes as bnb

    device = next(model.parameters()).device
    dtype = get_compute_dtype(device, cfg)
    names = [name for name, m in model.named_modules()  # names only: each old layer is freed once replaced
             if type(m) is torch.nn.Linear and name.rsplit(".", 1)[-1] not in HEAD_MODULES]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        linear = getattr(parent, child)
        new = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=linear.bias is not None,
                                compute_dtype=dtype, compress_statistics=cfg.double_quant,
                                quant_type=cfg.quant_type, device="meta")
        new.weight = bnb.nn.Params4bit(linear.weight.data.to(dtype), requires_grad=False, module=new,
                                       compress_statistics=cfg.double_quant, quant_type=cfg.quant_type)
        new.weight._quantize(device)
        if linear.bias is not None:
            new.bias = torch.nn.Parameter(linear.bias.data.to(dtype), requires_grad=False)
        setattr(parent, child, new)
        del linear, new
    for p in model.parameters():  # what is not 4-bit: norms, embeddings, heads
        if type(p) is not bnb.nn.Params4bit and p.is_floating_point():
            p.data = p.data.to(dtype)
    model.is_loaded_in_4bit = True  # peft then wraps the layers with its 4-bit LoRA
    return model


def is_4bit(p: torch.Tensor) -> bool:
    """A 4-bit weight of either backend (by class name: neither package need be imported)."""
    return type(p).__name__ == "Params4bit" or torchao_backend.is_nf4(p)


def prepare_needed(model: torch.nn.Module, dtype: torch.dtype) -> None:
    """Freeze the base; upcast to fp32 only what compute in ``dtype`` needs (see the module doc)."""
    for name, p in model.named_parameters():
        p.requires_grad = False
        if not p.is_floating_point() or is_4bit(p):
            continue
        module = name.rpartition(".")[0].rpartition(".")[2]
        if dtype == torch.float32 or (dtype == torch.float16 and "norm" in module.lower()):
            p.data = p.data.to(torch.float32)


def prepare_all(model: torch.nn.Module) -> None:
    """Freeze the base; every frozen floating-point parameter that is not 4-bit to fp32 (what
    peft's k-bit preparation does for bitsandbytes, which would de-quantize an NF4 weight)."""
    for p in model.parameters():
        p.requires_grad = False
        if p.is_floating_point() and not is_4bit(p):
            p.data = p.data.to(torch.float32)


def check_backend(cfg: Config, device: torch.device) -> None:
    """Raise MethodUnavailable (the case skips) when the backend's package is missing or it
    cannot run on ``device``; the message says how to un-skip."""
    package, install, devices = BACKENDS[cfg.backend]
    if importlib.util.find_spec(package) is None:
        raise MethodUnavailable(f"qlora.backend={cfg.backend!r} needs {package}; install it with: pip install {install}")
    if device.type not in devices:
        raise MethodUnavailable(f"qlora.backend={cfg.backend!r} runs on {' or '.join(devices)}, not {device.type}; "
                                "run the case there")


def apply(model: torch.nn.Module, cfg: Config, *, task_type: str) -> torch.nn.Module:
    """Quantize the base to 4-bit, prepare it for k-bit training, add LoRA."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    device = next(model.parameters()).device
    check_backend(cfg, device)
    if cfg.backend == "torchao":
        model = torchao_backend.quantize_in_place(model, heads=HEAD_MODULES, dtype=get_compute_dtype(device, cfg))
        if cfg.upcast == "all":
            prepare_all(model)
        else:
            prepare_needed(model, get_compute_dtype(device, cfg))
        return get_peft_model(model, make_lora_config(model, cfg, task_type=task_type))
    model = quantize_in_place(model, cfg) if cfg.build == "in_place" else quantize(model, cfg)
    # On AVX512-BF16 CPUs bitsandbytes repacks a 4-bit weight for inference at its first
    # no-grad eval forward (e.g. a zero-shot perplexity before training), and later training
    # forwards then run gemv_4bit, which has no autograd: wrong gradients and a UserWarning.
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    if cfg.upcast == "all":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        prepare_needed(model, get_compute_dtype(next(model.parameters()).device, cfg))
    return get_peft_model(model, make_lora_config(model, cfg, task_type=task_type))


def get_optimizer_class(cfg: Config, device: torch.device):
    """The optimizer class that runs: an 8-bit AdamW on CUDA (bitsandbytes' paged one, QLoRA's
    memory trick, or torchao's), where the backend has one and ``cfg.optimizer`` is "8bit";
    torch's AdamW otherwise."""
    if device.type != "cuda" or cfg.optimizer == "adamw":
        return torch.optim.AdamW
    if cfg.backend == "torchao":
        return torchao_backend.get_optimizer_class() or torch.optim.AdamW
    import bitsandbytes as bnb

    return bnb.optim.PagedAdamW8bit


def make_optimizer(params, cfg: Config, *, device: torch.device) -> torch.optim.Optimizer:
    """The optimizer of ``get_optimizer_class`` (torch's AdamW fused where it can be)."""
    cls = get_optimizer_class(cfg, device)
    if cls is torch.optim.AdamW:
        return adamw(params, cfg, device=device)
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def get_backend_version(cfg: Config) -> str:
    """The backend package's ``__version__`` (also where it travels without its dist-info folder)."""
    return str(getattr(importlib.import_module(BACKENDS[cfg.backend][0]), "__version__", "unknown"))


def stats(model: torch.nn.Module, cfg: Config) -> dict:
    """Adapter weight sparsity; the frozen parameters that are not 4-bit, by dtype (what the
    upcast left where: ``qlora_frozen_dtypes`` {dtype: parameters}); the backend, its version,
    the build and the optimizer class that ran."""
    dtypes: dict = {}
    for p in model.parameters():
        if not p.requires_grad and not is_4bit(p):
            key = str(p.dtype).removeprefix("torch.")
            dtypes[key] = dtypes.get(key, 0) + p.numel()
    device = next(model.parameters()).device
    optimizer = get_optimizer_class(cfg, device)
    extra = {"qlora_scaler_block_sizes": torchao_backend.get_scaler_block_sizes(model)} if cfg.backend == "torchao" else {}
    return {**weight_sparsity(model, cfg), "qlora_frozen_dtypes": dtypes, "qlora_upcast": cfg.upcast,
            "qlora_backend": cfg.backend, "qlora_backend_version": get_backend_version(cfg),
            "qlora_build": "in_place" if cfg.backend == "torchao" else cfg.build,
            "qlora_optimizer": f"{optimizer.__module__}.{optimizer.__qualname__}", **extra}
