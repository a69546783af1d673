"""reports.build: rendering, escaping, the CSV, the command line and its exit codes."""

import csv
import re
from pathlib import Path

import pytest

from reports import plots
from reports.build import main, render
from reports.load import load
from reports.summarize import summarize

DATA = Path(__file__).parent / "data"
MULTI = DATA / "run_multi_seed.json"


@pytest.fixture(scope="module")
def html():
    return render(summarize(load([MULTI])))


def test_page_has_sections_tables_and_inline_svg(html):
    for anchor in ('id="failures"', 'id="environment"', 'id="runs"', "Dataset: sst2", "Dataset: wikitext2"):
        assert anchor in html
    assert html.count("<svg") >= 10
    assert "Pareto frontier" in html
    assert "Compute sparsity per layer" in html
    assert "oom" in html and "failed_floor" in html


def test_self_contained(html):
    # No external fetches: no src/href to other hosts, no stylesheets or scripts by URL.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html and "url(http" not in html
    assert "<script src" not in html


def test_rendering_is_a_pure_function_of_the_json(html):
    rows = load([MULTI])
    assert render(summarize(rows, with_plots=False)) == render(summarize(rows, with_plots=False))
    # figures too: same input, same SVG bytes (fixed hash salt, no date)
    wiki = [r for r in rows if r.dataset == "wikitext2"]
    first, second = (summarize(wiki).datasets[0].plots for _ in range(2))
    assert [p.svg for p in first] == [p.svg for p in second]
    assert first[0].svg in html


@pytest.fixture
def no_plots(monkeypatch):
    """The command-line tests check files and exit codes; figures are covered above."""
    monkeypatch.setattr(plots, "make_dataset_plots", lambda *args, **kwargs: [])


def test_names_are_escaped():
    page = render(summarize(load([DATA / "run_evil_names.json"])))
    assert "<script>alert" not in page
    assert "<b>x</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # the script elements: the JSON data island, whose content tojson escapes, and the inline
    # table sorter (no external resource)
    assert page.count("<script") == 2 and '<script type="application/json"' in page
    assert "<script src" not in page and "http" not in page.split("<script>", 1)[1].split("</script>", 1)[0]


def test_cli_writes_html_and_csv(tmp_path, capsys, no_plots):
    out = tmp_path / "r" / "index.html"
    assert main([str(MULTI), str(DATA / "run_single_seed.json"), "-o", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    with out.with_name("index.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 23
    assert {r["status"] for r in table} >= {"passed", "failed_floor", "oom"}
    assert "wrote" in capsys.readouterr().out


def test_cli_regression_exit_codes(tmp_path, capsys, no_plots):
    out = str(tmp_path / "index.html")
    args = [str(MULTI), "-o", out, "--baseline", str(DATA / "baseline.json")]
    assert main(args) == 0
    assert main([*args, "--fail-on-regression"]) == 1
    assert "6 of 20 cases regressed" in capsys.readouterr().out
    assert "Regression against baseline" in Path(out).read_text()
    assert main([*args, "--fail-on-regression", "--max-quality-drop", "50", "--max-time-rise", "500"]) == 0


@pytest.mark.parametrize("content", ["", '{"machine_info": {}, "bench', '{"a": 1}'])
def test_cli_bad_input_exits_2(tmp_path, capsys, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main([str(bad), "-o", str(tmp_path / "x.html")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "x.html").exists()


def test_cli_missing_file_and_no_saved_runs(tmp_path, capsys):
    assert main([str(tmp_path / "nope.json")]) == 2
    assert main(["--root", str(tmp_path), "-o", str(tmp_path / "x.html")]) == 2
    assert "none saved" in capsys.readouterr().err


def test_sparse_results_still_render(tmp_path):
    """Older files and non-measured statuses: only identity keys, no metrics, curves or memory."""
    import json

    benches = [
        {"name": f"test_finetune[{m}-wikitext2-tiny-gpu-seed0]", "stats": {},
         "extra_info": {"case_id": f"{m}-wikitext2-tiny-gpu-seed0", "method": m, "dataset": "wikitext2",
                        "tier": "tiny", "hardware": "gpu", "seed": 0, "model": "tiny-llama", "status": status,
                        "loss_curve": [[0, float("nan")], [10, None]]}}
        for m, status in (("lora", "timeout"), ("hira", "diverged"), ("full_ft", "skipped"))
    ]
    benches.append({"name": "test_finetune[legacy]", "stats": {"median": 0.01}})
    path = tmp_path / "sparse.json"
    path.write_text(json.dumps({"machine_info": {"node": "old"}, "benchmarks": benches}))
    page = render(summarize(load([path])))
    for status in ("timeout", "diverged", "skipped"):
        assert f">{status}<" in page
    assert "no measured value" in page
