"""--tune lr: the dev split, the grid, the choice and its record; --sweep: parsing, ids, refusals."""

import dataclasses

import pytest
import torch

from bench.matrix import CASES, TIERS
from fixtures.data.tasks import TaskData, get_synthetic_data
from fixtures.run import cases as run_cases
from fixtures.run import sweep, tune

TINY_SST2 = next(c for c in CASES if (c.method, c.dataset, c.tier, c.hardware) == ("lora", "sst2", "tiny", "cpu"))
# a short run: the choice must still be a real one (the dev scores differ across the grid)
QUICK = {"train": {"max_steps": 12, "log_every": 4, "eval_batch_size": 100}}


def get_options(**extra) -> dict:
    return {"seeds": [0], "models": {}, "overrides": QUICK, "datasets": {}, "data_dir": None, "sweep": None,
            "tune": tune.Tuning("lr", (0.1, 1.0, 10.0)), **extra}


def test_the_dev_split_comes_from_training_data_only_and_is_seeded():
    data = get_synthetic_data("sst2")
    carved = tune.carve_dev(data)
    n = len(data.train_texts)
    assert len(carved.eval_texts) == n // 10 and len(carved.train_texts) == n - n // 10
    assert set(carved.eval_texts) <= set(data.train_texts)
    assert not set(carved.eval_texts) & set(data.eval_texts) - set(data.train_texts)
    pairs = set(zip(data.train_texts, data.train_labels))
    assert set(zip(carved.eval_texts, carved.eval_labels)) <= pairs  # labels travel with their texts
    assert tune.carve_dev(data).eval_texts == carved.eval_texts
    assert "dev_split" in carved.protocol


def test_running_text_keeps_its_last_lines_for_dev():
    data = TaskData(["a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"], [], ["test"], [], {})
    carved = tune.carve_dev(data, fraction=0.2)
    assert carved.eval_texts == ["i\nj\n"] and carved.train_texts == ["a\nb\nc\nd\ne\nf\ng\nh\n"]
    assert carved.protocol["dev_split"] == "last 2 of 10 training lines"
    lines = tune.carve_dev(TaskData([f"line {i}" for i in range(20)], [], ["test"], [], {}))
    assert lines.eval_texts == ["line 18", "line 19"] and len(lines.train_texts) == 18


def test_the_choice_ignores_the_evaluation_split(monkeypatch):
    """Corrupting every evaluation label leaves the dev scores and the chosen rate as they were."""
    tier, device = TIERS["tiny"], torch.device("cpu")
    honest = tune.tune(TINY_SST2, tier=tier, options=get_options(), tuning=tune.Tuning("lr", (0.1, 1.0, 10.0)),
                       device=device, seed=0)
    clean = run_cases.get_synthetic_data

    def corrupted(name: str, **kw) -> TaskData:
        data = clean(name, **kw)
        return dataclasses.replace(data, eval_labels=[1 - y for y in data.eval_labels])

    monkeypatch.setattr(run_cases, "get_synthetic_data", corrupted)
    flipped = tune.tune(TINY_SST2, tier=tier, options=get_options(), tuning=tune.Tuning("lr", (0.1, 1.0, 10.0)),
                        device=device, seed=0)
    assert flipped["tune_lr"] == honest["tune_lr"]
    assert flipped["tune_dev_scores"] == honest["tune_dev_scores"]
    assert len(set(honest["tune_dev_scores"])) > 1, honest  # the grid points were told apart
    base = TIERS["tiny"].options["lora"]["lr"]
    grid, widened = honest["tune_lr_grid"], honest["tune_widened"]
    assert [r for r in grid if base * 0.1 <= r <= base * 10] == pytest.approx([base * 0.1, base, base * 10])
    assert len(grid) == 3 + widened and widened <= tune.WIDEN
    assert honest["tune_at_edge"] == (honest["tune_lr"] in (grid[0], grid[-1]))
    assert honest["tune_device_seconds"] > 0 and honest["tune_dev_metric"] == "accuracy"


def test_the_tuned_case_runs_at_the_chosen_rate_and_every_seed_shares_one_tuning(monkeypatch):
    calls = []
    monkeypatch.setattr(tune, "tune", lambda case, **kw: calls.append(case.seed) or {"tune_lr": 0.042})
    cache, options = {}, get_options()
    for seed in (0, 1):
        case = dataclasses.replace(TINY_SST2, seed=seed)
        tuned, record = tune.get_tuned_options(case, tier=TIERS["tiny"], options=options, device=torch.device("cpu"),
                                               cache=cache)
        assert tuned["overrides"]["lora"]["lr"] == 0.042 and record["tune_lr"] == 0.042
    assert calls == [0]
    assert tune.get_tuned_options(TINY_SST2, tier=TIERS["tiny"], options=get_options(tune=None),
                                  device=torch.device("cpu"), cache={}) == (get_options(tune=None), {})


def test_tuned_cases_have_ids_of_their_own_and_cost_only_cases_stay():
    cases = [c for c in CASES if c.method == "lora" and c.hardware == "cpu" and c.tier in ("tiny", "scale")]
    marked = tune.mark_tuned(cases, tune.Tuning("lr", (0.1, 1.0)), TIERS)
    ids = {c.id for c in marked}
    assert "lora-sst2-tiny-tuned-cpu-seed0" in ids and "lora-wikitext2-scale-tiny-shape-cpu-seed0" in ids
    assert tune.mark_tuned(cases, None, TIERS) == cases


def test_choose_prefers_the_best_score_and_survives_failed_points():
    points = [{"rate": 1, "score": 0.8, "status": "ok"}, {"rate": 3, "score": None, "status": "diverged"},
              {"rate": 2, "score": 0.9, "status": "ok"}]
    assert tune.choose(points, higher_is_better=True)["rate"] == 2
    assert tune.choose(points, higher_is_better=False)["rate"] == 1
    with pytest.raises(RuntimeError, match="every rate of the grid failed"):
        tune.choose([{"rate": 1, "score": None, "status": "oom"}], higher_is_better=True)


@pytest.mark.parametrize("field, factors, message", [
    ("r", None, "only the learning rate can be tuned"),
    ("lr", "0.5,x", "--tune-factors expects numbers"),
    ("lr", "1", "at least two distinct factors"),
    (None, "1,2", "--tune-factors needs --tune lr"),
])
def test_bad_tune_options_are_usage_errors(field, factors, message):
    with pytest.raises(pytest.UsageError, match=message):
        tune.parse_tune(field, factors)


def test_sweep_expands_one_methods_cases_with_the_value_in_id_options_and_record():
    parsed = sweep.parse_sweep(["sparselora.ffn_sparsity=0.2,0.4"], {})
    cases = [c for c in CASES if c.tier == "tiny" and c.dataset == "sst2" and c.hardware == "cpu"]
    out = sweep.expand(cases, parsed, {})
    assert len(out) == len(cases) + 1
    points = [c for c in out if c.method == "sparselora"]
    assert [c.id for c in points] == ["sparselora-sst2-tiny-ffn_sparsity0.2-cpu-seed0",
                                      "sparselora-sst2-tiny-ffn_sparsity0.4-cpu-seed0"]
    assert [c.get_options()["ffn_sparsity"] for c in points] == [0.2, 0.4]
    assert points[0].sweep == {"sparselora.ffn_sparsity": 0.2}
    assert {c.id for c in out if c.method != "sparselora"} == {c.id for c in cases if c.method != "sparselora"}


def test_a_train_sweep_expands_every_case():
    parsed = sweep.parse_sweep(["train.batch_size=8,16"], {})
    cases = [c for c in CASES if c.tier == "tiny" and c.dataset == "sst2" and c.hardware == "cpu"]
    out = sweep.expand(cases, parsed, {})
    assert len(out) == 2 * len(cases) and out[0].get_settings()["batch_size"] == 8


@pytest.mark.parametrize("raw, message", [
    ("lora.nope=1,2", r"lora.nope: unknown field"),
    ("lora.r=4,x", r"lora.r=\"x\".*expected an integer"),
    ("lora.r=4,4", r"repeated"),
    ("bogus.r=1", r"scope must be"),
    ("lora.r", r"expects SCOPE.FIELD=V1,V2"),
])
def test_bad_sweeps_are_usage_errors_naming_the_value(raw, message):
    with pytest.raises(pytest.UsageError, match=message):
        sweep.parse_sweep([raw], {})


def test_a_value_out_of_range_is_refused_before_any_case_runs():
    parsed = sweep.parse_sweep(["sparselora.ffn_sparsity=0.5,1.5"], {})
    with pytest.raises(pytest.UsageError, match=r"ffn_sparsity=1.5 \(case sparselora-sst2-tiny-ffn_sparsity1.5-cpu-seed0\).*\[0, 1\)"):
        sweep.check_selected(sweep.expand(CASES, parsed, {}), parsed, {})


def test_a_value_out_of_range_for_a_case_is_refused_before_any_case_runs():
    parsed = sweep.parse_sweep(["sparselora.sparsity_scale=1,3"], {})  # the tiny tier's ffn 0.5: 3 x 0.5 >= 1
    cases = [c for c in CASES if c.method == "sparselora" and c.tier == "tiny"]
    points = sweep.expand(cases, parsed, {})
    with pytest.raises(pytest.UsageError, match=r"sparsity_scale=3 \(case sparselora-sst2-tiny-sparsity_scale3-cpu-seed0\)"):
        sweep.check_selected(points, parsed, {})
    sweep.check_selected([c for c in points if c.sweep["sparselora.sparsity_scale"] == 1], parsed, {})


def test_sweep_and_set_of_one_field_and_tune_of_a_swept_rate_are_refused():
    with pytest.raises(pytest.UsageError, match="both set lora.r"):
        sweep.parse_sweep(["lora.r=4,8"], {"lora": {"r": 16}})
    with pytest.raises(pytest.UsageError, match="the sweep would override the tuned rate"):
        tune.parse_tune("lr", None, sweep=sweep.parse_sweep(["lora.lr=0.1,0.2"], {}))


def test_a_choice_at_the_edge_widens_the_grid_that_way(monkeypatch):
    """Scores that rise with the rate: the grid grows upward by the edge's own step, twice at most."""
    scored = []

    def fake_score(case, *, rate, **kw):
        scored.append(rate)
        return {"rate": rate, "score": rate, "metric": "accuracy", "status": "ok", "seconds": 1.0}

    monkeypatch.setattr(tune, "score_rate", fake_score)
    monkeypatch.setattr(tune, "get_base_rate", lambda case, options: 1.0)
    record = tune.tune(TINY_SST2, tier=TIERS["tiny"], options=get_options(), tuning=tune.Tuning("lr", (0.3, 1.0, 3.0)),
                       device=torch.device("cpu"), seed=0)
    assert record["tune_lr_grid"] == pytest.approx([0.3, 1.0, 3.0, 9.0, 27.0])
    assert record["tune_widened"] == 2 and record["tune_edge"] == "high" and record["tune_lr"] == pytest.approx(27.0)
    assert record["tune_device_seconds"] == 5.0

    scored.clear()  # falling scores: widens downward once, then the best is inside
    monkeypatch.setattr(tune, "score_rate", lambda case, *, rate, **kw: {
        "rate": rate, "score": -abs(rate - 0.1), "metric": "accuracy", "status": "ok", "seconds": 1.0})
    record = tune.tune(TINY_SST2, tier=TIERS["tiny"], options=get_options(), tuning=tune.Tuning("lr", (0.3, 1.0, 3.0)),
                       device=torch.device("cpu"), seed=0)
    assert record["tune_lr_grid"] == pytest.approx([0.027, 0.09, 0.3, 1.0, 3.0])
    assert record["tune_lr"] == pytest.approx(0.09) and record["tune_edge"] is None
