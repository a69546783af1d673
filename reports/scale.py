"""The scale tier's section: cost against model size, per method (random-init shapes, cost only).

- step time and training throughput against parameter count (log x), one line per method;
- peak GPU memory per method and size, stacked by the measured breakdown (frozen weights,
  trainable parameters, gradients, optimizer state, activations, the rest of the peak);
- a table of ratios against LoRA at each size.

Reads result rows only (``extra`` keys written by the benchmark: ``mem_*``, the protocol's
``model_params``).
"""

from collections import defaultdict
from dataclasses import dataclass, field

from reports import fmt, noise, plots
from reports.labels import REFERENCE, get_base, get_color, get_reference
from reports.load import Row
from reports.model import Plot

plt = plots.plt
# a method's n-th variant (lora, lora+gc, lora+liger, ...): same colour, its own line and marker
VARIANT_LINES = ["-", "--", ":", "-."]
VARIANT_MARKERS = ["o", "s", "^", "D", "v"]
# breakdown key -> label, in stacking order
PARTS = {
    "mem_frozen_bytes": "frozen weights",
    "mem_trainable_bytes": "trainable params",
    "mem_grad_bytes": "gradients",
    "mem_optimizer_bytes": "optimizer state",
    "mem_activation_peak_bytes": "activations",
}
GIB = 2**30


@dataclass
class ScaleSection:
    """What the template shows for the scale tier.

    Args:
        plots: figures.
        columns: ratio table header.
        rows: ratio table rows (lists of text).
        notes: how to read it.
    """

    plots: list = field(default_factory=list)
    columns: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def get_params(row: Row):
    return (row.extra.get("protocol") or {}).get("model_params")


def mean(rows: list[Row], get):
    values = [v for v in map(get, rows) if fmt.is_num(v)]
    return sum(values) / len(values) if values else None


def get_step_time(row: Row):
    """The table's step time: the case's median step (``reports.noise``)."""
    m = noise.get_step_time([row])
    return m.value if m else None


def get_groups(rows: list[Row]) -> dict:
    """(method[+variant], model) -> runs of the scale tier: the GPU's, or the CPU's (the CI
    shape) where no GPU ran."""
    scale = [r for r in rows if r.tier == "scale" and fmt.is_num(get_params(r))]
    hardware = "gpu" if any(r.hardware == "gpu" for r in scale) else "cpu"
    groups: dict = defaultdict(list)
    for r in scale:
        if r.hardware == hardware:
            groups[(r.method, r.model)].append(r)  # with its variant ("lora+gc"): its own row
    return groups


def make_line_plot(groups: dict, *, get, ylabel: str, name: str, title: str) -> Plot | None:
    """One line per method over model sizes (measured runs only), log x."""
    series: dict = defaultdict(list)
    for (method, _), rs in groups.items():
        done = [r for r in rs if r.measured]
        y = mean(done, get)
        if fmt.is_num(y):
            series[method].append((get_params(rs[0]), y))
    if not series:
        return None
    with plt.rc_context(plots.RC):
        fig, ax = plt.subplots(figsize=(5.2, 3.0))
        methods = tuple(sorted(series))
        drawn: dict = defaultdict(int)  # base method -> how many of its variants are drawn
        for method, points in sorted(series.items()):
            points.sort()
            base = get_base(method)  # a variant keeps its method's colour, its own line and marker
            n, drawn[base] = drawn[base], drawn[base] + 1
            ax.plot([p[0] for p in points], [p[1] for p in points], label=method, color=get_color(base, methods),
                    marker=VARIANT_MARKERS[n % len(VARIANT_MARKERS)], linestyle=VARIANT_LINES[n % len(VARIANT_LINES)])
        ax.set_xscale("log")
        sizes = sorted({p[0] for points in series.values() for p in points})
        ax.set_xticks(sizes, [f"{size / 1e9:.1f}B" for size in sizes])
        ax.minorticks_off()
        ax.set_xlabel("Model parameters")
        ax.set_ylabel(ylabel)
        ax.legend(**plots.LEGEND)
        svg = plots.get_svg(fig, name)
    return Plot(title=title, svg=svg, caption="Random-init Llama-3 shapes (cost only); mean over seeds.")


def get_stack(rows: list[Row]) -> dict | None:
    """Mean GiB per breakdown part, plus the rest of the measured step peak."""
    done = [r for r in rows if r.measured and fmt.is_num(r.extra.get("mem_step_peak_bytes"))]
    if not done:
        return None
    stack = {label: (mean(done, lambda r, k=key: r.extra.get(k)) or 0) / GIB for key, label in PARTS.items()}
    if any(r.extra.get("mem_optimizer_paged") for r in done):
        stack["optimizer state"] = 0.0  # paged (CUDA managed memory): not in the allocator's peak
    peak = mean(done, lambda r: r.extra.get("mem_step_peak_bytes")) / GIB
    stack["rest of the peak"] = max(0.0, peak - sum(stack.values()))
    return stack


def make_memory_plot(groups: dict, name: str = "scale-memory") -> Plot | None:
    """Horizontal bars per (size, method), stacked by the breakdown of the last step's peak."""
    bars = []
    for (method, model), rs in sorted(groups.items(), key=lambda kv: (get_params(kv[1][0]), kv[0][0])):
        stack = get_stack(rs)
        if stack:
            bars.append((f"{model} {method}", stack))
    if not bars:
        return None
    labels = list(bars[0][1])
    with plt.rc_context(plots.RC):
        fig, ax = plt.subplots(figsize=(5.6, 0.6 + 0.28 * len(bars)))
        left = [0.0] * len(bars)
        for i, label in enumerate(labels):
            values = [b[1][label] for b in bars]
            ax.barh(range(len(bars)), values, left=left, label=label, color=plots.COLORS[i % len(plots.COLORS)])
            left = [a + b for a, b in zip(left, values)]
        ax.set_yticks(range(len(bars)), [b[0] for b in bars])
        ax.invert_yaxis()
        ax.set_xlabel("GiB (peak allocated during the measured step)")
        ax.legend(fontsize=7, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3)
        svg = plots.get_svg(fig, name)
    return Plot(title="Peak memory by part", svg=svg, caption=(
        "The last training step, measured: weights, gradients and optimizer state from the tensors' storage; "
        "activations = the step's peak − allocated before it − gradients; the rest is what the parts leave "
        "unexplained. Paged 8-bit optimizer state lives outside torch's allocator and is not stacked."))


def get_gib(value) -> str:
    return f"{value / GIB:.2f}" if fmt.is_num(value) else fmt.DASH


def get_ratio(value, ref) -> str:
    return f"{value / ref:.2f}×" if fmt.is_num(value) and fmt.is_num(ref) and ref else fmt.DASH


def get_label(method: str, rows: list[Row]) -> str:
    """The method, and for QLoRA its 4-bit backend, version and optimizer (as the runs recorded them)."""
    backends = sorted({f"{r.extra['qlora_backend']} {r.extra.get('qlora_backend_version', '?')}, "
                       f"{str(r.extra.get('qlora_optimizer', '?')).rpartition('.')[2]}"
                       for r in rows if r.extra.get("qlora_backend")})
    return f"{method} ({'; '.join(backends)})" if backends else method


COLUMNS = ["Size", "Method", "Status", "Step time p50 (ms)", "× LoRA", "Tokens/s", "× LoRA", "MFU",
           "Peak memory (GiB: GPU, else CPU RSS)", "× LoRA", "Breakdown / step peak", "Frozen weights (GiB)", "× LoRA"]


def get_ratio_rows(groups: dict) -> list[list[str]]:
    """Per size, LoRA first: absolute values and ratios against LoRA of the same size."""
    by_model: dict = defaultdict(dict)
    for (method, model), rs in groups.items():
        by_model[model][method] = rs
    out = []
    for model in sorted(by_model, key=lambda m: get_params(next(iter(by_model[m].values()))[0])):
        methods = by_model[model]

        def values(rs):
            done = [r for r in rs if r.measured]
            return {
                "time": mean(done, get_step_time),
                "rate": mean(done, lambda r: r.extra.get("steady_tokens_per_second")),
                "mfu": mean(done, lambda r: r.extra.get("mfu")), "memory": mean(done, noise.get_memory_bytes),
                "frozen": mean(done, lambda r: r.extra.get("mem_frozen_bytes")),
                "cover": mean(done, lambda r: r.extra.get("mem_parts_over_peak")),
            }

        refs = {name: values(methods.get(name, [])) for name in {get_reference(m, methods) for m in methods}}
        for method in sorted(methods, key=lambda m: (get_base(m) != REFERENCE, m)):
            rs = methods[method]
            v, ref = values(rs), refs[get_reference(method, methods)]
            status = ", ".join(sorted({r.status for r in rs}))
            out.append([
                model, get_label(method, rs), status,
                fmt.get_ms(v["time"]), get_ratio(v["time"], ref["time"]),
                fmt.get_count(v["rate"]), get_ratio(v["rate"], ref["rate"]),
                fmt.get_percent(v["mfu"], 1),
                get_gib(v["memory"]), get_ratio(v["memory"], ref["memory"]),
                fmt.get_number(v["cover"], 3),
                get_gib(v["frozen"]), get_ratio(v["frozen"], ref["frozen"]),
            ])
    return out


def make_scale_section(rows: list[Row], *, with_plots: bool = True) -> ScaleSection | None:
    """The scale tier's figures and ratio table, or None when the results hold no scale run."""
    groups = get_groups(rows)
    if not groups:
        return None
    section = ScaleSection(columns=COLUMNS, rows=get_ratio_rows(groups), notes=[
        "Random-init Llama-3 shapes: these runs measure cost only (no quality). Ratios are against LoRA "
        "of the same size and variant; a method with a variant (e.g. lora+gc: gradient checkpointing) is its own "
        "row, compared with LoRA of that variant (a LoRA variant with plain LoRA; another checkpointing variant, "
        "its name ending in gc, with lora+gc). QLoRA's rows name their 4-bit backend, its version and the "
        "optimizer that ran (qlora: bitsandbytes, qlora+torchao: torchao's NF4 tensor).",
        "Breakdown / step peak: (frozen weights + trainable params + gradients + optimizer state + activation "
        "peak) over the measured step's peak allocated; 1 means the parts, read from the tensors, explain the "
        "allocator's peak. Paged optimizer state is left out of the sum (it is outside torch's allocator).",
    ])
    if with_plots:
        figures = [
            make_line_plot(groups, get=lambda r: (t * 1e3 if fmt.is_num(t := get_step_time(r)) else None),
                           ylabel="Step time p50 (ms)", name="scale-step", title="Step time against size"),
            make_line_plot(groups, get=lambda r: r.extra.get("steady_tokens_per_second"), ylabel="Tokens/s",
                           name="scale-rate", title="Training throughput against size"),
            make_memory_plot(groups),
        ]
        section.plots = [p for p in figures if p is not None]
    return section
