"""Usage: python results/h200-floors/compact.py OUT.json RESULTS.json [...]

Merge pytest-benchmark result files into one small JSON (the fields the floors and the learning
rate choices are set from, per case), then print the floor table (results/h200-smoke/floor_table.py)
and, for tuned cases, the learning-rate grid, its dev scores and the choice.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "h200-smoke"))
from floor_table import main as print_floor_table  # noqa: E402

KEEP = ("case_id", "method", "dataset", "tier", "hardware", "seed", "status", "floor_metric", "floor_value",
        "floor_passed", "accuracy", "accuracy_zero_shot", "perplexity", "perplexity_ratio", "train_seconds",
        "step_seconds_p50", "error", "config", "tune_lr", "tune_base_lr", "tune_lr_grid", "tune_dev_scores",
        "tune_dev_metric", "tune_at_edge", "tune_statuses", "tune_device_seconds", "tune_seed")


def main(out: str, paths: list[str]) -> int:
    entries, readable = [], []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            print(f"{path}: unreadable ({e})")
            continue
        readable.append(path)
        for b in data.get("benchmarks", []):
            extra = b.get("extra_info", {})
            entry = {k: extra[k] for k in KEEP if k in extra}
            if isinstance(entry.get("config"), dict):
                entry["config"] = {k: v for k, v in entry["config"].items() if k in ("lr", "r", "target_modules")}
            entry["source"] = Path(path).name
            entries.append(entry)
    Path(out).write_text(json.dumps(entries, indent=0, default=str))
    print(f"{len(entries)} cases from {len(paths)} files -> {out}")
    print_floor_table(readable)
    tuned = [e for e in entries if "tune_lr" in e]
    for e in sorted(tuned, key=lambda e: e["case_id"]):
        scores = ", ".join(f"{r:g}: {s if s is None else round(s, 4)}"
                           for r, s in zip(e["tune_lr_grid"], e["tune_dev_scores"]))
        print(f"{e['case_id']}: chose lr {e['tune_lr']:g} (base {e['tune_base_lr']:g}{', at the edge' if e['tune_at_edge'] else ''}); "
              f"dev {e['tune_dev_metric']} {scores}; then {e.get(e.get('floor_metric', ''), '-')} [{e['status']}]")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
