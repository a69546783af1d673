"""A hard stop loses no finished case: each is journalled (fsync'd) as it ends, and the next
run or ``python -m reports`` recovers the journal of a killed run.

The kill test runs a tiny 4-case matrix in a subprocess and SIGKILLs it once two cases
are journalled (about a minute on 2 cores)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from fixtures.run.journal import get_stale_journals, recover
from reports.journal import HEADER_KEY, read_journal

HEADER = {HEADER_KEY: 1, "machine_info": {"node": "box"}, "commit_info": {}, "datetime": "2026-12-01", "version": "5"}


def entry(case: str) -> dict:
    return {"name": f"test_finetune[{case}]", "extra_info": {"case_id": case, "status": "passed"}, "stats": None}


def write_journal(path: Path, *lines, torn: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + torn)
    return path


def test_a_journal_reads_as_a_results_file_without_its_torn_last_line(tmp_path):
    path = write_journal(tmp_path / "journal_1_999999999.jsonl", HEADER, entry("a"), entry("b"), torn='{"name": "c", "ext')
    data = read_journal(path)
    assert [b["extra_info"]["case_id"] for b in data["benchmarks"]] == ["a", "b"]
    assert data["machine_info"] == {"node": "box"}


def test_the_next_run_recovers_a_dead_runs_journal_and_leaves_a_live_ones(tmp_path):
    from pytest_benchmark.storage.file import FileStorage

    class Logger:
        def info(self, *a, **k):
            pass

    storage = FileStorage(tmp_path / "store", logger=Logger(), default_machine_id="machine")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = write_journal(tmp_path / "store" / "machine" / f"journal_20261201_000000_{dead.pid}.jsonl",
                          HEADER, entry("a"), entry("b"))
    live = write_journal(tmp_path / "store" / "machine" / f"journal_20261201_000001_{os.getppid()}.jsonl",
                         HEADER, entry("c"))
    assert get_stale_journals(tmp_path / "store") == [stale]
    said = []
    (saved,) = recover(SimpleNamespace(storage=storage), said.append)
    assert saved.name.startswith("0001_recovered_") and not stale.exists() and live.exists()
    assert [b["extra_info"]["case_id"] for b in json.loads(saved.read_text())["benchmarks"]] == ["a", "b"]
    assert "recovered 2 finished case(s)" in said[0] and str(saved) in said[0]


def test_sigkill_after_two_cases_loses_neither(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    store = tmp_path / ".benchmarks"
    cases = ["lora-sst2-tiny-cpu-seed0", "full_ft-sst2-tiny-cpu-seed0", "hira-sst2-tiny-cpu-seed0",
             "lora_prune-sst2-tiny-cpu-seed0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *(f"bench/test_finetune.py::test_finetune[{c}]" for c in cases),
         "-p", "no:cacheprovider", "-q", "--set", "train.max_steps=2", "--set", "train.inference_rounds=2",
         "--benchmark-storage", str(store)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        deadline = time.monotonic() + 400
        journal = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(store.glob("*/journal_*.jsonl"))
            if found and len(found[0].read_text().splitlines()) >= 3:  # header + 2 cases
                journal = found[0]
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.2)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert journal is not None and proc.returncode == -signal.SIGKILL
    assert not list(store.glob("*/*.json"))  # nothing saved the normal way: the kill came first
    out = tmp_path / "report" / "index.html"
    report = subprocess.run([sys.executable, "-m", "reports", "--root", str(tmp_path), "-o", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    with open(out.with_suffix(".csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["case_id"] for r in rows) == sorted(cases[:2])
