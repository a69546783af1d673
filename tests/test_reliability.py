"""Failures become statuses; bad input becomes a clear message; same seed, same numbers."""

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from fixtures.run.outcome import get_failure_status
from fixtures.training.settings import TrainSettings
from fixtures.training.train import Diverged, TimeLimit, train
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


def test_a_stopped_run_keeps_its_loss_curve():
    """A timeout or divergence keeps the curve so far: the readings, then the unread steps."""
    with pytest.raises(TimeLimit) as info:
        run(Regression(sleep=0.01), time_limit_s=0.08)
    curve, step = info.value.loss_curve, info.value.step
    assert curve and curve[-1][0] == step and all(b[0] > a[0] for a, b in zip(curve, curve[1:]))
    with pytest.raises(Diverged) as info:
        run(Regression(nan_after=7))
    assert [s for s, _ in info.value.loss_curve] == [5, 10] and info.value.loss_curve[-1][1] != info.value.loss_curve[-1][1]


def test_oom_is_a_status_and_bugs_are_not():
    assert get_failure_status(torch.OutOfMemoryError("CUDA out of memory")) == "oom"
    assert get_failure_status(RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate")) == "oom"
    assert get_failure_status(ValueError("a bug")) is None
    assert get_failure_status(RuntimeError("shape mismatch")) is None


def test_same_seed_same_numbers_bit_for_bit():
    def once():
        torch.manual_seed(0)
        return run(Regression()).loss_curve

    assert once() == once()


@pytest.mark.parametrize("setting", [{"batch_size": 0}, {"max_steps": -1}, {"warmup_ratio": 1.0}, {"time_limit_s": -1}])
def test_nonsense_settings_are_refused_by_name(setting):
    with pytest.raises(ValueError, match=next(iter(setting))):
        TrainSettings(**setting)


BAD_OPTIONS = [
    (["--set", "nomethod.r=4"], "scope must be 'train' or a method"),
    (["--set", "lora.r"], "expects KEY=VALUE"),
    (["--seeds", "a,b"], "--seeds expects integers"),
    (["--model", "mnist=tiny-llama"], "unknown dataset"),
    (["--benchmark-json", "/no/such/dir/out.json"], "folder /no/such/dir does not exist"),
    (["--benchmark-json", "/tmp"], "--benchmark-json /tmp: is a folder"),
    (["--set", "train.max_steps=abc"], "TrainSettings.max_steps='abc': expected an integer"),
]
UNKNOWN_NAMES = [
    (["--model", "sst2=not-a-model"], "unknown model; use a short name (tiny-bert"),
    (["--model", "sst2=/no/such/checkpoint"], "no such file or folder"),
    (["-m", "lorra"], "Unknown marker(s) in '-m' expression: lorra"),  # a method that does not exist
    (["-m", "smoke and tpu"], "Unknown marker(s) in '-m' expression: tpu"),  # hardware
    (["-m", "mnist"], "Unknown marker(s) in '-m' expression: mnist"),  # dataset
]
PYTEST = [sys.executable, "-m", "pytest", "bench", "-p", "no:cacheprovider", "--benchmark-disable", "-q"]


def bad_option_command(args):
    return [*PYTEST, "-m", "smoke and cpu and sst2 and lora", *args]


def unknown_name_command(args):
    return [*PYTEST, "--collect-only", *args]


# Commands that select cases and run none (each test below reads its own).
QLORA_GPU_COMMAND = [sys.executable, "-m", "pytest", "bench", "-m", "gpu and qlora", "--collect-only", "-q", "-p",
                     "no:cacheprovider"]
NOTHING_COMMAND = [sys.executable, "-m", "pytest", "bench", "-m", "gpu and cpu", "-p", "no:cacheprovider", "-q"]


@pytest.fixture(scope="module")
def usage_runs():
    """Every command of this module that stops before running a case (usage errors, selections),
    run once, as many at a time as there are cores (each spends seconds importing torch)."""
    from concurrent.futures import ThreadPoolExecutor

    commands = [bad_option_command(a) for a, _ in BAD_OPTIONS] + [unknown_name_command(a) for a, _ in UNKNOWN_NAMES]
    commands += [QLORA_GPU_COMMAND, NOTHING_COMMAND]

    def run(command):
        return subprocess.run(command, capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return {tuple(c): proc for c, proc in zip(commands, pool.map(run, commands))}


@pytest.mark.parametrize("args, expected", BAD_OPTIONS)
def test_bad_options_are_usage_errors(usage_runs, args, expected):
    proc = usage_runs[tuple(bad_option_command(args))]
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR
    assert expected in proc.stdout + proc.stderr


def test_gpu_and_qlora_selects_exactly_the_qlora_gpu_cases(usage_runs):
    proc = usage_runs[tuple(QLORA_GPU_COMMAND)]
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
# the single-process case: a multi-rank case's ranks are other processes, which this patch cannot see
code = pytest.main(["bench", "-m", "smoke and cpu and sst2 and lora and not multigpu", "-p", "no:cacheprovider",
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
    from fixtures.run.hardware import get_other_processes_gpu_bytes

    value = get_other_processes_gpu_bytes(0)
    assert value is None or value >= 0


def test_gpu_sharing_is_the_larger_reading_of_start_and_end():
    """Six processes that start together each read 0 at their start; the end's reading counts too."""
    from fixtures.run.hardware import get_most_held

    assert get_most_held(0, 7 * 2**30) == 7 * 2**30 and get_most_held(5, None) == 5
    assert get_most_held(None, None) is None


def test_determinism_settings_are_read_not_changed():
    from fixtures.run.provenance import get_determinism

    before = torch.are_deterministic_algorithms_enabled()
    record = get_determinism()
    assert record["deterministic_algorithms"] is before and torch.are_deterministic_algorithms_enabled() is before
    assert set(record) >= {"cudnn_deterministic", "cudnn_benchmark", "cublas_workspace_config",
                           "cuda_matmul_allow_tf32", "float32_matmul_precision"}
    torch.use_deterministic_algorithms(True)
    try:
        assert get_determinism()["deterministic_algorithms"] is True
    finally:
        torch.use_deterministic_algorithms(before)


def test_paths_in_results_are_relative_to_home_and_repo(monkeypatch):
    from fixtures.run.provenance import get_portable

    monkeypatch.setenv("HOME", "/home/al")
    record = {
        "model_source": "dir:/home/al/models/minilm",
        "data": ["/work/repo/data/sst2/train.tsv", "/work/repo", "/home/al"],
        "error": "cannot read /home/al/x.tsv: line 3",
        "others": ["/home/alice/x", "/mnt/home/al/y", "/work/repo2/z"],
        "/home/al/key": 1, "n": 2.5, "ok": None,
    }
    assert get_portable(record, root="/work/repo") == {
        "model_source": "dir:~/models/minilm",
        "data": ["data/sst2/train.tsv", ".", "~"],
        "error": "cannot read ~/x.tsv: line 3",
        "others": ["/home/alice/x", "/mnt/home/al/y", "/work/repo2/z"],
        "~/key": 1, "n": 2.5, "ok": None,
    }


@pytest.mark.parametrize("metric, value", [("accuracy", 1.5), ("accuracy", -0.1), ("perplexity", 0.5),
                                           ("perplexity_ratio", -1.0), ("accuracy", float("nan")), ("bleu", 0.3)])
def test_impossible_floors_are_refused(metric, value):
    from fixtures.training.metrics import check_floor

    with pytest.raises(ValueError, match=metric if metric != "bleu" else "unknown"):
        check_floor(metric, value, where="x-case")


def test_every_matrix_floor_is_possible():
    from bench.matrix import CASES, CUSTOM_FLOOR
    from fixtures.training.metrics import check_floor

    for floor in {c.floor for c in CASES} | {CUSTOM_FLOOR}:
        check_floor(floor.metric, floor.value)


def test_a_batch_larger_than_the_data_is_refused_not_a_hang():
    from fixtures.data.batches import iter_classification_batches, iter_lm_batches

    with pytest.raises(ValueError, match="batch_size=8 > the 3 training examples"):
        next(iter_classification_batches([[1], [2], [3]], [0, 1, 0], pad_id=0, batch_size=8, seed=0, device="cpu"))
    with pytest.raises(ValueError, match="batch_size=4 > the 2 training blocks"):
        next(iter_lm_batches(torch.arange(10), block=5, batch_size=4, seed=0, device="cpu"))


@pytest.mark.parametrize("args, expected", UNKNOWN_NAMES)
def test_unknown_names_are_usage_errors(usage_runs, args, expected):
    proc = usage_runs[tuple(unknown_name_command(args))]
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert expected in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_marker_expression_selecting_nothing_says_so(usage_runs):
    proc = usage_runs[tuple(NOTHING_COMMAND)]
    assert proc.returncode == pytest.ExitCode.NO_TESTS_COLLECTED
    assert "no case matches -m 'gpu and cpu'" in proc.stdout and "methods full_ft, lora" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"train": {"batch_size": 0}}, "--set train.batch_size=0: TrainSettings.batch_size=0: must be > 0"),
        ({"train": {"max_steps": "abc"}}, "TrainSettings.max_steps='abc': expected an integer"),
        ({"train": {"epochs": 1.5}}, "--set train.epochs=1.5: TrainSettings.epochs=1.5: expected an integer"),
        ({"train": {"batch_sise": 8}}, "--set train.batch_sise=8: unknown field; train has epochs, max_steps"),
        ({"train": {"measure": 1}}, "TrainSettings.measure=1: expected true or false"),
        ({"lora": {"r": "abc"}}, "--set lora.r=\"abc\": methods.lora.Config.r='abc': expected an integer"),
        ({"lora": {"target_modules": [1]}}, "Config.target_modules=[1]: expected a JSON list of strings"),
        ({"hira": {"lr": "fast"}}, "methods.hira.Config.lr='fast': expected a number"),
        ({"sparselora": {"dense_scored": True}}, "dense_scored=True needs context_aware=True"),
    ],
)
def test_bad_set_values_are_usage_errors_that_name_the_field(overrides, expected):
    from fixtures.run.options import check_overrides

    with pytest.raises(pytest.UsageError) as info:
        check_overrides(overrides)
    assert expected in str(info.value)


@pytest.mark.parametrize("overrides", [{"train": {"dtype": "bf16"}},  # with the tier's autocast it may work
                                       {"train": {"compile": True, "warmup_ratio": 0}},
                                       {"lora": {"target_modules": "all-linear", "lr": 1}},
                                       # a rule of two fields that the other --set satisfies
                                       {"sparselora": {"context_aware": True, "dense_scored": True}}])
def test_good_set_values_pass_the_upfront_check(overrides):
    from fixtures.run.options import check_overrides

    check_overrides(overrides)


def test_a_set_value_refused_only_with_the_case_settings_is_a_recorded_failure(tmp_path):
    """dtype=bf16 is a fine value, but with the tiny tier's fp32 trainable weights and no autocast
    it mixes dtypes: the case fails with a status and the field named, and is in the results."""
    import json

    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/test_finetune.py::test_finetune[lora-sst2-tiny-cpu-seed0]",
         "-p", "no:cacheprovider", "-q", "--set", "train.dtype=\"bf16\"",
         "--benchmark-json", str(tmp_path / "out.json"), "--benchmark-storage", str(tmp_path / "store")],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout[-3000:]
    (entry,) = json.loads((tmp_path / "out.json").read_text())["benchmarks"]
    assert entry["extra_info"]["status"] == "error" and "dtype='bf16'" in entry["extra_info"]["error"]


def test_a_timed_out_case_keeps_its_loss_curve_and_quality_when_stopped(tmp_path):
    """A case stopped by train.time_limit_s is a "timeout" in the results, with the loss curve so
    far and the model as trained so far scored (quality_at_stop), shown in the report's detail."""
    import json

    from reports.load import load_file
    from reports.summarize import get_failure_detail

    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/test_finetune.py::test_finetune[lora-sst2-tiny-cpu-seed0]",
         "-p", "no:cacheprovider", "-q", "--set", "train.time_limit_s=0.3",
         "--benchmark-json", str(out), "--benchmark-storage", str(tmp_path / "store")],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout[-3000:]
    (entry,) = json.loads(out.read_text())["benchmarks"]
    extra = entry["extra_info"]
    assert extra["status"] == "timeout" and extra["loss_curve"][-1][0] == extra["failed_at_step"]
    assert 0.0 <= extra["quality_at_stop"]["accuracy"] <= 1.0
    (row,) = load_file(out)
    assert "when stopped (training unfinished)" in get_failure_detail(row)
