"""A case that fails, for whatever reason, leaves nothing on the device for the next case.

pytest keeps the last failure (``sys.last_traceback``) until the next test's call phase, and
its frames hold the failed case's model. On the CPU a fake device check stands in for
``torch.cuda.memory_allocated``: it counts the cases' objects still alive. On a GPU the
same run uses the real check (``fixtures.run.isolation.get_held_bytes``). And the runs that
unit tests start save into temporary storage (``tests/conftest.py``), not the user's results.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["pytester"]

CASES = """
import weakref

import pytest
import torch

from fixtures.run import isolation

ALIVE = []  # weak references to what each case allocated

def fake_held(device):
    return sum(ref() is not None for ref in ALIVE) * 2**30  # 1 GiB a live object

@pytest.fixture
def device(request):
    dev = torch.device(DEVICE)
    held = isolation.get_held_bytes if dev.type == "cuda" else fake_held
    if CHECK == "isolation":
        isolation.check_free(dev, request.node.name, held=held)
    else:  # the plain check, without freeing what a failed case left: shows the leak is real
        assert held(dev) <= isolation.BUSY_BYTES, "device already holds memory"
    yield dev
    if CHECK == "isolation":
        isolation.end_case(dev)

def allocate(dev):
    model = torch.nn.Linear(8, 8).to(dev)
    model.ballast = torch.empty(2**30, dtype=torch.uint8, device=dev) if dev.type == "cuda" else None
    ALIVE.append(weakref.ref(model))
    return model

def test_a_missed_floor(device):
    model = allocate(device)
    accuracy = 0.4
    assert accuracy >= 0.5, "misses floor 0.5"

def test_an_error(device):
    model = allocate(device)
    try:
        raise ValueError("inner")
    except ValueError:
        raise RuntimeError("a bug")

def test_the_next_case(device):
    assert device.type
"""


def write_cases(pytester, device: str):
    """The same cases twice: with the isolation fixture, then with the plain check (the control)."""
    for check in ("isolation", "plain"):
        pytester.makepyfile(**{f"test_{check}": f"DEVICE = {device!r}\nCHECK = {check!r}\n" + CASES})


def test_a_failed_case_frees_its_memory_before_the_next_starts(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    write_cases(pytester, "cpu")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    # with isolation the next case runs; without it, the fake check sees the failed case's model
    result.stdout.fnmatch_lines(["PASSED test_isolation.py::test_the_next_case",
                                 "ERROR test_plain.py::test_the_next_case - AssertionError: device already hold*"])
    result.assert_outcomes(passed=1, failed=3, errors=2)  # plain: the error case cannot even start


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run on the GPU machine)")
def test_on_the_gpu_a_failed_case_frees_its_memory(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(test_isolation="DEVICE = 'cuda'\nCHECK = 'isolation'\n" + CASES)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)


def test_runs_that_tests_start_save_into_temporary_storage(results_in_temporary_storage, tmp_path):
    (tmp_path / "test_timed.py").write_text("def test_timed(benchmark):\n    benchmark.pedantic(int, rounds=1)\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--benchmark-autosave", "-q",
                          "test_timed.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert list(results_in_temporary_storage.rglob("0001_*.json"))  # the autosave went there
    assert not (tmp_path / ".benchmarks").exists()  # not into the working folder's .benchmarks


def test_a_passed_shira_case_leaves_no_layer_alive():
    """peft's SHiRA layers warn once through a cache keyed on the layer; after ``end_case``
    nothing of the adapted model stays alive."""
    import gc
    import weakref

    from peft import ShiraConfig, get_peft_model

    from fixtures.run import isolation

    def run_case():
        base = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
        model = get_peft_model(base, ShiraConfig(r=2, target_modules=["0", "2"]))
        model(torch.randn(3, 16)).sum().backward()
        return weakref.ref(base[0])

    layer = run_case()
    gc.collect()
    if layer() is None:
        pytest.skip("this peft's SHiRA keeps no layer alive after a case: nothing to forget")
    isolation.end_case(torch.device("cpu"))
    assert layer() is None


def test_release_frees_a_case_and_sets_the_rest_of_the_process_aside():
    """``release`` collects the case's cyclic garbage, then freezes what outlives it, so the
    next case's collections do not walk the process's modules again."""
    import gc
    import weakref

    from fixtures.run.measure import release

    class Node:
        pass

    case, kept = Node(), Node()
    case.me = case  # a cycle: only the collector frees it
    dead = weakref.ref(case)
    del case
    release(torch.device("cpu"))
    assert dead() is None
    assert gc.get_freeze_count() > 0 and kept is not None


def test_release_drops_the_compiled_state():
    """A case's compiled graphs (and on a GPU their CUDA-graph trees) do not outlive it."""
    from fixtures.run.measure import release

    def double(x):
        return x * 2

    torch.compile(double, backend="eager")(torch.ones(2))
    cache_entries = torch._C._dynamo.eval_frame._debug_get_cache_entry_list
    assert cache_entries(double.__code__)
    release(torch.device("cpu"))
    assert not cache_entries(double.__code__)
