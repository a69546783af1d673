"""The verdict at the top of a report: "which method, and at what cost?", like with like.

A verdict block is one comparison: runs that share the dataset, model, hardware, tier, number
of ranks and every field of the data protocol. Inside it, each method variant (the id's
variant, other train settings or method config) is its own entry, labelled by what differs.
Each entry is compared with LoRA of the same variant (else plain LoRA) in words, e.g.
"qlora: accuracy ≈ LoRA (within noise); step time p50 1.50× LoRA; GPU peak memory 0.46× LoRA".
A difference inside the noise (``reports.noise``) is said to be one, never stated as a ratio.

Shown: the Pareto front of quality, step time and memory (an entry is off it when another is
no worse on every axis and better beyond the noise on one), plus the entries whose quality
interval overlaps the best one; the rest are named in one line. At many entries the lines are
grouped by method family. Each block states its basis in one line (seeds, tier, machine load).
Reads result rows and the data files of ``reports.knowledge`` only.
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field

from reports import fmt, knowledge, noise, protocols, ranks
from reports.labels import REFERENCE, get_base, get_reference as get_reference_name
from reports.load import Row

COST_ONLY = "random-init (cost only)"
# quality metric -> (higher is better, unit of a difference, scale of a difference)
QUALITY_AXES = {"accuracy": (True, "pt", 100.0), "perplexity": (False, "ppl", 1.0)}
# From this many entries in one block, lines are grouped by method family.
GROUP_FROM = 8
TIER_BASIS = {"tiny": "tiny tier (smoke: timings not comparable)",
              "scale": "scale tier (random-init shapes: cost only)"}
GPU_BUSY_BYTES = 500 * 2**20


@dataclass
class Line:
    """One entry's verdict.

    Args:
        label: the method, and its variant where it has one (unique in the block).
        family: its method family (``reports/families.json``).
        text: the comparison in words.
        front: whether it is on the Pareto front.
        why: why a line off the front is shown ("" on the front).
    """

    label: str
    family: str
    text: str
    front: bool = True
    why: str = ""


@dataclass
class Verdict:
    """One like-with-like comparison.

    Args:
        dataset: the dataset.
        scope: what its runs share (model, hardware, tier, ranks; the protocol where it differs).
        basis: how sure, in one line (seeds, tier, machine load).
        lines: the shown entries: the front and those whose quality overlaps the best.
        others: entries off the front and below the best quality (without quality: off the front), named.
        cost_only: no quality was measured (random-init shapes).
        left_out: entries that did not finish (with their status), e.g. "full_ft (oom)".
        grouped: (family, lines) in order when the block has many entries, else [].
    """

    dataset: str
    scope: str
    basis: str = ""
    lines: list = field(default_factory=list)
    others: list = field(default_factory=list)
    left_out: list = field(default_factory=list)
    grouped: list = field(default_factory=list)
    cost_only: bool = False


def is_cost_only(row: Row) -> bool:
    """True for a random-init model's run: its loss is no quality."""
    return row.extra.get("weights") == COST_ONLY or (row.extra.get("protocol") or {}).get("weights") == COST_ONLY


def get_device(row: Row) -> str:
    """The GPU a run's file names (its machine_info), "" on the CPU or where none is named."""
    return str(row.source.machine_info.get("gpu") or "") if row.hardware == "gpu" else ""


def get_scope_key(row: Row) -> tuple:
    """What a comparison shares: dataset, model, hardware, tier, ranks, the data protocol and the GPU
    (step times and memory from two GPU models are not compared)."""
    return (row.dataset, row.model, row.hardware, row.tier, ranks.get_world_size(row.extra), protocols.get_data_key(row),
            get_device(row))


def get_entry_key(row: Row) -> tuple:
    """What makes an entry: the method, its variant, its settings and its config."""
    fields = protocols.get_fields(row)
    rest = {k: v for k, v in fields.items() if k.startswith(("settings.", "config.")) and v != "null"}
    return (row.method, json.dumps(rest, sort_keys=True))  # the method carries its variant: "lora+gc"


def get_plainness(key: tuple) -> tuple:
    """Sort key of entries: the one that set the fewest settings and config fields (the defaults) first."""
    return len(json.loads(key[1])), key[1]


def get_plain_runs(rows: list[Row]) -> list[Row]:
    """Of one method's runs, those of its plainest entry (``get_plainness``): a LoRA run with
    ``eval_every`` set is not a second seed of plain LoRA."""
    entries = defaultdict(list)
    for r in rows:
        entries[get_entry_key(r)].append(r)
    return entries[min(entries, key=get_plainness)] if entries else []


def get_entry_labels(entries: dict) -> dict:
    """entry key -> "method" (with its variant, "lora+gc"), and "[what differs]" where one method
    ran in several settings or configs here."""
    labels = {}
    for key in entries:
        label, rest = key
        same = [k for k in entries if k[0] == key[0]]
        if len(same) > 1:
            mine = json.loads(rest)
            others = [json.loads(k[1]) for k in same if k != key]
            label += f" [{protocols.get_diff_text(mine, others)}]"
        labels[key] = label
    return labels


def get_metric(rows: list[Row]) -> str | None:
    """The quality axis: None for cost-only runs, else accuracy or perplexity, whichever was measured."""
    if all(is_cost_only(r) for r in rows):
        return None
    for metric in QUALITY_AXES:
        if any(fmt.is_num(r.extra.get(metric)) for r in rows):
            return metric
    return None


def get_point(rows: list[Row], metric: str | None) -> dict:
    """Quality (with its interval), step time and memory of one entry, each with its noise."""
    interval = noise.get_quality_interval(rows, metric) if metric else None
    values = [r.extra[metric] for r in rows if metric and r.measured and fmt.is_num(r.extra.get(metric))]
    return {
        "quality": noise.Measure(sum(values) / len(values), noise.get_noise(interval)) if values else None,
        "interval": interval,
        "time": noise.get_step_time(rows),
        "memory": noise.get_memory(rows),
    }


def compare(a, b, higher: bool) -> int:
    """+1 where ``a`` is better than ``b`` beyond the noise, -1 where worse, 0 within it or unknown."""
    if a is None or b is None or not noise.is_apart(a.value, a.noise, b.value, b.noise):
        return 0
    return 1 if (a.value > b.value) == higher else -1


def dominates(a: dict, b: dict, higher: bool) -> bool:
    """``a`` no worse than ``b`` on every axis and better beyond the noise on one."""
    results = [compare(a["quality"], b["quality"], higher), compare(a["time"], b["time"], False),
               compare(a["memory"], b["memory"], False)]
    return min(results) >= 0 and max(results) > 0


def get_front(points: dict, higher: bool) -> list:
    """The entries no other entry dominates."""
    return [m for m, p in points.items() if not any(dominates(q, p, higher) for n, q in points.items() if n != m)]


def get_near_best(points: dict, higher: bool) -> set:
    """Entries whose quality interval overlaps the best entry's (all of them without quality)."""
    rated = {k: p for k, p in points.items() if p["quality"] is not None}
    if not rated:
        return set()
    best = (max if higher else min)(rated.values(), key=lambda p: p["quality"].value)["quality"]
    return {k for k, p in rated.items() if compare(p["quality"], best, higher) == 0}


def get_ratio_text(name: str, point, ref, ref_name: str = "LoRA") -> str | None:
    """"step time p50 1.50× LoRA", or "≈ LoRA (within noise)"; None where either is missing."""
    if point is None or ref is None or not ref.value:
        return None
    if not noise.is_apart(point.value, point.noise, ref.value, ref.noise):
        return f"{name} ≈ {ref_name} (within noise)"
    ratio = point.value / ref.value
    digits = 2 if f"{ratio:.2f}" != "1.00" else 3  # apart, yet "1.00×" would read as equal
    return f"{name} {ratio:.{digits}f}× {ref_name}"


def get_quality_text(metric: str, point, ref, ref_name: str = "LoRA") -> str | None:
    """"accuracy 9.0 pt better than LoRA", "perplexity 2.75 ppl worse than LoRA", or within noise."""
    if point is None or ref is None:
        return None
    higher, unit, scale = QUALITY_AXES[metric]
    side = compare(point, ref, higher)
    if side == 0:
        return f"{metric} ≈ {ref_name} (within noise)"
    diff = abs(point.value - ref.value) * scale
    amount = f"{diff:.1f} pt" if unit == "pt" else f"{diff:.2f} {unit}"
    return f"{metric} {amount} {'better' if side > 0 else 'worse'} than {ref_name}"


def get_absolute(metric: str | None, point: dict, memory_kind: str) -> list[str]:
    """The reference's own numbers (or any entry's where there is no LoRA to compare with)."""
    parts = []
    if metric and point["quality"] is not None:
        scale = QUALITY_AXES[metric][2]
        interval = point["interval"]
        text = f"{metric} {point['quality'].value * scale:.2f}"
        if interval is not None:
            text += f" (95% CI {interval.low * scale:.2f}–{interval.high * scale:.2f})"
        parts.append(text)
    if point["time"] is not None:
        spread = f" ± {fmt.get_ms(point['time'].noise)}" if point["time"].noise else ""
        parts.append(f"{noise.TIME_LABEL} {fmt.get_ms(point['time'].value)}{spread} ms")
    if point["memory"] is not None:
        parts.append(f"{memory_kind} {fmt.get_mib(point['memory'].value)} MiB")
    return parts


def get_line_text(label: str, point: dict, ref: dict | None, *, metric, memory_kind, is_ref, known,
                  ref_name: str = "LoRA") -> str:
    """One entry's comparison in words, against ``ref`` (named ``ref_name``: "LoRA", "lora+gc")."""
    if is_ref:
        parts = ["the reference", *get_absolute(metric, point, memory_kind)]
    elif ref is None:
        parts = ["no LoRA run to compare with", *get_absolute(metric, point, memory_kind)]
    else:
        parts = [get_quality_text(metric, point["quality"], ref["quality"], ref_name) if metric else None,
                 get_ratio_text(noise.TIME_LABEL, point["time"], ref["time"], ref_name),
                 get_ratio_text(memory_kind, point["memory"], ref["memory"], ref_name)]
        parts = join_within_noise([p for p in parts if p], ref_name)
    if metric is None:
        parts.append(f"cost only; {known}" if known else "cost only (no quality measured)")
    return f"{label}: {'; '.join(p for p in parts if p)}"


def join_within_noise(parts: list[str], ref_name: str) -> list[str]:
    """Say "≈ LoRA (within noise)" once: "accuracy, step time p50 and memory ≈ LoRA (within noise)"."""
    suffix = f" ≈ {ref_name} (within noise)"
    near = [p.removesuffix(suffix) for p in parts if p.endswith(suffix)]
    if len(near) < 2:
        return parts
    return [f"{', '.join(near[:-1])} and {near[-1]}{suffix}", *(p for p in parts if not p.endswith(suffix))]


def get_seeds_text(entries: dict) -> str:
    """"1 seed (seed 0)", "3 seeds (0, 1, 2)", or "1–3 seeds per method (0, 1, 2)"."""
    per = [sorted({r.seed for r in rows if r.seed is not None}) for rows in entries.values()]
    counts = sorted({len(s) for s in per})
    seeds = sorted({s for p in per for s in p})
    listed = ", ".join(map(str, seeds)) or "unknown"
    if len(counts) > 1:
        return f"{counts[0]}–{counts[-1]} seeds per method ({listed})"
    n = counts[0] if counts else 0
    if n == 1:
        return f"1 seed (seed {listed})" if len(seeds) == 1 else f"1 seed per method (seeds {listed})"
    return f"{n} seeds ({listed})"


def get_machine_text(rows: list[Row]) -> str:
    """The machine's load: the CPU's 1-minute load average (recorded at each case's start and end)
    above its cores (plus a multi-rank case's other ranks) means other processes shared it; on a
    GPU, other processes' memory on it."""
    if any(r.hardware == "gpu" for r in rows):
        held = [v for r in rows if fmt.is_num(v := r.extra.get("gpu_other_processes_bytes"))]
        if not held:
            return "GPU sharing not recorded"
        most = max(held)
        return (f"GPU shared with other processes ({most / 2**30:.1f} GiB held)" if most > GPU_BUSY_BYTES
                else "GPU not shared")
    loads = [v for r in rows for k in ("load_average_start", "load_average_end") if fmt.is_num(v := r.extra.get(k))]
    cores = next((c for r in rows if fmt.is_num(c := r.source.machine_info.get("cpu_count"))), None)
    if not loads:
        return "CPU load not recorded"
    on = f" on {cores} cores" if cores else ""
    own = max(ranks.get_world_size(r.extra) for r in rows)  # a case's own ranks are runnable processes too
    if cores and max(loads) > cores + own - 1:
        return f"CPU shared with other processes (load {max(loads):.1f}{on})"
    return f"CPU load ≤ {max(loads):.1f}{on}"


def get_basis(entries: dict, tier: str) -> str:
    """How sure a block is, in one line: seeds, tier, the machine's load."""
    rows = [r for rs in entries.values() for r in rs]
    return " · ".join([get_seeds_text(entries), TIER_BASIS.get(tier, f"{tier} tier"), get_machine_text(rows)])


def get_reference(key: tuple, entries: dict):
    """The entry a run is compared with: LoRA of the matching variant (``reports.labels.get_reference``),
    else plain LoRA; where that ran in several settings, the one that set the fewest (the defaults:
    LoRA with ``eval_every`` set is a variant of LoRA, not its reference); else None."""
    name = get_reference_name(key[0], {k[0] for k in entries})
    for candidate in dict.fromkeys([name, REFERENCE]):
        found = sorted((k for k in entries if k[0] == candidate), key=get_plainness)
        if found:
            return found[0]
    return None


def make_verdict(dataset: str, scope: str, entries: dict) -> Verdict:
    """The verdict of one comparison: ``entries`` maps entry key -> runs."""
    labels = get_entry_labels(entries)
    first = next(iter(entries.values()))[0]
    verdict = Verdict(dataset, scope, basis=get_basis(entries, first.tier))
    measured = {k: [r for r in rs if r.measured] for k, rs in entries.items()}
    verdict.left_out = sorted(f"{labels[k]} ({', '.join(sorted({r.status for r in rs}))})"
                              for k, rs in entries.items() if not measured[k])
    done = {k: rs for k, rs in measured.items() if rs}
    if not done:
        return verdict
    metric = get_metric([r for rs in done.values() for r in rs])
    verdict.cost_only = metric is None
    higher = QUALITY_AXES[metric][0] if metric else True
    memory_kind = noise.get_memory_kind([r for rs in done.values() for r in rs])
    points = {k: get_point(rs, metric) for k, rs in done.items()}
    front = set(get_front(points, higher))
    shown = front | get_near_best(points, higher)
    refs = {k: get_reference(k, points) for k in points}
    shown |= {r for r in refs.values() if r is not None}

    def order(k):
        time = points[k]["time"]
        return (get_base(k[0]) != REFERENCE, time.value if time else float("inf"), labels[k])

    for k in sorted(shown, key=order):
        ref = refs[k]
        text = get_line_text(labels[k], points[k], points.get(ref) if ref else None, metric=metric,
                             memory_kind=memory_kind, is_ref=ref == k,
                             known=knowledge.get_known_quality(k[0], dataset),
                             ref_name="LoRA" if ref is None or labels[ref] == REFERENCE else labels[ref])
        why = "" if k in front else "off the front: the reference" if ref == k else \
            "off the front: its quality interval overlaps the best one"
        verdict.lines.append(Line(labels[k], knowledge.get_family(done[k][0]), text, front=k in front, why=why))
    verdict.others = sorted(labels[k] for k in points if k not in shown)
    if len(entries) >= GROUP_FROM:
        families: dict = defaultdict(list)
        for line in verdict.lines:
            families[line.family].append(line)
        lead = {knowledge.get_family(done[k][0]) for k in shown if get_base(k[0]) == REFERENCE}  # first
        verdict.grouped = sorted(families.items(), key=lambda kv: (kv[0] not in lead, kv[0] == knowledge.OTHER, kv[0]))
    return verdict


def get_scope_labels(scopes: list[tuple]) -> dict:
    """scope key -> "model · hardware[ (GPU)] · tier[ · N ranks][ · what differs in the data protocol]";
    the GPU is named where another scope differs from this one only in its GPU."""
    out = {}
    for key in scopes:
        dataset, model, hardware, tier, world, data, device = key
        other_gpu = any(k[:6] == key[:6] and k[6] != device for k in scopes)
        named = f"{hardware} ({device})" if other_gpu and device else hardware
        parts = [model, named, tier] + ([f"{world} ranks"] if world > 1 else [])
        same = [json.loads(k[5]) for k in scopes if k[:5] == key[:5] and k[6] == device and k != key]
        if same:
            parts.append(protocols.get_diff_text(json.loads(data), same))
        out[key] = " · ".join(parts)
    return out


def get_size(rows: list[Row]):
    return next((p for r in rows if (p := (r.extra.get("protocol") or {}).get("model_params"))), 0)


def get_verdicts(rows: list[Row]) -> list[Verdict]:
    """One verdict per comparison, datasets in name order, then tier, hardware, model size, ranks."""
    scopes: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        scopes[get_scope_key(r)][get_entry_key(r)].append(r)
    labels = get_scope_labels(list(scopes))

    def order(key):
        members = [r for rs in scopes[key].values() for r in rs]
        return (key[0], key[3], key[2], get_size(members), key[1], key[4], labels[key])

    return [make_verdict(key[0], labels[key], scopes[key]) for key in sorted(scopes, key=order)]
