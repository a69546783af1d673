"""Small promises: an all-skipped run is no success (in CI, so is a skipped ci-tier case), -k gets its own hint, stale temporary
files are cleaned up, each marker is declared once, and pytest-xdist spreads unit tests only."""

import configparser
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from fixtures.data.datasets import DataUnavailable
from fixtures.run.options import check_not_distributed, get_empty_selection_hint
from fixtures.run.skips import get_all_skipped_message, get_ci_skip_message, note_outcome
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
        item = SimpleNamespace(nodeid=f"case{i}", config=config, get_closest_marker=lambda marker: None)
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

    def run(extra: list[str], run_env: dict) -> subprocess.CompletedProcess:
        return subprocess.run([*command, *extra], capture_output=True, text=True, timeout=300, env=run_env, cwd=ROOT)

    with ThreadPoolExecutor(max_workers=2) as pool:  # side by side: each spends seconds importing torch
        proc, allowed = pool.map(run, [[], ["--allow-all-skipped"]], [{**env, "CI": "true"}, env])
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "skipped because its data is missing" in proc.stdout
    # in CI the ci-tier case's skip is named with what it missed
    assert "CI is set and 1 ci-tier case(s) skipped" in proc.stdout
    assert "lora-sst2-ci-cpu-seed0: dataset sst2 unavailable" in proc.stdout
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


def ci_item(config, name: str):
    return SimpleNamespace(nodeid=f"bench/test_finetune.py::test_finetune[{name}]", config=config,
                           get_closest_marker=lambda marker: marker == "ci" or None)


def test_in_ci_a_skipped_ci_case_fails_the_run_naming_what_it_missed():
    config = SimpleNamespace(stash={})
    skip = SimpleNamespace(skipped=True, longrepr=("bench/test_finetune.py", 115, "Skipped: model pack missing"))
    note_outcome(ci_item(config, "lora-sst2-ci-cpu-seed0"), SimpleNamespace(when="setup", excinfo=None), skip)
    message = get_ci_skip_message(config, {"CI": "true"})
    assert "1 ci-tier case(s) skipped" in message and "lora-sst2-ci-cpu-seed0: model pack missing" in message
    for off in ({}, {"CI": ""}, {"CI": "false"}, {"CI": "0"}):  # elsewhere a skip is fine
        assert get_ci_skip_message(config, off) is None
    ran = SimpleNamespace(stash={})
    note_outcome(ci_item(ran, "lora-sst2-ci-cpu-seed0"), SimpleNamespace(when="call", excinfo=None),
                 SimpleNamespace(skipped=False))
    assert get_ci_skip_message(ran, {"CI": "true"}) is None


def test_the_missing_data_message_advises_unsetting_offline_variables_only_when_one_is_set(monkeypatch):
    import fixtures.data.datasets as datasets
    from fixtures.data.tasks import TASKS
    from fixtures.training.settings import TrainSettings

    def fail_hub(name, **kwargs):
        raise DataUnavailable(f"dataset {name}: hub failed (no network)")

    monkeypatch.setattr(datasets, "load_hub", fail_hub)
    for name in datasets.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DataUnavailable) as online:
        datasets.get_real_data("sst2", TASKS["sst2"], settings=TrainSettings(), data_dir=None, extra={})
    assert "unset the HF offline variables" not in str(online.value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailable) as offline:
        datasets.get_real_data("sst2", TASKS["sst2"], settings=TrainSettings(), data_dir=None, extra={})
    assert "unset the HF offline variables" in str(offline.value)


def test_xdist_spreads_unit_tests_only():
    def config(*args, workers=2):
        return SimpleNamespace(getoption=lambda name, default=None: {"numprocesses": workers}.get(name, default),
                               rootpath=ROOT, args=list(args),
                               invocation_params=SimpleNamespace(dir=ROOT / "tests"))

    check_not_distributed(config(".", "test_stop.py::test_a_second_signal_stops_at_once"))
    check_not_distributed(config("../bench", workers=None))  # no -n: the bench as usual
    for args in (["../bench/test_finetune.py"], [".", "../bench"], [".."]):
        with pytest.raises(pytest.UsageError, match="python -m bench.shard"):
            check_not_distributed(config(*args))
