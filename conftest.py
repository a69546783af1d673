"""Options, markers, machine facts and session fixtures for the benchmark suite."""

import json
import re

import pytest

from fixtures.datasets import DataError, get_default_data_dir
from fixtures.hardware import probe
from fixtures.provenance import get_git_commit, get_versions
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
    group.addoption("--data-dir", default=None, metavar="DIR",
                    help="real datasets under DIR/<name>/ (default: $PEFT_BENCH_DATA, else ../shared/data "
                         "beside the repository if it exists; then the hub unless offline)")
    group.addoption("--dataset", action="append", default=[], metavar="NAME=PATH",
                    help="add a local text-classification dataset (folder with train + validation/test "
                         "files, columns text|sentence,label); runs lora and full_ft on it (repeatable)")
    group.addoption("--limit-train", type=int, default=None, metavar="N",
                    help="real data: train on at most N examples (seeded shuffle; LM: first N lines)")
    group.addoption("--limit-eval", type=int, default=None, metavar="N",
                    help="real data: evaluate on at most N examples (seeded shuffle; LM: first N lines)")


def pytest_configure(config):
    """Register one marker per method and dataset from the registries (no second list)."""
    for name in METHODS:
        config.addinivalue_line("markers", f"{name}: cases of method {name}")
    for name in TASKS:
        config.addinivalue_line("markers", f"{name}: cases on dataset {name}")
    for name in get_custom_datasets(config):
        config.addinivalue_line("markers", f"{name}: cases on the --dataset {name}")
    try:  # a mistyped --data-dir is a usage error now, not an error in every real case later
        get_default_data_dir(config.rootpath, config.getoption("data_dir"))
    except DataError as e:
        raise pytest.UsageError(str(e)) from None


def get_custom_datasets(config) -> dict:
    """--dataset NAME=PATH pairs; names must be new identifiers (they become markers and ids)."""
    pairs = parse_pairs(config.getoption("dataset"), "--dataset")
    for name in pairs:
        if name in TASKS or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise pytest.UsageError(
                f"--dataset {name}=...: NAME must be an identifier (letters, digits, _) other than {', '.join(TASKS)}"
            )
    return pairs


def parse_pairs(values: list[str], option: str) -> dict:
    """Parse KEY=VALUE options, failing with a usage error that shows the expected form."""
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise pytest.UsageError(f"{option} expects KEY=VALUE, got {value!r}")
        pairs[key] = rest
    return pairs


def parse_overrides(values: list[str]) -> dict:
    """--set SCOPE.FIELD=VALUE -> {scope: {field: value}}, values parsed as JSON when they are."""
    scoped: dict = {}
    for key, raw in parse_pairs(values, "--set").items():
        scope, _, name = key.partition(".")
        if scope not in (*METHODS, "train") or not name:
            raise pytest.UsageError(
                f"--set {key}: scope must be 'train' or a method ({', '.join(METHODS)}), as in lora.r=16"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        scoped.setdefault(scope, {})[name] = value
    return scoped


@pytest.fixture(scope="session")
def run_options(pytestconfig) -> dict:
    """The command line's choices, parsed once: models per dataset and field overrides."""
    models = parse_pairs(pytestconfig.getoption("model"), "--model")
    datasets = get_custom_datasets(pytestconfig)
    unknown = set(models) - set(TASKS) - set(datasets)
    if unknown:
        raise pytest.UsageError(
            f"--model: unknown dataset(s) {sorted(unknown)}; choose from {', '.join([*TASKS, *datasets])}"
        )
    overrides = parse_overrides(pytestconfig.getoption("overrides"))
    for option, field in (("limit_train", "limit_train"), ("limit_eval", "limit_eval")):
        value = pytestconfig.getoption(option)
        if value is not None:
            if value < 0:
                raise pytest.UsageError(f"--{option.replace('_', '-')} {value}: must be >= 0 (0 = no limit)")
            overrides.setdefault("train", {})[field] = value
    try:
        data_dir = get_default_data_dir(pytestconfig.rootpath, pytestconfig.getoption("data_dir"))
    except DataError as e:
        raise pytest.UsageError(str(e)) from None
    return {"models": models, "overrides": overrides, "datasets": datasets, "data_dir": data_dir}


@pytest.fixture(scope="session")
def hardware():
    """Probe the machine once per session (CUDA, GPU memory, driver, bitsandbytes)."""
    return probe()


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
    )
