"""Rows -> ReportModel: per-dataset summaries with seed statistics, tests against LoRA, and plots."""

import json
from collections import defaultdict

from reports import fmt, noise, plots, protocols, provenance, ranks
from reports import labels as labels_
from reports.cells import get_scaled, make_quality_cell, make_step_cell, make_weight_sparsity_cell
from reports.cost_of_use import make_cost_of_use
from reports.frontier import make_frontier_section
from reports.load import Row
from reports.memory import get_case_rss
from reports.model import Cell, ClassTable, Column, DatasetSection, Failure, MethodRow, ReportModel
from reports.scale import make_scale_section
from reports.stats import mcnemar_test, summarize_values, welch_t_test
from reports.tuning import make_tuning_section
from reports.verdict import get_verdicts, is_cost_only

SHORT_TESTS = {
    "Welch's t-test": "Welch t",
    "McNemar's exact test": "McNemar exact",
    "McNemar's exact test (binomial)": "McNemar exact",
    "McNemar's chi-square test (continuity-corrected)": "McNemar χ² (cc)",
}
# metric -> (label, unit, better, scale): accuracy is shown in percent (so a "point" is 1%).
QUALITY = {
    "accuracy": ("Accuracy", "%", "high", 100.0),
    "perplexity": ("Perplexity", "", "low", 1.0),
    "perplexity_ratio": ("Perplexity ratio", "trained/untrained", "low", 1.0),
}


def get_quality_metric(rows: list[Row]) -> str:
    """The dataset's headline metric: accuracy for classification, perplexity for LM."""
    for metric in QUALITY:
        if any(fmt.is_num(r.extra.get(metric)) for r in rows):
            return metric
    return "accuracy"


def get_mean(rows: list[Row], get) -> float | None:
    s = summarize_values([v for v in map(get, rows) if fmt.is_num(v)])
    return None if s is None else s.mean


def is_higher_better(metric: str) -> bool:
    """Accuracy-like metrics (accuracy, accuracy_over_majority, f1, ...) are better high; perplexities low."""
    return metric.startswith("accuracy") or metric in ("f1", "precision", "recall")


def get_relative_floor(row: Row) -> str:
    """The relative floor of a --dataset case as text ("" for a case without one)."""
    e = row.extra
    if e.get("floor_source") == "majority":
        return "no reference run before it: majority-class floor only"
    if not fmt.is_num(e.get("floor_relative_accuracy")):
        return ""
    source = "LoRA" if e.get("floor_source") == "lora" else "best method run before it"
    return (f"accuracy ≥ {e['floor_relative_accuracy']:.4f} = {source} {e.get('floor_reference_case')} "
            f"{e.get('floor_reference_accuracy', 0):.4f} − margin {e.get('floor_margin')}")


def make_floor_cell(rows: list[Row]) -> Cell:
    passed = sum(r.status == "passed" for r in rows)
    statuses = defaultdict(int)
    for r in rows:
        statuses[r.status] += 1
    note = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    relative = "; ".join(dict.fromkeys(t for t in map(get_relative_floor, rows) if t))
    if relative:
        note = f"{relative}; {note}"
    floor = next((r for r in rows if r.extra.get("floor_metric")), None)
    if floor is not None:
        cmp = "≥" if is_higher_better(floor.extra["floor_metric"]) else "≤"
        note = f"floor {floor.extra['floor_metric']} {cmp} {floor.extra.get('floor_value')}; {note}"
    flag = "ok" if passed == len(rows) else "fail"
    return Cell(f"{passed}/{len(rows)} pass", passed / len(rows), note=note, flag=flag)


def make_params_cell(rows: list[Row]) -> Cell:
    count = get_mean(rows, lambda r: r.extra.get("trainable_params"))
    pct = get_mean(rows, lambda r: r.extra.get("trainable_percent"))
    total = get_mean(rows, lambda r: r.extra.get("total_params"))
    text = fmt.get_count(count) + (f" ({pct:.3g}%)" if fmt.is_num(pct) else "")
    return Cell(text, count, note=f"of {fmt.get_count(total)} total" if fmt.is_num(total) else "")


def make_compare_cell(rows: list[Row], ref: list[Row], metric: str) -> Cell:
    """Significance of this group's quality against the reference (LoRA) group."""
    ours = [r for r in rows if r.measured and fmt.is_num(r.extra.get(metric))]
    theirs = [r for r in ref if r.measured and fmt.is_num(r.extra.get(metric))]
    a, b = [r.extra[metric] for r in ours], [r.extra[metric] for r in theirs]
    if len(a) >= 2 and len(b) >= 2:
        res = welch_t_test(a, b)
    elif len(a) == 1 and len(b) == 1:
        pa, pb = ours[0].extra.get("predictions"), theirs[0].extra.get("predictions")
        labels, ref_labels = ours[0].extra.get("labels"), theirs[0].extra.get("labels")
        if not (pa and pb and labels and labels == ref_labels and len(pa) == len(pb) == len(labels)):
            return Cell("no test", note="1 seed each and no paired per-example predictions")
        res = mcnemar_test(pa, pb, labels)
    else:
        return Cell("no test", note=f"{len(a)} vs {len(b)} measured seeds: Welch's t-test needs ≥2 on both sides")
    return Cell(f"{fmt.get_p_value(res.p_value)} {SHORT_TESTS.get(res.test, res.test)}", res.p_value,
                note=f"{res.test}: {res.detail}",
                flag="sig" if res.p_value < 0.05 else "")


def get_columns(metric: str) -> list[Column]:
    label, unit, better, _ = QUALITY[metric]
    cols = [
        Column("quality", f"{label}{f' ({unit})' if unit else ''} (95% CI)", better),
        *([Column("f1", "Macro-F1 (%) (95% CI)", "high"), Column("zero_shot", "Zero-shot accuracy (%)", None)]
          if metric == "accuracy" else []),
        Column("floor", "Floor", None),
        Column("vs_ref", "vs LoRA (two-sided)", None),
        Column("params", "Trainable params (% of total)", "low"),
        Column("adapter", "Adapter size (KiB)", "low"),
        Column("train", "Train time (s)", "low"),
        Column("step", f"{noise.TIME_LABEL.capitalize()} (ms)", "low"),
        Column("rate", "Tokens/s (training, steady state)", "high"),
        Column("mfu", "MFU (% of bf16 peak)", "high"),
        Column("infer", "Inference p50 (ms / batch)", "low"),
        Column("gpu", "Peak GPU memory (MiB)", "low"),
        Column("rss", "CPU memory (MiB): the case's RSS increase", "low"),
        Column("rss_peak", "Process peak RSS (MiB, includes earlier cases)", None),
        Column("wsparse", "Weight sparsity (% adapter zeros)", None),
        Column("csparse", "Compute sparsity (% base FLOPs skipped)", None),
        *ranks.COLUMNS,
    ]
    return cols


def make_method_row(rows: list[Row], ref: list[Row] | None, metric: str) -> MethodRow:
    first = rows[0]
    seeds = sorted({r.seed for r in rows if r.seed is not None})
    step = noise.get_step_time(rows)
    memory = noise.get_memory(rows) if not fmt.is_num(first.peak_gpu) else None
    relative = step.noise / step.value if step and step.value else None  # a step time's noise, relative
    infer = get_mean(rows, lambda r: r.latency.get("median"))
    batch = next((r.extra.get("inference_batch_size") for r in rows if r.extra.get("inference_batch_size")), None)
    csparse = get_mean(rows, lambda r: r.extra.get("compute_sparsity"))
    if ref is None:
        vs = Cell("no LoRA run", note="no LoRA group with the same model, hardware, tier and protocol")
    elif ref is rows:
        vs = Cell("reference")
    elif all(map(is_cost_only, rows)):
        vs = Cell("cost only")
    else:
        vs = make_compare_cell(rows, ref, metric)
    cells = {
        "quality": make_quality_cell(rows, metric),
        "f1": make_quality_cell(rows, "f1"),
        "zero_shot": make_quality_cell(rows, "accuracy_zero_shot"),
        "floor": make_floor_cell(rows),
        "vs_ref": vs,
        "params": make_params_cell(rows),
        "adapter": Cell(fmt.get_kib(v := get_mean(rows, lambda r: r.extra.get("adapter_bytes"))), v),
        "train": Cell(fmt.get_seconds(v := get_mean(rows, lambda r: r.extra.get("train_seconds"))), v,
                      noise=get_scaled(v, relative),
                      note=f"{get_mean(rows, lambda r: r.extra.get('train_steps')) or 0:.0f} steps"),
        "step": make_step_cell(step),
        "rate": Cell(fmt.get_count(v := get_mean(rows, lambda r: r.extra.get("steady_tokens_per_second"))), v,
                     noise=get_scaled(v, relative),
                     note="input positions (padding included) per second after the warm-up steps"),
        "mfu": Cell(fmt.get_percent(v := get_mean(rows, lambda r: r.extra.get("mfu")), 2), v,
                    note="counted FLOPs of a step per second over the GPU's dense bf16 datasheet peak"),
        "infer": Cell(fmt.get_ms(infer), infer, note=f"batch size {batch}" if batch else "",
                      noise=get_mean(rows, lambda r: r.latency["iqr"] / 2 if fmt.is_num(r.latency.get("iqr")) else None)),
        "gpu": Cell(fmt.get_mib(v := get_mean(rows, lambda r: r.peak_gpu)), v),
        "rss": Cell(fmt.get_mib(v := get_mean(rows, get_case_rss)), v, noise=memory.noise if memory else None,
                    note="this case's own increase of the process's RSS"),
        "rss_peak": Cell(fmt.get_mib(v := get_mean(rows, lambda r: r.extra.get("peak_cpu_rss_bytes"))), v,
                         note="the process's peak so far: it includes every case run before this one"),
        "wsparse": make_weight_sparsity_cell(rows),
        "csparse": Cell(fmt.get_percent(csparse), csparse,
                        note=f"{get_mean(rows, lambda r: r.extra.get('dense_steps')) or 0:.0f} dense steps"
                        if fmt.is_num(csparse) else ""),
        **ranks.make_cells(rows),
    }
    count = f"{len(seeds)}" + (f" ({len(rows)} runs)" if len(rows) > len(seeds) else "") if seeds else "?"
    return MethodRow(first.method, first.model, first.hardware, first.tier, count, cells,
                     seed_ids="seeds " + ", ".join(map(str, seeds)) if seeds else "seeds unknown",
                     label=labels_.get_row_label(first))


# Without an interval, values closer than this (relative) are not told apart by a star.
BEST_TOLERANCE = 0.02


def is_apart(best: Cell, other: Cell) -> bool:
    """Whether ``best`` differs from ``other`` by more than their noise (``reports.noise.is_apart``)
    where either has one, else by more than BEST_TOLERANCE of the best value; equal shown text is
    never apart."""
    if best.text == other.text:
        return False
    if fmt.is_num(best.noise) or fmt.is_num(other.noise):
        return noise.is_apart(best.value, best.noise or 0.0, other.value, other.noise or 0.0)
    return abs(best.value - other.value) > BEST_TOLERANCE * abs(best.value)


def mark_best(columns: list[Column], rows: list[MethodRow]) -> None:
    """Mark the best value per column where it stands apart from the next one (beyond the noise),
    is not zero (an MFU of 0.00) and most rows do not tie for it."""
    for col in columns:
        if col.better is None:
            continue
        cells = [r.cells[col.key] for r in rows if fmt.is_num(r.cells[col.key].value)]
        values = [c.value for c in cells]
        if len(set(values)) < 2:
            continue
        best = max(values) if col.better == "high" else min(values)
        if 1 < values.count(best) > len(values) // 2:
            continue  # most rows tie: a star on each would say nothing
        if best == 0 and col.better == "high":
            continue
        best_cells = [c for c in cells if c.value == best]
        others = [c for c in cells if c.value != best]
        if all(is_apart(b, o) for b in best_cells for o in others):
            for c in best_cells:
                c.best = True


def get_notes(groups: dict, metric: str) -> list[str]:
    notes = []
    n_seeds = {len({r.seed for r in rows}) for rows in groups.values()}
    if n_seeds == {1}:
        notes.append("Each method ran with one seed, so no interval over seeds exists: an accuracy's interval is "
                     "the evaluation's alone (Wilson, over its examples), and the seed's variance is unknown. "
                     "Run with --seeds 0,1,2 for intervals over seeds.")
    elif 1 in n_seeds:
        notes.append("Some methods ran with one seed: for those no interval over seeds exists (an accuracy's "
                     "interval is the evaluation's alone).")
    repeats = sum(len(rows) - len({r.seed for r in rows}) for rows in groups.values())
    if repeats:
        notes.append(f"{repeats} run(s) repeat a seed already present (merged repeated runs); each run counts "
                     "as one sample in the mean and interval.")
    scale = QUALITY[metric][3]
    notes.append(
        f"Quality is the {metric} on the held-out split{' in percent' if scale == 100 else ''}, the mean over seeds "
        "and its 95% interval: for accuracy and F1 the wider of a percentile bootstrap over seeds and the Wilson "
        "interval of the evaluated examples (both stay inside 0–100); else the t-interval over seeds. "
        f"{noise.TIME_LABEL.capitalize()}: each case's median step, mean over seeds; its noise is the larger of the "
        "steps' spread within a case and the spread over seeds. Memory: mean over seeds; its noise is the spread "
        f"over seeds, and at least {noise.RSS_RESOLUTION_BYTES / 2**20:g} MiB of a CPU's RSS increase or "
        f"{noise.GPU_RESOLUTION_SHARE:.1%} of a GPU peak, at least {noise.GPU_RESOLUTION_BYTES / 2**20:g} MiB (its seed-to-seed movement). vs LoRA: "
        "Welch's t-test over seeds (≥2 each); with one seed per side on classification, McNemar's test on "
        "per-example predictions (exact binomial below 25 discordant examples, else chi-square with continuity "
        f"correction, 'cc'). ★ marks the best value per column where it stands apart from the next beyond their "
        f"noise (or by {BEST_TOLERANCE:.0%} where none is known); columns empty for every method are left out.")
    return notes


def get_protocol(rows: list[Row]) -> list[tuple[str, str]]:
    values = defaultdict(set)
    for r in rows:
        for k, v in (r.extra.get("protocol") or {}).items():
            values[k].add(str(v))
    for k in ("floor_metric", "floor_value", "inference_batch_size", "tier"):
        vals = {str(r.extra[k]) for r in rows if r.extra.get(k) is not None}
        if vals:
            values[k] |= vals
    return [(k, " | ".join(sorted(v))) for k, v in sorted(values.items())]


def get_configs(groups: list[list[Row]]) -> list[tuple[str, str, str, str]]:
    """Each group's method config and train settings as compact JSON; seeds that differ are listed apart."""
    seen = {}
    for rows in groups:
        for r in rows:
            dumped = (json.dumps(r.extra.get(k) or {}, sort_keys=True) for k in ("config", "settings"))
            key = (r.method, r.model, *dumped)
            seen.setdefault(key, None)
    return list(seen)


def make_dataset(name: str, rows: list[Row], *, with_plots: bool) -> DatasetSection:
    metric = get_quality_metric(rows)
    groups: dict = defaultdict(list)
    for r in rows:  # seeds of one cell: same method, model, hardware, tier and protocol
        groups[(*r.group, protocols.get_key(r))].append(r)
    labels = protocols.get_labels(groups)

    def get_ref_key(g):  # the LoRA group to compare with: same model, hardware, tier, ranks and data protocol
        return (*g[2:6], protocols.get_data_key(groups[g][0]))

    refs = {}
    # the verdict's rule (reports.labels.get_reference): lora+gc for qlora+gc, else LoRA; of several
    # LoRA groups, the one with its peers' protocol (no label), else the one that differs in least
    for g in sorted(groups, key=lambda g: (labels[g] != "", len(labels[g]))):
        refs.setdefault((g[1], get_ref_key(g)), groups[g])
    methods = {g[1] for g in groups}
    columns = get_columns(metric)
    ordered = sorted(groups, key=lambda g: (labels[g], labels_.get_base(g[1]) != labels_.REFERENCE, g[1], *g[2:6]))
    def get_ref(g):
        key = get_ref_key(g)
        return refs.get((labels_.get_reference(g[1], methods), key)) or refs.get((labels_.REFERENCE, key))

    method_rows = [make_method_row(groups[g], get_ref(g), metric) for g in ordered]
    for g, row in zip(ordered, method_rows):
        row.protocol = labels[g]
    mark_best(columns, method_rows)
    # Columns empty for every row (GPU memory on a CPU-only run, MFU without a GPU peak) are
    # hidden; so are sparsity columns that are zero everywhere (no method here prunes or skips).
    def is_empty(key):
        values = [r.cells[key].value for r in method_rows]
        return all(not fmt.is_num(v) or (key in ("wsparse", "csparse") and v == 0) for v in values)

    columns = [c for c in columns if c.key in ("quality", "floor", "vs_ref") or not is_empty(c.key)]
    if not ranks.is_shown(rows):  # every case ran as one process
        columns = [c for c in columns if c.key not in ranks.KEYS]
    section = DatasetSection(
        name=name, columns=columns, rows=method_rows,
        show_model=len({g[2] for g in groups}) > 1,
        show_hardware=len({(g[3], g[4]) for g in groups}) > 1,
        notes=get_notes(groups, metric) + (["Runs whose protocols differ (data limits, splits, model, "
                                             "settings or config; see the Protocol column) are separate rows: "
                                             "seeds are merged only when everything but the seed agrees."]
                                            if any(labels.values()) else []),
        show_protocol=any(labels.values()), protocol=get_protocol(rows),
        context=" · ".join(f"{label}: {', '.join(sorted({g[i] for g in groups}))}"
                           for label, i in (("model", 2), ("hardware", 3), ("tier", 4))),
        configs=get_configs([groups[g] for g in ordered]),
        class_tables=[t for g in ordered if (t := make_class_table(groups[g])) is not None],
    )
    if with_plots:
        # random-init (cost-only) runs have no quality to plot; the scale section shows their cost
        with_quality = [g for g in ordered if not all(map(is_cost_only, groups[g]))]
        section.plots = plots.make_dataset_plots(
            [groups[g] for g in with_quality], metric=metric, quality=QUALITY[metric],
            protocols=[labels[g] for g in with_quality]) if with_quality else []
    return section


def make_class_table(rows: list[Row]) -> ClassTable | None:
    """Per-class precision/recall/F1/support (means over seeds) and the confusion matrix (summed
    over seeds) of one group, where its runs recorded them (more than two classes)."""
    runs = [r for r in rows if r.measured and r.extra.get("per_class") and r.extra.get("confusion_matrix")]
    if not runs:
        return None
    names = [str(n) for n in runs[0].extra.get("label_names") or [c["name"] for c in runs[0].extra["per_class"]]]
    table = []
    for i, name in enumerate(names):
        entries = [r.extra["per_class"][i] for r in runs if len(r.extra["per_class"]) > i]
        mean = {k: sum(e[k] for e in entries) / len(entries) for k in ("precision", "recall", "f1")}
        table.append((name, *(f"{100 * mean[k]:.1f}" for k in ("precision", "recall", "f1")), str(entries[0]["support"])))
    size = len(names)
    counts = [[sum(r.extra["confusion_matrix"][i][j] for r in runs) for j in range(size)] for i in range(size)]
    matrix = [[(c, c / max(1, sum(row))) for c in row] for row in counts]
    first = rows[0]
    seeds = ", ".join(str(s) for s in sorted({r.seed for r in runs if r.seed is not None}))
    title = f"{first.method} · {first.model} · {first.hardware} / {first.tier} (seeds {seeds or '?'})"
    return ClassTable(title, table, names, matrix)


def get_failure_detail(row: Row) -> str:
    metric = row.extra.get("floor_metric")
    if row.status == "failed_floor" and row.extra.get("floor_relative_passed") is False:
        return (f"accuracy {fmt.get_number(row.extra.get('accuracy'), 4)} misses the relative floor: "
                f"{get_relative_floor(row)}")
    if row.status == "failed_floor" and metric:
        value = row.extra.get(metric)
        return f"{metric} {fmt.get_number(value, 4)} misses floor {row.extra.get('floor_value')}"
    partial = row.extra.get("quality_at_stop") or {}
    at_stop = f"; {metric} {fmt.get_number(partial[metric], 4)} when stopped (training unfinished)" \
        if metric in partial else ""
    for key in ("error", "reason", "message"):
        if row.extra.get(key):
            return str(row.extra[key]) + at_stop
    return "no detail recorded" + at_stop


def summarize(rows: list[Row], *, with_plots: bool = True, title: str = "PEFT benchmark report") -> ReportModel:
    """The report's content, computed from rows only."""
    by_dataset: dict = defaultdict(list)
    for r in rows:
        by_dataset[r.dataset].append(r)
    datasets = [make_dataset(name, by_dataset[name], with_plots=with_plots) for name in sorted(by_dataset)]
    failures = [Failure(r.case_id, r.model, r.status, get_failure_detail(r))
                for r in sorted(rows, key=lambda r: r.case_id) if r.status != "passed"]
    columns, table = provenance.get_flat_table(rows)
    sources = list({r.source.path: r.source for r in rows}.values())
    return ReportModel(
        title=title,
        inputs=[s.path for s in sources],
        generated=max((s.datetime for s in sources), default=""),
        n_runs=len(rows),
        datasets=datasets,
        failures=failures,
        environment=provenance.get_environment(sources),
        seeds=sorted({r.seed for r in rows if r.seed is not None}),
        command=provenance.get_command(rows),
        table_columns=columns,
        table_rows=table,
        verdicts=get_verdicts(rows),
        scale=make_scale_section(rows, with_plots=with_plots),
        cost_of_use=make_cost_of_use(rows, with_plots=with_plots),
        frontier=make_frontier_section(rows, with_plots=with_plots),
        tuning=make_tuning_section(rows, with_plots=with_plots),
    )
