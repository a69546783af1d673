"""Failures become statuses; bad input becomes a clear message; same seed, same numbers."""

import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from fixtures.outcome import get_failure_status
from fixtures.settings import TrainSettings
from fixtures.train import Diverged, TimeLimit, train
from methods import get_method


class Regression(torch.nn.Module):
    """A one-weight model whose loss can be made NaN or slow."""

    def __init__(self, *, nan_after: int = 10**9, sleep: float = 0.0):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.calls, self.nan_after, self.sleep = 0, nan_after, sleep

    def forward(self, x):
        self.calls += 1
        if self.sleep:
            import time

            time.sleep(self.sleep)
        loss = ((self.w * x - 2 * x) ** 2).mean()
        return SimpleNamespace(loss=loss * float("nan") if self.calls > self.nan_after else loss)


def batches():
    gen = torch.Generator().manual_seed(0)
    while True:
        yield {"x": torch.randn(8, generator=gen)}


def run(model, **settings):
    method = get_method("full_ft")
    return train(model, batches(), method=method, cfg=method.Config(lr=0.1),
                 settings=TrainSettings(log_every=5, **settings), total_steps=20, device=torch.device("cpu"))


def test_training_learns_and_logs():
    result = run(Regression())
    assert result.steps == 20 and len(result.step_seconds) == 20
    assert result.loss_curve[-1][1] < result.loss_curve[0][1]


def test_nan_loss_is_diverged_at_its_step():
    with pytest.raises(Diverged) as info:
        run(Regression(nan_after=7))
    assert info.value.step == 10  # detected at the first reading after step 7
    assert get_failure_status(info.value) == "diverged"


def test_time_limit_is_timeout():
    with pytest.raises(TimeLimit) as info:
        run(Regression(sleep=0.02), time_limit_s=0.05)
    assert get_failure_status(info.value) == "timeout"


def test_oom_is_a_status_and_bugs_are_not():
    assert get_failure_status(torch.OutOfMemoryError("CUDA out of memory")) == "oom"
    assert get_failure_status(ValueError("a bug")) is None


def test_same_seed_same_numbers_bit_for_bit():
    def once():
        torch.manual_seed(0)
        return run(Regression()).loss_curve

    assert once() == once()


@pytest.mark.parametrize("setting", [{"batch_size": 0}, {"max_steps": -1}, {"warmup_ratio": 1.0}, {"time_limit_s": -1}])
def test_nonsense_settings_are_refused_by_name(setting):
    with pytest.raises(ValueError, match=next(iter(setting))):
        TrainSettings(**setting)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--set", "dora.r=4"], "scope must be 'train' or a method"),
        (["--set", "lora.r"], "expects KEY=VALUE"),
        (["--seeds", "a,b"], "--seeds expects integers"),
        (["--model", "mnist=tiny-llama"], "unknown dataset"),
    ],
)
def test_bad_options_are_usage_errors(args, expected):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "-m", "smoke and cpu and sst2 and lora", "-p", "no:cacheprovider",
         "--benchmark-disable", "-q", *args],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR
    assert expected in proc.stdout + proc.stderr


def test_gpu_and_qlora_selects_exactly_the_qlora_gpu_cases():
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "-m", "gpu and qlora", "--collect-only", "-q", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=120,
    )
    ids = [line for line in proc.stdout.splitlines() if "::test_finetune[" in line]
    assert ids and all("[qlora-" in i and "-gpu-" in i for i in ids), proc.stdout


NO_NETWORK = """
import socket, sys, pytest
attempts = []
def refuse(self, address, *a, **k):
    attempts.append(address)
    raise OSError(f"network access attempted: {address}")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
code = pytest.main(["bench", "-m", "smoke and cpu and sst2 and lora", "-p", "no:cacheprovider",
                    "--benchmark-disable", "-q"])
print("ATTEMPTS", attempts)
sys.exit(int(code))
"""


def test_a_smoke_case_opens_no_socket():
    import os

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", NO_NETWORK], capture_output=True, text=True, timeout=300, env=env)
    assert "ATTEMPTS []" in proc.stdout, proc.stdout[-2000:]
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_other_gpu_processes_degrade_to_unknown_without_a_driver():
    from fixtures.hardware import get_other_processes_gpu_bytes

    value = get_other_processes_gpu_bytes(0)
    assert value is None or value >= 0
