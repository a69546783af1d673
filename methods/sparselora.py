"""SparseLoRA (Khaki et al., ICML 2025, arXiv 2506.16500): LoRA with contextual compute sparsity.

peft LoRA trains as usual; the frozen base projections of the sparse layers run, per
batch, on the channels a training-free SVD estimator ranks highest
(``methods._sparselora_estimator``), as smaller dense GEMMs on weight slices
(``methods._sparselora_layers``). The LoRA branch stays dense. Sparsity applies to
training forwards only: evaluation and inference are dense.

Schedule: a ``preset`` (the paper's per-layer schedules, ``methods._sparselora_presets``),
else ``dense_first`` / ``dense_last`` layers are dense and the others skip
``ffn_sparsity`` of their FFN channels and ``attn_sparsity`` of their attention
channels, unless ``layer_ffn_sparsity`` / ``layer_attn_sparsity`` give one value per
layer. The first ``dense_warmup`` of the steps are dense. With ``context_aware`` a
causal LM runs the positions before the batch's ``context_length`` (the prompt, given
through ``set_context``) sparse and the answer dense.

Compiles: every kept width is fixed per layer, nothing on the traced path counts or
syncs, and FLOP / channel accounting is derived from the schedule once per step in
``after_step``.

This is compute sparsity of the frozen base, not adapter weight sparsity (see
``lora_prune``); ``stats`` names its keys accordingly.
"""

import math
from dataclasses import dataclass

import torch

from methods._common import check_fraction, check_positive, weight_sparsity
from methods._sparselora_layers import ARCHITECTURES, State, account, get_layers, install, make_blocks, uninstall
from methods._sparselora_presets import PAPER_LORA, PRESETS, get_preset_peak, get_preset_schedule  # noqa: F401
from methods.lora import Config as LoraConfig
from methods.lora import apply as apply_lora

GRADIENTS = ("exact", "reference")


@dataclass(frozen=True)
class Config(LoraConfig):
    """LoRA settings plus SparseLoRA's sparsity schedule and estimator.

    Args:
        ffn_sparsity: fraction of FFN intermediate channels skipped in sparse layers, in [0, 1).
        attn_sparsity: fraction of q/k and v/o channels skipped in sparse layers, in [0, 1).
        dense_first: number of first layers kept dense.
        dense_last: number of last layers kept dense.
        layer_ffn_sparsity: one FFN sparsity per layer (overrides the three fields above); empty = unused.
        layer_attn_sparsity: one attention sparsity per layer (likewise).
        svd_rank: rank of the estimator's SVD proxy per frozen weight.
        dense_warmup: fraction of training steps run dense before sparsity starts, in [0, 1).
        context_aware: causal LM only: positions before the batch's context_length (the prompt,
            labels -100) run sparse, the answer dense. Needs a prompt -> answer task, which gives
            context_length through ``set_context``; a batch without one is refused at its forward.
        dense_scored: with context_aware, the split moves one position earlier, so that every
            position whose logits the loss scores runs dense, the last prompt position (which
            predicts the first answer token) too. False (the paper's split, by label): that
            position is sparse, so for a one-token answer every loss-bearing prediction runs sparse.
        preset: "" (none), or a paper schedule: "llama3-8b-math", "llama3-8b-csr" (32-layer models),
            "math", "csr" (scaled to the model's depth). Replaces ffn/attn_sparsity, dense_first/last.
        sparsity_scale: multiplies every layer's FFN and attention sparsity (of the preset, the lists
            or the two fractions), so one number moves the whole schedule (the frontier sweep);
            1.0 = the schedule as given. Every scaled value must stay below 1.
        gradient: "exact" (default): the gradient reaches earlier layers through every sliced GEMM.
            "reference": as the paper's reference code, the sparse positions' q/k/v base outputs
            and the o projection's gathered input carry no gradient (computed as under no_grad), so
            context tokens' gradients reach earlier layers through the attention only by LoRA;
            less backward work, a different (inexact) gradient. FFN blocks are exact in both.
    """

    ffn_sparsity: float = 0.9
    attn_sparsity: float = 0.5
    dense_first: int = 1
    dense_last: int = 1
    layer_ffn_sparsity: tuple[float, ...] = ()
    layer_attn_sparsity: tuple[float, ...] = ()
    svd_rank: int = 8
    dense_warmup: float = 0.05
    context_aware: bool = False
    dense_scored: bool = False
    preset: str = ""
    sparsity_scale: float = 1.0
    gradient: str = "exact"

    def __post_init__(self):
        super().__post_init__()
        check_positive(self, "svd_rank")
        check_fraction(self, "ffn_sparsity", "attn_sparsity", "dense_warmup")
        for name in ("dense_first", "dense_last"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"methods.sparselora.Config.{name}={getattr(self, name)!r}: must be an integer >= 0")
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        for name in ("layer_ffn_sparsity", "layer_attn_sparsity"):
            values = tuple(getattr(self, name))
            object.__setattr__(self, name, values)  # JSON gives lists; keep the frozen Config hashable
            for i, value in enumerate(values):
                if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
                    raise ValueError(
                        f"methods.sparselora.Config.{name}[{i}]={value!r}: every entry must be in [0, 1)"
                    )
        for name in ("context_aware", "dense_scored"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"methods.sparselora.Config.{name}={getattr(self, name)!r}: use true or false")
        if self.dense_scored and not self.context_aware:
            raise ValueError("methods.sparselora.Config.dense_scored=True needs context_aware=True "
                             "(it moves the prompt/answer split; without context_aware every position runs sparse)")
        if self.preset not in ("", *PRESETS):
            raise ValueError(f"methods.sparselora.Config.preset={self.preset!r}: use one of {', '.join(PRESETS)} "
                             f"(or '' for none)")
        if self.gradient not in GRADIENTS:
            raise ValueError(f"methods.sparselora.Config.gradient={self.gradient!r}: use one of {', '.join(GRADIENTS)}")
        if not 0 <= self.sparsity_scale or self.sparsity_scale * get_peak_sparsity(self) >= 1:
            raise ValueError(f"methods.sparselora.Config.sparsity_scale={self.sparsity_scale!r}: must be >= 0 and "
                             f"keep every scaled sparsity below 1 (the schedule's largest is "
                             f"{get_peak_sparsity(self):g}: scale < {1 / max(get_peak_sparsity(self), 1e-9):.3g})")
        if self.preset and (self.layer_ffn_sparsity or self.layer_attn_sparsity):
            raise ValueError(f"methods.sparselora.Config.preset={self.preset!r} gives the per-layer schedule; "
                             f"leave layer_ffn_sparsity / layer_attn_sparsity empty")


def get_peak_sparsity(cfg) -> float:
    """The largest sparsity of any layer in the schedule before ``sparsity_scale``."""
    if cfg.preset:
        return max(get_preset_peak(cfg.preset))
    return max((cfg.ffn_sparsity, cfg.attn_sparsity, *cfg.layer_ffn_sparsity, *cfg.layer_attn_sparsity))


def get_schedule(cfg: Config, num_layers: int) -> tuple[list, list]:
    """Per-layer (ffn, attention) sparsity times ``sparsity_scale``."""
    ffn, attn = get_unscaled_schedule(cfg, num_layers)
    return [v * cfg.sparsity_scale for v in ffn], [v * cfg.sparsity_scale for v in attn]


def get_unscaled_schedule(cfg: Config, num_layers: int) -> tuple[list, list]:
    """Per-layer (ffn, attention) sparsity: the preset, else the explicit lists, else dense ends and uniform middle."""
    if cfg.preset:
        return get_preset_schedule(cfg.preset, num_layers)
    def uniform(value: float) -> list:
        return [0.0 if i < cfg.dense_first or i >= num_layers - cfg.dense_last else value for i in range(num_layers)]

    lists = []
    for name, value in (("layer_ffn_sparsity", cfg.ffn_sparsity), ("layer_attn_sparsity", cfg.attn_sparsity)):
        explicit = getattr(cfg, name)
        if explicit and len(explicit) != num_layers:
            raise ValueError(
                f"methods.sparselora.Config.{name} has {len(explicit)} entries; the model has {num_layers} layers "
                f"(give one per layer, or leave it empty)"
            )
        lists.append([float(v) for v in explicit] if explicit else uniform(value))
    return lists[0], lists[1]


def apply(model: torch.nn.Module, cfg: Config, *, task_type: str) -> torch.nn.Module:
    """peft LoRA, then SparseLoRA's estimator and sliced projections on the frozen base.

    Call it after moving the model to its device and dtype (the SVD runs here, on the weights).
    """
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in ARCHITECTURES:
        raise ValueError(
            f"sparselora supports model types {', '.join(ARCHITECTURES)} (BERT/MiniLM, DistilBERT, "
            f"Llama family); got {model_type!r} ({type(model).__name__})"
        )
    model = apply_lora(model, cfg, task_type=task_type)
    for name, module in model.named_modules():
        if any(getattr(module, "use_dora", {}).values()):
            raise ValueError(f"sparselora supports plain LoRA adapters only; {name} uses DoRA")
    hf_model = model.get_base_model()
    num_layers = len(get_layers(hf_model, model_type))
    ffn, attn = get_schedule(cfg, num_layers)
    blocks, targets = make_blocks(hf_model, model_type=model_type, ffn_sparsity=ffn, attn_sparsity=attn, rank=cfg.svd_rank)
    causal_lm = task_type == "CAUSAL_LM"
    state = State(blocks=blocks, active=cfg.dense_warmup == 0, context_aware=cfg.context_aware and causal_lm,
                  reference_gradient=cfg.gradient == "reference")
    install(hf_model, blocks, targets, state=state)
    model._sparselora = state
    return model


def get_state(model: torch.nn.Module) -> State:
    """The SparseLoRA state that ``apply`` attached."""
    state = getattr(model, "_sparselora", None)
    if state is None:
        raise ValueError("model has no SparseLoRA state: build it with methods.sparselora.apply")
    return state


def set_context(model: torch.nn.Module, cfg: Config, context_length: int | None) -> None:
    """The next forwards' prompt width (a Python int; None: no prompt), called outside any
    compiled region before each step. With ``context_aware`` the positions before it run
    sparse and the rest dense (with ``dense_scored``, the positions before it minus one);
    without it, every position runs sparse. A new value is a new compiled graph:
    ``TrainSettings.pad_multiple`` keeps the values few."""
    if context_length is not None and (isinstance(context_length, bool) or not isinstance(context_length, int)
                                       or context_length < 0):
        raise ValueError(f"sparselora.set_context: context_length={context_length!r}: give a Python int >= 0 or None")
    state = get_state(model)
    if context_length is not None and cfg.dense_scored:  # dense_scored implies context_aware (Config)
        context_length = max(0, context_length - 1)
    state.context_length = context_length if state.context_aware else None


def after_step(model: torch.nn.Module, cfg: Config, *, step: int, total_steps: int) -> None:
    """Account the step as dense or sparse; switch sparsity on once the dense warm-up is over."""
    state = get_state(model)
    account(state, sparse=state.active)
    if state.active:
        state.sparse_steps += 1
    else:
        state.dense_steps += 1
    state.active = step >= math.ceil(cfg.dense_warmup * total_steps)


def before_merge(model: torch.nn.Module, cfg: Config) -> None:
    """Take SparseLoRA's training machinery off (its replaced forwards and hooks): inference ran
    dense already, so what is left is plain peft LoRA, which merges into the plain base model."""
    uninstall(get_state(model))


def get_phase(model: torch.nn.Module, cfg: Config) -> str:
    """The phase the next training step runs in: "dense" (the warm-up) or "sparse"."""
    return "sparse" if get_state(model).active else "dense"


def set_phase(model: torch.nn.Module, cfg: Config, phase: str) -> None:
    """Enter a phase (the loop counts each phase's FLOPs on one probe step)."""
    if phase not in ("dense", "sparse"):
        raise ValueError(f"sparselora.set_phase: phase={phase!r}: give 'dense' or 'sparse'")
    get_state(model).active = phase == "sparse"


def get_ratio(skipped: int, total: int) -> float:
    return skipped / total if total else 0.0


def stats(model: torch.nn.Module, cfg: Config) -> dict:
    """Compute sparsity of the frozen base GEMMs (analytic, over all training steps so far:
    one training forward per step, from its shape, split and the schedule).

    FLOPs count the forward GEMMs and their input-gradient GEMMs (2x the forward; frozen
    weights get no weight gradient), over the targeted projections of every layer.
    """
    state = get_state(model)
    per_layer, per_block = {}, {}
    for block in state.blocks:
        layer = block.name.split(".")[0]
        dense, actual = per_layer.get(layer, (0, 0))
        per_layer[layer] = (dense + block.flops_dense, actual + block.flops_actual)
        per_block[block.name] = get_ratio(block.flops_dense - block.flops_actual, block.flops_dense)
    dense = 2 * sum(b.flops_dense for b in state.blocks)
    actual = 2 * sum(b.flops_actual for b in state.blocks)

    def channels(kind: str) -> float:
        chosen = [b for b in state.blocks if b.kind == kind]
        total = sum(b.channels_total for b in chosen)
        return get_ratio(total - sum(b.channels_kept for b in chosen), total)

    return {
        **weight_sparsity(model),
        "compute_sparsity": get_ratio(dense - actual, dense),
        "compute_sparsity_per_layer": {k: get_ratio(d - a, d) for k, (d, a) in per_layer.items()},
        "compute_sparsity_per_block": per_block,
        "base_gemm_flops_dense": dense,
        "base_gemm_flops_actual": actual,
        "channel_sparsity_ffn": channels("ffn"),
        "channel_sparsity_attn": channels("attn"),
        "estimator_flops": state.estimator_flops,
        "estimator_seconds": state.estimator_seconds,
        "dense_steps": state.dense_steps,
        "sparselora_gradient": cfg.gradient,
        "sparse_steps": state.sparse_steps,
    }
