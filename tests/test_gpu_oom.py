"""CUDA out-of-memory provoked for real (needs a GPU; skipped without one).

The GPU is filled with ballast tensors until the allocator refuses, then the tiny
LoRA case trains through the real loop with its whole training set as one batch:
the first forward runs out of memory. The error must map to status "oom" with the
peak memory measured, the memory must come back after the usual release, and the
same case must then train normally in the same process. The CPU simulation of the
status mapping is ``test_reliability.py::test_oom_is_a_status_and_bugs_are_not``.
"""

import dataclasses
import math

import pytest
import torch

from bench.matrix import CASES, TIERS
from fixtures.run.cases import build_run, set_seed
from fixtures.run.measure import PeakMemory, release
from fixtures.run.outcome import get_failure_status
from fixtures.training.train import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run on the GPU machine)")

CASE_ID = "lora-sst2-tiny-gpu-seed0"
MIB = 2**20


def fill_gpu(device) -> list:
    """Allocate until the allocator refuses even 1 MiB; the ballast tensors are returned."""
    ballast, chunk = [], 2**30
    while chunk >= MIB:
        try:
            ballast.append(torch.empty(chunk, dtype=torch.uint8, device=device))
        except torch.OutOfMemoryError:
            chunk //= 2
    return ballast


def get_run(case, device, **train_settings):
    """The case's model and data on ``device``, as the benchmark builds them."""
    set_seed(case.seed)
    options = {"overrides": {"train": train_settings}, "models": {}, "datasets": {}}
    return build_run(case, tier=TIERS[case.tier], options=options, device=device)


def train_run(run, device):
    return train(run.model, run.workload.batches(seed=0, device=device), method=run.method, cfg=run.cfg,
                 settings=run.settings, total_steps=run.workload.total_steps, device=device, label=CASE_ID)


def provoke_oom(case, device) -> tuple[str | None, dict, int]:
    """(status, measured memory, ballast bytes) of a training run on a full GPU. No reference
    to the error or the model outlives this function (a traceback would pin the memory)."""
    run = get_run(case, device, max_steps=2)
    whole = len(run.workload.train_ids)
    run.workload.settings = dataclasses.replace(run.settings, batch_size=whole)
    release(device)  # no cached blocks left for the training to fall back on
    ballast = fill_gpu(device)
    size = sum(t.numel() for t in ballast)
    memory = PeakMemory(device)
    status = None
    try:
        with memory:
            train_run(run, device)
    except Exception as error:
        status = get_failure_status(error)
    del ballast, run
    return status, memory.result, size


def test_cuda_oom_is_recorded_released_and_the_next_case_trains():
    (case,) = [c for c in CASES if c.id == CASE_ID]
    device = torch.device("cuda")
    # a first matmul creates the cuBLAS handle and its workspace (tens of MiB, kept for the
    # process): created here, not inside the full GPU, and counted in the start value
    torch.ones(64, 64, device=device) @ torch.ones(64, 64, device=device)
    release(device)
    start = torch.cuda.memory_allocated(device)

    status, measured, ballast = provoke_oom(case, device)
    assert status == "oom"
    assert measured["peak_gpu_allocated_bytes"] >= ballast > 0  # the memory reached is recorded

    release(device)
    assert torch.cuda.memory_allocated(device) - start < 64 * MIB, "memory not released after the OOM"

    run = get_run(case, device)
    result = train_run(run, device)
    assert result.steps == run.workload.total_steps and math.isfinite(result.loss_curve[-1][1])
    del run
    release(device)
