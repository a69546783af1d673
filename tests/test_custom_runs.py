"""A user's own dataset (--dataset): name clashes, floors against a reference, the re-run command."""

import pytest

from fixtures import custom_floor
from fixtures.options import get_custom_datasets


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


def test_a_new_dataset_name_is_accepted(pytestconfig):
    assert get_custom_datasets(Options(pytestconfig, ["reviews6=/tmp/x"])) == {"reviews6": "/tmp/x"}


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
