"""Usage: pytest bench -m multigpu    (the gpus=N cases; see README "Several GPUs")

One test, parametrised over ``bench.matrix.DISTRIBUTED_CASES`` x seeds: each case runs
``bench.fsdp_case`` under torchrun, one process per GPU (gloo processes for cpu cases),
through ``fixtures.run.launch``. Rank 0's record becomes the case's ``benchmark.extra_info``;
the case enters the same results JSON as the single-process cases (without pytest-benchmark
timing stats: its step latencies are in ``extra_info``). Then the quality floor is asserted.
"""

import dataclasses
import json
import os
from pathlib import Path

import pytest

from bench.matrix import DISTRIBUTED_CASES
from fixtures.run.claims import WORKER_ENV
from fixtures.run.hardware import get_load
from fixtures.run.launch import launch
from fixtures.run.options import RUN_OPTIONS
from fixtures.run.outcome import make_entry
from fixtures.run.rendezvous import get_rendezvous
from fixtures.run.provenance import get_determinism

# A whole case, build to exit; the 8B cases take minutes. $PEFT_BENCH_LAUNCH_TIMEOUT overrides.
LAUNCH_TIMEOUT_S = 1800.0
# Where each case's spec, record and per-rank logs go: $PEFT_BENCH_LAUNCH_DIR/<case id>/ when
# set (kept, e.g. under a GPU script's $OUT), else pytest's temporary folder for the test.
LAUNCH_DIR_ENV = "PEFT_BENCH_LAUNCH_DIR"


def pytest_generate_tests(metafunc):
    """Expand the multi-rank cases over --seeds, with their ids and markers."""
    if "dcase" not in metafunc.fixturenames:
        return
    seeds = metafunc.config.stash[RUN_OPTIONS]["seeds"]
    cases = [dataclasses.replace(c, seed=s) for c in DISTRIBUTED_CASES for s in seeds]
    metafunc.parametrize("dcase", [pytest.param(c, id=c.id, marks=c.marks) for c in cases])


def get_unmet_ranks(case, hardware) -> str | None:
    """Why this machine cannot give the case its GPUs, naming both numbers; None if it can."""
    if case.hardware != "gpu":
        return None
    if not hardware.cuda:
        return f"needs {case.gpus} CUDA GPU(s); torch sees none here (run -m multigpu on a machine with {case.gpus})"
    if hardware.gpu_count < case.gpus // case.nodes:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        return f"needs {case.gpus} GPUs; {hardware.gpu_count} visible (CUDA_VISIBLE_DEVICES={visible!r})"
    if hardware.gpu_gib < case.min_gpu_gib:
        return f"needs CUDA >= {case.min_gpu_gib} GiB per GPU; found {hardware.gpu_gib}"
    return None


def get_spec(case, run_options: dict) -> dict:
    """What the ranks need to rebuild the case (JSON): the case and the command line's choices."""
    options = {k: run_options[k] for k in ("models", "overrides", "data_dir")}
    options["datasets"] = {}  # --dataset folders are single-process only
    return {"case": dataclasses.asdict(case), "options": options}


def test_distributed(dcase, hardware, run_options, benchmark, request, unfinished_cases, tmp_path):
    case = dcase
    reason = get_unmet_ranks(case, hardware)
    if reason:
        pytest.skip(reason)
    record = benchmark.extra_info
    record.update(worker=os.environ.get(WORKER_ENV), case_id=case.id, method=case.method, dataset=case.dataset,
                  tier=case.tier, hardware=case.hardware, seed=case.seed, gpus=case.gpus,
                  nodes=case.nodes, floor_metric=case.floor.metric, floor_value=case.floor.value,
                  determinism=get_determinism(), load_average_start=get_load())
    out_dir = Path(os.environ[LAUNCH_DIR_ENV]) / case.id if os.environ.get(LAUNCH_DIR_ENV) else tmp_path
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("record.json", *(p.name for p in out_dir.glob("rank*.json"))):
        (out_dir / stale).unlink(missing_ok=True)  # a kept folder from an earlier run
    spec_path = out_dir / "spec.json"
    spec_path.write_text(json.dumps(get_spec(case, run_options), default=str), encoding="utf-8")
    timeout = float(os.environ.get("PEFT_BENCH_LAUNCH_TIMEOUT", LAUNCH_TIMEOUT_S))
    try:
        rendezvous = get_rendezvous(case.nodes, case.id) if case.nodes > 1 else None
    except ValueError as e:
        pytest.skip(str(e))
    try:
        outcome = launch("bench.fsdp_case", case.gpus, [str(spec_path), str(out_dir)], out_dir=out_dir,
                         gpu=case.hardware == "gpu", timeout_s=timeout, rendezvous=rendezvous)
    except KeyboardInterrupt as error:  # a stop request: torchrun and its ranks are ended
        record.update(status="interrupted", floor_passed=False, error=f"interrupted: {error}")
        unfinished_cases.append(make_entry(request.node.nodeid, request.node.name, dict(record)))
        raise
    record.update(launch_seconds=outcome.wall_seconds, launch_exit_code=outcome.exit_code, world_size=case.gpus,
                  load_average_end=get_load())
    if outcome.record is None:
        record.update(status=outcome.status, floor_passed=False, error=outcome.error, failed_rank=outcome.failed_rank,
                      rank_last_lines=outcome.rank_tails)
    else:
        record.update(outcome.record)
    # no pytest-benchmark timing here (the ranks time themselves): the case joins the JSON as
    # the unfinished ones do, with its full record
    unfinished_cases.append(make_entry(request.node.nodeid, request.node.name, dict(record)))
    if outcome.record is None:
        tail = outcome.rank_tails.get(outcome.failed_rank, "") if outcome.failed_rank is not None else ""
        pytest.fail(f"{case.id}: {outcome.status}: {outcome.error}"
                    + (f"\nrank {outcome.failed_rank}'s last lines:\n{tail}" if tail else ""), pytrace=False)
    if record.get("floor_passed") is None:
        return  # cost only (random-init shape): no quality to check
    if not record["floor_passed"]:  # one line, as in test_finetune
        pytest.fail(f"{case.id}: {case.floor.metric} {record.get(case.floor.metric):.4f} misses floor "
                    f"{case.floor.value} (source: {case.floor_source})", pytrace=False)
