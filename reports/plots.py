"""Figures as inline SVG strings (matplotlib, Agg backend; no JavaScript, no external assets).

Output is deterministic for the same input: a fixed per-figure hash salt, no date metadata,
and text kept as escaped <text> elements (comments, which would echo labels verbatim, are stripped).
"""

import io
import re
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from reports import fmt  # noqa: E402
from reports.labels import get_color, get_row_label  # noqa: E402
from reports.load import Row  # noqa: E402
from reports.memory import get_case_rss  # noqa: E402
from reports.noise import get_quality_interval  # noqa: E402
from reports.model import Plot  # noqa: E402

# Parts of one stacked bar (not methods: methods take ``reports.labels.get_color``).
COLORS = plt.get_cmap("tab10").colors
# Legends sit right of the axes so they never hide points or curves.
LEGEND = {"fontsize": 7, "frameon": False, "loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}
RC = {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}


def add_legend(ax, **kwargs) -> None:
    """A legend with each label once (seeds and error bars would repeat a method's entry)."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(list(unique.values()), list(unique), **{**LEGEND, **kwargs})


def get_methods(groups: list[list[Row]]) -> tuple:
    """The methods of a figure, for colours of methods that ``reports/families.json`` does not list."""
    return tuple(sorted({rows[0].method for rows in groups}))


def get_svg(fig, name: str) -> str:
    """Serialize and close ``fig``; ids are salted per figure so several SVGs can share one page."""
    buf = io.StringIO()
    with plt.rc_context({"svg.hashsalt": name}):
        # tight_layout costs one layout pass; bbox_inches="tight" would render the figure twice.
        with warnings.catch_warnings():  # labels too long to fit (e.g. sweep points): drawn as laid out
            warnings.filterwarnings("ignore", "Tight layout not applied", UserWarning)
            fig.tight_layout(pad=0.4)
        fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    return re.sub(r"<!--.*?-->", "", svg, flags=re.S)


def get_pareto(points: list[tuple[float, float]], *, higher_is_better: bool) -> list[tuple[float, float]]:
    """The non-dominated points (lower cost x, better quality y), sorted by cost."""
    frontier = []
    best = None
    for x, y in sorted(points, key=lambda p: (p[0], -p[1] if higher_is_better else p[1])):
        if best is None or (y > best if higher_is_better else y < best):
            frontier.append((x, y))
            best = y
    return frontier


def get_label(rows: list[Row], multi: bool, protocol: str = "") -> str:
    """A group's legend entry; ``protocol`` (what sets its protocol apart) is appended when given."""
    r = rows[0]
    label = f"{get_row_label(r)} ({r.model}, {r.hardware})" if multi else get_row_label(r)
    return f"{label} [{protocol}]" if protocol else label


def make_tradeoff(groups: list[list[Row]], *, cost, xlabel: str, metric: str, quality: tuple,
                  name: str, logx: bool = False, protocols: list[str] | None = None) -> Plot | None:
    """Quality against one cost per method group (mean over seeds, CI as error bar), frontier drawn."""
    label, unit, better, scale = quality
    methods = get_methods(groups)
    multi = len({(g[0].model, g[0].hardware) for g in groups}) > 1
    points = []
    for i, rows in enumerate(groups):
        ys = [r.extra[metric] * scale for r in rows if r.measured and fmt.is_num(r.extra.get(metric))]
        xs = [cost(r) for r in rows if fmt.is_num(cost(r))]
        if ys and xs:
            y = sum(ys) / len(ys)
            interval = get_quality_interval(rows, metric)  # the table's interval: inside [0, 100]
            spread = [[y - interval.low * scale], [interval.high * scale - y]] if interval else None
            lab = get_label(rows, multi, (protocols or [""] * len(groups))[i])
            points.append((lab, sum(xs) / len(xs), y, spread, get_color(rows[0].method, methods)))
    if not points:
        return None
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(5.6, 3.2))
        for lab, x, y, spread, color in points:
            ax.errorbar([x], [y], yerr=spread, fmt="o", color=color, label=lab, capsize=3)
        front = get_pareto([(p[1], p[2]) for p in points], higher_is_better=better == "high")
        ax.plot(*zip(*front), "--" if len(front) > 1 else "none", color="0.4", linewidth=1, marker="o",
                markersize=11, markerfacecolor="none", label="Pareto frontier")
        if logx and all(p[1] > 0 for p in points):
            ax.set_xscale("log")
            # 1-2-5 ticks: parameter counts often span less than a decade
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt.get_count(v)))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{label}{f' ({unit})' if unit else ''}" + (" ↑" if better == "high" else " ↓"))
        add_legend(ax)
        ax.grid(alpha=0.3)
        svg = get_svg(fig, name)
    return Plot(title=f"{label} vs {xlabel}", svg=svg,
                caption="Mean over seeds; error bar: the 95% interval of the table. Ringed and dashed: the Pareto "
                        "frontier (no other method is both cheaper and better).")


def make_loss_curves(groups: list[list[Row]], *, name: str, protocols: list[str] | None = None) -> Plot | None:
    methods = get_methods(groups)
    multi = len({(g[0].model, g[0].hardware) for g in groups}) > 1
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(5.6, 3.2))
        drawn = False
        for i, rows in enumerate(groups):
            color = get_color(rows[0].method, methods)
            for j, r in enumerate(sorted(rows, key=lambda r: (r.seed is None, r.seed))):
                curve = [p for p in (r.extra.get("loss_curve") or []) if len(p) == 2 and all(map(fmt.is_num, p))]
                if curve:
                    ax.plot(*zip(*curve), color=color, linewidth=1.2, alpha=0.85,
                            label=get_label(rows, multi, (protocols or [""] * len(groups))[i]) if j == 0 else None)
                    drawn = True
        if not drawn:
            plt.close(fig)
            return None
        ax.set_xlabel("Training step")
        ax.set_ylabel("Training loss")
        add_legend(ax)
        ax.grid(alpha=0.3)
        svg = get_svg(fig, name)
    return Plot(title="Training loss", svg=svg, caption="One line per seed, coloured by method.")


def make_layer_sparsity(groups: list[list[Row]], *, name: str) -> Plot | None:
    """Per-layer compute sparsity (mean over seeds) for methods that record it."""
    multi = len({(g[0].model, g[0].hardware) for g in groups}) > 1
    series = {}
    for rows in groups:
        per = [r.extra.get("compute_sparsity_per_layer") for r in rows]
        per = [p for p in per if isinstance(p, dict) and p]
        if per:
            layers = list(per[0])
            series[(get_label(rows, multi), rows[0].method)] = {
                k: sum(p.get(k, 0.0) for p in per) / len(per) for k in layers}
    if not series:
        return None
    layers = list(dict.fromkeys(k for s in series.values() for k in s))
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(max(4.6, 0.35 * len(layers) * len(series)), 3.2))
        width = 0.8 / len(series)
        methods = tuple(sorted({m for _, m in series}))
        for i, ((lab, method), values) in enumerate(series.items()):
            xs = [j + i * width for j in range(len(layers))]
            ax.bar(xs, [values.get(k, 0.0) * 100 for k in layers], width, label=lab, color=get_color(method, methods))
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(layers))], layers, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("Compute sparsity (% FLOPs skipped)")
        add_legend(ax)
        svg = get_svg(fig, name)
    return Plot(title="Compute sparsity per layer", svg=svg,
                caption="Fraction of the base model's FLOPs skipped in each layer (not weight zeros).")


def make_memory_bars(groups: list[list[Row]], *, name: str, protocols: list[str] | None = None) -> Plot | None:
    """Peak GPU memory and the case's CPU RSS increase, each on its own axis (two panels)."""
    def mean(rows, get):
        vals = [v for v in map(get, rows) if fmt.is_num(v)]
        return sum(vals) / len(vals) / 2**20 if vals else 0.0

    multi = len({(g[0].model, g[0].hardware) for g in groups}) > 1
    protocols = protocols or [""] * len(groups)
    # a group with neither (a multi-rank case records memory per rank only) gets no empty bar
    kept = [i for i, rows in enumerate(groups) if mean(rows, lambda r: r.peak_gpu) or mean(rows, get_case_rss)]
    groups, protocols = [groups[i] for i in kept], [protocols[i] for i in kept]
    labels = [get_label(rows, multi, p) for rows, p in zip(groups, protocols)]
    colors = [get_color(rows[0].method, get_methods(groups)) for rows in groups]
    gpu = [mean(rows, lambda r: r.peak_gpu) for rows in groups]
    rss = [mean(rows, get_case_rss) for rows in groups]
    panels = [(v, lab) for v, lab in ((gpu, "Peak GPU memory (MiB)"), (rss, "CPU RSS increase (MiB)")) if any(v)]
    if not panels:
        return None
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, len(panels), figsize=(2.2 + 2.6 * len(panels), 0.6 + 0.35 * len(labels)),
                                 sharey=True, squeeze=False)
        for i, (ax, (values, lab)) in enumerate(zip(axes[0], panels)):
            ax.barh(range(len(labels)), values, 0.7, color=colors)
            ax.set_xlabel(lab)
            ax.grid(alpha=0.3, axis="x")
        axes[0][0].set_yticks(range(len(labels)), labels)
        axes[0][0].invert_yaxis()
        svg = get_svg(fig, name)
    return Plot(title="Memory", svg=svg,
                caption="Mean over seeds, one axis per kind of memory. CPU: the case's own increase of the "
                        "process's RSS (peak minus its start), not the process peak, which compounds over cases.")


def make_dataset_plots(groups: list[list[Row]], *, metric: str, quality: tuple,
                       protocols: list[str] | None = None) -> list[Plot]:
    """All figures for one dataset, in display order; figures without data are left out.
    ``protocols``: per group, what sets its protocol apart (shown in the legends)."""
    ds = groups[0][0].dataset
    has_gpu = all(fmt.is_num(r.peak_gpu) for rows in groups for r in rows)
    memory = (lambda r: r.peak_gpu) if has_gpu else get_case_rss
    mem_label = "Peak GPU memory (MiB)" if has_gpu else "CPU RSS increase (MiB)"
    plots = [
        make_tradeoff(groups, cost=lambda r: r.extra.get("trainable_params"), xlabel="Trainable parameters",
                      metric=metric, quality=quality, name=f"{ds}-params", logx=True, protocols=protocols),
        make_tradeoff(groups, cost=lambda r: r.extra.get("train_seconds"), xlabel="Train time (s)",
                      metric=metric, quality=quality, name=f"{ds}-time", protocols=protocols),
        make_tradeoff(groups, cost=lambda r: (m / 2**20 if fmt.is_num(m := memory(r)) else None), xlabel=mem_label,
                      metric=metric, quality=quality, name=f"{ds}-memory", protocols=protocols),
        make_loss_curves(groups, name=f"{ds}-loss", protocols=protocols),
        make_layer_sparsity(groups, name=f"{ds}-layers"),
        make_memory_bars(groups, name=f"{ds}-membars", protocols=protocols),
    ]
    return [p for p in plots if p is not None]
