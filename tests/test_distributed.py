"""The gpus=N path on a CPU: 2 gloo processes under torchrun train a tiny Llama exactly as
one process does; a rank that dies or hangs ends the case, never the suite."""

import dataclasses
import json
import os
import textwrap
import time

import psutil
import pytest
import torch

from bench.fsdp_case import run_rank
from bench.matrix import Case
from fixtures.run.launch import clear_stale, get_outcome, get_root_cause, launch
from fixtures.training.distributed import RankLoss, shard_batches

# 12 steps, loss read every step; a small clipping norm so that clipping acts on every step
# (the global norm over the shards must equal the one-process norm).
TRAIN = {"max_steps": 12, "log_every": 1, "max_grad_norm": 0.05, "batch_size": 16}


def get_options(tmp_path) -> dict:
    return {"models": {}, "overrides": {"train": TRAIN}, "data_dir": None, "datasets": {}}


def test_two_gloo_ranks_follow_the_one_process_loss_curve(tmp_path):
    case = Case("full_ft", "wikitext2", "tiny", "cpu", gpus=2)
    options = get_options(tmp_path)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"case": dataclasses.asdict(case), "options": options}), encoding="utf-8")
    outcome = launch("bench.fsdp_case", 2, [str(spec), str(tmp_path)], out_dir=tmp_path, gpu=False, timeout_s=300)
    assert outcome.record is not None, f"{outcome.status}: {outcome.error}\n{outcome.rank_tails}"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank (OMP_NUM_THREADS=1): the same kernels
    try:
        single = run_rank(case, options, rank=0, local_rank=0, world=1)
    finally:
        torch.set_num_threads(threads)
    sharded = outcome.record
    assert sharded["world_size"] == 2 and sharded["sharding"] == "fsdp2"
    assert single["sharding"] == "none"
    steps = [s for s, _ in single["loss_curve"]]
    assert steps == [s for s, _ in sharded["loss_curve"]] == list(range(1, 13))
    one = torch.tensor([v for _, v in single["loss_curve"]])
    two = torch.tensor([v for _, v in sharded["loss_curve"]])
    assert one[-1] < one[0] - 0.1, f"the loss must fall for the comparison to mean anything: {one.tolist()}"
    torch.testing.assert_close(two, one, rtol=1e-4, atol=1e-5)
    # each rank trained on half of every global batch
    assert sharded["train_tokens"] == single["train_tokens"]
    assert len(sharded["per_rank_peak_cpu_rss_bytes"]) == 2
    assert sharded["steady_tokens_per_second_per_gpu"] == pytest.approx(sharded["steady_tokens_per_second"] / 2)


def test_ranks_weight_their_loss_by_their_share_of_target_tokens():
    torch.manual_seed(0)
    logits_model = torch.nn.Sequential(torch.nn.Embedding(20, 8), torch.nn.Linear(8, 20))

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = logits_model

        def forward(self, input_ids, labels):
            logits = self.net(input_ids)[:, :-1]
            targets = labels[:, 1:].reshape(-1)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 20), targets, ignore_index=-100)
            return type("Out", (), {"loss": loss})()

    ids = torch.randint(0, 20, (4, 9))
    labels = ids.clone()
    labels[:2, :7] = -100  # the first rank's rows hold far fewer targets
    batch = {"input_ids": ids, "labels": labels}
    whole = LM()(**batch).loss
    halves = [RankLoss(LM(), loss_chunk=0, world=1)(**part).loss
              for part in (next(shard_batches(iter([batch]), rank=r, world=2)) for r in (0, 1))]
    torch.testing.assert_close((halves[0] + halves[1]) / 2, whole)  # FSDP averages over ranks


FAULT = """
    import json, os, signal, sys, time
    rank = int(os.environ["RANK"])
    print(f"rank {rank} ready", flush=True)
    if sys.argv[1] == "hang":
        time.sleep(3600)
    if sys.argv[1] == "teardown":  # the work done (as bench.fsdp_case), then rank 1 aborts at exit
        out = sys.argv[2]
        if rank == 0:
            open(os.path.join(out, "record.json"), "w").write(json.dumps({"status": "passed"}))
        if rank == 0 or sys.argv[3] == "marked":
            open(os.path.join(out, f"done{rank}.json"), "w").write(json.dumps({"rank": rank, "time": time.time()}))
        if rank == 1:
            os.abort()
        sys.exit(0)
    import torch.distributed as dist
    dist.init_process_group("gloo")
    if rank == 1:
        print("rank 1 going down", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()  # rank 0 waits here for a rank that never comes
"""


@pytest.fixture
def fault_module(tmp_path, monkeypatch):
    """A rank program that kills or hangs a rank, importable by the ranks."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "fault_rank.py").write_text(textwrap.dedent(FAULT), encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "pkg"), os.environ.get("PYTHONPATH", "")]))
    return "fault_rank"


def test_a_killed_rank_ends_the_case_naming_it(tmp_path, fault_module):
    start = time.perf_counter()
    outcome = launch(fault_module, 2, ["die"], out_dir=tmp_path / "run", gpu=False, timeout_s=120)
    assert time.perf_counter() - start < 60
    assert outcome.record is None
    assert (outcome.status, outcome.failed_rank) == ("oom", 1), outcome.error
    assert "rank 1 going down" in outcome.rank_tails[1]


def test_the_launch_timeout_ends_every_rank(tmp_path, fault_module):
    outcome = launch(fault_module, 2, ["hang"], out_dir=tmp_path / "run", gpu=False, timeout_s=10)
    assert outcome.status == "timeout" and outcome.exit_code is None
    assert "rank 1 ready" in outcome.rank_tails[1]
    left = [p for p in psutil.process_iter(["cmdline"]) if "fault_rank" in " ".join(p.info["cmdline"] or [])]
    assert not left, f"ranks outlived the timeout: {[p.pid for p in left]}"


def test_a_rank_aborting_after_its_done_marker_leaves_the_case_passed(tmp_path, fault_module):
    run = tmp_path / "run"
    outcome = launch(fault_module, 2, ["teardown", str(run), "marked"], out_dir=run, gpu=False, timeout_s=120)
    assert (outcome.status, outcome.exit_code) == ("passed", 1), outcome.error
    assert outcome.record == {"status": "passed", "teardown_exit_code": 1,
                              "teardown_note": "rank 1 exit code -6 at teardown, after every rank wrote its done marker"}
    # rank 1 aborts before its marker; the earlier launch's marker must not stand in for it
    (run / "record.json").unlink()
    outcome = launch(fault_module, 2, ["teardown", str(run), "unmarked"], out_dir=run, gpu=False, timeout_s=120)
    assert (outcome.record, outcome.status, outcome.failed_rank) == (None, "error", 1)
    assert outcome.error == "torchrun exited 1 without a rank report (rank 1 exit code -6)"


# torchrun's summary when rank 1 of 2 died of SIGABRT
ABORTED = """[default1]:terminate called without an active exception
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
bench.fsdp_case FAILED
------------------------------------------------------------
Failures:
  <NO_OTHER_FAILURES>
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2025-01-01_00:00:00
  host      : ci
  rank      : 1 (local_rank: 1)
  exitcode  : -6 (pid: 4242)
  error_file: <N/A>
  traceback : Signal 6 (SIGABRT) received by PID 4242
============================================================
"""


def write_run(out_dir, *, done=(0, 1), reports=()):
    """What the ranks of a finished launch leave: rank 0's record, done markers, failure reports."""
    out_dir.mkdir(exist_ok=True)
    (out_dir / "record.json").write_text(json.dumps({"status": "passed"}), encoding="utf-8")
    for rank in done:
        (out_dir / f"done{rank}.json").write_text(json.dumps({"rank": rank, "time": 1.0}), encoding="utf-8")
    for rank in reports:
        report = {"rank": rank, "status": "error", "error": "RuntimeError: boom", "time": 2.0}
        (out_dir / f"rank{rank}.json").write_text(json.dumps(report), encoding="utf-8")
    return out_dir


def get_test_outcome(out_dir, exit_code, output=ABORTED, ranks=2):
    return get_outcome(out_dir, exit_code, ranks=ranks, timed_out=False, timeout_s=60, output=output,
                       tails={}, wall=1.0)


def test_a_death_at_teardown_after_every_done_marker_passes_and_is_recorded(tmp_path):
    outcome = get_test_outcome(write_run(tmp_path), 1)
    assert (outcome.status, outcome.exit_code, outcome.error) == ("passed", 1, "")
    assert outcome.record["teardown_exit_code"] == 1
    assert outcome.record["teardown_note"] == "rank 1 exit code -6 at teardown, after every rank wrote its done marker"
    clean = get_test_outcome(tmp_path, 0, output="")
    assert clean.status == "passed" and "teardown_note" not in clean.record


@pytest.mark.parametrize("done, reports, ranks", [((0,), (), 2), ((0, 1), (1,), 2), ((0, 2), (), 2)],
                         ids=["a-marker-missing", "a-rank-report", "the-failed-rank-unmarked"])
def test_a_death_without_every_done_marker_still_fails(tmp_path, done, reports, ranks):
    outcome = get_test_outcome(write_run(tmp_path, done=done, reports=reports), 1, ranks=ranks)
    assert (outcome.record, outcome.failed_rank) == (None, 1)
    if reports:
        assert (outcome.status, outcome.error) == ("error", "RuntimeError: boom")
    else:
        assert (outcome.status, outcome.error) == ("error", "torchrun exited 1 without a rank report "
                                                             "(rank 1 exit code -6)")


def test_a_timeout_is_never_a_teardown_death(tmp_path):
    outcome = get_outcome(write_run(tmp_path), None, ranks=2, timed_out=True, timeout_s=60, output="", tails={},
                          wall=60.0)
    assert (outcome.record, outcome.status) == (None, "timeout")


def test_an_earlier_launchs_markers_and_logs_are_cleared(tmp_path):
    write_run(tmp_path, reports=(1,))
    (tmp_path / "logs" / "0").mkdir(parents=True)
    clear_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank1.json", "record.json"]


def test_root_cause_is_read_from_torchrun_output():
    text = "Root Cause (first observed failure):\n[0]:\n  rank      : 3 (local_rank: 3)\n  exitcode  : -9 (pid: 7)\n"
    assert get_root_cause(text) == {"rank": 3, "exitcode": -9}
    assert get_root_cause("nothing failed") == {}


def test_a_shape_is_built_on_meta_and_materialised_shard_by_shard(tmp_path):
    """The llama-8b path at the 2-layer tiny-shape: meta build, LoRA, fully_shard, to_empty,
    seeded init, bf16 parameters gathered by FSDP; a cost-only record from rank 0."""
    case = Case("lora", "wikitext2", "fsdp", "cpu", gpus=2, settings={"dtype": "bf16", "trainable_dtype": "bf16"})
    train = {"max_length": 64, "lm_stride": 64, "max_steps": 2, "batch_size": 4, "log_every": 1}
    options = {"models": {"wikitext2": "tiny-shape"}, "overrides": {"train": train}, "data_dir": None, "datasets": {}}
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"case": dataclasses.asdict(case), "options": options}), encoding="utf-8")
    outcome = launch("bench.fsdp_case", 2, [str(spec), str(tmp_path)], out_dir=tmp_path, gpu=False, timeout_s=300)
    assert outcome.record is not None, f"{outcome.status}: {outcome.error}\n{outcome.rank_tails}"
    record = outcome.record
    assert record["weights"] == "random-init (cost only)" and record["floor_passed"] is None
    assert 0 < record["trainable_params"] < record["total_params"]  # global sizes, not one rank's shard
    # random init over a 49,152-token vocabulary: the loss starts near ln(49152) = 10.8
    assert all(10.0 < loss < 11.5 for _, loss in record["loss_curve"])


def test_shard_workers_leave_multigpu_cases_to_the_launcher(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from fixtures.run.claims import DEFER_ENV, get_deferred, iter_claimed, read_deferred

    def item(nodeid, multigpu):
        def marker(name):
            return object() if multigpu and name == "multigpu" else None

        return SimpleNamespace(nodeid=nodeid, get_closest_marker=marker)

    items = [item("a", False), item("b-gpus2", True), item("c", False)]
    monkeypatch.delenv(DEFER_ENV, raising=False)
    assert get_deferred(items, tmp_path, worker="gpu0") == set()  # outside bench.shard: nothing deferred
    monkeypatch.setenv(DEFER_ENV, "1")
    deferred = get_deferred(items, tmp_path, worker="gpu0")
    assert deferred == {"b-gpus2"} == read_deferred(tmp_path)
    nodeids = [i.nodeid for i in items]
    assert list(iter_claimed(nodeids, tmp_path, worker="gpu0", skip=deferred)) == [0, 2]
    # the launcher's last process (no deferral) finds only the multi-GPU case unclaimed
    assert list(iter_claimed(nodeids, tmp_path, worker="all")) == [1]


def get_fault_processes() -> list:
    """torchrun and the ranks running the fault program."""
    return [p for p in psutil.process_iter(["cmdline"]) if "fault_rank" in " ".join(p.info["cmdline"] or [])]


def wait_for_ranks(n: int, timeout_s: float = 120) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = get_fault_processes()
        if len(found) >= n + 1:  # torchrun and n ranks
            return found
        time.sleep(0.2)
    raise AssertionError("the ranks did not start")


def assert_all_gone(procs: list, within_s: float = 30) -> None:
    _, alive = psutil.wait_procs(procs, timeout=within_s)
    for p in alive:
        p.kill()
    assert not alive, f"outlived their parent: {[p.pid for p in alive]}"


def test_a_stop_request_ends_torchrun_and_every_rank(tmp_path, fault_module):
    import signal
    import threading

    from fixtures.run import stop

    def request_when_running():
        wait_for_ranks(2)
        stop.request(signal.SIGTERM)  # what the handler does on SIGTERM (fixtures.run.stop)

    thread = threading.Thread(target=request_when_running, daemon=True)
    thread.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="stop requested"):
            launch(fault_module, 2, ["hang"], out_dir=tmp_path / "run", gpu=False, timeout_s=300)
    finally:
        stop.reset()
    thread.join()
    assert not get_fault_processes()


KILLED_PARENT = """
import sys
from pathlib import Path
from fixtures.run.launch import launch
launch("fault_rank", 2, ["hang"], out_dir=Path(sys.argv[1]), gpu=False, timeout_s=300)
"""


def test_torchrun_and_its_ranks_end_when_their_parent_is_killed(tmp_path, fault_module):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ["PYTHONPATH"]])}
    parent = subprocess.Popen([sys.executable, "-c", KILLED_PARENT, str(tmp_path / "run")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        family = wait_for_ranks(2)
    finally:
        parent.send_signal(signal.SIGKILL)  # as pytest killed with SIGKILL: no chance to pass anything on
        parent.wait()
    assert_all_gone(family)


def test_two_node_launchers_on_localhost_follow_the_one_process_loss_curve(tmp_path):
    """nodes=2: two torchrun launchers (one rank each) meet through a c10d rendezvous on localhost."""
    import socket
    from concurrent.futures import ThreadPoolExecutor

    from fixtures.run.rendezvous import get_rendezvous

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    case = Case("full_ft", "wikitext2", "tiny", "cpu", gpus=2, nodes=2)
    assert case.id == "full_ft-wikitext2-tiny-cpu-gpus2-nodes2-seed0"
    options = get_options(tmp_path)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"case": dataclasses.asdict(case), "options": options}), encoding="utf-8")
    rdzv = get_rendezvous(2, "test-nodes2", {"PEFT_BENCH_RDZV_ENDPOINT": f"127.0.0.1:{port}"})
    assert rdzv.get_prefix({}) == []
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda node: launch("bench.fsdp_case", 2, [str(spec), str(tmp_path)],
                                                     out_dir=tmp_path / f"node{node}", gpu=False, timeout_s=300,
                                                     rendezvous=rdzv), (0, 1)))
    assert [o.exit_code for o in outcomes] == [0, 0], [(o.status, o.error, o.rank_tails) for o in outcomes]
    sharded = json.loads((tmp_path / "record.json").read_text())  # global rank 0's, whichever node got it
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = run_rank(dataclasses.replace(case, gpus=1, nodes=1), options, rank=0, local_rank=0, world=1)
    finally:
        torch.set_num_threads(threads)
    assert sharded["world_size"] == 2
    one = torch.tensor([v for _, v in single["loss_curve"]])
    two = torch.tensor([v for _, v in sharded["loss_curve"]])
    assert one[-1] < one[0] - 0.1
    torch.testing.assert_close(two, one, rtol=1e-4, atol=1e-5)


def test_a_multi_node_case_needs_a_rendezvous():
    from fixtures.run.rendezvous import get_rendezvous

    with pytest.raises(ValueError, match="PEFT_BENCH_RDZV_ENDPOINT"):
        get_rendezvous(2, "x", {})
    with pytest.raises(ValueError, match="HOST:PORT"):
        get_rendezvous(2, "x", {"PEFT_BENCH_RDZV_ENDPOINT": "node01"})
    args = get_rendezvous(2, "x", {"PEFT_BENCH_RDZV_ENDPOINT": "node01:29500"}).get_torchrun_args(8)
    assert args[:2] == ["--nnodes=2", "--nproc-per-node=4"] and "--rdzv-endpoint=node01:29500" in args
    with pytest.raises(ValueError, match="nodes"):
        Case("lora", "sst2", "tiny", "cpu", gpus=3, nodes=2)
