"""A method from a saved peft adapter config (``adapter_config.json``, as ``PeftConfig.save_pretrained``
writes it and as peft's comparison suite keeps its experiments): ``--peft-config NAME=PATH``.

``read_peft_config`` checks the file (it exists, is a JSON object, names a known ``peft_type``,
every key is a field of that type's config with a value of its type, and the config builds),
raising ``PeftFileError`` naming the file and the key at fault. ``get_file_method`` serves it
like a registry method: a ``Config`` (the file's values, plus ``lr`` and ``weight_decay``) and
``apply`` (served as ``methods._common.Method``, with the default hooks). The harness decides the task head (``task_type``); a config that cannot apply to a
model (prompt learning on a classifier, target modules the model lacks) raises
``MethodUnavailable``, so the case skips saying why.
"""

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import torch

from methods._common import MethodUnavailable, check_positive, describe, fits
from methods.peft_table import use_torch_butterfly

# Keys peft writes for its own bookkeeping; the harness sets the task head itself.
BOOKKEEPING = ("task_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision", "inference_mode")
# Default learning rate of a file's method: this suite's LoRA rate (methods.lora.Config.lr).
DEFAULT_LR = 5e-4


class PeftFileError(ValueError):
    """A --peft-config file that cannot be a method (the message names the file and the key)."""


def get_config_class(path: str, values: dict):
    """The peft config class of the file's ``peft_type``."""
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    peft_type = values.get("peft_type")
    if peft_type is None:
        raise PeftFileError(f"{path}: no 'peft_type' key (e.g. \"peft_type\": \"LORA\")")
    known = {str(getattr(k, "value", k)): v for k, v in PEFT_TYPE_TO_CONFIG_MAPPING.items()}
    if peft_type not in known:
        import peft

        raise PeftFileError(f"{path}: peft_type {peft_type!r} is not a type peft {peft.__version__} knows; "
                            f"known: {', '.join(sorted(known))}")
    return known[peft_type]


def check_fields(path: str, cls, values: dict) -> None:
    """Every key a field of ``cls``, every value of its field's type."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise PeftFileError(f"{path}: key(s) {unknown} are no fields of {cls.__name__} (a newer peft's file?); "
                            "remove them or upgrade peft")
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation this Python cannot resolve: peft's own checks still run
        hints = {}
    for key, value in values.items():
        if key in hints and not fits(hints[key], value):
            raise PeftFileError(f"{path}: key {key!r} = {value!r}: {cls.__name__}.{key} expects "
                                f"{describe(hints[key])}")


def read_peft_config(path: str) -> dict:
    """The checked contents of an adapter config file (bookkeeping keys dropped)."""
    file = Path(path).expanduser()
    if file.is_dir():
        file = file / "adapter_config.json"
        if not file.is_file():
            raise PeftFileError(f"{path}: a folder without adapter_config.json")
    elif not file.is_file():
        raise PeftFileError(f"{path}: no such file (give an adapter_config.json or the folder holding it)")
    try:
        values = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise PeftFileError(f"{file}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(values, dict):
        raise PeftFileError(f"{file}: expected a JSON object of config keys, got {type(values).__name__}")
    cls = get_config_class(str(file), values)
    values = {k: v for k, v in values.items() if k not in BOOKKEEPING}
    check_fields(str(file), cls, values)
    try:
        cls(**values)
    except (TypeError, ValueError) as e:
        raise PeftFileError(f"{file}: {cls.__name__} refuses it: {e}") from None
    return values


@dataclass(frozen=True)
class Config:
    """A file's method: the peft config's values as read, and the training settings.

    Args:
        peft_config: the adapter config's keys and values (task_type left to the harness).
        lr: peak learning rate (default: this suite's LoRA rate).
        weight_decay: AdamW weight decay.
    """

    peft_config: dict = field(default_factory=dict)
    lr: float = DEFAULT_LR
    weight_decay: float = 0.0

    def __post_init__(self):
        check_positive(self, "lr")


Config.owner = "--peft-config Config"


def make_peft_config(cfg: Config, *, task_type: str):
    """The peft config object for this Config and task head."""
    cls = get_config_class("--peft-config", cfg.peft_config)
    return cls(**cfg.peft_config, task_type=task_type)


def apply(model: torch.nn.Module, cfg: Config, *, task_type: str) -> torch.nn.Module:
    """Wrap the model with the file's adapter; one that cannot apply to this model skips."""
    from peft import PromptLearningConfig, get_peft_model

    config = make_peft_config(cfg, task_type=task_type)
    if isinstance(config, PromptLearningConfig) and task_type != "CAUSAL_LM":
        raise MethodUnavailable(f"{type(config).__name__} is prompt learning (virtual tokens): this harness runs "
                                f"it on causal LMs only, not on a {task_type} model")
    if type(config).__name__ == "BOFTConfig":  # as the table's boft: peft's torch path, no extension build
        if config.boft_n_butterfly_factor != 1:
            raise MethodUnavailable(f"BOFTConfig boft_n_butterfly_factor={config.boft_n_butterfly_factor}: peft builds "
                                    "more than 1 only with its fbd_cuda extension, which the harness does not compile")
        use_torch_butterfly()
    try:
        return get_peft_model(model, config)
    except (ValueError, TypeError, NotImplementedError) as e:
        raise MethodUnavailable(f"{type(config).__name__} cannot apply to {type(model).__name__}: {e}") from None


def get_file_method(name: str, path: str) -> types.SimpleNamespace:
    """The method NAME from the adapter config at ``path`` (checked: PeftFileError)."""
    values = read_peft_config(path)
    cls = dataclasses.make_dataclass("Config", [("peft_config", dict, field(default_factory=lambda: dict(values)))],
                                     bases=(Config,), frozen=True)
    cls.__module__, cls.owner = __name__, f"--peft-config {name} Config"
    return types.SimpleNamespace(name=name, Config=cls, apply=apply)
