"""Usage: python -m torch.distributed.run --standalone --nproc-per-node N -m bench.fsdp_case SPEC.json OUT_DIR

One rank of a ``gpus=N`` case (``bench/test_distributed.py`` launches it through
``fixtures.run.launch``). Every rank builds the case's model, shards it with FSDP2 (when
N > 1), trains through ``fixtures.training.train.train`` on its slice of each global batch and
measures its own memory and time; rank 0 writes ``OUT_DIR/record.json``. A rank that
fails writes ``OUT_DIR/rank<R>.json`` (status, error, traceback) and exits 1, so
torchrun ends the others; a rank that finished writes ``OUT_DIR/done<R>.json`` (after the
record, on rank 0) before it leaves the process group.

Llama shapes (``fixtures.models.shapes``, e.g. llama-8b) are built on the meta device, sharded
while still empty, then materialised shard by shard (``to_empty``) with seeded random
values: no rank ever holds the whole model. Their results are cost only.
"""

import dataclasses
import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path

import torch

from bench.matrix import TIERS, Case
from fixtures.data.tasks import get_task
from fixtures.models.shapes import COST_ONLY, SHAPES, get_shape_config
from fixtures.run.cases import build_run, get_settings, set_seed, set_trainable_dtype
from fixtures.run.launcher import set_parent_death_signal
from fixtures.run.measure import PeakMemory
from fixtures.run.outcome import get_failure_status
from fixtures.training import distributed as D
from fixtures.training.flops import get_mfu, get_peak_flops
from fixtures.training.settings import DTYPES
from fixtures.training.train import make_autocast, train
from reports.atomic import atomic_write


def make_shape_run(case: Case, *, options: dict, device, model_name: str, rank: int, world: int):
    """(model, workload, method, cfg, settings) of a Llama shape on synthetic LM data:
    built on meta, sharded, then materialised on ``device`` shard by shard."""
    from transformers import LlamaForCausalLM

    from fixtures.data import synthetic
    from fixtures.data.tasks import get_synthetic_data
    from fixtures.data.tokenizers import make_word_tokenizer
    from fixtures.training.workload import make_workload
    from methods import get_method
    from methods._common import config_from_dict

    task = get_task(case.dataset)
    if task.kind != "lm":
        raise ValueError(f"{case.id}: model shape {model_name!r} serves LM datasets only, not {case.dataset!r}")
    settings = get_settings(case, options["overrides"])
    method = get_method(case.method)
    cfg = config_from_dict(method.Config, {**case.get_options(), **options["overrides"].get(case.method, {})})
    tokenizer = make_word_tokenizer(synthetic.get_vocabulary())
    workload = make_workload(get_synthetic_data(case.dataset), tokenizer, task=task, settings=settings)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(DTYPES[settings.dtype])
    try:
        with torch.device("meta"):
            model = LlamaForCausalLM(get_shape_config(model_name))
    finally:
        torch.set_default_dtype(previous)
    model = method.apply(model, cfg, task_type=workload.task_type)
    set_trainable_dtype(model, DTYPES[settings.trainable_dtype])
    if world > 1:
        D.shard_model(model, mp_dtype=get_mp_dtype(settings))
    model.to_empty(device=device)
    D.init_shards(model, seed=case.seed, rank=rank)
    reset_rotary(model, device)
    workload.protocol.update(model=model_name, model_source="shape", weights=COST_ONLY)
    return model, workload, method, cfg, settings


def reset_rotary(model: torch.nn.Module, device) -> None:
    """Rotary embeddings' frequencies are buffers computed at init; ``to_empty`` left them
    empty, so each is built again on ``device``."""
    for name, module in list(model.named_modules()):
        if type(module).__name__.endswith("RotaryEmbedding"):
            parent, _, leaf = name.rpartition(".")
            with torch.device(device):  # the constructor's signature differs between versions; this does not
                fresh = type(module)(module.config)
            setattr(model.get_submodule(parent) if parent else model, leaf, fresh)


def get_mp_dtype(settings):
    """FSDP2 gathers parameters in the autocast dtype (half the traffic); None without autocast."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(settings.autocast)


def get_rank_speed(result) -> dict:
    """The raw timings a rank contributes to ``distributed.combine_ranks``."""
    return {"steps": result.steps, "warmup_steps": result.warmup_steps, "steady_seconds": result.steady_seconds,
            "steady_tokens": result.steady_tokens, "step_seconds": result.step_seconds,
            "step_flops": result.step_flops, "train_seconds": result.train_seconds, "tokens": result.tokens}


def run_rank(case: Case, options: dict, *, rank: int, local_rank: int, world: int) -> dict | None:
    """Build, shard, train and evaluate on this rank; rank 0's record (others: None)."""
    device = D.init_process_group(case.hardware, local_rank, world)
    set_seed(case.seed)
    tier = TIERS[case.tier]
    settings = get_settings(case, options["overrides"])
    if settings.compile:
        raise ValueError(f"TrainSettings.compile={settings.compile!r}: gpus={case.gpus} cases run eagerly; "
                         "use --set train.compile=''")
    memory = PeakMemory(device, enabled=settings.measure)
    with memory:
        task_kind = get_task(case.dataset).kind
        model_name = options["models"].get(case.dataset) or tier.models[task_kind]
        if model_name in SHAPES:
            model, workload, method, cfg, settings = make_shape_run(
                case, options=options, device=device, model_name=model_name, rank=rank, world=world)
            kind, before = "lm", None
        else:
            # rank 0 builds first, so that a tiny model's cached base is written once, not by
            # every rank at the same time; the others then read it
            if world > 1 and rank != 0:
                torch.distributed.barrier()
            run = build_run(case, tier=tier, options=options, device=device)
            if world > 1 and rank == 0:
                torch.distributed.barrier()
            model, workload, method, cfg, settings = run.model, run.workload, run.method, run.cfg, run.settings
            kind = run.task.kind
            precision = make_autocast(device, settings.autocast)
            with precision:  # before sharding: the plain model, the same numbers on every rank
                before = workload.evaluate(model, device=device) if kind == "lm" else None
            if world > 1:
                D.shard_model(model, mp_dtype=get_mp_dtype(settings))
        batches = D.shard_batches(workload.batches(seed=case.seed, device=device), rank=rank, world=world)
        result = train(
            D.RankLoss(model, loss_chunk=settings.loss_chunk, world=world), batches,
            method=method, cfg=cfg, settings=dataclasses.replace(settings, loss_chunk=0),
            total_steps=workload.total_steps, device=device, label=f"{case.id} rank {rank}/{world}",
        )
        quality = {}
        if model_name not in SHAPES:
            with make_autocast(device, settings.autocast):
                quality = workload.evaluate(model, device=device)
            quality.pop("predictions", None), quality.pop("labels", None)
    if device.type == "cuda":
        torch.cuda.synchronize()
    mine = {**get_rank_speed(result), **memory.result, "rank": rank}
    ranks = D.gather(mine)
    if rank != 0:
        return None
    return make_record(case, ranks, quality=quality, before=before, device=device, model_name=model_name,
                       cfg=cfg, settings=settings, workload=workload, result=result, model=model)


def make_record(case: Case, ranks: list[dict], *, quality, before, device, model_name, cfg, settings,
                workload, result, model) -> dict:
    """Rank 0's record: the case's identity, every rank's memory, the combined speed, quality."""
    world = len(ranks)
    gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    speed = D.combine_ranks(ranks)
    flops = [r["step_flops"] for r in ranks]
    case_flops = sum(flops) if all(flops) else None
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)  # DTensor numel: the global size
    total = sum(p.numel() for p in model.parameters())
    record = {
        "model": model_name, "config": dataclasses.asdict(cfg), "settings": dataclasses.asdict(settings),
        "protocol": workload.protocol, "launcher": "torchrun", "sharding": "fsdp2" if world > 1 else "none",
        "train_seconds": max(r["train_seconds"] for r in ranks), "train_steps": result.steps,
        "train_tokens": sum(r["tokens"] for r in ranks),
        "warmup_steps": result.warmup_steps, "loss_curve": result.loss_curve,
        "step_flops": case_flops, "step_flops_per_gpu": flops[0],
        "mfu": get_mfu(case_flops / world if case_flops else None, speed["steady_step_seconds"], gpu_name),
        "mfu_peak": "bf16 dense datasheet peak, per GPU" if get_peak_flops(gpu_name) else None,
        "device_name": gpu_name or "cpu", "trainable_params": trainable, "total_params": total,
        "trainable_percent": 100.0 * trainable / total,
        **speed,
    }
    record["train_tokens_per_second"] = record["train_tokens"] / record["train_seconds"]
    if model_name in SHAPES:
        record.update(weights=COST_ONLY, status="passed", floor_passed=None, floor_metric=None, floor_value=None)
        return record
    if before is not None:  # LM: perplexity relative to the untrained model
        quality["perplexity_untrained"] = before["perplexity"]
        quality["perplexity_ratio"] = quality["perplexity"] / before["perplexity"]
    measured = quality[case.floor.metric]
    passed = case.floor.passes(measured)
    record.update(quality, status="passed" if passed else "failed_floor", floor_passed=passed)
    return record


def write_json(path: Path, content: dict) -> None:
    """``content`` as ``path``, whole or not at all (``reports.atomic``)."""
    with atomic_write(path, encoding="utf-8") as fh:
        json.dump(content, fh, indent=1, default=str)


def leave(code: int) -> None:
    """End the rank with ``code`` now, without the interpreter's finalisation. A rank that had
    finished (barrier passed) was once killed at teardown by ``std::terminate`` ("terminate
    called without an active exception", exit code -6), from a library thread's C++ destructor;
    ``os._exit`` runs no destructors and no ``atexit`` handlers. Nothing is lost: every file this
    program writes is closed by then, the standard streams and logging are flushed here, and the
    libraries' handlers (HTTP sessions, file locks the kernel frees, tqdm's monitor) keep
    nothing. A death inside ``destroy_process_group`` is not prevented: the launcher accepts
    it after every rank's done marker (``fixtures.run.launch.get_teardown_note``)."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def main(argv: list[str]) -> int:
    spec_path, out_dir = Path(argv[0]), Path(argv[1])
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    case = Case(**spec["case"])
    rank, local_rank, world = D.get_world()
    try:
        record = run_rank(case, spec["options"], rank=rank, local_rank=local_rank, world=world)
    except BaseException as error:
        status = get_failure_status(error) or "error"
        report = {"rank": rank, "status": status, "error": f"{type(error).__name__}: {error}",
                  "failed_at_step": getattr(error, "step", None), "traceback": traceback.format_exc(),
                  "time": time.time()}
        write_json(out_dir / f"rank{rank}.json", report)
        print(f"rank {rank}: {status}: {error}", file=sys.stderr, flush=True)
        traceback.print_exc()
        return 1
    if record is not None:
        write_json(out_dir / "record.json", record)
    write_json(out_dir / f"done{rank}.json", {"rank": rank, "local_rank": local_rank, "time": time.time()})
    if torch.distributed.is_initialized():
        # every rank leaves together: a rank that tore its process group down while rank 0 was
        # still writing the record was once killed by gloo at exit ("terminate called without
        # an active exception", rank exit code -6)
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    set_parent_death_signal()  # a rank ends with torchrun, even when torchrun is killed
    leave(main(sys.argv[1:]))
