"""reports.load: reading, merging and rejecting pytest-benchmark JSON."""

import json
import re
import os
from pathlib import Path

import pytest

from reports.load import ReportInputError, get_default_input, load, resolve_run

DATA = Path(__file__).parent / "data"
MULTI = DATA / "run_multi_seed.json"
SINGLE = DATA / "run_single_seed.json"


def test_rows_are_flat_and_keep_every_status():
    rows = load([MULTI])
    assert len(rows) == 20
    statuses = {r.status for r in rows}
    assert {"passed", "failed_floor", "oom"} <= statuses
    lora0 = next(r for r in rows if r.case_id == "lora-sst2-tiny-cpu-seed0")
    assert (lora0.method, lora0.dataset, lora0.tier, lora0.hardware, lora0.seed) == ("lora", "sst2", "tiny", "cpu", 0)
    assert lora0.latency["median"] == pytest.approx(0.004)
    assert lora0.source.machine_info["packages"]["torch"] == "2.4.0"
    assert lora0.peak_gpu is None


def test_files_merge():
    rows = load([MULTI, SINGLE])
    assert len(rows) == 23
    assert {r.source.path for r in rows} == {"tests/data/run_multi_seed.json", "tests/data/run_single_seed.json"}


def test_missing_keys_are_tolerated(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"machine_info": {}, "benchmarks": [
        {"name": "test_finetune[lora-sst2-tiny-cpu-seed0]", "stats": {"median": 0.1}}]}))
    (row,) = load([path])
    assert row.case_id == "lora-sst2-tiny-cpu-seed0"
    assert (row.method, row.status, row.seed) == ("?", "unknown", None)


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "file is empty"),
    ('{"machine_info": {}, "benchmarks": [{"name": ', "not valid JSON (truncated?)"),
    ('{"results": []}', "not a pytest-benchmark result"),
    ("[1, 2]", "not a pytest-benchmark result"),
    ('{"machine_info": {}, "benchmarks": []}', "no benchmarks"),
])
def test_bad_input_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ReportInputError, match=re.escape(message)):
        load([path])


def test_default_input_is_newest_saved_run(tmp_path):
    with pytest.raises(ReportInputError, match="none saved"):
        get_default_input(tmp_path)
    folder = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    old, new = folder / "0001_a.json", folder / "0002_b.json"
    old.write_text("{}")
    new.write_text("{}")
    os.utime(old, (1, 1))
    assert get_default_input(tmp_path) == new
    assert resolve_run("0001", tmp_path) == old
    assert resolve_run(str(MULTI), tmp_path) == MULTI
    with pytest.raises(ReportInputError, match="no saved run 0009"):
        resolve_run("0009", tmp_path)


def test_a_storage_folder_given_as_a_result_is_its_newest_run(tmp_path):
    """``--benchmark-storage=DIR`` then ``python -m reports DIR``: the newest run saved there; a
    folder without saved runs is a usage error naming what it holds."""
    storage = tmp_path / "store"
    folder = storage / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    old, new = folder / "0001_a.json", folder / "0002_b.json"
    old.write_text("{}")
    new.write_text("{}")
    os.utime(old, (1, 1))
    assert resolve_run(str(storage), tmp_path) == new
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "run.json").write_text("{}")
    with pytest.raises(ReportInputError, match=r"no saved run .*\(it holds run.json: pass them, e.g. .*flat/\*\.json\)"):
        resolve_run(str(flat), tmp_path)
