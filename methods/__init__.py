"""The method registry: one dict literal, name -> module path.

Modules are imported on demand (``get_method``) so that listing the names never
pays for importing peft or bitsandbytes.
"""

import importlib
from types import ModuleType

METHODS = {
    "full_ft": "methods.full_ft",
    "lora": "methods.lora",
    "hira": "methods.hira",
    "qlora": "methods.qlora",
    "lora_prune": "methods.lora_prune",
    "sparselora": "methods.sparselora",
}


def get_method(name: str) -> ModuleType:
    """Import a method module by its registry name; unknown names list the valid ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return importlib.import_module(METHODS[name])
