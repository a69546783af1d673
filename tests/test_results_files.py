"""Results files are written atomically, and a real run's results are complete and portable.

The end-to-end test runs two tiny CPU cases in a subprocess (about a minute on 2 cores):
LoRA at an absurd learning rate (it diverges) and full fine-tuning after it (it passes).
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from fixtures.run import results_files
from fixtures.run.results_files import RESULTS_LOST, make_results_atomic
from reports.atomic import atomic_write, write_text

GOOD = {"machine_info": {}, "benchmarks": [{"name": "old"}]}


def get_leftovers(folder: Path) -> list[str]:
    """Temporary files a write left behind (there must be none)."""
    return sorted(p.name for p in folder.rglob("*.tmp"))


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.json"
    write_text(path, json.dumps(GOOD))
    for error in (ValueError("disk full"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with atomic_write(path, "w") as fh:
                fh.write('{"machine_info": {}, "bench')  # half a file
                raise error
        assert json.loads(path.read_text()) == GOOD
    assert get_leftovers(tmp_path) == []


def test_a_new_file_gets_normal_permissions(tmp_path):
    path = tmp_path / "report.csv"
    write_text(path, "a,b\n")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


class Logger:
    def info(self, *args, **kwargs):
        pass


def make_session(tmp_path):
    """pytest-benchmark's session and file storage, as a run would have them."""
    from pytest_benchmark.storage.file import FileStorage

    storage = FileStorage(tmp_path / "store", logger=Logger(), default_machine_id="machine")
    session = SimpleNamespace(json=tmp_path / "results.json", logger=Logger(), storage=storage)
    return SimpleNamespace(_benchmarksession=session), session


def test_an_open_file_from_older_pytest_benchmark_is_written_by_its_full_path(tmp_path, monkeypatch):
    config, session = make_session(tmp_path)
    monkeypatch.chdir(tmp_path / "..")
    with open(tmp_path / "results.json", "wb") as handle:  # pytest-benchmark < 5.3: argparse.FileType
        session.json = handle
        make_results_atomic(config)
        session.save_json(GOOD)
    assert json.loads((tmp_path / "results.json").read_text()) == GOOD
    assert not (tmp_path / ".." / "results.json").exists()


def test_benchmark_json_and_autosave_survive_a_failing_serialisation(tmp_path, monkeypatch):
    config, session = make_session(tmp_path)
    make_results_atomic(config)
    session.save_json(GOOD)
    session.storage.save(GOOD, "run")
    saved = tmp_path / "store" / "machine" / "0001_run.json"
    assert json.loads(session.json.read_text()) == GOOD and json.loads(saved.read_text()) == GOOD

    def explode(output_json):
        raise RuntimeError("serialisation failed half-way")

    monkeypatch.setattr(results_files, "get_json_bytes", explode)
    with pytest.raises(RuntimeError):
        session.save_json({"benchmarks": []})
    with pytest.raises(RuntimeError):
        session.storage.save({"benchmarks": []}, "run")
    assert json.loads(session.json.read_text()) == GOOD
    assert [p.name for p in saved.parent.iterdir()] == ["0001_run.json"]
    assert get_leftovers(tmp_path) == []


def test_without_pytest_benchmark_nothing_is_patched():
    make_results_atomic(SimpleNamespace())


CASES = ["lora-sst2-tiny-cpu-seed0", "hira-sst2-tiny-cpu-seed0", "full_ft-sst2-tiny-cpu-seed0"]


@pytest.fixture(scope="module")
def diverging_run(tmp_path_factory):
    """Three tiny CPU cases in a real pytest run: LoRA diverges (lr 1e30), HiRA hits a bug (a
    target module that does not exist), full FT then passes."""
    out = tmp_path_factory.mktemp("run")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    ids = [f"bench/test_finetune.py::test_finetune[{c}]" for c in CASES]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *ids, "-p", "no:cacheprovider", "-q", "--set", "lora.lr=1e30", "--set", 'hira.target_modules=["nope"]',
         "--benchmark-json", str(out / "results.json"), "--benchmark-storage", str(out / "store")],
        capture_output=True, text=True, timeout=600, env=env,
    )
    return SimpleNamespace(proc=proc, out=out)


def test_a_run_with_a_failure_exits_1_and_writes_every_case(diverging_run):
    proc, out = diverging_run.proc, diverging_run.out
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout[-3000:]
    (saved,) = (out / "store").rglob("*.json")
    for path in (out / "results.json", saved):
        records = {b["extra_info"]["case_id"]: b["extra_info"] for b in json.loads(path.read_text())["benchmarks"]}
        assert set(records) == set(CASES)
        lora, hira, full = (records[c] for c in CASES)
        assert lora["status"] == "diverged" and lora["failed_at_step"] > 0 and "step" in lora["error"]
        assert hira["status"] == "error" and hira["error"].startswith("NoMatchingPeftModuleError")
        assert full["status"] == "passed"  # the suite went on, unaffected
        assert lora["determinism"]["deterministic_algorithms"] is False
        assert "float32_matmul_precision" in full["determinism"]
    assert get_leftovers(out) == []


def test_results_hold_no_home_or_checkout_path(diverging_run):
    text = (diverging_run.out / "results.json").read_text()
    home, root = str(Path.home()), str(Path(__file__).resolve().parent.parent)
    assert root not in text
    if home != os.sep:
        assert f"{home}/" not in text and f'"{home}"' not in text


def test_a_run_whose_only_case_fails_before_timing_still_writes_it(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", f"bench/test_finetune.py::test_finetune[{CASES[0]}]", "-p", "no:cacheprovider",
         "-q", "--set", "lora.lr=1e30", "--benchmark-json", str(tmp_path / "results.json"),
         "--benchmark-storage", str(tmp_path / "store")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout[-3000:]
    (saved,) = (tmp_path / "store").rglob("*.json")
    for path in (tmp_path / "results.json", saved):
        (entry,) = json.loads(path.read_text())["benchmarks"]
        assert entry["extra_info"]["case_id"] == CASES[0] and entry["extra_info"]["status"] == "diverged"


def test_the_report_shows_the_status(diverging_run, tmp_path):
    html = tmp_path / "index.html"
    proc = subprocess.run(
        [sys.executable, "-m", "reports", str(diverging_run.out / "results.json"), "-o", str(html)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for status in ("diverged", "error"):  # as a status cell / CSV field, not any mention of the word
        assert f">{status}<" in html.read_text() and f",{status}," in html.with_suffix(".csv").read_text()
    assert get_leftovers(tmp_path) == []


# A plugin that takes the training loop's safe point away (as a long compilation or first step
# at 8B does) and shortens the grace after which a stop request escalates (fixtures.run.stop).
NO_SAFE_POINT = """
from fixtures.run import stop
from fixtures.training import train
stop.GRACE_SECONDS = 1.0
train.check_stop = lambda: None
"""


@pytest.mark.parametrize("safe_point", [True, False], ids=["at-a-step", "no-safe-point"])
def test_sigterm_mid_matrix_keeps_the_finished_cases(tmp_path, safe_point):
    """SIGTERM while the second case trains: the first case's result is on disk, valid; also
    when no safe point comes (the request escalates after its grace)."""
    import signal

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    plugin = []
    if not safe_point:
        (tmp_path / "no_safe_point.py").write_text(NO_SAFE_POINT)
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        plugin = ["-p", "no_safe_point"]
    first, second = CASES[2], CASES[0]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *(f"bench/test_finetune.py::test_finetune[{c}]" for c in (first, second)),
         "-p", "no:cacheprovider", *plugin, "-v", "-s", "--set", "train.max_steps=500",
         "--benchmark-json", str(tmp_path / "results.json"), "--benchmark-storage", str(tmp_path / "store")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    lines, training = [], False
    try:
        for line in proc.stdout:
            lines.append(line)
            training = training or line.startswith(f"# Train {second}")  # the second case's banner
            if training and line.lstrip().startswith("step "):  # its first loss reading: 20 of 500 steps done
                proc.send_signal(signal.SIGTERM)
                break
        output = "".join(lines) + proc.communicate(timeout=600)[0]
    finally:
        proc.kill()
    # pytest 9.2 on Python 3.11 can crash while reporting an interrupt that lands on a frame's
    # first instruction (exit 1, "tb_lineno"); the results are written before that either way
    assert proc.returncode in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.TESTS_FAILED), output[-3000:]
    assert ("no safe point within 1 s" in output) != safe_point, output[-3000:]
    benchmarks = json.loads((tmp_path / "results.json").read_text())["benchmarks"]
    # the finished case with its timing; the interrupted one as such, without partial stats
    expected = [(first, "timed"), (second, "interrupted")]
    assert [(b["extra_info"]["case_id"], "timed" if b["stats"] else b["extra_info"]["status"])
            for b in benchmarks] == expected
    (saved,) = (tmp_path / "store").rglob("*.json")
    assert [(b["extra_info"]["case_id"], "timed" if b["stats"] else b["extra_info"]["status"])
            for b in json.loads(saved.read_text())["benchmarks"]] == expected
    assert get_leftovers(tmp_path) == []


def test_a_benchmark_json_that_cannot_be_written_keeps_the_autosave_and_says_where(tmp_path, capsys):
    config, session = make_session(tmp_path)
    session.json = tmp_path / "gone" / "out.json"  # its folder vanished during the run

    def handle_saving():  # pytest-benchmark's order: --benchmark-json first, then the autosave
        session.save_json(GOOD)
        session.storage.save(GOOD, "run")

    session.handle_saving = handle_saving
    make_results_atomic(config)
    session.handle_saving()
    saved = tmp_path / "store" / "machine" / "0001_run.json"
    assert json.loads(saved.read_text()) == GOOD
    err = capsys.readouterr().err
    assert f"could not write --benchmark-json {session.json}" in err and str(saved) in err


def test_without_an_autosave_a_failed_benchmark_json_goes_to_a_rescue_file(tmp_path, capsys):
    config, session = make_session(tmp_path)
    session.json = tmp_path / "gone" / "out.json"
    session.handle_saving = lambda: session.save_json(GOOD)
    make_results_atomic(config)
    session.handle_saving()
    rescued = list((tmp_path / "store").rglob("rescued_*.json"))
    assert len(rescued) == 1 and json.loads(rescued[0].read_text()) == GOOD
    assert str(rescued[0]) in capsys.readouterr().err


def test_an_autosave_never_replaces_an_existing_file(tmp_path, monkeypatch):
    from pytest_benchmark.storage.file import FileStorage

    config, session = make_session(tmp_path)
    make_results_atomic(config)
    first = tmp_path / "store" / "machine" / "0001_run.json"
    first.parent.mkdir(parents=True)
    first.write_text(json.dumps({"machine_info": {}, "benchmarks": [{"name": "other run"}]}))
    # two runs started in the same second both computed 0001 before either wrote
    monkeypatch.setattr(FileStorage, "_next_num", property(lambda self: "0001"))
    session.storage.save(GOOD, "run")
    assert json.loads(first.read_text())["benchmarks"] == [{"name": "other run"}]
    assert json.loads((first.parent / "0002_run.json").read_text()) == GOOD
    assert get_leftovers(tmp_path) == []


def test_an_autosave_folder_that_cannot_be_written_rescues_the_results(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config, session = make_session(tmp_path)
    config.stash = {}
    (tmp_path / "store" / "machine").write_text("a file where the machine folder goes")  # unwritable, even for root
    session.handle_saving = lambda: session.storage.save(GOOD, "run")
    make_results_atomic(config)
    session.handle_saving()  # no crash
    (rescued,) = (tmp_path / "store").glob("rescued_*.json")  # beside the machine folder
    assert json.loads(rescued.read_text()) == GOOD
    assert str(rescued) in capsys.readouterr().err
    assert config.stash[RESULTS_LOST] == str(rescued)  # the run then exits non-zero


def test_a_journal_that_cannot_be_written_moves_to_the_temporary_folder_with_every_entry(tmp_path, capsys):
    from pytest_benchmark.storage.file import FileStorage

    from fixtures.run.journal import Journal
    from reports.journal import read_journal

    storage = FileStorage(tmp_path / "store", logger=Logger(), default_machine_id="machine")
    (tmp_path / "store" / "machine").write_text("a file where the machine folder goes")
    session = SimpleNamespace(storage=storage, benchmarks=[], get_machine_info=lambda: {"node": "box"})
    config = SimpleNamespace(_benchmarksession=session, rootpath=tmp_path, stash={},
                             hook=SimpleNamespace(pytest_benchmark_generate_commit_info=lambda config: {}))
    unfinished = [{"name": "a", "extra_info": {"case_id": "a", "status": "oom"}}]
    journal = Journal(config, lambda: unfinished)
    journal.record()
    unfinished.append({"name": "b", "extra_info": {"case_id": "b", "status": "oom"}})
    journal.record()
    try:
        assert journal.path.parent == Path(tempfile.gettempdir())
        assert [b["name"] for b in read_journal(journal.path)["benchmarks"]] == ["a", "b"]
        assert f"journalling to {journal.path} instead" in capsys.readouterr().err
    finally:
        journal.close()
    assert not journal.path.exists()


def test_a_case_names_its_model_before_anything_is_built():
    """A case that fails or stops before its model is built still lands in its model's block of
    the report: the record names the model from the case, the --model option or the tier."""
    from bench.matrix import CASES
    from bench.test_finetune import get_recorded_model

    cases = {c.id: c for c in CASES}
    options = {"models": {}, "datasets": {}}
    assert get_recorded_model(cases["qlora-sst2_instruct-real-gpu-seed0"], options) == "smollm2-135m"
    assert get_recorded_model(cases["lora-sst2-tiny-cpu-seed0"], options) == "tiny-llama"
    assert get_recorded_model(cases["lora-wikitext2-scale-llama-8b-gpu-seed0"], options) == "llama-8b"
    assert get_recorded_model(cases["lora-sst2-tiny-cpu-seed0"], {"models": {"sst2": "tiny-bert"}}) == "tiny-bert"
