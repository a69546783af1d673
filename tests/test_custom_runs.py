"""A user's own dataset (--dataset): name clashes, floors against a reference, the re-run command."""

import pytest

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
