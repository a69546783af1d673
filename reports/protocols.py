"""Which runs are seeds of one cell: the same protocol in everything but the seed.

Two runs of a method on a dataset are merged (mean, interval, tests over seeds) only when
their model, evaluation protocol (data limits, splits, max length, ...), train settings and
method config agree. Runs that differ become separate rows, labelled by what differs.
"""

import json

from reports.load import Row

# extra_info parts that define a protocol; the seed is the one thing allowed to vary
PARTS = ("protocol", "settings", "config")
# Settings that control the run, not its numbers: a run that finished inside its time limit is
# the same run under any limit (one stopped by it is a failure, listed as such).
RUN_CONTROLS = ("settings.time_limit_s",)


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


def get_labels(groups: dict) -> dict:
    """group key -> "what differs" text ("" where the dataset has one protocol per method row).

    Data and settings keys that differ anywhere in the dataset label every row; config keys
    only where the same method ran with more than one config."""
    rows = [members[0] for members in groups.values()]
    fields = {g: get_fields(members[0]) for g, members in groups.items()}
    shared = {k for f in fields.values() for k in f if not k.startswith("config.")}
    differs = sorted(k for k in shared if len({f.get(k) for f in fields.values()}) > 1)
    # a limit is both a setting and part of the data protocol: name it once
    differs = [k for k in differs if not (k.startswith("settings.") and f"protocol.{k[9:]}" in differs)]
    methods = {r.method for r in rows}
    config_differs = {m: sorted(k for k in {k for g, f in fields.items() if groups[g][0].method == m for k in f
                                            if k.startswith("config.")}
                                if len({f.get(k) for g, f in fields.items() if groups[g][0].method == m}) > 1)
                      for m in methods}
    labels = {}
    for g, f in fields.items():
        keys = differs + config_differs[groups[g][0].method]
        labels[g] = ", ".join(f"{k.split('.', 1)[-1]}={get_text(f.get(k))}" for k in keys)
    return labels


def get_text(value: str | None) -> str:
    """A field's JSON text for a label: strings unquoted, absent as "—"."""
    if value is None:
        return "—"
    loaded = json.loads(value)
    return loaded if isinstance(loaded, str) else value
