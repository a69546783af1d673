"""The tuned runs (--tune lr): each method's chosen rate, its dev scores across the grid, the edge.

Every tuned case records the grid (``tune_lr_grid``), the dev score of every point
(``tune_dev_scores``, on a dev split carved from the training data), the chosen rate
(``tune_lr``), whether it sat at the grid's edge (``tune_at_edge``, ``tune_edge``) and the
device-seconds the tuning took (``tune_device_seconds``). The seeds of one case share one tuning.

Reads result rows only.
"""

import math
from dataclasses import dataclass, field

from reports import fmt, plots
from reports.load import Row
from reports.model import Plot

plt = plots.plt
COLUMNS = ("Dataset", "Method", "Model", "Hardware / tier", "Chosen lr", "Edge", "Best dev score",
           "Tuning device-s", "Seeds at the chosen lr")


@dataclass
class TuningSection:
    """What the template shows.

    Args:
        rows: table rows (lists of text), one per tuned method x dataset x model x hardware x tier.
        columns: the table's header.
        plots: one small dev-score-against-rate figure per row.
        notes: how to read them.
    """

    rows: list = field(default_factory=list)
    columns: tuple = COLUMNS
    plots: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def make_plot(row: Row, *, name: str) -> Plot:
    """Dev score against rate (log x); the chosen rate ringed, in red where it sat at the grid's edge."""
    extra = row.extra
    points = [(r, s) for r, s in zip(extra["tune_lr_grid"], extra["tune_dev_scores"]) if fmt.is_num(s)]
    edge = bool(extra.get("tune_at_edge"))
    with plt.rc_context(plots.RC):
        fig, ax = plt.subplots(figsize=(2.6, 1.9))
        if points:
            ax.plot(*zip(*points), "o-", color=plots.COLORS[0], markersize=4)
        chosen = dict(points).get(extra["tune_lr"])
        if chosen is not None:
            ax.plot([extra["tune_lr"]], [chosen], "o", markersize=10, markerfacecolor="none",
                    color="tab:red" if edge else "0.2")
        failed = [r for r, s in zip(extra["tune_lr_grid"], extra["tune_dev_scores"]) if not fmt.is_num(s)]
        for r in failed:  # a diverged / out-of-memory point: marked on the axis
            ax.axvline(r, color="0.7", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(f"dev {extra.get('tune_dev_metric', '')}")
        svg = plots.get_svg(fig, name)
    mark = " (at the grid's edge)" if edge else ""
    return Plot(f"{row.method} · {row.dataset}{mark}", svg,
                f"chosen lr {extra['tune_lr']:.3g}" + (f"; failed at {', '.join(f'{r:.3g}' for r in failed)}"
                                                        if failed else ""))


def get_seeds_text(runs: list[Row]) -> str:
    """"seed 0" or "seeds 0, 1, 2": a bare "0" would read as no seeds."""
    seeds = sorted({r.seed or 0 for r in runs})
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def make_tuning_section(rows: list[Row], *, with_plots: bool = True) -> TuningSection | None:
    """One row and one plot per tuned group (its seeds share the tuning); None without tuned runs."""
    groups: dict = {}
    for r in rows:
        if fmt.is_num(r.extra.get("tune_lr")) and r.extra.get("tune_lr_grid"):
            groups.setdefault((r.dataset, r.method, r.model, r.hardware, r.tier), []).append(r)
    if not groups:
        return None
    section = TuningSection()
    for i, (key, runs) in enumerate(sorted(groups.items())):
        first = runs[0]
        extra = first.extra
        scores = [s for s in extra["tune_dev_scores"] if fmt.is_num(s)]
        higher = extra.get("tune_dev_metric") != "perplexity"
        best = (max if higher else min)(scores) if scores else math.nan
        edge = {"low": "lowest rate", "high": "highest rate"}.get(extra.get("tune_edge"), "")
        seconds = extra.get("tune_device_seconds")
        section.rows.append([first.dataset, first.method, first.model, f"{first.hardware} / {first.tier}",
                             f"{extra['tune_lr']:.3g}", f"⚠ {edge}" if edge else "inside",
                             fmt.get_number(best, 4), f"{seconds:,.0f}" if fmt.is_num(seconds) else "—",
                             get_seeds_text(runs)])
        if with_plots:
            section.plots.append(make_plot(first, name=f"tuning-{i}"))
    factors = sorted({tuple(r.extra.get("tune_factors") or ()) for runs in groups.values() for r in runs})
    section.notes = [
        "Each rate of the grid trained on the training data less a dev split carved from it (a seeded "
        f"{100 * (first.extra.get('tune_dev_fraction') or 0):.0f}% of the examples; running text: its last lines) "
        "and was scored on that dev split; the evaluation split took no part in the choice. The reported runs "
        "then trained at the chosen rate on the full training data.",
        f"Grid: the method's own rate × {', '.join('(' + ', '.join(f'{f:g}' for f in fs) + ')' for fs in factors)}. "
        "A choice at the grid's edge widens the grid that way by up to two points (runs of this version); "
        "⚠ marks a rate still chosen at the edge: the best rate may lie beyond it (widen --tune-factors).",
        "Tuning device-seconds (GPU-seconds on a GPU) are part of the method's cost; one tuning serves all of a "
        "case's seeds (tuned with the first seed).",
    ]
    return section
