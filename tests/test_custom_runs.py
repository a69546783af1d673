"""A user's own dataset (--dataset): name clashes, floors against a reference, the re-run command."""

import os

import pytest

from fixtures.run import custom_floor
from fixtures.run.options import get_custom_datasets


class Options:
    """A pytest config whose --dataset values are given; ini values come from the real one."""

    def __init__(self, pytestconfig, datasets):
        self.pytestconfig, self.datasets = pytestconfig, datasets

    def getoption(self, name):
        assert name == "dataset"
        return self.datasets

    def getini(self, name):
        return self.pytestconfig.getini(name)


@pytest.mark.parametrize("name, clash", [
    ("smoke", "a marker"), ("slow", "a marker"), ("perf", "a marker"), ("gpu", "a hardware name"),
    ("lora", "a method"), ("sparselora", "a method"), ("sst2", "a built-in dataset"),
])
def test_a_dataset_named_like_a_marker_is_a_usage_error(pytestconfig, name, clash):
    with pytest.raises(pytest.UsageError, match=rf"--dataset {name}=\.\.\.: '{name}' is already {clash}"):
        get_custom_datasets(Options(pytestconfig, [f"{name}=/tmp/x"]))


def test_a_new_dataset_name_is_accepted(pytestconfig, tmp_path, monkeypatch):
    (tmp_path / "x").mkdir()
    assert get_custom_datasets(Options(pytestconfig, [f"reviews6={tmp_path / 'x'}"])) == {"reviews6": str(tmp_path / "x")}
    monkeypatch.setenv("HOME", str(tmp_path))  # ~ after = is expanded (the shell leaves it alone)
    assert get_custom_datasets(Options(pytestconfig, ["r=~/x"])) == {"r": os.path.join(str(tmp_path), "x")}


def make_case(method, seed=0, dataset="reviews6", hardware="cpu"):
    from types import SimpleNamespace

    return SimpleNamespace(method=method, dataset=dataset, hardware=hardware, seed=seed,
                           id=f"{method}-{dataset}-real-{hardware}-seed{seed}")


def test_lora_runs_first_on_a_custom_dataset_for_any_method_list():
    cases = [make_case(m, dataset=d) for d in ("sst2", "reviews6") for m in ("full_ft", "hira", "lora", "qlora")]
    ordered = custom_floor.order_reference_first(cases, ["reviews6"])
    assert ordered[0].method == "lora" and ordered[0].dataset == "reviews6"
    assert [c.method for c in ordered if c.dataset == "sst2"] == ["full_ft", "hira", "lora", "qlora"]
    assert sorted(map(id, ordered)) == sorted(map(id, cases))


def test_a_method_far_below_lora_fails_its_floor():
    accuracies = {}
    assert custom_floor.judge(accuracies, make_case("lora"), 0.86, margin=0.05) == (
        True, {"floor_source": "majority", "floor_margin": 0.05})
    ok, fields = custom_floor.judge(accuracies, make_case("full_ft"), 0.58, margin=0.05)
    assert not ok and fields["floor_source"] == "lora"
    assert fields["floor_reference_case"] == "lora-reviews6-real-cpu-seed0"
    assert fields["floor_relative_accuracy"] == pytest.approx(0.81)
    assert "more than 0.05 below lora-reviews6-real-cpu-seed0 (0.8600)" in custom_floor.get_message(
        make_case("full_ft"), 0.58, fields)
    assert custom_floor.judge(accuracies, make_case("hira"), 0.82, margin=0.05)[0]  # within the margin
    # another seed has its own reference: nothing ran there yet
    assert custom_floor.judge(accuracies, make_case("hira", seed=1), 0.3, margin=0.05)[1]["floor_source"] == "majority"


def test_without_lora_the_best_method_run_before_is_the_reference():
    accuracies = {}
    custom_floor.judge(accuracies, make_case("full_ft"), 0.90, margin=0.05)
    custom_floor.judge(accuracies, make_case("hira"), 0.70, margin=0.5)
    ok, fields = custom_floor.judge(accuracies, make_case("qlora"), 0.80, margin=0.05)
    assert not ok and fields["floor_source"] == "best_earlier"
    assert fields["floor_reference_case"] == "full_ft-reviews6-real-cpu-seed0"


@pytest.mark.parametrize("given", [
    {},  # an older file: no selection recorded, one marker expression per method and dataset
    {"markexpr": "(lora or full_ft) and cpu", "keyword": "reviews6", "paths": ["bench"], "seeds": "0,2"},
], ids=["older-file", "as-given"])
def test_the_rerun_command_selects_the_same_cases(tmp_path, given):
    """The report's command, run with --collect-only, collects exactly the cases of the results;
    where the run recorded its -m/-k, the command is that selection with only the options given."""
    import json
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    from reports.load import load
    from reports.provenance import get_command

    folder = tmp_path / "my data"  # a space: the command must quote it
    folder.mkdir()
    (folder / "train.tsv").write_text("text\tlabel\na\t0\nb\t1\nc\t2\n")
    (folder / "validation.tsv").write_text("text\tlabel\na\t0\nb\t1\n")
    ids = [f"{m}-reviews6-real-cpu-seed{s}" for m in ("lora", "full_ft") for s in (0, 2)]
    options = {"dataset": [f"reviews6={folder}"], "data_dir": str(tmp_path), "model": ["reviews6=tiny-bert"],
               "set": ["train.epochs=2", "lora.r=4"], "limit_train": 50, "limit_eval": None, "seeds": "0,2",
               "custom_floor_margin": 0.1, **given}
    benchmarks = [{"name": f"test_finetune[{i}]", "extra_info": {
        "case_id": i, "method": i.split("-")[0], "dataset": "reviews6", "tier": "real", "hardware": "cpu",
        "seed": int(i[-1]), "status": "passed"}} for i in ids]
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"machine_info": {"run_options": options}, "benchmarks": benchmarks}))
    lines = [line for line in get_command(load([path])) if line.startswith("Re-run these cases: ")]
    assert len(lines) == 1
    args = shlex.split(lines[0].removeprefix("Re-run these cases: "))
    for flag in ("--dataset", "--data-dir", "--model", "--set", "--limit-train", "--seeds", "--custom-floor-margin"):
        assert flag in args
    assert args[:2] == ["pytest", "bench"]
    if given:  # the user's own selection, not a generated expression
        assert args[2:6] == ["-m", given["markexpr"], "-k", given["keyword"]]
        assert "--benchmark-autosave" not in args  # pytest.ini's addopts has it: not an option the user gave
    proc = subprocess.run([sys.executable, "-m", *args, "--collect-only", "-q", "-p", "no:cacheprovider"],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    collected = sorted(line.split("[", 1)[1].rstrip("]") for line in proc.stdout.splitlines() if "::" in line)
    assert collected == sorted(ids)
