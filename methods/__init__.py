"""The method registry: one dict literal, name -> module path.

Modules are imported on demand (``get_method``) so that listing the names never
pays for importing peft or bitsandbytes. A module serves one method (``Config``,
``apply`` and the hooks it changes), or, like ``methods.peft_table``, several
methods that differ only in their peft config (its ``TABLE``, one entry each).
"""

import importlib

METHODS = {
    "full_ft": "methods.full_ft",
    "lora": "methods.lora",
    "hira": "methods.hira",
    "qlora": "methods.qlora",
    "lora_prune": "methods.lora_prune",
    "sparselora": "methods.sparselora",
    "adalora": "methods.adalora",
    # LoRA variants: one LoraConfig field each
    "dora": "methods.peft_table",
    "rslora": "methods.peft_table",
    "pissa": "methods.peft_table",
    "olora": "methods.peft_table",
    # other peft adapters, each its own peft config
    "vera": "methods.peft_table",
    "ia3": "methods.peft_table",
    "loha": "methods.peft_table",
    "lokr": "methods.peft_table",
    "oft": "methods.peft_table",
    "boft": "methods.peft_table",
    "miss": "methods.peft_table",
    "lily": "methods.peft_table",
    "shira": "methods.peft_table",
    "fourierft": "methods.peft_table",
    "randlora": "methods.peft_table",
}


def get_method(name: str):
    """A method by its registry name (``methods._common.Method``: its module's names plus the
    default hooks); unknown names list the valid ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    from methods._common import Method

    module = importlib.import_module(METHODS[name])
    return Method(name, module.get_entry(name) if hasattr(module, "get_entry") else module)
