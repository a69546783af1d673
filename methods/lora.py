"""LoRA (Hu et al., 2022) through peft: W0 + (alpha/r)·BA on the attention q/v projections."""

from dataclasses import dataclass

import torch

from methods._common import check_fraction, check_positive, get_target_modules, normalize_targets


@dataclass(frozen=True)
class Config:
    """LoRA settings (seed defaults r=8, alpha=16, dropout=0.1).

    Args:
        r: adapter rank.
        alpha: scaling numerator (scale = alpha / r).
        dropout: dropout on the adapter input.
        target_modules: module names to adapt; empty = the family's attention q/v.
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ()
    lr: float = 5e-4
    weight_decay: float = 0.0

    def __post_init__(self):
        normalize_targets(self)
        check_positive(self, "r", "alpha", "lr")
        check_fraction(self, "dropout")


def make_lora_config(model, cfg, *, task_type: str):
    """The peft LoraConfig for this Config (shared with qlora and lora_prune)."""
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=get_target_modules(model, cfg.target_modules),
        task_type=task_type,
    )


def apply(model: torch.nn.Module, cfg: Config, *, task_type: str) -> torch.nn.Module:
    """Wrap the model with peft LoRA; only adapters (and a task head) train."""
    from peft import get_peft_model

    return get_peft_model(model, make_lora_config(model, cfg, task_type=task_type))
