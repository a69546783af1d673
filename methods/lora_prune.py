"""Adapter pruning ("Sparse LoRA" of the seed): LoRA whose adapter weights are made sparse.

Three criteria: ``magnitude`` (per adapter matrix, zero the smallest |w|),
``topk`` (one global threshold over all adapter weights) and ``l1`` (an L1
penalty on the adapters, with magnitude pruning to the target at the prune
steps). Schedules: ``gradual`` (cubic ramp to the target every ``prune_every``
steps, Zhu & Gupta 2017) or ``oneshot`` (once, at ``oneshot_at`` of training).
Pruned weights stay zero: their mask is re-applied after every step. This is
weight sparsity of the adapters, not compute sparsity (see ``sparselora``).
"""

from dataclasses import dataclass

import torch

from methods._common import check_fraction, check_positive, weight_sparsity
from methods.lora import Config as LoraConfig
from methods.lora import apply as apply_lora

CRITERIA = ("magnitude", "topk", "l1")
SCHEDULES = ("gradual", "oneshot")


@dataclass(frozen=True)
class Config(LoraConfig):
    """LoRA settings plus pruning (seed defaults: 50% target, every 100 steps, L1 λ=1e-3).

    Args:
        criterion: "magnitude", "topk" or "l1".
        schedule: "gradual" or "oneshot".
        target_sparsity: fraction of adapter weights that end at zero, in [0, 1).
        prune_every: steps between pruning events (gradual schedule).
        oneshot_at: fraction of training after which the one-shot prune happens.
        l1_lambda: weight of the L1 penalty (criterion "l1").
    """

    criterion: str = "magnitude"
    schedule: str = "gradual"
    target_sparsity: float = 0.5
    prune_every: int = 100
    oneshot_at: float = 0.5
    l1_lambda: float = 1e-3

    def __post_init__(self):
        super().__post_init__()
        check_positive(self, "prune_every")
        check_fraction(self, "target_sparsity", "oneshot_at")
        if self.criterion not in CRITERIA:
            raise ValueError(f"methods.lora_prune.Config.criterion={self.criterion!r}: use one of {CRITERIA}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"methods.lora_prune.Config.schedule={self.schedule!r}: use one of {SCHEDULES}")
        if self.l1_lambda < 0:
            raise ValueError(f"methods.lora_prune.Config.l1_lambda={self.l1_lambda!r}: must be >= 0")


def apply(model: torch.nn.Module, cfg: Config, *, task_type: str) -> torch.nn.Module:
    """LoRA, with an all-ones mask registered on each adapter matrix."""
    model = apply_lora(model, cfg, task_type=task_type)
    # found once here, not by a walk over every parameter in each training step
    model._prune_weights = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
    for p in model._prune_weights:
        p._prune_mask = torch.ones_like(p, dtype=torch.bool)
    return model


def get_adapter_weights(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The LoRA A and B matrices (not the task head), as listed by ``apply``."""
    return model._prune_weights


def get_scheduled_sparsity(cfg: Config, *, step: int, total_steps: int) -> float | None:
    """The sparsity to prune to after ``step`` (1-based), or None when this is no prune step."""
    if cfg.schedule == "oneshot":
        return cfg.target_sparsity if step == max(1, round(cfg.oneshot_at * total_steps)) else None
    if step % cfg.prune_every and step != total_steps:
        return None
    progress = min(1.0, step / max(1, total_steps))
    return cfg.target_sparsity * (1.0 - (1.0 - progress) ** 3)


@torch.no_grad()
def prune_to(weights: list[torch.Tensor], sparsity: float, *, criterion: str) -> None:
    """Zero the smallest-magnitude entries so that ``sparsity`` of them are zero; update masks."""
    if sparsity <= 0:
        return
    if criterion == "topk":
        scores = torch.cat([w.abs().flatten() for w in weights])
        k = int(sparsity * scores.numel())
        threshold = scores.kthvalue(k).values if k else scores.min() - 1
        for w in weights:
            w._prune_mask &= w.abs() > threshold
    else:
        for w in weights:
            k = int(sparsity * w.numel())
            if k:
                threshold = w.abs().flatten().kthvalue(k).values
                w._prune_mask &= w.abs() > threshold
    for w in weights:
        w.mul_(w._prune_mask)


def penalty(model: torch.nn.Module, cfg: Config):
    """L1 on the adapter weights for criterion "l1"; nothing otherwise."""
    if cfg.criterion != "l1":
        return None
    return cfg.l1_lambda * sum(p.abs().sum() for p in get_adapter_weights(model))


@torch.no_grad()
def after_step(model: torch.nn.Module, cfg: Config, *, step: int, total_steps: int) -> None:
    """Re-apply the masks; prune further on the schedule's steps."""
    weights = get_adapter_weights(model)
    target = get_scheduled_sparsity(cfg, step=step, total_steps=total_steps)
    if target is not None:
        prune_to(weights, target, criterion=cfg.criterion)
    else:
        for w in weights:
            w.mul_(w._prune_mask)


def stats(model: torch.nn.Module, cfg: Config) -> dict:
    """Measured zeros among the adapter weights, next to the target."""
    weights = get_adapter_weights(model)
    zeros = sum(int((w == 0).sum()) for w in weights)
    total = sum(w.numel() for w in weights)
    return {
        **weight_sparsity(model),
        "adapter_weight_sparsity": zeros / total if total else 0.0,
        "target_sparsity": cfg.target_sparsity,
    }
