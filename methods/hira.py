"""HiRA (Huang et al., ICLR 2025) through peft: W0 + W0 ⊙ (BA), a high-rank Hadamard update."""

from dataclasses import dataclass

import torch

from methods._common import check_fraction, check_positive, get_target_modules, normalize_targets


@dataclass(frozen=True)
class Config:
    """HiRA settings.

    Args:
        r: rank of B·A before the Hadamard product with W0 (peft default 32).
        dropout: dropout on the adapter input.
        target_modules: module names to adapt; empty = the family's attention q/v.
        lr: peak learning rate. HiRA's update is scaled by W0's small entries, so it
            needs a far higher rate than LoRA (SST-2: 0.823 at 5e-4 vs 0.860 at 2e-3).
        weight_decay: AdamW weight decay.
    """

    r: int = 32
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ()
    lr: float = 2e-3
    weight_decay: float = 0.0

    def __post_init__(self):
        normalize_targets(self)
        check_positive(self, "r", "lr")
        check_fraction(self, "dropout")


def apply(model: torch.nn.Module, cfg: Config, *, task_type: str) -> torch.nn.Module:
    """Wrap the model with peft HiRA."""
    from peft import HiraConfig, get_peft_model

    config = HiraConfig(
        r=cfg.r,
        hira_dropout=cfg.dropout,
        target_modules=get_target_modules(model, cfg.target_modules),
        task_type=task_type,
    )
    return get_peft_model(model, config)
