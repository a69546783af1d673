"""Options, markers, machine facts and session fixtures for the benchmark suite."""

import pytest

from fixtures.data.tasks import TASKS
from fixtures.run import progress, stop
from fixtures.run.claims import run_claimed
from fixtures.run.custom_floor import DEFAULT_MARGIN
from fixtures.run.hardware import probe
from fixtures.run.journal import recover, start_journal
from fixtures.run.launcher import follow_launcher
from fixtures.run.options import RUN_OPTIONS, get_empty_selection_hint, get_recorded_options, get_run_options
from fixtures.run.provenance import get_git_commit, get_portable, get_versions
from fixtures.run.results_files import RESULTS_LOST, keep_untimed_cases, make_results_atomic, say
from fixtures.run.skips import MESSAGE, get_all_skipped_message, get_ci_skip_message, note_outcome
from fixtures.run.sweep import check_selected
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
    group.addoption("--sweep", action="append", default=[], metavar="SCOPE.FIELD=V1,V2,...",
                    help="run every selected case once per value of one --set field, e.g. "
                         "sparselora.ffn_sparsity=0.3,0.6,0.9 (that method's cases) or train.batch_size=16,32 "
                         "(every case); the value joins the case id and its protocol")
    group.addoption("--tune", default=None, metavar="lr",
                    help="each method x dataset x model at its own best learning rate: a grid (--tune-factors "
                         "x the method's rate) scored on a dev split carved from the training data, then the "
                         "case trained at the chosen rate; the evaluation split never takes part")
    group.addoption("--tune-factors", default=None, metavar="F1,F2,...",
                    help="the --tune grid as multiples of the method's own rate (default 0.1,0.3,1,3,10)")
    group.addoption("--refuse-busy-gpu", action="store_true",
                    help="skip GPU cases while other processes hold > 500 MiB on the GPU (always recorded)")
    group.addoption("--data-dir", default=None, metavar="DIR",
                    help="real datasets under DIR/<name>/ (default: $PEFT_BENCH_DATA, else ../shared/data "
                         "beside the repository if it exists; then the hub unless offline)")
    group.addoption("--dataset", action="append", default=[], metavar="NAME=PATH",
                    help="add a local dataset: a classification table (train + validation/test files; columns "
                         "and label names from an optional dataset.json) or a text corpus (train.txt + "
                         "validation.txt/test.txt); runs every method on it (repeatable)")
    group.addoption("--peft-config", action="append", default=[], metavar="NAME=PATH",
                    help="add a method NAME from a saved peft adapter config (adapter_config.json or its "
                         "folder); runs on every dataset and tier like a registry method (repeatable)")
    group.addoption("--custom-floor-margin", type=float, default=DEFAULT_MARGIN, metavar="FRACTION",
                    help="a --dataset case fails its floor more than this below the LoRA case of the same "
                         "dataset and seed (else the best method run before it); default %(default)s = 5 points")
    group.addoption("--limit-train", type=int, default=None, metavar="N",
                    help="real data: train on at most N examples (seeded shuffle; LM: first N lines)")
    group.addoption("--limit-eval", type=int, default=None, metavar="N",
                    help="real data: evaluate on at most N examples (seeded shuffle; LM: first N lines)")
    group.addoption("--allow-all-skipped", action="store_true",
                    help="exit 0 even when every selected case skipped for missing data (default: exit 1)")
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
    config.addinivalue_line("markers", "instruct: causal LMs on prompt -> answer tasks (loss on the answer only)")
    config.stash[RUN_OPTIONS] = get_run_options(config)
    progress.install(config)  # one progress line per case, past the capture (not under -s)
    for name in config.stash[RUN_OPTIONS]["datasets"]:
        config.addinivalue_line("markers", f"{name}: cases on the --dataset {name}")
    for name in config.stash[RUN_OPTIONS]["peft_configs"]:
        config.addinivalue_line("markers", f"{name}: cases of the --peft-config method {name}")


@pytest.fixture(scope="session")
def run_options(pytestconfig) -> dict:
    """The command line's choices, parsed once in pytest_configure."""
    return pytestconfig.stash[RUN_OPTIONS]


@pytest.fixture(scope="session")
def hardware():
    """Probe the machine once per session (CUDA, GPU memory, driver, bitsandbytes)."""
    return probe()


UNFINISHED = pytest.StashKey[list]()
JOURNAL = pytest.StashKey[object]()


@pytest.fixture(scope="session")
def unfinished_cases(pytestconfig) -> list:
    """Cases that ended in oom/diverged/timeout before timing; added to the results JSON."""
    return pytestconfig.stash.setdefault(UNFINISHED, [])


@pytest.hookimpl(hookwrapper=True)
def pytest_benchmark_generate_json(config, benchmarks, include_data, machine_info, commit_info):
    """pytest-benchmark drops cases without a timed call; put the unfinished ones back."""
    outcome = yield
    outcome.get_result()["benchmarks"].extend(config.stash.get(UNFINISHED, []))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """After -m/-k chose the cases: a --sweep value out of range for a selected case is a usage
    error now, before any case runs (fixtures.run.sweep)."""
    options = config.stash[RUN_OPTIONS]
    params = [getattr(item, "callspec", None) for item in items]
    cases = [p.params["case"] for p in params if p is not None and "case" in p.params]
    check_selected(cases, options["sweep"], options["overrides"])


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    """With --claim-dir, one process per GPU shares the selection case by case (see fixtures.run.claims)."""
    claim_dir = session.config.getoption("claim_dir")
    return run_claimed(session, claim_dir) if claim_dir else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A stop request ends the run at the case boundary too (before a case; after one, the
    run loop stops as for -x), not only inside the training loop; each finished case goes
    to the run's journal (fixtures.run.journal) as it ends."""
    stop.check()
    result = yield
    journal = item.config.stash.get(JOURNAL, None)
    if journal is not None:  # the finished case on disk now, in case the run is killed
        try:
            journal.record()
        except OSError as error:
            say(item.config, f"journal {journal.path}: {error} (the case is saved at the end of the run)")
    if stop.get_requested() is not None:
        stop.honoured()
        item.session.shouldstop = f"signal {stop.get_requested()}: stop requested"
    return result


def pytest_sessionstart(session):
    """Ctrl-C, SIGTERM and SIGHUP become a stop request that the loop and the case boundary
    honour (fixtures.run.stop), so finished cases are still saved; results files are written
    atomically, and written even when every case ended unfinished (pytest-benchmark's
    session exists by now)."""
    stop.install()
    follow_launcher()  # a bench.shard worker stops when its launcher is gone
    make_results_atomic(session.config)
    keep_untimed_cases(session.config, lambda: session.config.stash.get(UNFINISHED, []))
    journal = start_journal(session.config, lambda: session.config.stash.get(UNFINISHED, []))
    if journal is not None:  # a killed run's finished cases become a saved run
        session.config.stash[JOURNAL] = journal
        recover(session.config._benchmarksession, lambda text: say(session.config, text))


def pytest_sessionfinish(session, exitstatus):
    """A --benchmark-json that could not be written fails the run (the results went elsewhere:
    pytest-benchmark's own sessionfinish, which saves, has run by now); so does a run whose
    every case skipped for missing data, or, in CI, any ci-tier case that skipped (fixtures.run.skips)."""
    if RESULTS_LOST in session.config.stash and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    options = session.config.stash.get(RUN_OPTIONS, {})
    message = get_all_skipped_message(session.config, options.get("data_dir"))
    if message and not session.config.getoption("allow_all_skipped"):  # an empty --data-dir is no success
        session.config.stash[MESSAGE] = message
    message = get_ci_skip_message(session.config)  # in CI the ci tier never skips
    if message:
        session.config.stash[MESSAGE] = "\n".join(filter(None, [session.config.stash.get(MESSAGE, ""), message]))
    if MESSAGE in session.config.stash and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """No absolute home or checkout paths in results: the home becomes ~, the repository relative."""
    output_json.update(get_portable(output_json, root=str(config.rootpath)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Note whether each case ran or skipped for missing data (see pytest_sessionfinish)."""
    report = yield
    note_outcome(item, call, report)
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """An -m or -k expression that selects no case says so, with the markers there are to
    combine; a run whose every case skipped for missing data says so."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and (config.option.markexpr or config.option.keyword):
        datasets = config.stash[RUN_OPTIONS]["datasets"] if RUN_OPTIONS in config.stash else {}
        hint = get_empty_selection_hint(config.option.markexpr, datasets, keyword=config.option.keyword)
        terminalreporter.write_line(hint, yellow=True)
    if MESSAGE in config.stash:
        terminalreporter.write_line(config.stash[MESSAGE], red=True, bold=True)


def pytest_benchmark_group_stats(config, benchmarks, group_by):
    """Name pytest-benchmark's closing table: it times inference after training, not training."""
    return [("inference per batch, after training (training's step times: python -m reports)", benchmarks)]


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
