"""Usage: pytest bench -m smoke    (see README for markers and options)

One test, parametrised over ``bench.matrix.CASES`` x seeds: each case fine-tunes
a model, evaluates it, times inference with pytest-benchmark, records everything
in ``benchmark.extra_info`` and then asserts its quality floor.
"""

import dataclasses
import statistics

import pytest
import torch

from bench.matrix import CASES, TIERS, get_custom_cases
from fixtures.cases import build_run, get_footprint, set_seed
from fixtures.datasets import DataUnavailable
from fixtures.hardware import get_other_processes_gpu_bytes, get_unmet_need
from fixtures.measure import PeakMemory, release
from fixtures.metrics import check_floor
from fixtures.options import RUN_OPTIONS
from fixtures.outcome import get_failure_status, make_entry
from fixtures.provenance import get_determinism
from fixtures.real_models import ModelUnavailable
from fixtures.train import train


def pytest_generate_tests(metafunc):
    """Expand the matrix over --seeds, with readable ids and per-case markers; an impossible
    floor is an error here, before any case runs."""
    if "case" not in metafunc.fixturenames:
        return
    options = metafunc.config.stash[RUN_OPTIONS]
    cases = CASES + get_custom_cases(list(options["datasets"]))
    for c in cases:
        check_floor(c.floor.metric, c.floor.value, where=c.id)
    cases = [dataclasses.replace(c, seed=s) for c in cases for s in options["seeds"]]
    metafunc.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in cases])


BUSY_BYTES = 500 * 2**20  # as peft's own benchmark: above this the GPU is not ours alone
OTHER_GPU_BYTES = pytest.StashKey[object]()


@pytest.fixture
def device(case, hardware, request):
    """The case's device, skipped when the machine lacks what the case needs; cleaned afterwards."""
    reason = get_unmet_need(hardware, needs_cuda=case.needs_cuda, min_gpu_gib=case.min_gpu_gib, needs_bnb=case.needs_bnb)
    if reason:
        pytest.skip(reason)
    dev = torch.device("cuda" if case.needs_cuda else "cpu")
    if dev.type == "cuda" and torch.cuda.memory_allocated(dev) > BUSY_BYTES:
        pytest.fail(f"GPU already holds {torch.cuda.memory_allocated(dev) / 2**20:.0f} MiB before {case.id}")
    others = get_other_processes_gpu_bytes(dev.index or 0) if dev.type == "cuda" else None
    if others and others > BUSY_BYTES and request.config.getoption("refuse_busy_gpu"):
        pytest.skip(f"other processes hold {others / 2**20:.0f} MiB on the GPU (--refuse-busy-gpu); free it first")
    request.node.stash[OTHER_GPU_BYTES] = others
    yield dev
    release(dev)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of the step latencies."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def test_finetune(case, device, benchmark, run_options, request, unfinished_cases):
    set_seed(case.seed)
    record = benchmark.extra_info
    record.update(case_id=case.id, method=case.method, dataset=case.dataset, tier=case.tier,
                  hardware=case.hardware, device_name=str(device), seed=case.seed,
                  floor_metric=case.floor.metric, floor_value=case.floor.value,
                  gpu_other_processes_bytes=request.node.stash.get(OTHER_GPU_BYTES, None),
                  determinism=get_determinism())
    memory = PeakMemory(device)
    try:
        with memory:
            try:
                run = build_run(case, tier=TIERS[case.tier], options=run_options, device=device)
            except (DataUnavailable, ModelUnavailable) as e:
                pytest.skip(str(e))
            record.update(model=run.model_name, config=dataclasses.asdict(run.cfg),
                          settings=dataclasses.asdict(run.settings), protocol=run.workload.protocol)
            before = run.workload.evaluate(run.model, device=device) if run.task.kind == "lm" else {}
            result = train(
                run.model, run.workload.batches(seed=case.seed, device=device),
                method=run.method, cfg=run.cfg, settings=run.settings,
                total_steps=run.workload.total_steps, device=device, label=case.id,
            )
            quality = run.workload.evaluate(run.model, device=device)
            batch = run.workload.get_inference_batch(device)

            @torch.inference_mode()
            def infer():
                run.model(**batch)
                if device.type == "cuda":
                    torch.cuda.synchronize()

            run.model.eval()
            benchmark.pedantic(infer, warmup_rounds=3, rounds=run.settings.inference_rounds, iterations=1)
    except Exception as error:
        status = get_failure_status(error)
        if status is None:
            raise
        message = f"{case.id}: {status}: {error}"
        record.update(status=status, floor_passed=False, error=str(error),
                      failed_at_step=getattr(error, "step", None), **memory.result)
    else:
        message = None
    if message:
        # outside the except block: the traceback no longer pins the model in memory
        run = None
        release(device)
        cuda = device.type == "cuda"
        record["gpu_allocated_after_release_bytes"] = torch.cuda.memory_allocated(device) if cuda else None
        unfinished_cases.append(make_entry(request.node.nodeid, request.node.name, dict(record)))
        pytest.fail(message)

    if run.task.kind == "lm":
        quality["perplexity_untrained"] = before["perplexity"]
        quality["perplexity_ratio"] = quality["perplexity"] / before["perplexity"]
    measured = quality[case.floor.metric]
    passed = case.floor.passes(measured)
    record.update(
        status="passed" if passed else "failed_floor", floor_passed=passed,
        train_seconds=result.train_seconds, train_steps=result.steps, train_tokens=result.tokens,
        train_tokens_per_second=result.tokens / result.train_seconds,
        step_seconds_p50=percentile(result.step_seconds, 50),
        step_seconds_p90=percentile(result.step_seconds, 90),
        loss_curve=result.loss_curve,
        inference_batch_size=int(next(iter(batch.values())).shape[0]),
        **quality, **memory.result, **get_footprint(run.model, run.method_name),
        **run.method.stats(run.model, run.cfg),
    )
    assert passed, f"{case.id}: {case.floor.metric} {measured:.4f} misses floor {case.floor.value}"
