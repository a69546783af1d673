"""Usage: python bench/perf_table.py RESULTS.json [...]

One line per case of pytest-benchmark result files: the precision and compile settings,
the training loop's wall time (compilation included), step time (p50), the steady-state
rate in tokens per second (warm-up steps left out), model FLOPs utilisation against the
GPU's bf16 peak, the quality metric and the peak GPU memory. A quick look at a speed run;
the full comparison is ``python -m reports``.
"""

import json
import sys
from pathlib import Path

COLUMNS = ("case", "file", "precision", "compile", "chunk", "train s", "step ms", "tokens/s", "MFU", "quality", "GPU GiB", "status")


def get_row(entry: dict, file: str) -> tuple:
    """The table's columns for one result entry."""
    e = entry.get("extra_info", {})
    s = e.get("settings", {})
    precision = f"{s.get('dtype', 'fp32')}/{s.get('trainable_dtype', 'fp32')}" + (f"+ac-{s['autocast']}" if s.get("autocast") else "")
    quality = e.get(e.get("floor_metric", ""), None)
    step = e.get("step_seconds_p50") or e.get("steady_step_seconds")
    rate, mfu, peak = e.get("steady_tokens_per_second"), e.get("mfu"), e.get("peak_gpu_allocated_bytes")
    return (
        e.get("case_id", entry.get("name", "?")), file, precision, s.get("compile") or "-", s.get("loss_chunk") or "-",
        f"{e['train_seconds']:.1f}" if e.get("train_seconds") else "-", f"{step * 1e3:.1f}" if step else "-",
        f"{rate:,.0f}" if rate else "-", f"{mfu:.1%}" if mfu else "-",
        f"{e.get('floor_metric', '')} {quality:.4f}" if isinstance(quality, float) else "-",
        f"{peak / 2**30:.1f}" if peak else "-", e.get("status", "?"),
    )


def main(paths: list[str]) -> None:
    rows = [COLUMNS]
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:  # e.g. an empty file left by an interrupted run
            print(f"{path}: skipped, not a results file ({error})", file=sys.stderr)
            continue
        for entry in data.get("benchmarks", []):
            rows.append(get_row(entry, Path(path).stem))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(COLUMNS))]
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)))


if __name__ == "__main__":
    main(sys.argv[1:])
