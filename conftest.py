"""Options, markers, machine facts and session fixtures for the benchmark suite."""

import pytest

from fixtures import progress
from fixtures.claims import run_claimed
from fixtures.custom_floor import DEFAULT_MARGIN
from fixtures.hardware import probe
from fixtures.options import RUN_OPTIONS, get_empty_selection_hint, get_recorded_options, get_run_options
from fixtures.provenance import get_git_commit, get_portable, get_versions
from fixtures.results_files import keep_untimed_cases, make_results_atomic
from fixtures.tasks import TASKS
from methods import METHODS


def pytest_addoption(parser):
    """Options a user sets per run; every one is recorded in the results."""
    group = parser.getgroup("peft-bench")
    group.addoption("--model", action="append", default=[], metavar="TASK=NAME",
                    help="model for a dataset, e.g. --model sst2=tiny-llama (repeatable)")
    group.addoption("--seeds", default="0", metavar="N[,N...]",
                    help="seeds to run every case with, e.g. --seeds 0,1,2 (default: 0)")
    group.addoption("--set", action="append", default=[], dest="overrides", metavar="SCOPE.FIELD=VALUE",
                    help="override a method Config field (lora.r=16) or a TrainSettings field "
                         "(train.max_steps=50); values are JSON (repeatable)")
    group.addoption("--refuse-busy-gpu", action="store_true",
                    help="skip GPU cases while other processes hold > 500 MiB on the GPU (always recorded)")
    group.addoption("--data-dir", default=None, metavar="DIR",
                    help="real datasets under DIR/<name>/ (default: $PEFT_BENCH_DATA, else ../shared/data "
                         "beside the repository if it exists; then the hub unless offline)")
    group.addoption("--dataset", action="append", default=[], metavar="NAME=PATH",
                    help="add a local text-classification dataset (folder with train + validation/test "
                         "files, columns text|sentence,label); runs lora and full_ft on it (repeatable)")
    group.addoption("--custom-floor-margin", type=float, default=DEFAULT_MARGIN, metavar="FRACTION",
                    help="a --dataset case fails its floor more than this below the LoRA case of the same "
                         "dataset and seed (else the best method run before it); default %(default)s = 5 points")
    group.addoption("--limit-train", type=int, default=None, metavar="N",
                    help="real data: train on at most N examples (seeded shuffle; LM: first N lines)")
    group.addoption("--limit-eval", type=int, default=None, metavar="N",
                    help="real data: evaluate on at most N examples (seeded shuffle; LM: first N lines)")
    group.addoption("--claim-dir", default=None, metavar="DIR",
                    help="share the selection with other pytest processes: run only the cases this one "
                         "claims first in DIR (a fresh folder per run; python -m bench.shard sets it)")


def pytest_configure(config):
    """Register one marker per method and dataset from the registries (no second list), parse
    the run's options before collection, so a bad one is a usage error up front, and show progress."""
    for name in METHODS:
        config.addinivalue_line("markers", f"{name}: cases of method {name}")
    for name in TASKS:
        config.addinivalue_line("markers", f"{name}: cases on dataset {name}")
    config.stash[RUN_OPTIONS] = get_run_options(config)
    progress.install(config)  # one progress line per case, past the capture (not under -s)
    for name in config.stash[RUN_OPTIONS]["datasets"]:
        config.addinivalue_line("markers", f"{name}: cases on the --dataset {name}")


@pytest.fixture(scope="session")
def run_options(pytestconfig) -> dict:
    """The command line's choices, parsed once in pytest_configure."""
    return pytestconfig.stash[RUN_OPTIONS]


@pytest.fixture(scope="session")
def hardware():
    """Probe the machine once per session (CUDA, GPU memory, driver, bitsandbytes)."""
    return probe()


UNFINISHED = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def unfinished_cases(pytestconfig) -> list:
    """Cases that ended in oom/diverged/timeout before timing; added to the results JSON."""
    return pytestconfig.stash.setdefault(UNFINISHED, [])


@pytest.hookimpl(hookwrapper=True)
def pytest_benchmark_generate_json(config, benchmarks, include_data, machine_info, commit_info):
    """pytest-benchmark drops cases without a timed call; put the unfinished ones back."""
    outcome = yield
    outcome.get_result()["benchmarks"].extend(config.stash.get(UNFINISHED, []))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    """With --claim-dir, one process per GPU shares the selection case by case (see fixtures.claims)."""
    claim_dir = session.config.getoption("claim_dir")
    return run_claimed(session, claim_dir) if claim_dir else None


def pytest_sessionstart(session):
    """SIGTERM ends the run like Ctrl-C, so finished cases are still saved; results files
    are written atomically, and written even when every case ended unfinished
    (pytest-benchmark's session exists by now)."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    make_results_atomic(session.config)
    keep_untimed_cases(session.config, lambda: session.config.stash.get(UNFINISHED, []))


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """No absolute home or checkout paths in results: the home becomes ~, the repository relative."""
    output_json.update(get_portable(output_json, root=str(config.rootpath)))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """An -m expression that selects no case says so, with the markers there are to combine."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and config.option.markexpr:
        datasets = config.stash[RUN_OPTIONS]["datasets"] if RUN_OPTIONS in config.stash else {}
        terminalreporter.write_line(get_empty_selection_hint(config.option.markexpr, datasets), yellow=True)


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record what pytest-benchmark does not: GPU, driver, library versions and the commit."""
    hw = probe()
    machine_info.update(
        gpu=hw.gpu_name or "none",
        gpu_gib=hw.gpu_gib,
        gpu_count=hw.gpu_count,
        nvidia_driver=hw.driver,
        cpu_name=hw.cpu,
        cpu_count=hw.cpu_count,
        packages=get_versions(),
        git_commit=get_git_commit(str(config.rootpath)),
        run_options=get_recorded_options(config),  # the report's re-run command
    )
