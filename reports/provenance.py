"""Where results came from (machines, packages, commits, command) and the flat per-run table."""

import json
import shlex

from reports import fmt
from reports.load import Row, Source
from reports.model import EnvBlock

# The flat table's leading columns, in order; other scalar extra_info keys follow, sorted.
FLAT_COLUMNS = (
    "case_id", "method", "dataset", "model", "tier", "hardware", "seed", "status",
    "floor_metric", "floor_value", "floor_passed",
    "accuracy", "f1", "precision", "recall", "perplexity", "perplexity_untrained", "perplexity_ratio",
    "train_seconds", "train_steps", "step_seconds_p50", "step_seconds_p90",
    "inference_median_s", "inference_mean_s", "inference_stddev_s", "inference_rounds", "inference_batch_size",
    "peak_gpu_allocated_bytes", "peak_gpu_reserved_bytes", "peak_gpu_nvml_bytes",
    "case_cpu_rss_bytes", "peak_cpu_rss_bytes", "cpu_rss_start_bytes",
    "trainable_params", "total_params", "trainable_percent", "adapter_bytes",
    "weight_sparsity", "adapter_weight_sparsity", "target_sparsity",
    "compute_sparsity", "channel_sparsity_ffn", "channel_sparsity_attn", "dense_steps",
)
MACHINE_KEYS = (
    ("node", "Host"), ("cpu_name", "CPU"), ("cpu_count", "CPU cores"), ("gpu", "GPU"), ("gpu_gib", "GPU memory (GiB)"),
    ("gpu_count", "GPU count"), ("nvidia_driver", "NVIDIA driver"), ("system", "OS"), ("release", "OS release"),
    ("machine", "Architecture"), ("python_implementation", "Python"), ("python_version", "Python version"),
    ("git_commit", "Git commit (suite)"),
)


def get_flat_value(row: Row, key: str):
    """One flat-table value: identity fields, pytest-benchmark latency stats, else extra_info."""
    if key in ("case_id", "method", "dataset", "model", "tier", "hardware", "seed", "status"):
        return getattr(row, key)
    if key.startswith("inference_") and key.endswith("_s"):
        return row.latency.get(key[len("inference_"):-2])
    if key == "inference_rounds":
        return row.latency.get("rounds")
    return row.extra.get(key)


def get_flat_table(rows: list[Row]) -> tuple[list[str], list[list]]:
    """Column names and one row per run: every scalar recorded (lists and dicts are left to the JSON)."""
    extra_keys = sorted({k for r in rows for k, v in r.extra.items()
                         if k not in FLAT_COLUMNS and (v is None or isinstance(v, (str, int, float, bool)))})
    columns = [*FLAT_COLUMNS, *extra_keys, "source"]
    table = []
    for r in sorted(rows, key=lambda r: (r.dataset, r.method, r.model, r.case_id)):
        values = [get_flat_value(r, k) for k in columns[:-1]]
        table.append([*values, r.source.path])
    return columns, table


def get_environment(sources: list[Source]) -> list[EnvBlock]:
    """One block per distinct machine + package set + commit; files sharing all of them are merged."""
    blocks: dict = {}
    for s in sources:
        mi = s.machine_info
        items = [(label, str(mi[k])) for k, label in MACHINE_KEYS if mi.get(k) not in (None, "")]
        ci = s.commit_info or {}
        if ci.get("id"):
            dirty = " (dirty)" if ci.get("dirty") else ""
            items.append(("Commit (pytest-benchmark)", f"{ci['id']}{dirty} on {ci.get('branch', '?')}"))
        items.append(("pytest-benchmark", s.version or fmt.DASH))
        packages = sorted((str(k), str(v)) for k, v in (mi.get("packages") or {}).items())
        key = (tuple(items), tuple(packages))
        if key not in blocks:
            blocks[key] = EnvBlock(title=str(mi.get("node") or s.path), items=items, packages=packages, files=[])
        blocks[key].files.append(f"{s.path} (saved {s.datetime or 'unknown'}, {s.n_benchmarks} benchmarks)")
    return list(blocks.values())


# recorded run option -> its command-line flag; lists repeat the flag
RERUN_FLAGS = (("dataset", "--dataset"), ("peft_config", "--peft-config"), ("data_dir", "--data-dir"), ("model", "--model"), ("set", "--set"),
               ("limit_train", "--limit-train"), ("limit_eval", "--limit-eval"),
               ("custom_floor_margin", "--custom-floor-margin"), ("sweep", "--sweep"), ("tune", "--tune"),
               ("tune_factors", "--tune-factors"))


def get_option_args(options: dict) -> list[str]:
    """The recorded run options (machine_info's run_options) as command-line arguments."""
    args = []
    for key, flag in RERUN_FLAGS:
        value = options.get(key)
        for v in value if isinstance(value, list) else [value]:
            if v is not None and v != "":
                args += [flag, str(v)]
    return args


def get_selection(rows: list[Row], options: dict) -> list[str]:
    """The run's own test paths, -m and -k where it recorded them (the smallest selection of the
    same cases); older files: one marker expression per method, dataset, tier and hardware."""
    if "markexpr" in options:
        return [*(options.get("paths") or ["bench"]), *(["-m", options["markexpr"]] if options["markexpr"] else []),
                *(["-k", options["keyword"]] if options.get("keyword") else [])]
    combos = sorted({(r.method.partition("+")[0], r.dataset, r.tier, r.hardware)
                     for r in rows if "?" not in (r.method, r.dataset)})
    if not combos:
        return []
    return ["bench", "-m", " or ".join(f"({' and '.join(c)})" for c in combos)]


def get_rerun_command(rows: list[Row], options: dict | None) -> str | None:
    """``pytest`` selecting these rows' cases, with only the options the run was given (paths as
    given); older files without the given seeds: the seeds the rows ran."""
    options = options or {}
    selection = get_selection(rows, options)
    if not selection:
        return None
    args = ["pytest", *selection, *get_option_args(options)]
    seeds = options.get("seeds") if "markexpr" in options else ",".join(
        map(str, sorted({r.seed for r in rows if r.seed is not None})))
    if seeds:
        args += ["--seeds", str(seeds)]
    return shlex.join(args)


def get_command(rows: list[Row]) -> list[str]:
    """Re-run commands: one per distinct set of recorded run options (machine_info's run_options:
    --dataset, --data-dir, --model, --set, --limit-*), each selecting that run's cases by marker."""
    by_options: dict = {}
    for r in rows:
        options = r.source.machine_info.get("run_options")
        by_options.setdefault(json.dumps(options, sort_keys=True), (options, []))[1].append(r)
    lines = []
    for options, members in by_options.values():
        command = get_rerun_command(members, options)
        if command is None:
            continue
        what = "" if len(by_options) == 1 else f" ({len(members)} runs from {', '.join(sorted({r.source.path for r in members}))})"
        lines.append(f"Re-run these cases{what}: {command}")
        if options is None:
            lines.append("These results do not record their run options (older files): add the --dataset, "
                         "--model, --set and --limit-* options the run used.")
    models = sorted({f"{r.dataset}={r.model}" for r in rows if r.model != "?"})
    if models:
        lines.append("Models used (pass --model DATASET=NAME where not the tier's default): " + ", ".join(models))
    lines.append("Per-run method config, train settings and protocol are in the JSON's extra_info "
                 "(config, settings, protocol) and in the runs table below.")
    return lines
