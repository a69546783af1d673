"""Sharding across workers: claims run each case once, the launcher merges the shards."""

import importlib.util
import json
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path
import time
from types import SimpleNamespace

import pytest

from bench.shard import Worker, get_exit_status, get_parser, get_pytest_command, get_workers
from bench.shard import main as shard_main
from fixtures.run.claims import (ClaimWriteError, claim, get_claim_order, get_nextitem, is_claimed, iter_claimed,
                                 mark_done, read_claims, read_interrupted, release_unfinished)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
NODEIDS = [f"bench/test_finetune.py::test_finetune[case{i}]" for i in range(40)]


def test_claim_is_first_come(tmp_path):
    assert claim(tmp_path, NODEIDS[0], worker="gpu0")
    assert not claim(tmp_path, NODEIDS[0], worker="gpu1")
    assert is_claimed(tmp_path, NODEIDS[0]) and not is_claimed(tmp_path, NODEIDS[1])
    (record,) = read_claims(tmp_path)
    assert (record["nodeid"], record["worker"], record["pid"]) == (NODEIDS[0], "gpu0", os.getpid())


def test_two_claimers_take_turns_and_run_each_case_once(tmp_path):
    a = iter_claimed(NODEIDS, tmp_path, worker="gpu0")
    b = iter_claimed(NODEIDS, tmp_path, worker="gpu1")
    ran = {"gpu0": [], "gpu1": []}
    # gpu0 is three times slower: it asks for a case once for every three gpu1 asks
    for turn in range(len(NODEIDS)):
        for name, claimer in (("gpu0", a), ("gpu1", b)) if turn % 3 == 0 else (("gpu1", b),):
            index = next(claimer, None)
            if index is not None:
                ran[name].append(index)
    assert sorted(ran["gpu0"] + ran["gpu1"]) == list(range(len(NODEIDS)))
    assert len(ran["gpu1"]) > 2 * len(ran["gpu0"])  # the faster one took more
    assert {c["worker"] for c in read_claims(tmp_path)} == {"gpu0", "gpu1"}


def claim_all(claim_dir: str, worker: str) -> list[int]:
    return list(iter_claimed(NODEIDS, claim_dir, worker=worker))


def test_claims_from_concurrent_processes_never_overlap(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(claim_all, [(str(tmp_path), "w0"), (str(tmp_path), "w1")])
    assert sorted(results[0] + results[1]) == list(range(len(NODEIDS)))


def make_items(layout: str):
    """Fake items: "AAB" = two items of module A, then one of module B (same session)."""
    session = object()
    modules = {name: object() for name in set(layout)}
    items = [SimpleNamespace(nodeid=f"{m}::t{i}") for i, m in enumerate(layout)]
    chains = [[session, modules[m]] for m in layout]
    return items, chains


def test_nextitem_keeps_the_module_when_every_remaining_case_shares_it(tmp_path):
    items, chains = make_items("AAA")
    assert get_nextitem(0, items, chains, tmp_path) is items[1]
    claim(tmp_path, items[1].nodeid, worker="other")
    assert get_nextitem(0, items, chains, tmp_path) is items[2]
    claim(tmp_path, items[2].nodeid, worker="other")
    assert get_nextitem(0, items, chains, tmp_path) is None


def test_nextitem_is_none_when_a_wrong_guess_would_leave_the_wrong_module_set_up(tmp_path):
    items, chains = make_items("AAB")
    # guessing A's second item would keep module A set up, but the next case this process
    # gets may be B's (if another process takes A's): only None is safe
    assert get_nextitem(0, items, chains, tmp_path) is None
    claim(tmp_path, items[1].nodeid, worker="other")
    assert get_nextitem(0, items, chains, tmp_path) is items[2]


def test_the_real_data_cases_are_claimed_first_each_group_in_collection_order():
    def item(name, *markers):
        return SimpleNamespace(nodeid=name, get_closest_marker=lambda m: m if m in markers else None)

    items = [item("tiny0", "smoke"), item("ci0", "real", "ci"), item("tiny1", "smoke"), item("real0", "real")]
    assert [i.nodeid for i in get_claim_order(items)] == ["ci0", "real0", "tiny0", "tiny1"]


CONFTEST = """
import pytest
from fixtures.run.claims import run_claimed

def pytest_addoption(parser):
    parser.addoption("--claim-dir", default=None)

@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    claim_dir = session.config.getoption("claim_dir")
    return run_claimed(session, claim_dir) if claim_dir else None
"""

TESTS = """
import os
import pytest

@pytest.fixture(scope="session")
def expensive():
    with open(os.environ["SETUPS"], "a") as f:
        f.write("setup\\n")

@pytest.mark.parametrize("i", range(6))
def test_case(i, expensive):
    assert i != 4
"""


def test_run_loop_runs_claimed_cases_keeps_session_fixtures_and_fails_like_pytest(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("SETUPS", str(tmp_path / "setups"))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_cases=TESTS)
    claims = tmp_path / "claims"
    claim(claims.mkdir() or claims, "test_cases.py::test_case[0]", worker="other")

    first = pytester.runpytest_subprocess(f"--claim-dir={claims}")
    first.assert_outcomes(passed=4, failed=1)  # case 0 belongs to "another process"
    assert (tmp_path / "setups").read_text().count("setup") == 1  # not once per case
    second = pytester.runpytest_subprocess(f"--claim-dir={claims}")
    second.assert_outcomes()  # everything claimed: nothing left, and that is not a failure
    assert second.ret == 0
    stopped = pytester.runpytest_subprocess(f"--claim-dir={tmp_path / 'fresh'}", "-x")
    stopped.assert_outcomes(passed=4, failed=1)  # -x stops at case 4
    listed = pytester.runpytest_subprocess(f"--claim-dir={tmp_path / 'listed'}", "--collect-only")
    assert listed.ret == 0 and not (tmp_path / "listed").exists()


def test_get_workers():
    assert get_workers("cpu:2") == [Worker("cpu0", ""), Worker("cpu1", "")]
    assert get_workers("0") == [Worker("gpu0", "0")]
    assert get_workers("2,3") == [Worker("gpu2", "2"), Worker("gpu3", "3")]
    for bad in ("cpu:0", "cpu:x", "0,0", ","):
        with pytest.raises(ValueError, match="--gpus"):
            get_workers(bad)


def test_get_pytest_command_adds_bench_unless_paths_are_given(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    plain = get_pytest_command(Worker("gpu0", "0"), 0, ["-m", "smoke"], tmp_path)
    assert plain[1:5] == ["-m", "pytest", "bench", "-m"]
    assert f"--benchmark-json={tmp_path / 'shard-0.json'}" in plain
    assert f"--claim-dir={tmp_path / 'claims'}" in plain
    named = get_pytest_command(Worker("gpu1", "1"), 1, ["bench/test_finetune.py::test_finetune"], ROOT / "out")
    assert named[3] == "bench/test_finetune.py::test_finetune" and "bench" not in named
    folder = get_pytest_command(Worker("gpu0", "0"), 0, ["-q", "tests"], tmp_path)
    assert folder[3:5] == ["-q", "tests"]


def test_get_pytest_command_tells_an_option_value_from_a_test_path(tmp_path, monkeypatch):
    """``--data-dir DIR`` names a folder that holds no tests: the run must still get ``bench``
    (before, every worker got no test path and exited with a usage error)."""
    (tmp_path / "data" / "sst2").mkdir(parents=True)
    (tmp_path / "data" / "notes.txt").write_text("x")
    monkeypatch.chdir(ROOT)
    for value in (str(tmp_path / "data"), str(tmp_path / "data" / "notes.txt")):
        command = get_pytest_command(Worker("gpu0", "0"), 0, ["-m", "real", "--data-dir", value], tmp_path)
        assert command[3] == "bench", value


@pytest.mark.parametrize("codes, status", [
    ([0, 0], 0),
    ([0, 5], 0),   # one worker found every case taken: fine
    ([5, 5], 5),   # nothing selected at all
    ([1, 0], 1),
    ([1, 2], 2),
    ([0, -9], 137),
    ([], 0),
])
def test_exit_status(codes, status):
    assert get_exit_status(codes) == status


# Three tiny cases, for the launcher tests that run real cases (markers: exact method names).
SELECTION = ["-m", "smoke and sst2 and cpu and (lora or full_ft or hira) and not (multigpu or instruct)"]


def run_selection(executor: list[str], out: Path) -> subprocess.CompletedProcess:
    """``python -m bench.shard`` over ``SELECTION`` with ``executor``'s options, into ``out``."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "bench.shard", *executor, "--out", str(out), "--", *SELECTION],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """One run of ``SELECTION`` on two local CPU workers, shared by the tests that read it (each
    start spends seconds importing torch in the launcher's children and minutes of CPU in cases)."""
    out = tmp_path_factory.mktemp("local") / "out"
    return SimpleNamespace(done=run_selection(["--gpus", "cpu:2"], out), out=out)


def test_two_cpu_workers_run_each_case_once_and_merge_one_report(local_run):
    done, out = local_run.done, local_run.out
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    ran = {}
    for shard in sorted(out.glob("shard-*.json")):
        for entry in json.loads(shard.read_text())["benchmarks"]:
            assert entry["extra_info"]["worker"] in ("cpu0", "cpu1")
            ran.setdefault(entry["extra_info"]["case_id"], []).append(entry["extra_info"]["worker"])
    assert sorted(ran) == ["full_ft-sst2-tiny-cpu-seed0", "hira-sst2-tiny-cpu-seed0", "lora-sst2-tiny-cpu-seed0"]
    assert all(len(workers) == 1 for workers in ran.values()), ran
    assert {c["nodeid"].split("[")[1].rstrip("]") for c in read_claims(out / "claims")} == set(ran)
    assert (out / "report" / "index.html").stat().st_size > 0
    assert "[cpu0]" in done.stdout and "cases/minute" in done.stdout


def test_pretrain_cache_keeps_the_copy_of_a_worker_that_finished_first(tmp_path, monkeypatch):
    from transformers import BertConfig

    from fixtures.models import pretrain

    monkeypatch.setenv("PEFT_BENCH_CACHE", str(tmp_path / "cache"))
    def get_config():  # fresh each time, as in make_tiny_model (building a model edits its config)
        return BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)

    monkeypatch.setattr(pretrain, "pretrain", lambda *args, **kwargs: None)
    path = pretrain.get_pretrained_dir("tiny-x", get_config(), None, family="bert")
    (path / "winner").write_text("")
    path.rename(tmp_path / "aside")

    def other_worker_finishes_meanwhile(*args, **kwargs):
        (tmp_path / "aside").rename(path)

    monkeypatch.setattr(pretrain, "pretrain", other_worker_finishes_meanwhile)
    assert pretrain.get_pretrained_dir("tiny-x", get_config(), None, family="bert") == path
    assert (path / "winner").exists()  # the other worker's copy, kept whole
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary folder left


def test_sighup_reaches_the_workers_like_sigterm():
    import signal

    from bench.shard import forward_signals

    class Proc:
        sent: list = []

        def poll(self):
            return None

        def send_signal(self, signum):
            self.sent.append(signum)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        proc = Proc()
        forward_signals([proc])
        signal.raise_signal(signal.SIGHUP)
        assert proc.sent == [signal.SIGHUP]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


ORPHAN = """
import os, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", '''
import time
from fixtures.run import stop
from fixtures.run.launcher import follow_launcher
stop.install()
follow_launcher()
print("ready", flush=True)
while True:
    stop.check()
    time.sleep(0.05)
'''], env={**os.environ, "PEFT_BENCH_LAUNCHER_PID": str(os.getpid())}, stdout=sys.stdout)
print(child.pid, flush=True)
child.wait()
"""


def test_a_worker_ends_when_its_launcher_is_killed():
    import os
    import signal
    import subprocess
    import sys
    import time

    launcher = subprocess.Popen([sys.executable, "-c", ORPHAN], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": os.getcwd()})
    child = int(launcher.stdout.readline())
    assert launcher.stdout.readline().strip() == "ready"
    launcher.send_signal(signal.SIGKILL)  # no chance to pass a signal on
    launcher.wait()
    launcher.stdout.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{child}/stat") as fh:
            if fh.read().split()[2] == "Z":  # ended; a zombie until reaped
                return
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the orphaned worker kept running")


# A launcher whose children are sleepers: the cache warm-up, one worker, and a multi-GPU case
# left for worker "all"; each sleeper prints its pid and "ready", and exits 2 on SIGTERM or SIGHUP.
SLEEPER = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(2))
signal.signal(signal.SIGHUP, lambda *a: sys.exit(2))
print(os.getpid(), "ready", sys.argv[1], flush=True)
time.sleep(120)
"""
LAUNCHER = """
import sys
from pathlib import Path
from bench import shard
sleeper = [sys.executable, "-c", SLEEPER]
shard.get_warm_command = lambda real: [*sleeper, "warm"]
shard.get_pytest_command = lambda worker, index, args, out: [*sleeper, worker.name]
shard.read_deferred = lambda folder: ["lora-sst2-tiny-cpu-gpus2-seed0"]
sys.exit(shard.main(sys.argv[1:]))
"""


def start_launcher(tmp_path, *args):
    script = f"SLEEPER = {SLEEPER!r}\n" + LAUNCHER
    return subprocess.Popen([sys.executable, "-c", script, "--gpus", "cpu:1", "--out", str(tmp_path / "out"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def wait_for_sleeper(launcher, name: str) -> int:
    """The pid of the sleeper ``name``, read from the launcher's output."""
    for line in launcher.stdout:
        if line.endswith(f"ready {name}\n"):
            return int(line.split()[-3])
        if line.startswith("[shard] all:"):
            break
    raise AssertionError(f"no sleeper {name}: {launcher.stderr.read()[-2000:]}")


def assert_gone(pid: int, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split()[2] == "Z":  # ended; a zombie until reaped
                    return
        except FileNotFoundError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"child {pid} kept running")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_the_first_signal_stops_the_launcher_and_starts_nothing_more(tmp_path, signum):
    launcher = start_launcher(tmp_path, "--no-warm")
    worker = wait_for_sleeper(launcher, "cpu0")
    launcher.send_signal(signum)
    out, err = launcher.communicate(timeout=30)
    assert launcher.returncode == 2, err
    assert "ready all" not in out  # the multi-GPU case's worker never started
    assert "1 multi-GPU case(s) not run" in err
    assert_gone(worker)


def test_a_signal_during_the_cache_warm_up_ends_the_warm_child_and_starts_no_worker(tmp_path):
    launcher = start_launcher(tmp_path)
    warm = wait_for_sleeper(launcher, "warm")
    launcher.send_signal(signal.SIGTERM)
    out, err = launcher.communicate(timeout=30)
    assert launcher.returncode == 2 and "while warming the caches; no worker started" in err
    assert "ready cpu0" not in out
    assert_gone(warm)


def test_the_warm_child_ends_when_its_launcher_is_killed(tmp_path):
    launcher = start_launcher(tmp_path)
    warm = wait_for_sleeper(launcher, "warm")
    launcher.send_signal(signal.SIGKILL)  # no chance to pass a signal on: the kernel's parent-death signal
    launcher.wait()
    launcher.stdout.close()
    launcher.stderr.close()
    assert_gone(warm)


KILLED = """
import os, signal, pytest

@pytest.mark.parametrize("i", range(4))
def test_case(i):
    with open(os.environ["RAN"], "a") as f:
        f.write(f"{i}\\n")
    if i == 2 and not os.path.exists(os.environ["SURVIVE"]):
        open(os.environ["SURVIVE"], "w").close()
        os.kill(os.getpid(), signal.SIGKILL)  # as SLURM's time limit or a node failure would
"""


def run_shard(args: list[str], cwd, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.shard", "--no-warm", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **env))


def test_a_killed_worker_leaves_its_case_interrupted_and_a_resubmission_runs_only_the_rest(tmp_path):
    pytest.importorskip("submitit")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_cases.py").write_text(KILLED)
    out, ran = tmp_path / "out", tmp_path / "ran"
    env = {"RAN": str(ran), "SURVIVE": str(tmp_path / "survive")}
    args = ["--out", str(out), "--no-report", "--", str(tmp_path / "test_cases.py"), "-p", "no:cacheprovider"]
    first = run_shard(["--gpus", "cpu:1", *args], tmp_path, **env)
    assert first.returncode == 137, first.stdout[-3000:] + first.stderr[-2000:]
    assert ran.read_text().split() == ["0", "1", "2"]
    collected = run_shard(["--collect", str(out), "--no-report"], tmp_path, **env)
    assert collected.returncode == 1, collected.stdout + collected.stderr
    assert "2 of 4 selected cases finished" in collected.stdout
    assert "claimed, not finished: test_cases.py::test_case[2] (cpu0)" in collected.stdout
    assert "not run yet: test_cases.py::test_case[3]" in collected.stdout

    second = run_shard(["--executor", "submitit-local", "--tasks", "2", *args], tmp_path, **env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
    assert ran.read_text().split() == ["0", "1", "2", "2", "3"]  # finished cases never ran twice
    assert "2 finished case(s) kept and not run again; 1 interrupted case(s) released" in second.stdout
    (record,) = read_interrupted(out / "claims")
    assert (record["nodeid"], record["worker"]) == ("test_cases.py::test_case[2]", "cpu0")
    assert record["status"] == "interrupted"
    again = run_shard(["--collect", str(out), "--no-report"], tmp_path, **env)
    assert again.returncode == 0 and "4 of 4 selected cases finished" in again.stdout, again.stdout


def test_release_unfinished_records_the_schedulers_reason(tmp_path):
    claim(tmp_path, NODEIDS[0], worker="task7_0")
    claim(tmp_path, NODEIDS[1], worker="task7_1")
    mark_done(tmp_path, NODEIDS[1])
    (record,) = release_unfinished(tmp_path, {"task7_0": "job 7_0: TIMEOUT"})
    assert (record["nodeid"], record["reason"]) == (NODEIDS[0], "job 7_0: TIMEOUT")
    assert not is_claimed(tmp_path, NODEIDS[0]) and is_claimed(tmp_path, NODEIDS[1])
    assert read_interrupted(tmp_path) == [record]


def test_a_claim_that_cannot_be_written_stops_the_worker(tmp_path):
    with pytest.raises(ClaimWriteError, match="storage all nodes share"):
        claim(tmp_path / "missing", NODEIDS[0], worker="gpu0")


def test_bad_cluster_options_are_usage_errors_before_submitting(tmp_path, monkeypatch):
    import builtins

    from bench import executors

    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch
    base = ["--out", str(tmp_path / "out"), "--no-warm", "--"]
    if importlib.util.find_spec("submitit") is not None:
        for argv, message in ((["--executor", "slurm", "--tasks", "2"], "sbatch is not on PATH"),
                              (["--executor", "slurm"], "needs --tasks N"),
                              (["--executor", "slurm", "--tasks", "2", "--sbatch", "qos"], "--sbatch qos")):
            with pytest.raises(SystemExit) as stop:
                shard_main([*argv, *base])
            assert stop.value.code == 2
            assert message in executors.check_options(get_parser().parse_args(argv)), argv
    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "submitit" else real_import(name, *a, **k))
    assert "peft-bench[cluster]" in executors.check_options(get_parser().parse_args(["--executor", "slurm"]))
    assert not (tmp_path / "out").exists()  # nothing submitted, nothing written


def test_submitit_array_finishes_the_same_ids_as_local_workers(local_run, tmp_path):
    """The SLURM path through submitit's local executor, against --executor local, on one selection."""
    pytest.importorskip("submitit")
    finished = {}
    submitit = tmp_path / "submitit"
    runs = {"local": local_run, "submitit": SimpleNamespace(
        done=run_selection(["--executor", "submitit-local", "--tasks", "2"], submitit), out=submitit)}
    for name, run in runs.items():
        done, out = run.done, run.out
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        ids = [e["extra_info"]["case_id"] for s in out.glob("shard-*.json")
               for e in json.loads(s.read_text())["benchmarks"]]
        assert len(ids) == len(set(ids))  # each case once
        finished[name] = (sorted(ids), sorted(c["nodeid"] for c in read_claims(out / "claims")))
        assert (out / "report" / "index.html").stat().st_size > 0
    assert finished["submitit"] == finished["local"] and len(finished["local"][0]) == 3, finished


def test_submitit_array_and_local_workers_claim_the_same_cases(tmp_path):
    """The fast CI form of the slow test above: a 4-case suite through both executors."""
    pytest.importorskip("submitit")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_cases.py").write_text(KILLED)
    (tmp_path / "survive").write_text("")  # no case kills its worker here
    claimed = {}
    runs = {"local": ["--gpus", "cpu:2"], "submitit": ["--executor", "submitit-local", "--tasks", "2"]}
    for name, executor in runs.items():
        out = tmp_path / name
        done = run_shard([*executor, "--out", str(out), "--no-report", "--", str(tmp_path / "test_cases.py"),
                          "-p", "no:cacheprovider"], tmp_path, RAN=str(tmp_path / f"ran-{name}"),
                         SURVIVE=str(tmp_path / "survive"))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert sorted((tmp_path / f"ran-{name}").read_text().split()) == ["0", "1", "2", "3"]  # each once
        claimed[name] = sorted(c["nodeid"] for c in read_claims(out / "claims"))
        prefix = "task" if name == "submitit" else "cpu"
        assert all(c["worker"].startswith(prefix) for c in read_claims(out / "claims"))
    assert claimed["submitit"] == claimed["local"] and len(claimed["local"]) == 4


def test_a_worker_whose_claims_cannot_be_written_stops_saying_why(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("SETUPS", str(tmp_path / "setups"))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_cases=TESTS)
    unwritable = Path("/proc/self")  # a folder no process can create files in (root included)
    if not unwritable.is_dir():
        pytest.skip("needs Linux /proc")
    result = pytester.runpytest_subprocess(f"--claim-dir={unwritable}")
    assert result.ret == 3
    result.stdout.fnmatch_lines(["*cannot write in the claim folder*storage all nodes share*"])
    result.assert_outcomes()  # nothing ran unclaimed
