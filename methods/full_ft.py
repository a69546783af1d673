"""Full fine-tuning: every weight trains. The baseline the adapters are measured against."""

from dataclasses import dataclass

import torch

from methods._common import check_positive


@dataclass(frozen=True)
class Config:
    """Full fine-tuning settings.

    Args:
        lr: peak learning rate (AdamW, linear decay).
        weight_decay: AdamW weight decay.
    """

    lr: float = 5e-5
    weight_decay: float = 0.01

    def __post_init__(self):
        check_positive(self, "lr")


def apply(model: torch.nn.Module, cfg: Config, *, task_type: str) -> torch.nn.Module:
    """Unfreeze everything."""
    for p in model.parameters():
        p.requires_grad_(True)
    return model
