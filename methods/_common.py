"""Pieces shared by the method modules: target modules per architecture and default hooks.

A method module exposes ``Config`` and ``apply(model, cfg, *, task_type)``; it may
also define ``penalty``, ``after_step``, ``make_optimizer``, ``stats``, ``set_context`` and
``before_merge`` (what to take off the trained model before it is merged for inference).
``Method`` fills in the defaults (``HOOKS``) for the hooks a module leaves out, so a
module defines only what it changes.
"""

import types
import typing
from dataclasses import fields

import torch


class MethodUnavailable(RuntimeError):
    """A method's optional package is missing, or it cannot run on this device: its cases skip
    (the message says how to un-skip)."""


# Attention query/value projections per model family: the seed's LoRA targets.
ATTENTION_QV = {
    "bert": ("query", "value"),
    "distilbert": ("q_lin", "v_lin"),
    "llama": ("q_proj", "v_proj"),
    "gpt2": ("c_attn",),
}


def get_target_modules(model: torch.nn.Module, explicit) -> list[str] | str:
    """Explicit targets win ("all-linear" is peft's every-linear-layer-but-the-head); otherwise
    the attention q/v projections of the model's family."""
    if tuple(explicit) == ("all-linear",):
        return "all-linear"
    if explicit:
        return list(explicit)
    model_type = getattr(model.config, "model_type", None)
    if model_type not in ATTENTION_QV:
        raise ValueError(
            f"no default target modules for model type {model_type!r}; "
            f"supported: {', '.join(ATTENTION_QV)} (or set target_modules explicitly)"
        )
    return list(ATTENTION_QV[model_type])


def normalize_targets(cfg) -> None:
    """target_modules as a tuple: one name given as a string (e.g. "all-linear" from the
    command line) is one module name, not a sequence of letters."""
    value = cfg.target_modules
    object.__setattr__(cfg, "target_modules", (value,) if isinstance(value, str) else tuple(value))


def get_owner(cls) -> str:
    """How errors name a Config class: ``methods.lora.Config``, or a table method's own name."""
    return getattr(cls, "owner", f"{cls.__module__}.Config")


def check_positive(cfg, *names: str) -> None:
    """Raise a ValueError naming the field, its value and the fix when a field is not > 0."""
    for name in names:
        value = getattr(cfg, name)
        if not value > 0:
            raise ValueError(f"{get_owner(type(cfg))}.{name}={value!r}: must be > 0")


def check_fraction(cfg, *names: str, upper_open: bool = True) -> None:
    """Raise when a field is outside [0, 1) (or [0, 1] with upper_open=False)."""
    for name in names:
        value = getattr(cfg, name)
        ok = 0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0
        if not ok:
            bound = "[0, 1)" if upper_open else "[0, 1]"
            raise ValueError(f"{get_owner(type(cfg))}.{name}={value!r}: must be in {bound}")


def fits(annotation, value) -> bool:
    """Whether ``value`` (JSON-native, e.g. from --set) fits a field's type annotation. An int is
    a float; a bool is no int; one string is a one-name tuple of strings (see normalize_targets);
    annotations other than these plain ones are not checked."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(fits(a, value) for a in args)
    if origin is typing.Literal:
        return value in args
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            if args[0] is str and isinstance(value, str):
                return True
            return isinstance(value, (tuple, list)) and all(fits(args[0], v) for v in value)
        return isinstance(value, (tuple, list)) and len(value) == len(args) and all(map(fits, args, value))
    return True


def describe(annotation) -> str:
    """A field type in words, with an example of the form --set takes."""
    words = {int: "an integer (e.g. 8)", float: "a number (e.g. 0.5)", bool: "true or false",
             str: "a string (e.g. \"fp32\")", type(None): "null"}
    if annotation in words:
        return words[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is tuple:
        plural = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}.get(args[0], str(args[0]))
        return f"a JSON list of {plural} (e.g. [...])"
    return str(annotation)


def check_types(owner: str, cls, values: dict) -> None:
    """Raise a ValueError naming the field, its value and the expected form for every value in
    ``values`` that does not fit its field's annotation in the dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if name in hints and not fits(hints[name], value):
            raise ValueError(f"{owner}.{name}={value!r}: expected {describe(hints[name])}")


def config_from_dict(config_cls, values: dict):
    """Build a Config from a dict, rejecting unknown keys with the list of known ones and values
    of the wrong type by field name (before __post_init__ compares them)."""
    known = {f.name for f in fields(config_cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(
            f"unknown option(s) {sorted(unknown)} for {get_owner(config_cls)}; known: {sorted(known)}"
        )
    check_types(get_owner(config_cls), config_cls, values)
    return config_cls(**values)


def adamw(params, cfg, *, device: torch.device) -> torch.optim.Optimizer:
    """Plain AdamW; fused on CUDA where every parameter is a floating CUDA tensor."""
    params = list(params)
    fused = device.type == "cuda" and all(p.is_cuda and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None)


def no_penalty(model, cfg):
    """Most methods add nothing to the loss."""
    return None


def no_after_step(model, cfg, *, step: int, total_steps: int) -> None:
    """Most methods do nothing between optimizer steps."""


def weight_sparsity(model: torch.nn.Module, cfg=None) -> dict:
    """Fraction of exactly-zero values among the trainable weights (adapter weight sparsity)."""
    zeros = total = 0
    for p in model.parameters():
        if p.requires_grad:
            zeros += int((p.detach() == 0).sum())
            total += p.numel()
    return {"weight_sparsity": zeros / total if total else 0.0}


HOOKS = {"make_optimizer": adamw, "penalty": no_penalty, "after_step": no_after_step, "stats": weight_sparsity,
         "set_context": None, "before_merge": None}


class Method:
    """A method as the loop sees it: its module's (or table entry's) names, and the default
    ``HOOKS`` for those it leaves out."""

    def __init__(self, name: str, namespace):
        self.name, self._namespace = name, namespace

    def __getattr__(self, attr: str):
        try:
            return getattr(self._namespace, attr)
        except AttributeError:
            if attr in HOOKS:
                return HOOKS[attr]
            raise AttributeError(f"method {self.name!r} has no {attr!r}") from None

    def __repr__(self) -> str:
        return f"<method {self.name}>"
