"""Usage: pytest bench -m smoke    (see README for markers and options)

One test, parametrised over ``bench.matrix.CASES`` x seeds: each case fine-tunes
a model, evaluates it, times inference with pytest-benchmark, records everything
in ``benchmark.extra_info`` and then asserts its quality floor.
"""

import dataclasses
import functools
import os
import statistics
import traceback

import pytest
import torch

from bench.matrix import CASES, TIERS, get_custom_cases, get_peft_config_cases
from fixtures.data.datasets import DataError, DataUnavailable, get_custom_kind
from fixtures.data.scale import check_loss_fifths, get_loss_decrease
from fixtures.models.real_models import ModelUnavailable
from fixtures.models.shapes import COST_ONLY, SHAPES
from fixtures.run import custom_floor
from fixtures.run.cases import build_run, get_footprint, get_model_name, get_settings, set_seed
from fixtures.run.cost_of_use import CostOfUse
from fixtures.run.energy import SCOPE, EnergyMeter, get_energy_record
from fixtures.run.first_case import CASE as FIRST_CASE
from fixtures.run.first_case import run_first
from fixtures.run.hardware import get_load, get_most_held, get_other_processes_gpu_bytes, get_unmet_need
from fixtures.run.isolation import BUSY_BYTES, check_free, end_case
from fixtures.run.measure import PeakMemory, release
from fixtures.run.options import RUN_OPTIONS
from fixtures.run.outcome import get_failure_status, make_entry
from fixtures.run.provenance import get_determinism
from fixtures.run.stop import check as check_stop
from fixtures.run.sweep import expand as expand_sweep
from fixtures.run.tune import get_tuned_options, mark_tuned
from fixtures.training.flops import get_mfu, get_peak_flops
from fixtures.training.metrics import check_floor
from fixtures.training.quality_curve import QualityCurve, check_eval_every
from fixtures.training.train import TimeLimit, make_autocast, train
from methods._common import MethodUnavailable


def pytest_generate_tests(metafunc):
    """Expand the matrix over --seeds, with readable ids and per-case markers; an impossible
    floor is an error here, before any case runs."""
    if "case" not in metafunc.fixturenames:
        return
    options = metafunc.config.stash[RUN_OPTIONS]
    kinds = {name: get_custom_kind(path) for name, path in options["datasets"].items()}
    # a --dataset's LoRA cases first: the other methods' relative floors compare with them
    extra = list(options["peft_configs"])
    cases = CASES + get_peft_config_cases(extra) + get_custom_cases(list(options["datasets"]), kinds=kinds,
                                                                    methods=tuple(extra))
    cases = custom_floor.order_reference_first(cases, options["datasets"])
    for c in cases:
        check_floor(c.floor.metric, c.floor.value, where=c.id)
    cases = expand_sweep(cases, options["sweep"], options["overrides"])  # --sweep: one case per value
    cases = mark_tuned(cases, options["tune"], TIERS)  # --tune: ids ...-tuned-...
    cases = [dataclasses.replace(c, seed=s) for c in cases for s in options["seeds"]]
    metafunc.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in cases])


OTHER_GPU_BYTES = pytest.StashKey[object]()
TUNED = pytest.StashKey[dict]()  # --tune: the choice per method x dataset x model, shared by its seeds


@pytest.fixture
def device(case, hardware, request):
    """The case's device, skipped when the machine lacks what the case needs; cleaned afterwards."""
    reason = get_unmet_need(hardware, needs_cuda=case.needs_cuda, min_gpu_gib=case.min_gpu_gib, needs_bnb=case.needs_bnb)
    if reason:
        pytest.skip(reason)
    dev = torch.device("cuda" if case.needs_cuda else "cpu")
    check_free(dev, case.id)  # first frees what a failed case left (fixtures.run.isolation)
    others = get_other_processes_gpu_bytes(dev.index or 0) if dev.type == "cuda" else None
    if others and others > BUSY_BYTES and request.config.getoption("refuse_busy_gpu"):
        pytest.skip(f"other processes hold {others / 2**20:.0f} MiB on the GPU (--refuse-busy-gpu); free it first")
    request.node.stash[OTHER_GPU_BYTES] = others
    yield dev
    end_case(dev)  # passed or failed: its model and tensors go


@pytest.fixture(scope="session")
def first_case_paid(run_options):
    """Once per process, before the first measured CPU case (fixtures.run.first_case)."""
    case = next(c for c in CASES if c.id == FIRST_CASE)
    run_first(case, tier=TIERS[case.tier], options=run_options, build_run=build_run)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of the step latencies."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def get_speed(result, *, hardware_name: str) -> dict:
    """Step latency percentiles, the steady-state rate (warm-up steps left out), FLOPs and MFU."""
    steps = result.step_seconds
    steady_step = result.steady_seconds / max(1, result.steps - result.warmup_steps)
    return {
        "step_seconds_p50": percentile(steps, 50) if steps else None,
        "step_seconds_p90": percentile(steps, 90) if steps else None,
        "step_seconds_iqr": percentile(steps, 75) - percentile(steps, 25) if steps else None,  # the spread
        "warmup_steps": result.warmup_steps,
        "steady_seconds": result.steady_seconds,
        "steady_step_seconds": steady_step,
        "steady_tokens_per_second": result.steady_tokens / result.steady_seconds if result.steady_seconds else None,
        "step_flops": result.step_flops,  # a timed step's, per phase (fixtures.training.train)
        "first_step_flops": result.first_step_flops,
        "step_flops_by_phase": result.phase_flops or None,
        "mfu": get_mfu(result.step_flops, steady_step, hardware_name),
        "mfu_peak": "bf16 dense datasheet peak" if get_peak_flops(hardware_name) else None,
    }


def get_recorded_model(case, run_options) -> str | None:
    """The case's model, named before anything is built, so that a case that fails or is stopped
    early lands in its model's block of the report; None where the name itself cannot be had (a bad
    option: the case's own handling reports it)."""
    try:
        return get_model_name(case, tier=TIERS[case.tier], options=run_options)
    except (KeyError, ValueError, RuntimeError):  # RuntimeError: ModelUnavailable, DataUnavailable
        return None


def test_finetune(case, device, benchmark, run_options, request, unfinished_cases, hardware):
    set_seed(case.seed)
    record = benchmark.extra_info
    record.update(worker=os.environ.get("PEFT_BENCH_WORKER"),  # set by python -m bench.shard; else null
                  case_id=case.id, method=case.method, dataset=case.dataset, tier=case.tier,
                  variant=case.variant or None, model=get_recorded_model(case, run_options),
                  **({"weights": COST_ONLY} if case.model in SHAPES else {}),
                  hardware=case.hardware, device_name=str(device), seed=case.seed,
                  **({"sweep": case.sweep} if case.sweep else {}),
                  floor_metric=case.floor.metric, floor_value=case.floor.value,
                  gpu_other_processes_bytes=request.node.stash.get(OTHER_GPU_BYTES, None),
                  determinism=get_determinism(), load_average_start=get_load())
    try:
        measure = get_settings(case, run_options["overrides"]).measure
    except ValueError:  # a rule joining two settings: build_run raises it again, inside the case's handling
        measure = False
    memory = PeakMemory(device, enabled=measure)
    if measure and device.type == "cpu":
        request.getfixturevalue("first_case_paid")  # its RSS increase is then the case's own
    try:
        options, tuned = get_tuned_options(case, tier=TIERS[case.tier], options=run_options, device=device,
                                           cache=request.config.stash.setdefault(TUNED, {}))  # --tune lr
        record.update(tuned)
        with memory:
            try:
                run = build_run(case, tier=TIERS[case.tier], options=options, device=device)
            except (DataUnavailable, ModelUnavailable, MethodUnavailable) as e:
                pytest.skip(str(e))
            record.update(model=run.model_name, config=dataclasses.asdict(run.cfg),
                          settings=dataclasses.asdict(run.settings), protocol=run.workload.protocol)
            # settings that would fail the case only after it trained are refused here, before any scoring
            if case.floor.metric == "loss_decrease":
                check_loss_fifths(run.settings.log_every, run.workload.total_steps)
            if run.settings.eval_every:
                check_eval_every(run.settings.eval_every, run.workload.total_steps)
            precision = functools.partial(make_autocast, device, run.settings.autocast)  # eval as trained
            with precision():
                zero_shot = run.task.kind in ("lm", "instruct")  # a causal LM scores before training too
                before = run.workload.evaluate(run.model, device=device) if zero_shot else {}
            costs = CostOfUse(run, device=device, precision=precision, tier_data=TIERS[case.tier].data,
                              data_dir=run_options.get("data_dir")) if run.settings.cost_of_use else None
            if costs:
                costs.before_training()
            curve = None
            if run.settings.eval_every:  # time to quality (fixtures.training.quality_curve)
                curve = QualityCurve(lambda m: run.workload.evaluate(m, device=device), floor=case.floor,
                                     before=before, device=device, precision=precision)
            energy = EnergyMeter(device).start()
            try:
                result = train(
                    run.model, run.workload.batches(seed=case.seed, device=device),
                    method=run.method, cfg=run.cfg, settings=run.settings,
                    total_steps=run.workload.total_steps, device=device, label=case.id, on_eval=curve,
                )
            except TimeLimit as stop:  # the budget ran out: the model as trained so far is still scored
                with precision():
                    stop.quality = run.workload.evaluate(run.model, device=device)
                raise
            train_energy = get_energy_record("train", *energy.read(), tokens=result.tokens)
            with precision():
                quality = run.workload.evaluate(run.model, device=device)
            batch = run.workload.get_inference_batch(device)

            @torch.inference_mode()
            def infer():
                check_stop()  # Ctrl-C / SIGTERM between rounds (fixtures.run.stop)
                with precision():
                    run.model(**batch)
                if device.type == "cuda":
                    torch.cuda.synchronize()

            run.model.eval()
            benchmark.pedantic(infer, warmup_rounds=3, rounds=run.settings.inference_rounds, iterations=1)
    except KeyboardInterrupt as error:  # Ctrl-C / SIGTERM mid-case (fixtures.run.stop): no partial timing
        benchmark.has_error = True  # pytest-benchmark then leaves out the rounds timed so far
        record.update(status="interrupted", floor_passed=False, error=f"interrupted: {error}")
        unfinished_cases.append(make_entry(request.node.nodeid, request.node.name, dict(record)))
        raise
    except Exception as error:
        # a bug too becomes a recorded outcome ("error", with its traceback): re-raising would
        # let pytest's traceback pin the model in GPU memory and fail every later case
        status = get_failure_status(error) or "error"
        message = f"{case.id}: {status}: {error}"
        if status == "error" and not isinstance(error, DataError):  # bad data is the user's to fix: no stack
            message += "\n" + traceback.format_exc()
        record.update(status=status, floor_passed=False, error=f"{type(error).__name__}: {error}",
                      failed_at_step=getattr(error, "step", None), **memory.result,
                      **({"loss_curve": error.loss_curve} if hasattr(error, "loss_curve") else {}),
                      **({"quality_at_stop": error.quality} if hasattr(error, "quality") else {}))
    else:
        message = None
    if message:
        # outside the except block: the traceback no longer pins the model in memory
        run = None
        release(device)  # its compiled graphs too (fixtures.run.measure.release)
        cuda = device.type == "cuda"
        record["gpu_allocated_after_release_bytes"] = torch.cuda.memory_allocated(device) if cuda else None
        unfinished_cases.append(make_entry(request.node.nodeid, request.node.name, dict(record)))
        pytest.fail(message, pytrace=False)

    if run.task.kind == "lm":
        quality["perplexity_untrained"] = before["perplexity"]
        quality["perplexity_ratio"] = quality["perplexity"] / before["perplexity"]
    if case.floor.metric == "loss_decrease":  # random weights: the floor is that training works
        quality.update(get_loss_decrease(result.loss_curve, result.steps))
    cost_only = run.workload.protocol.get("weights") == COST_ONLY
    if run.task.kind == "instruct":
        quality["accuracy_zero_shot"] = before["accuracy"]
        quality["f1_zero_shot"] = before["f1"]
    measured = quality[case.floor.metric]
    passed = case.floor.passes(measured)
    relative, message = {}, None
    if case.dataset in run_options["datasets"] and "accuracy" in quality:  # no matrix floor: a reference run
        accuracies = request.config.stash.setdefault(custom_floor.ACCURACIES, {})
        ok, relative = custom_floor.judge(accuracies, case, quality["accuracy"],
                                          margin=run_options["custom_floor_margin"])
        message = None if ok else custom_floor.get_message(case, quality["accuracy"], relative)
        passed = passed and ok
    record.update(
        status="passed" if passed else "failed_floor", floor_passed=passed,
        train_seconds=result.train_seconds, train_steps=result.steps, train_tokens=result.tokens,
        train_tokens_per_second=result.tokens / result.train_seconds,
        **get_speed(result, hardware_name=hardware.gpu_name if device.type == "cuda" else ""),
        loss_curve=result.loss_curve,
        inference_batch_size=int(next(iter(batch.values())).shape[0]),
        **quality, **memory.result, **get_footprint(run.model, run.method_name, save_full=not cost_only),
        weights=COST_ONLY if cost_only else "pretrained", **result.memory,
        **run.method.stats(run.model, run.cfg), **relative,
        **train_energy, energy_scope=SCOPE, **(curve.result() if curve else {}),
    )
    if costs:  # last: merging replaces the model
        record.update(costs.measure())
    record["load_average_end"] = get_load()
    if device.type == "cuda":  # read again at the end: processes that started with this case count too
        end = get_other_processes_gpu_bytes(device.index or 0)
        record["gpu_other_processes_bytes_end"] = end
        record["gpu_other_processes_bytes"] = get_most_held(record["gpu_other_processes_bytes"], end)
    if not passed:  # one line: id, metric, value, floor and the floor's source (no test source)
        pytest.fail(message or f"{case.id}: {case.floor.metric} {measured:.4f} misses floor {case.floor.value} "
                    f"(source: {case.floor_source})", pytrace=False)
