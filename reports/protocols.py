"""Which runs are seeds of one cell: the same protocol in everything but the seed.

Two runs of a method on a dataset are merged (mean, interval, tests over seeds) only when
their model, evaluation protocol (data limits, splits, max length, ...), train settings and
method config agree. Runs that differ become separate rows, labelled by what differs.
"""

import json
from collections import Counter

from reports.load import Row

# extra_info parts that define a protocol; the seed is the one thing allowed to vary
PARTS = ("protocol", "settings", "config")
# Settings that control the run, not its numbers: a run that finished inside its time limit is
# the same run under any limit (one stopped by it is a failure, listed as such).
RUN_CONTROLS = ("settings.time_limit_s",)
# protocol fields that describe the case's own variant, not its data: runs that differ in them
# are compared with each other (a sweep point with LoRA, lora+liger with LoRA)
CASE_PROTOCOL = ("protocol.sweep", "protocol.fused_kernels")


def get_fields(row: Row) -> dict:
    """The row's protocol as flat ``part.key`` -> JSON text (model included)."""
    fields = {"model": json.dumps(row.model)}
    for part in PARTS:
        value = row.extra.get(part)
        for key, v in (value.items() if isinstance(value, dict) else []):
            if f"{part}.{key}" not in RUN_CONTROLS:
                fields[f"{part}.{key}"] = json.dumps(v, sort_keys=True)
    return fields


def get_key(row: Row, *, with_config: bool = True) -> str:
    """A hashable protocol identity; without the method config it matches rows across methods."""
    fields = {k: v for k, v in get_fields(row).items() if with_config or not k.startswith("config.")}
    return json.dumps(fields, sort_keys=True)


def get_data_key(row: Row) -> str:
    """The data protocol alone (model, splits, limits, lengths): what runs must share to be compared.
    A --sweep point's value and the fused kernels a case ran ("lora+liger") are the case's own
    settings (its variant), not the data's."""
    return json.dumps({k: v for k, v in get_fields(row).items()
                       if not k.startswith(("settings.", "config.")) and k not in CASE_PROTOCOL}, sort_keys=True)


def get_diff_text(mine: dict, others: list[dict]) -> str:
    """"key=value, ..." for the keys (flat, JSON text values) where ``mine`` differs from some
    other; a key that ``mine`` lacks (results from an older version) reads "key unset", and an
    unset key equals null."""
    def get(fields: dict, key: str):
        return fields.get(key, "null")

    keys = sorted({k for fields in (mine, *others) for k in fields})
    differs = [k for k in keys if any(get(o, k) != get(mine, k) for o in others)]
    return ", ".join(f"{k.split('.', 1)[-1]}={get_text(mine[k])}" if k in mine else f"{k.split('.', 1)[-1]} unset"
                     for k in differs)


def get_labels(groups: dict) -> dict:
    """group key -> "what differs" text ("" where a row has its peers' protocol).

    A row's peers share its model, hardware, tier and ranks (columns of their own). A data or
    settings key is named where the row's value is not the one more than half of its peers have
    (where no value has such a majority, on every row that differs), so a one-off setting labels
    that row only; config keys where the same method ran with more than one config."""
    fields = {g: get_fields(members[0]) for g, members in groups.items()}
    labels = {}
    for g, f in fields.items():
        peers = [p for h, p in fields.items() if h[2:6] == g[2:6]]
        keys = sorted({k for p in peers for k in p if not k.startswith("config.")})
        differs = [k for k in keys if f.get(k) != get_mode([p.get(k) for p in peers])]
        # a limit is both a setting and part of the data protocol: name it once
        differs = [k for k in differs if not (k.startswith("settings.") and f"protocol.{k[9:]}" in differs)]
        same_method = [p for h, p in fields.items() if groups[h][0].method == groups[g][0].method]
        differs += sorted(k for k in f if k.startswith("config.") and len({p.get(k) for p in same_method}) > 1)
        labels[g] = ", ".join(f"{k.split('.', 1)[-1]}={get_text(f.get(k))}" for k in differs)
    return labels


def get_mode(values: list):
    """The value more than half of ``values`` share, else a marker no value equals (all differ)."""
    value, count = Counter(values).most_common(1)[0]
    return value if count * 2 > len(values) else object()


def get_text(value: str | None) -> str:
    """A field's JSON text for a label: strings unquoted, absent as "—"."""
    if value is None:
        return "—"
    loaded = json.loads(value)
    if loaded == "":
        return "off"
    return loaded if isinstance(loaded, str) else value
