"""Names and colours that every table and figure shares: a row's unique label, a method's colour."""

import functools

import matplotlib

from reports import knowledge, ranks
from reports.load import Row

REFERENCE = "lora"  # the method every other is compared with

# tab20's strong shades first, then its light ones, then tab20b's darkest and middle ones: 30
# colours, more than the methods that reports/families.json names, so no two of those share one.
PALETTE = [*(matplotlib.colormaps["tab20"].colors[i] for i in (*range(0, 20, 2), *range(1, 20, 2))),
           *(matplotlib.colormaps["tab20b"].colors[i] for i in (*range(0, 20, 4), *range(2, 20, 4)))]


def get_row_label(row: Row) -> str:
    """The method (with its variant, as loaded: "lora+gc") and its ranks: "lora · 2 ranks"."""
    label = row.method
    world = ranks.get_world_size(row.extra)
    return f"{label} · {world} ranks" if world > 1 else label


@functools.cache
def get_known_order() -> tuple:
    return tuple(knowledge.get_families())


def get_base(method: str) -> str:
    """A run's method without its variant: "lora+tuned" -> "lora"."""
    return method.partition("+")[0]


def get_color(method: str, methods: tuple = ()) -> tuple:
    """One colour per method in every figure: known methods (``reports/families.json`` order)
    keep theirs in every report; others take the next colours in name order of ``methods``.
    A variant ("lora+gc") has its method's colour."""
    method = get_base(method)
    methods = tuple(get_base(m) for m in methods)
    known = get_known_order()
    if method in known:
        index = known.index(method)
    else:
        extra = sorted(m for m in set(methods) | {method} if m not in known)
        index = len(known) + extra.index(method)
    return PALETTE[index % len(PALETTE)]


def get_reference(method: str, methods) -> str:
    """The name a run is compared with, among ``methods`` (names with their variant, "qlora+gc"):
    LoRA of the same variant where that ran (qlora+gc with lora+gc); for another checkpointing
    variant (its name ends in "gc", e.g. qlora+torchao-gc) LoRA with gradient checkpointing; else
    plain LoRA. A LoRA variant (lora+gc) is compared with plain LoRA where that ran: its cost is what
    it changes; where it did not (every case "+tuned"), the LoRA variant is the reference itself."""
    base, variant = get_base(method), method.partition("+")[2]
    if not variant:
        return REFERENCE
    if base == REFERENCE:
        return REFERENCE if REFERENCE in methods else method
    for candidate in (f"{REFERENCE}+{variant}", f"{REFERENCE}+gc" if variant.endswith("gc") else ""):
        if candidate in methods:
            return candidate
    return REFERENCE
