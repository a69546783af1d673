"""The progress line: rewritten in place on a TTY, occasional plain lines otherwise, fed by the loop."""

import contextlib
from types import SimpleNamespace

import torch

from fixtures.run import progress
from fixtures.training.settings import TrainSettings
from fixtures.training.train import train
from methods import get_method


class Terminal:
    """A terminal reporter and capture manager that record what is written."""

    def __init__(self, isatty: bool):
        self.isatty, self.out, self.suspended = isatty, [], 0

    def write(self, text, **_):
        self.out.append(text)

    def write_line(self, line, **_):
        self.out.append(line + "\n")

    def rewrite(self, line, **_):
        self.out.append("\r" + line)

    @contextlib.contextmanager
    def global_and_fixture_disabled(self):
        self.suspended += 1
        yield


def make_config(terminal):
    plugins = {"terminalreporter": terminal, "capturemanager": terminal}
    return SimpleNamespace(pluginmanager=SimpleNamespace(get_plugin=plugins.get))


def test_a_tty_gets_one_line_per_case_rewritten_in_place():
    term = Terminal(isatty=True)
    line = progress.ProgressLine(make_config(term))
    for step in (10, 20, 30):
        line("lora-x-real-cpu-seed0", step, 30, 0.5, 2.0)
    text = "".join(term.out)
    assert text.startswith("\n\r") and text.count("\n") == 2 and text.count("\r") == 3
    assert "lora-x-real-cpu-seed0  step 10/30  loss 0.5000  2.00 steps/s  ETA 10 s" in text
    assert term.suspended == 3  # every write goes past the capture


def test_a_log_gets_occasional_plain_lines_without_carriage_returns():
    term, now = Terminal(isatty=False), [0.0]
    line = progress.ProgressLine(make_config(term), interval=60, clock=lambda: now[0])
    for step in range(1, 101):
        now[0] = step * 2.0  # 2 s a step: 200 s in all
        line("full_ft-x-real-cpu-seed0", step, 100, 0.4, 0.5)
    assert len(term.out) == 4  # at 2, 62, 122, 182 s
    assert not any("\r" in t for t in term.out)
    assert "ETA 3 min 18 s" in term.out[0]


def test_a_log_line_does_not_make_pytest_repeat_the_file_header():
    """pytest's reporter forgets the current file when a line is written (ensure_newline), and
    would print the file's name again before the next dot: the progress line keeps it."""
    class Reporter(Terminal):
        currentfspath = "bench/test_finetune.py"

        def write_line(self, line, **_):
            self.currentfspath = None
            super().write_line(line)

    term = Reporter(isatty=False)
    progress.ProgressLine(make_config(term), interval=60, clock=lambda: 0.0)("lora-x-tiny-cpu-seed0", 1, 9, 0.4, 1.0)
    assert len(term.out) == 1 and term.currentfspath == "bench/test_finetune.py"


def test_a_log_line_under_q_starts_below_the_row_of_dots():
    """Under -q pytest writes its dots with no file name, so ensure_newline does not end their
    row: the progress line must, or it would continue the dots' row ("...lora-x  step 1/9")."""
    term = Terminal(isatty=False)
    term._tw = SimpleNamespace(width_of_current_line=3)  # "..." written
    progress.ProgressLine(make_config(term), interval=60, clock=lambda: 0.0)("lora-x-tiny-cpu-seed0", 1, 9, 0.4, 1.0)
    assert term.out[0] == "\n" and term.out[1].startswith("lora-x-tiny-cpu-seed0  step 1/9")
    term = Terminal(isatty=False)
    term._tw = SimpleNamespace(width_of_current_line=0)  # at a line's start: no empty line
    progress.ProgressLine(make_config(term), interval=60, clock=lambda: 0.0)("lora-x-tiny-cpu-seed0", 1, 9, 0.4, 1.0)
    assert len(term.out) == 1


def test_the_training_loop_reports_at_its_log_points():
    seen = []
    progress._sinks.append(lambda *args: seen.append(args))
    try:
        model = torch.nn.Linear(1, 1)

        class Loss(torch.nn.Module):
            def forward(self, x):
                return SimpleNamespace(loss=((model(x) - 2 * x) ** 2).mean())

        def batches():
            while True:
                yield {"x": torch.randn(8, 1)}

        method = get_method("full_ft")
        wrapped = Loss()
        wrapped.model = model
        train(wrapped, batches(), method=method, cfg=method.Config(lr=0.1), settings=TrainSettings(log_every=5),
              total_steps=20, device=torch.device("cpu"), label="case-a")
    finally:
        progress._sinks.pop()
    assert [(label, step, total) for label, step, total, _, _ in seen] == [("case-a", s, 20) for s in (5, 10, 15, 20)]
    assert all(rate > 0 for *_, rate in seen)
