"""Build the HTML report (and its CSV table) from pytest-benchmark JSON files.

Usage:
    python -m reports [RESULT.json ...] [-o reports/out/index.html]
                      [--baseline OTHER.json|RUN_ID] [--fail-on-regression]
                      [--max-quality-drop PTS] [--max-perplexity-rise PCT]
                      [--max-time-rise PCT] [--max-memory-rise PCT]

With no RESULT, the newest run saved under .benchmarks/ is used. Several files
(shards, machines, repeated runs) merge into one report. The pipeline is
load(paths) -> list[Row], summarize(rows) -> ReportModel, render(model) -> str,
then one self-contained HTML file is written, with the flat per-run table as CSV beside it
(same name, .csv: reports/out/index.csv by default). Both are written atomically (a
temporary file, then a rename): a reader never sees half a report.

Exit status: 0 on success, 1 when --fail-on-regression finds regressions,
2 for unusable input (missing, empty, truncated or not pytest-benchmark JSON).
"""

import argparse
import csv
import math
import sys
from pathlib import Path

import jinja2

from reports.atomic import atomic_write, remove_stale_temporaries
from reports.load import ReportInputError, Row, get_default_input, load, load_unique, resolve_run
from reports.model import ReportModel
from reports.regress import Thresholds, compare
from reports.summarize import summarize

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_OUTPUT = Path("reports/out/index.html")


def get_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def get_json_safe(value, nulled: list):
    """``value`` with NaN and +-Infinity as None (JSON has neither); each one counted in ``nulled``."""
    if isinstance(value, float) and not math.isfinite(value):
        nulled.append(value)
        return None
    if isinstance(value, dict):
        return {k: get_json_safe(v, nulled) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [get_json_safe(v, nulled) for v in value]
    return value


def render(model: ReportModel) -> str:
    """The HTML page for ``model``; depends on nothing else. The embedded data block is valid
    JSON: non-finite numbers become null, and the page says so."""
    nulled: list = []
    data = get_json_safe({"columns": model.table_columns, "rows": model.table_rows}, nulled)
    if nulled:
        note = (f"{len(nulled)} non-finite value(s) (NaN or Infinity) are null in the embedded JSON data "
                "(JSON has no NaN); the tables show them as recorded.")
        model.input_notes = [n for n in model.input_notes if "non-finite" not in n] + [note]
    return get_environment().get_template("report.html.j2").render(m=model, data=data)


def write_csv_rows(model: ReportModel, fh) -> None:
    writer = csv.writer(fh)
    writer.writerow(model.table_columns)
    writer.writerows(["" if v is None else v for v in row] for row in model.table_rows)


def write_csv(model: ReportModel, path: Path) -> None:
    with atomic_write(path, "w", newline="", encoding="utf-8") as f:
        write_csv_rows(model, f)


def build(paths: list, output: Path, *, baseline: list[Row] | None = None,
          thresholds: Thresholds = Thresholds()) -> ReportModel:
    """Load, summarize, render and write ``output`` and the same-named .csv beside it: both are
    written to temporary files first and renamed only when both are complete, so a failed
    write leaves the previous pair as it was."""
    rows, notes = load_unique(paths)
    model = summarize(rows)
    model.input_notes = notes + model.input_notes
    if baseline is not None:
        model.regression = compare(rows, baseline, thresholds=thresholds)
    html = render(model)
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(output.parent)  # a killed earlier build's leftovers
    with atomic_write(output, "w", encoding="utf-8") as page:
        page.write(html)
        with atomic_write(output.with_suffix(".csv"), "w", newline="", encoding="utf-8") as table:
            write_csv_rows(model, table)
    return model


def finite_float(text: str) -> float:
    """A threshold: a finite number (NaN would make every comparison false: no regression ever)."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reports",
                                description="Render pytest-benchmark JSON as one HTML report.")
    p.add_argument("results", nargs="*", help="pytest-benchmark JSON files (default: newest under .benchmarks/)")
    p.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help=f"HTML file (default: {DEFAULT_OUTPUT})")
    p.add_argument("--root", default=".", help="where .benchmarks/ lives (default: current directory)")
    p.add_argument("--baseline", action="append", metavar="JSON|RUN_ID",
                   help="baseline results (a file, or a saved run id like 0001); repeatable")
    p.add_argument("--fail-on-regression", action="store_true", help="exit 1 if any case regressed")
    d = Thresholds()
    p.add_argument("--max-quality-drop", type=finite_float, default=d.quality_drop_pts, metavar="PTS",
                   help=f"accuracy drop in points that counts as a regression (default {d.quality_drop_pts:g})")
    p.add_argument("--max-perplexity-rise", type=finite_float, default=d.perplexity_rise_pct, metavar="PCT",
                   help=f"perplexity rise in percent (default {d.perplexity_rise_pct:g})")
    p.add_argument("--max-time-rise", type=finite_float, default=d.time_rise_pct, metavar="PCT",
                   help=f"time/latency rise in percent (default {d.time_rise_pct:g})")
    p.add_argument("--max-memory-rise", type=finite_float, default=d.memory_rise_pct, metavar="PCT",
                   help=f"peak memory rise in percent (default {d.memory_rise_pct:g})")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    if args.output.suffix.lower() == ".csv":  # the CSV goes beside the HTML, under the same name
        print(f"error: -o {args.output}: give the HTML file's name, e.g. {args.output.with_suffix('.html')}; "
              f"the CSV is written beside it as {args.output}", file=sys.stderr)
        return 2
    if args.output.is_dir():
        print(f"error: -o {args.output} is a folder; give the HTML file's name, e.g. {args.output / 'index.html'}",
              file=sys.stderr)
        return 2
    try:
        paths = [resolve_run(r, args.root) for r in args.results] or [get_default_input(args.root)]
        baseline = load([resolve_run(b, args.root) for b in args.baseline]) if args.baseline else None
        thresholds = Thresholds(args.max_quality_drop, args.max_perplexity_rise, args.max_time_rise,
                                args.max_memory_rise)
        model = build(paths, args.output, baseline=baseline, thresholds=thresholds)
    except ReportInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an output folder that is read-only, full, or not a folder
        print(f"error: cannot write the report {args.output}: {exc.strerror or exc} "
              f"({exc.filename or args.output.parent})", file=sys.stderr)
        return 2
    print(f"wrote {args.output} and {args.output.with_suffix('.csv')} "
          f"({model.n_runs} runs, {len(model.failures)} not passed)")
    if model.regression is not None:
        print(f"regression check: {model.regression.n_regressed} of {len(model.regression.rows)} cases regressed")
        if args.fail_on_regression and model.regression.n_regressed:
            return 1
    return 0
