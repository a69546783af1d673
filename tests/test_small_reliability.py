"""Small promises: an all-skipped run is no success, -k gets its own hint, stale temporary
files are cleaned up, and each marker is declared once."""

import configparser
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from fixtures.data.datasets import DataUnavailable
from fixtures.run.options import get_empty_selection_hint
from fixtures.run.skips import get_all_skipped_message, note_outcome
from reports.atomic import STALE_AFTER_S, remove_stale_temporaries

ROOT = Path(__file__).resolve().parents[1]


def skipped_for(error: Exception | None):
    """(call, report) of a case that skipped, with ``error`` as the skip's context."""
    try:
        try:
            raise error or RuntimeError("unrelated")
        except Exception:
            pytest.skip("reason")
    except pytest.skip.Exception as skip:
        if error is None:
            skip.__context__ = None
        excinfo = SimpleNamespace(value=skip)
    return SimpleNamespace(when="call", excinfo=excinfo), SimpleNamespace(skipped=True)


def run_cases(outcomes: list) -> SimpleNamespace:
    config = SimpleNamespace(stash={})
    for i, outcome in enumerate(outcomes):
        item = SimpleNamespace(nodeid=f"case{i}", config=config)
        if outcome == "ran":
            note_outcome(item, SimpleNamespace(when="call", excinfo=None), SimpleNamespace(skipped=False))
        else:
            note_outcome(item, *skipped_for(DataUnavailable("dataset sst2: no folder") if outcome == "data" else None))
    return config


def test_every_case_skipped_for_missing_data_is_said_and_fails():
    message = get_all_skipped_message(run_cases(["data", "data"]), "/data/empty")
    assert "every selected case (2) skipped because its data is missing (--data-dir /data/empty)" in message
    assert "--allow-all-skipped" in message
    assert get_all_skipped_message(run_cases(["data", "ran"]), None) is None
    assert get_all_skipped_message(run_cases(["data", "other"]), None) is None  # e.g. needs CUDA: not data
    assert get_all_skipped_message(run_cases([]), None) is None


def test_an_empty_data_dir_exits_non_zero_unless_allowed(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "pytest", "bench", "-m", "real and cpu and sst2 and lora", "-p", "no:cacheprovider",
               "--benchmark-disable", "-q", "--data-dir", str(tmp_path)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "skipped because its data is missing" in proc.stdout
    allowed = subprocess.run([*command, "--allow-all-skipped"], capture_output=True, text=True, timeout=300,
                             env=env, cwd=ROOT)
    assert allowed.returncode == 0, allowed.stdout[-3000:]


def test_the_empty_selection_hint_blames_the_option_that_selected_nothing():
    assert get_empty_selection_hint("", {}, keyword="dora").startswith("no case matches -k 'dora'.")
    assert "-k matches case ids" in get_empty_selection_hint("", {}, keyword="dora")
    both = get_empty_selection_hint("smoke", {}, keyword="dora")
    assert "-m 'smoke' together with -k 'dora'" in both
    assert get_empty_selection_hint("gpu and cpu", {}).startswith("no case matches -m 'gpu and cpu'.")


def test_stale_temporary_files_are_removed_and_fresh_ones_kept(tmp_path):
    (tmp_path / "m").mkdir()
    stale = tmp_path / "m" / ".0001_run.json.k3j_x9ab.tmp"
    fresh = tmp_path / ".results.json.abcdef12.tmp"  # another run writing right now
    other = tmp_path / ".notes.tmp"  # not a name atomic_write makes
    for path in (stale, fresh, other):
        path.write_text("{")
    old = time.time() - STALE_AFTER_S - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert fresh.exists() and other.exists()


def test_each_marker_is_declared_once():
    ini = configparser.ConfigParser()
    ini.read(ROOT / "pytest.ini")
    names = [line.split(":")[0].strip() for line in ini["pytest"]["markers"].strip().splitlines()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    ci = next(line for line in ini["pytest"]["markers"].splitlines() if line.strip().startswith("ci:"))
    assert "5,000" in ci  # bench/matrix.py: limit_train 5000
