"""Ctrl-C / SIGTERM / SIGHUP always stop: the handler sets a flag (fixtures.run.stop) that the
training loop checks once per step and the case boundary checks between cases.

The signal is delivered at 20 different moments of a toy training run, including inside a
weakref callback, where a KeyboardInterrupt raised by the handler itself would be swallowed;
one real tiny case is stopped during its inference timing (about a minute on 2 cores).
"""

import gc
import json
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from fixtures.run import stop
from fixtures.training.settings import TrainSettings
from fixtures.training.train import train
from methods import get_method


@pytest.fixture
def stop_handlers():
    """Install the stop handlers for one test; restore the previous ones after."""
    previous = {s: signal.getsignal(s) for s in stop.SIGNALS}
    stop.reset()
    stop.install()
    yield
    stop.reset()
    for s, handler in previous.items():
        signal.signal(s, handler)


class Toy(torch.nn.Module):
    """A one-weight model that delivers a signal to its own process at forward call ``at``,
    from the place ``where``: the forward itself, or a weakref callback run by the collector."""

    def __init__(self, *, at: int, where: str, signum: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.calls, self.at, self.where, self.signum = 0, at, where, signum

    def deliver(self, *_):
        os.kill(os.getpid(), self.signum)
        for _ in range(1000):  # bytecodes here: the handler runs inside this callback
            pass

    def forward(self, x):
        self.calls += 1
        if self.calls == self.at:
            if self.where == "weakref":
                class Garbage:
                    pass

                obj = Garbage()
                ref = weakref.ref(obj, self.deliver)  # noqa: F841 (the callback runs when obj dies)
                del obj
                gc.collect()
            else:
                self.deliver()
        return SimpleNamespace(loss=((self.w * x - 2 * x) ** 2).mean())


def batches():
    gen = torch.Generator().manual_seed(0)
    while True:
        yield {"x": torch.randn(8, generator=gen)}


MOMENTS = [(at, where, signum) for at in (1, 2, 3, 5, 8, 13, 21, 34, 40, 49)
           for where, signum in (("forward", signal.SIGTERM), ("weakref", signal.SIGINT))]


@pytest.mark.parametrize("at, where, signum", MOMENTS)
def test_a_signal_at_any_moment_stops_training_within_one_step(stop_handlers, at, where, signum):
    method = get_method("full_ft")
    model = Toy(at=at, where=where, signum=signum)
    with pytest.raises(KeyboardInterrupt, match=f"signal {int(signum)}"):
        train(model, batches(), method=method, cfg=method.Config(lr=0.1), settings=TrainSettings(log_every=5),
              total_steps=50, device=torch.device("cpu"))
    assert model.calls == at  # the step the signal came in finished; no further step began
    assert stop.get_requested() == signum


def test_a_second_signal_stops_at_once(stop_handlers, monkeypatch):
    os.kill(os.getpid(), signal.SIGTERM)
    monkeypatch.setattr(stop, "ECHO_SECONDS", 0.0)  # the second comes later than an echo
    with pytest.raises(KeyboardInterrupt, match="again"):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass


def test_the_same_signal_twice_at_once_is_one_stop(stop_handlers):
    """timeout(1) and launchers signal the child, then its process group: one stop, not an insisting user."""
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(1000):
        pass
    assert stop.get_requested() == signal.SIGTERM
    with pytest.raises(KeyboardInterrupt, match="stop requested"):
        stop.check()


def busy(seconds: float) -> None:
    """Python work with no safe point in it (an 8B case's first compilation, say)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.005)


def test_a_request_no_safe_point_takes_escalates_after_the_grace(stop_handlers, monkeypatch):
    monkeypatch.setattr(stop, "GRACE_SECONDS", 0.3)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt, match="no safe point within 0.3 s"):
        os.kill(os.getpid(), signal.SIGTERM)
        busy(10)
    assert 0.3 <= time.monotonic() - started < 3


def test_an_escalation_wakes_a_main_thread_blocked_in_a_wait(stop_handlers, monkeypatch):
    """A blocking call (a lock, a future's result) returns to raise, not only at its own end."""
    import threading

    monkeypatch.setattr(stop, "GRACE_SECONDS", 0.3)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt, match="no safe point"):
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(20)
    assert time.monotonic() - started < 5


def test_a_request_a_safe_point_took_does_not_escalate(stop_handlers, monkeypatch):
    monkeypatch.setattr(stop, "GRACE_SECONDS", 0.2)
    os.kill(os.getpid(), signal.SIGTERM)
    busy(0.05)
    with pytest.raises(KeyboardInterrupt, match="stop requested"):
        stop.check()
    busy(0.6)  # well past the grace: nothing more is raised while the run writes its files


def test_a_stop_request_ends_the_run_at_the_case_boundary(stop_handlers, request):
    # the repository's conftest.py (a plain "import conftest" may find tests/conftest.py)
    conftest = request.config.pluginmanager.get_plugin(str(Path(__file__).resolve().parents[1] / "conftest.py"))

    session = SimpleNamespace(shouldstop=False)
    item = SimpleNamespace(session=session, config=SimpleNamespace(stash={}))
    hook = conftest.pytest_runtest_protocol(item, None)
    next(hook)  # no request yet: the case starts
    os.kill(os.getpid(), signal.SIGTERM)  # arrives while the case runs outside the loop
    with pytest.raises(StopIteration):
        hook.send(True)
    assert "stop requested" in session.shouldstop  # the run loop ends after this case
    with pytest.raises(KeyboardInterrupt):  # and a next case would not start
        next(conftest.pytest_runtest_protocol(item, None))


def test_a_case_stopped_during_inference_timing_is_recorded_interrupted(tmp_path):
    """A real tiny case, stopped while pytest-benchmark times its inference (a million rounds)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    case = "lora-sst2-tiny-cpu-seed0"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"bench/test_finetune.py::test_finetune[{case}]", "-p", "no:cacheprovider",
         "-s", "--set", "train.max_steps=3", "--set", "train.inference_rounds=1000000",
         "--benchmark-json", str(tmp_path / "results.json"), "--benchmark-storage", str(tmp_path / "store")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "step     3/3" in line:  # training done: evaluation, then the timing rounds
                import time

                time.sleep(3)
                proc.send_signal(signal.SIGTERM)
                break
        output = "".join(lines) + proc.communicate(timeout=300)[0]
    finally:
        proc.kill()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    (entry,) = json.loads((tmp_path / "results.json").read_text())["benchmarks"]
    assert entry["extra_info"]["status"] == "interrupted" and entry["stats"] is None, entry
