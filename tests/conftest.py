"""Unit tests leave the user's results and caches alone, and do not inherit CI's strictness."""

import os

import pytest

from bench.shard import get_thread_share

XDIST_VARIABLES = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


def pytest_configure(config):
    """Under pytest-xdist (``pytest tests -n 2``): the pytest runs that tests start are plain runs,
    not xdist workers (pytest-benchmark would disable their timings), and each worker takes its
    share of the cores, so workers' torch threads do not spin against each other. Run it with
    ``--dist loadfile``: several modules share one pytest run among their tests through a module
    fixture, which -n's default (``load``) would repeat on every worker."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not workers:
        return
    for name in XDIST_VARIABLES:
        os.environ.pop(name, None)
    threads = int(os.environ.get("OMP_NUM_THREADS") or get_thread_share(int(workers)))
    os.environ["OMP_NUM_THREADS"] = str(threads)  # and the processes that tests start
    import torch  # the tests import it anyway; the thread count must be set before the first op

    torch.set_num_threads(threads)


@pytest.fixture(scope="session", autouse=True)
def results_in_temporary_storage(tmp_path_factory):
    """Benchmark runs that tests start (pytest subprocesses, in-process runs) save into a
    temporary folder, never the user's ``.benchmarks/``, where ``python -m reports`` would
    show them as the newest run. A test's own --benchmark-storage still wins (it comes later)."""
    storage = tmp_path_factory.mktemp("benchmarks")
    mp = pytest.MonkeyPatch()
    addopts = os.environ.get("PYTEST_ADDOPTS", "")
    mp.setenv("PYTEST_ADDOPTS", f"{addopts} --benchmark-storage={storage}".strip())
    # $CI fails a run whose ci-tier case skipped (fixtures.run.skips); the tests that start
    # such runs on purpose set it themselves
    mp.delenv("CI", raising=False)
    yield storage
    mp.undo()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` (minutes each) are opt-in: they run only when the -m expression
    names them (``pytest tests -m slow``); otherwise they skip, saying how to run them."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow (minutes): opt-in with -m slow")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)
