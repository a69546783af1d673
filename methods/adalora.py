"""AdaLoRA (Zhang et al., ICLR 2023) through peft: SVD-shaped LoRA whose rank budget moves to
the layers that matter.

Each adapted weight starts at rank ``init_r``; peft's rank allocator scores every singular
triplet by its sensitivity (|w * grad|, smoothed by ``beta1``/``beta2``) and, after
``tinit`` of training, masks the lowest until the average rank reaches ``target_r`` at the
start of the last ``tfinal`` of training, where the ranks stay fixed. The allocator needs
the step's gradients: ``after_step`` (called before they are cleared) runs it every step.
peft adds the orthogonality penalty (``orth_reg_weight``) to the model's own loss; the
chunked LM loss (``loss_chunk``, perf and scale tiers) calls the decoder directly, so there
the penalty is left out.
"""

from dataclasses import dataclass

import torch

from methods._common import check_fraction, check_positive, get_target_modules, normalize_targets


@dataclass(frozen=True)
class Config:
    """AdaLoRA settings, from peft's comparison config
    ``method_comparison/MetaMathQA/experiments/adalora/llama-3.2-3B-rank32`` (init_r 64,
    target_r 32, lora_alpha 8, tinit 200 and tfinal 500 of 5,000 steps, deltaT 1, betas 0.85,
    orth_reg_weight 0.5; lr 1e-4 there, this suite's LoRA rate 5e-4 here).

    Args:
        init_r: initial rank per adapted weight.
        target_r: average rank the budget shrinks to.
        alpha: scaling numerator (peft's lora_alpha).
        dropout: dropout on the adapter input.
        tinit: fraction of training before the budget starts shrinking, in [0, 1).
        tfinal: fraction of training at the end with the ranks fixed, in [0, 1).
        delta_t: steps between budget allocations.
        beta1: smoothing of the sensitivity, in [0, 1).
        beta2: smoothing of its uncertainty, in [0, 1).
        orth_reg_weight: weight of the orthogonality penalty on P and Q.
        target_modules: module names to adapt; empty = the family's attention q/v.
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
    """

    init_r: int = 64
    target_r: int = 32
    alpha: int = 8
    dropout: float = 0.0
    tinit: float = 0.04
    tfinal: float = 0.1
    delta_t: int = 1
    beta1: float = 0.85
    beta2: float = 0.85
    orth_reg_weight: float = 0.5
    target_modules: tuple[str, ...] = ()
    lr: float = 5e-4
    weight_decay: float = 0.0

    def __post_init__(self):
        normalize_targets(self)
        check_positive(self, "init_r", "target_r", "alpha", "delta_t", "lr")
        check_fraction(self, "dropout", "tinit", "tfinal", "beta1", "beta2")
        if self.target_r > self.init_r:
            raise ValueError(f"methods.adalora.Config.target_r={self.target_r}: must be <= init_r ({self.init_r})")
        if self.tinit + self.tfinal >= 1:
            raise ValueError(f"methods.adalora.Config.tinit={self.tinit}, tfinal={self.tfinal}: their sum must be < 1 "
                             "(no steps would be left to allocate the budget)")
        if self.orth_reg_weight < 0:
            raise ValueError(f"methods.adalora.Config.orth_reg_weight={self.orth_reg_weight}: must be >= 0")


# peft wants total_step when the adapter is built; the loop knows it only when training starts,
# so the adapter is built with this placeholder and the schedule set at the first step.
PLACEHOLDER_STEPS = 10**9


def apply(model: torch.nn.Module, cfg: Config, *, task_type: str) -> torch.nn.Module:
    """Wrap the model with peft AdaLoRA."""
    from peft import AdaLoraConfig, get_peft_model

    config = AdaLoraConfig(
        init_r=cfg.init_r, target_r=cfg.target_r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
        deltaT=cfg.delta_t, beta1=cfg.beta1, beta2=cfg.beta2, orth_reg_weight=cfg.orth_reg_weight,
        total_step=PLACEHOLDER_STEPS, target_modules=get_target_modules(model, cfg.target_modules),
        task_type=task_type,
    )
    return get_peft_model(model, config)


def get_schedule(cfg: Config, total_steps: int) -> tuple[int, int]:
    """(tinit, tfinal) in steps for a run of ``total_steps``, leaving at least one step to allocate."""
    tinit = int(cfg.tinit * total_steps)
    tfinal = int(cfg.tfinal * total_steps)
    return tinit, max(0, min(tfinal, total_steps - tinit - 1))


def after_step(model: torch.nn.Module, cfg: Config, *, step: int, total_steps: int) -> None:
    """Set the schedule at the first step, then run the rank allocator (it reads the gradients)."""
    config = model.peft_config[model.base_model.trainable_adapter_name]
    if config.total_step != total_steps:
        config.total_step = total_steps
        config.tinit, config.tfinal = get_schedule(cfg, total_steps)
    model.base_model.update_and_allocate(step)


def stats(model: torch.nn.Module, cfg: Config) -> dict:
    """The ranks the allocator left: their mean over the adapted weights, and the steps' schedule."""
    config = model.peft_config[model.base_model.trainable_adapter_name]
    ranks = [int(sum(mask)) for mask in (config.rank_pattern or {}).values()]
    return {"adalora_mean_rank": sum(ranks) / len(ranks) if ranks else float(cfg.init_r),
            "adalora_tinit_steps": config.tinit, "adalora_tfinal_steps": config.tfinal}
