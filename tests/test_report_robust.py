"""python -m reports on odd input and output: a message and exit 2, never a traceback; the HTML
and CSV are replaced together or not at all; the embedded JSON is valid; no absolute paths;
the same run given twice counts once."""

import json
import shutil
from pathlib import Path

import pytest

from reports import build
from reports.build import main

DATA = Path(__file__).parent / "data"
MULTI = DATA / "run_multi_seed.json"
SINGLE = DATA / "run_single_seed.json"


def run(capsys, *args) -> tuple[int, str]:
    code = main([*map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_extra_info_as_a_list_is_input_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"machine_info": {}, "benchmarks": [{"name": "x", "extra_info": ["a"]}]}))
    code, text = run(capsys, bad, "-o", tmp_path / "out" / "index.html")
    assert code == 2 and "extra_info is a list, expected an object" in text and "Traceback" not in text


def test_an_output_that_is_a_folder_is_refused(tmp_path, capsys):
    code, text = run(capsys, SINGLE, "-o", tmp_path)
    assert code == 2 and "is a folder" in text


def test_an_unwritable_output_folder_is_an_error_not_a_traceback(tmp_path, capsys, monkeypatch):
    import reports.atomic

    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(reports.atomic.tempfile, "mkstemp", refuse)  # a read-only folder (root ignores chmod)
    code, text = run(capsys, SINGLE, "-o", tmp_path / "ro" / "index.html")
    assert code == 2 and "cannot write the report" in text and "Permission denied" in text


def test_a_failed_csv_write_leaves_the_old_html_and_csv(tmp_path, capsys, monkeypatch):
    out = tmp_path / "index.html"
    assert run(capsys, SINGLE, "-o", out)[0] == 0
    before = out.read_text(), out.with_suffix(".csv").read_text()

    def disk_full(model, fh):
        fh.write("case_id,")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build, "write_csv_rows", disk_full)
    code, text = run(capsys, MULTI, "-o", out)
    assert code == 2 and "No space left" in text
    assert (out.read_text(), out.with_suffix(".csv").read_text()) == before
    assert not list(tmp_path.glob(".*.tmp"))


def get_embedded(html: str) -> str:
    return html.split('id="report-data">', 1)[1].split("</script>", 1)[0]


def test_nan_and_infinity_are_null_in_the_embedded_json(tmp_path, capsys):
    data = json.loads(SINGLE.read_text())
    data["benchmarks"][0]["extra_info"]["accuracy"] = float("nan")
    data["benchmarks"][0]["extra_info"]["train_seconds"] = float("inf")
    src = tmp_path / "nan.json"
    src.write_text(json.dumps(data))
    out = tmp_path / "index.html"
    assert run(capsys, src, "-o", out)[0] == 0
    html = out.read_text()

    def refuse(name):
        raise ValueError(f"{name} in the embedded JSON")

    json.loads(get_embedded(html), parse_constant=refuse)  # strict JSON
    assert "2 non-finite value(s)" in html


def test_the_report_shows_no_absolute_input_path(tmp_path, capsys, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "home" / "work"
    (work / "runs").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    shutil.copy(SINGLE, work / "runs" / "a.json")
    shutil.copy(MULTI, home / "b.json")
    monkeypatch.chdir(work)
    out = work / "out" / "index.html"
    assert run(capsys, work / "runs" / "a.json", home / "b.json", "-o", out)[0] == 0
    html = out.read_text() + out.with_suffix(".csv").read_text()
    assert str(tmp_path) not in html
    assert "runs/a.json" in html and "~/b.json" in html


def test_the_same_run_twice_counts_once_and_says_so(tmp_path, capsys):
    out = tmp_path / "once.html"
    assert run(capsys, SINGLE, "-o", out)[0] == 0
    copy = tmp_path / "copy.json"
    shutil.copy(SINGLE, copy)
    twice = tmp_path / "twice.html"
    code, text = run(capsys, SINGLE, SINGLE, copy, "-o", twice)
    assert code == 0
    n_once = out.with_suffix(".csv").read_text().count("\n")
    assert twice.with_suffix(".csv").read_text().count("\n") == n_once
    html = twice.read_text()
    assert "was given more than once" in html and "identical duplicate run(s) counted once" in html


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_non_finite_threshold_is_refused(value, capsys):
    with pytest.raises(SystemExit) as info:
        main([str(SINGLE), f"--max-time-rise={value}"])
    assert info.value.code == 2 and "not a finite number" in capsys.readouterr().err


def test_repeated_seeds_are_refused():
    from fixtures.run.options import parse_seeds

    assert parse_seeds("0,1,2") == [0, 1, 2]
    with pytest.raises(pytest.UsageError, match="seed\\(s\\) 0 repeated"):
        parse_seeds("0,0")
