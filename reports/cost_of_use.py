"""The "cost of use" section: what a fine-tuned model costs to run and to make, per dataset.

Per method group (method, model, hardware, tier and protocol, as in the summary tables; means
over seeds): quality; inference latency with the adapter off (base: peft's wrappers still in the
path), removed (plain base, peft's ``unload``), on (unmerged) and merged, the unmerged overhead
against the base and the merged one against the plain base (timed interleaved with it; results
without a plain base, older ones or those with ``base_plain_reason``, give it against the base,
marked with a dagger), and whether the merged logits matched; decoding tokens/s at batch 1 and
8; GPU energy for training and per inference batch; time to the floor beside the step time;
forgetting. A plot of quality against wall time from the runs with ``eval_every``. Then a short
list checking the literature's claims against this run (LoRA and HiRA add no latency once
merged; what QLoRA's merge costs in quality).

Reads result rows only (``extra`` keys written by ``fixtures.run.cost_of_use``,
``fixtures.run.energy`` and ``fixtures.training.quality_curve``).
"""

from collections import defaultdict
from dataclasses import dataclass, field

from reports import fmt, noise, plots, protocols
from reports.labels import REFERENCE, get_base
from reports.load import Row
from reports.model import Plot

plt = plots.plt
COLUMNS = [
    "method", "model", "hardware / tier", "quality", "base ms", "plain base ms", "unmerged ms", "merged ms",
    "unmerged +%",
    "merged +%", "merged = unmerged", "decode tok/s b1 (unm. / merged)", "decode tok/s b8 (unm. / merged)",
    "train J", "J / 1k train tokens", "inference J / batch", "time to floor (s, step)", "step ms", "forgetting",
]
TEXT_COLUMNS = ("merged = unmerged", "time to floor (s, step)")  # sentences: wrapped, not one long line
CLAIMS = {  # method -> what its paper (or the project's founding report) says about merged inference
    "lora": "LoRA: \"no additional inference latency\" once merged (Hu et al., 2022)",
    "hira": "HiRA: \"seamless merging with zero inference overhead\"",
}


@dataclass
class CostSection:
    """One dataset's cost of use.

    Args:
        dataset: the dataset key.
        columns: table header.
        rows: table rows (lists of text).
        notes: how to read it, and reasons for empty cells.
        plots: quality against wall time (runs with eval_every).
        title: the heading: the dataset, and the model and hardware / tier where every row shares them.
    """

    dataset: str
    columns: list
    rows: list
    notes: list = field(default_factory=list)
    plots: list = field(default_factory=list)
    title: str = ""
    text_columns: tuple = TEXT_COLUMNS


@dataclass
class CostOfUse:
    """The section: per-dataset tables and the claims checked.

    Args:
        sections: one CostSection per dataset with cost-of-use records.
        claims: one line per literature claim checked against these runs.
    """

    sections: list
    claims: list


def mean(rows: list[Row], key: str):
    values = [r.extra[key] for r in rows if fmt.is_num(r.extra.get(key))]
    return sum(values) / len(values) if values else None


def get_quality(rows: list[Row]) -> tuple[str, float | None]:
    """The quality a reader knows (accuracy, else perplexity), else the floor's own metric."""
    for metric in ("accuracy", "perplexity", rows[0].extra.get("floor_metric") or "accuracy"):
        if (value := mean(rows, metric)) is not None:
            return metric, value
    return metric, None


def get_merge_cell(rows: list[Row]) -> str:
    """"yes (max |diff| 3e-06 <= 4e-04)", "NO (...)", the reason it cannot merge, or the merge error."""
    for key in ("merge_error", "merge_unsupported_reason", "cost_of_use_error"):
        reasons = {r.extra[key] for r in rows if r.extra.get(key)}
        if reasons:
            prefix = "merge failed: " if key == "merge_error" else "not merged: " if key == "merge_unsupported_reason" else ""
            return prefix + "; ".join(sorted(reasons))
    runs = [r for r in rows if isinstance(r.extra.get("merged_logits_equal"), bool)]
    if not runs:
        return fmt.DASH
    worst = max(runs, key=lambda r: r.extra["merged_max_abs_diff"])
    ok = all(r.extra["merged_logits_equal"] for r in runs)
    return (f"{'yes' if ok else 'NO'} (max |diff| {fmt.get_number(worst.extra['merged_max_abs_diff'], 2)} "
            f"{'<=' if ok else '>'} {fmt.get_number(worst.extra['merged_tolerance'], 2)}, {worst.extra['merged_dtype']})")


def get_pair(rows: list[Row], first: str, second: str) -> str:
    a, b = mean(rows, first), mean(rows, second)
    return f"{fmt.get_number(a, 4)} / {fmt.get_number(b, 4)}" if a is not None or b is not None else fmt.DASH


def get_energy_cell(rows: list[Row], key: str, digits: int = 4) -> str:
    """The mean, or a dash (the reasons it is missing go to the section's notes, see get_missing_reasons)."""
    value = mean(rows, key)
    return f"{value:,.0f}" if fmt.is_num(value) and value >= 100 else fmt.get_number(value, digits)


# what a dash stands for -> the keys that hold why, each with its label in the note
MISSING = {
    "Plain base": {"base_plain_reason": ""},
    "Energy": {"train_joules_reason": "train: ", "inference_joules_reason": "inference: "},
    "Forgetting": {"forgetting_reason": "", "forgetting_error": "error: "},
}


def get_missing_reasons(rows: list[Row]) -> list[str]:
    """Why energy or forgetting is missing, each reason once, with how many runs it applies to."""
    notes = []
    for what, keys in MISSING.items():
        reasons: dict = defaultdict(int)
        for r in rows:
            for key, label in keys.items():
                if r.extra.get(key):
                    reasons[f"{label}{r.extra[key]}"] += 1
        notes += [f"{what} not measured ({reason}): {n} run(s)." for reason, n in sorted(reasons.items())]
    return notes


def get_floor_cell(rows: list[Row]) -> str:
    curved = [r for r in rows if r.extra.get("quality_curve")]
    if not curved:
        return fmt.DASH
    met = [r for r in curved if fmt.is_num(r.extra.get("floor_met_wall_seconds"))]
    if not met:
        return "not met while training"
    steps = sorted({r.extra["floor_met_step"] for r in met})
    late = f"; {len(curved) - len(met)} of {len(curved)} never" if len(met) < len(curved) else ""
    return f"{fmt.get_seconds(mean(met, 'floor_met_wall_seconds'))} s, step {'/'.join(map(str, steps))}{late}"


def get_forgetting_cell(rows: list[Row]) -> str:
    """"+0.068 (3.41 → 3.48)": the change and the two losses; a dash (why: the section's notes)."""
    value = mean(rows, "forgetting")
    if value is None:
        return fmt.DASH
    return (f"{value:+.3f} ({fmt.get_number(mean(rows, 'forgetting_loss_base'), 3)} → "
            f"{fmt.get_number(mean(rows, 'forgetting_loss_trained'), 3)})")


def get_percent(value) -> str:
    return f"{value:+.1f}" if fmt.is_num(value) else fmt.DASH


WRAPPED_MARK = "†"  # a merged overhead against the base with its adapter switched off, timed apart


def has_plain_base(row: Row) -> bool:
    return fmt.is_num(row.extra.get("inference_seconds_base_plain"))


def get_merged_overheads(rows: list[Row]) -> tuple[list[float], bool]:
    """The runs' ``merged_overhead_percent`` against the plain base, and True; where no run had a
    plain base (older results, or ``base_plain_reason``), theirs against the wrapped base, and False."""
    plain = [r.extra["merged_overhead_percent"] for r in rows
             if has_plain_base(r) and fmt.is_num(r.extra.get("merged_overhead_percent"))]
    if plain:
        return plain, True
    return [v for r in rows if fmt.is_num(v := r.extra.get("merged_overhead_percent"))], False


def get_merged_percent_cell(rows: list[Row]) -> str:
    """"+0.3" (mean against the plain base), "+2.0 †" (against the wrapped base), or a dash."""
    values, plain = get_merged_overheads(rows)
    if not values:
        return fmt.DASH
    return get_percent(sum(values) / len(values)) + ("" if plain else f" {WRAPPED_MARK}")


def make_row(rows: list[Row], label: str = "") -> list[str]:
    """One group's cells; ``label`` names what sets its protocol apart from its peers' (as in the
    summary tables: "eval_every=25")."""
    first = rows[0]
    metric, quality = get_quality(rows)
    return [
        plots.get_label(rows, False, label), first.model, f"{first.hardware} / {first.tier}",
        f"{metric} {fmt.get_number(quality, 4)}",
        fmt.get_ms(mean(rows, "inference_seconds_base")), fmt.get_ms(mean(rows, "inference_seconds_base_plain")),
        fmt.get_ms(mean(rows, "inference_seconds_unmerged")), fmt.get_ms(mean(rows, "inference_seconds_merged")),
        get_percent(mean(rows, "unmerged_overhead_percent")), get_merged_percent_cell(rows),
        get_merge_cell(rows),
        get_pair(rows, "decode_unmerged_b1_tokens_per_second", "decode_merged_b1_tokens_per_second"),
        get_pair(rows, "decode_unmerged_b8_tokens_per_second", "decode_merged_b8_tokens_per_second"),
        get_energy_cell(rows, "train_joules"), get_energy_cell(rows, "train_joules_per_1k_tokens"),
        get_energy_cell(rows, "inference_joules_per_batch"),
        get_floor_cell(rows), fmt.get_ms(mean(rows, "steady_step_seconds")), get_forgetting_cell(rows),
    ]


def make_curve_plot(groups: list[list[Row]], *, name: str, names: list[str] | None = None) -> Plot | None:
    """Quality against wall time (evaluations included) per group, one line per seed; ``names``
    are the groups' table names ("lora [eval_every=25]"), else their method."""
    series = [(rows, r) for rows in groups for r in rows if r.extra.get("quality_curve")]
    if not series:
        return None
    metric = series[0][1].extra.get("quality_curve_metric") or "accuracy"
    with plt.rc_context(plots.RC):
        fig, ax = plt.subplots(figsize=(5.6, 3.2))
        for i, rows in enumerate(groups):
            color = plots.COLORS[i % len(plots.COLORS)]
            labelled = False
            for r in rows:
                points = [(p["wall_seconds"], p[metric]) for p in r.extra.get("quality_curve") or []
                          if fmt.is_num(p.get("wall_seconds")) and fmt.is_num(p.get(metric))]
                if points:
                    label = None if labelled else f"{names[i] if names else r.method} ({r.model})"
                    labelled = True
                    ax.plot(*zip(*points), marker="o", markersize=3, color=color, linewidth=1.2, label=label)
        floor = series[0][1].extra.get("floor_value")
        if fmt.is_num(floor):
            ax.axhline(floor, color="0.4", linestyle="--", linewidth=1, label="floor")
        ax.set_xlabel("Wall time since the start of training (s)")
        ax.set_ylabel(metric)
        ax.legend(**plots.LEGEND)
        ax.grid(alpha=0.3)
        svg = plots.get_svg(fig, name)
    return Plot(title=f"{metric} vs wall time", svg=svg,
                caption="Held-out metric every eval_every steps; wall time includes the evaluations. "
                        "The dashed line is the case's floor.")


def get_mean_and_spread(values: list[float]) -> tuple[float, float, bool]:
    """(mean, 95% half-width over the runs, whether several runs spread at least as wide as their mean)."""
    m = sum(values) / len(values)
    half = noise.get_spread(values)
    return m, half, len(values) > 1 and half >= abs(m)


def get_overhead_text(values: list[float], base: str = "the base model") -> str:
    """Latency over the base model in words: "2.0% slower than the base model", "5.6% faster", or,
    where several runs spread wider than their mean, "within noise of the base model (-5.6% ± 9.1)"."""
    if not values:
        return fmt.DASH
    m, half, within = get_mean_and_spread(values)
    if within:
        return f"within noise of {base} ({m:+.1f}% ± {half:.1f}, 95% over {len(values)} runs)"
    return f"{abs(m):.1f}% {'slower' if m > 0 else 'faster'} than {base}" if m else f"as fast as {base}"


WRAPPED_BASE = "the base model with its adapter switched off, timed apart"


def get_loss_text(points: list[float]) -> str:
    """"loses 2.00 accuracy points", "gains 0.50 accuracy points" or "loses no accuracy" (mean), or,
    where several runs spread wider than their mean, "changes accuracy within noise (-0.29 ± 0.80 points)"."""
    m, half, within = get_mean_and_spread(points)
    if abs(m) < 0.005:
        return "loses no accuracy"
    if within:
        return f"changes accuracy within noise ({-m:+.2f} ± {half:.2f} points, 95% over {len(points)} runs)"
    return f"{'loses' if m > 0 else 'gains'} {abs(m):.2f} accuracy points"


def get_setup(row: Row) -> str:
    return f"{row.dataset}/{row.model}/{row.hardware}"


def get_claims(rows: list[Row]) -> list[str]:
    """One line per claim, from the runs that measured it: per setup (dataset, model, hardware),
    the mean over its runs (seeds); setups are not pooled, as their latencies differ in kind."""
    lines = []
    for method, claim in CLAIMS.items():
        runs = [r for r in rows if get_base(r.method) == method  # any variant: lora+tuned merges as LoRA
                and fmt.is_num(r.extra.get("merged_overhead_percent"))]
        if not runs:
            lines.append(f"{claim}: not measured in this run.")
            continue
        _, plain = get_merged_overheads(runs)
        runs = [r for r in runs if has_plain_base(r) is plain]  # the runs the merged text is about
        base = "the base model" if plain else WRAPPED_BASE
        parts = []
        for setup in sorted({get_setup(r) for r in runs}):
            group = [r for r in runs if get_setup(r) == setup]
            merged = get_overhead_text([r.extra["merged_overhead_percent"] for r in group], base)
            unmerged = get_overhead_text([v for r in group if fmt.is_num(v := r.extra.get("unmerged_overhead_percent"))])
            parts.append(f"{setup}: merged, {merged} (unmerged, {unmerged}), {len(group)} run(s)")
        lines.append(f"{claim}: " + "; ".join(parts) + ".")
    runs = [r for r in rows if get_base(r.method) == "qlora"
            and fmt.is_num(r.extra.get("merge_requant_4bit_accuracy")) and fmt.is_num(r.extra.get("accuracy"))]
    if runs:
        lost = [100 * (r.extra["accuracy"] - r.extra["merge_requant_4bit_accuracy"]) for r in runs]
        dequant = [100 * (r.extra["accuracy"] - r.extra["merge_dequant_bf16_accuracy"]) for r in runs
                   if fmt.is_num(r.extra.get("merge_dequant_bf16_accuracy"))]
        lines.append(f"QLoRA merged and re-quantised to 4-bit {get_loss_text(lost)} against the unmerged adapter "
                     f"(de-quantised bf16 merge: {get_loss_text(dequant) if dequant else fmt.DASH}), "
                     f"mean of {len(runs)} run(s): "
                     f"{', '.join(sorted({get_setup(r) for r in runs}))}.")
    else:
        lines.append("QLoRA merged and re-quantised: not measured in this run.")
    return lines


def get_shown_columns(dataset: str, columns: list, rows: list) -> tuple[str, list, list]:
    """Leave out the columns with nothing measured in any row (a dash in each), and the model and
    hardware / tier columns where every row shares them: those go into the title."""
    same = [i for i in (1, 2) if len({row[i] for row in rows}) == 1]
    keep = [i for i in range(len(columns))
            if i == 0 or (i not in same and any(row[i] != fmt.DASH for row in rows))]
    title = " · ".join([dataset, *(rows[0][i] for i in same)])
    return title, [columns[i] for i in keep], [[row[i] for i in keep] for row in rows]


def make_cost_of_use(rows: list[Row], *, with_plots: bool = True) -> CostOfUse | None:
    """The section, or None when no run recorded its cost of use."""
    rows = [r for r in rows if r.measured and ("inference_seconds_unmerged" in r.extra or "quality_curve" in r.extra)]
    if not rows:
        return None
    by_dataset: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:  # seeds of one cell, as in the summary tables: runs of another protocol are another row
        by_dataset[r.dataset][(*r.group, protocols.get_key(r))].append(r)
    sections = []
    for dataset in sorted(by_dataset):
        labels = protocols.get_labels(by_dataset[dataset])
        keys = sorted(by_dataset[dataset], key=lambda g: (get_base(g[1]) != REFERENCE, g[1:]))
        groups = [by_dataset[dataset][g] for g in keys]
        cells = [make_row(g, labels[k]) for k, g in zip(keys, groups)]
        title, columns, table = get_shown_columns(dataset, COLUMNS, cells)
        section = CostSection(dataset, columns, table, title=title, notes=[
            "Latency: median seconds per inference batch; base = the adapter switched off (peft's wrappers still "
            "in the path), timed interleaved with unmerged; plain base = the adapter removed (peft unload), timed "
            "interleaved with merged. Unmerged +% against the base, merged +% against the plain base "
            f"({WRAPPED_MARK}: against the base, timed apart, where a run had no plain base).",
            "Energy: NVML's whole-GPU counter (other processes count too); a dash with a reason where it was not "
            "measurable (no GPU, or a phase shorter than the counter's refresh).",
            "Forgetting: loss on held-out general text after training minus with the adapter off (nats per token; "
            "positive = forgot), then the two losses.",
        ] + get_missing_reasons([r for g in groups for r in g]))
        if with_plots:
            plot = make_curve_plot(groups, name=f"{dataset}-quality-time", names=[row[0] for row in table])
            section.plots = [plot] if plot else []
        sections.append(section)
    return CostOfUse(sections, get_claims(rows))
