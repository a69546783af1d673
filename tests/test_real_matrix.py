"""The real tier in the matrix: every method x dataset x hardware, the CI case, floors, custom datasets."""

import pytest

from bench.matrix import CASES, CUSTOM_FLOOR, DATASETS, TIERS, get_custom_cases
from fixtures.training.settings import TrainSettings
from methods import METHODS


def test_real_tier_covers_every_method_dataset_and_hardware():
    real = {(c.method, c.dataset, c.hardware) for c in CASES if c.tier == "real"}
    assert real == {(m, d, h) for m in METHODS for d in DATASETS for h in ("cpu", "gpu")}
    assert TIERS["real"].data == "real" and TIERS["tiny"].data == "synthetic"


def test_ci_case_is_selectable_and_small():
    (ci,) = [c for c in CASES if c.tier == "ci"]
    assert {m.name for m in ci.marks} >= {"real", "ci", "cpu", "lora", "sst2"}
    assert ci.id == "lora-sst2-ci-cpu-seed0" and ci.floor.value >= 0.80
    settings = TrainSettings(**ci.get_settings())
    assert 0 < settings.limit_train <= 6000 and settings.limit_eval == 0  # full validation split


def test_real_settings_are_valid_and_wikitext_trains_on_validation():
    for dataset in DATASETS:
        TrainSettings(**TIERS["real"].settings[dataset])
    assert TIERS["real"].settings["wikitext2"]["train_split"] == "validation"


@pytest.mark.parametrize("metric,value,measured,ok", [
    ("accuracy", 0.8, 0.81, True), ("perplexity", 16.0, 15.0, True), ("perplexity", 16.0, 17.0, False),
    ("accuracy_over_majority", 0.01, 0.0, False),
])
def test_floor_direction(metric, value, measured, ok):
    from bench.matrix import Floor

    assert Floor(metric, value).passes(measured) is ok


def test_custom_dataset_cases():
    cases = get_custom_cases(["topics"])
    assert {c.id for c in cases} == {
        f"{m}-topics-real-{h}-seed0" for m in METHODS for h in ("cpu", "gpu")
    }
    assert all(c.floor == CUSTOM_FLOOR for c in cases)
