"""reports.summarize and reports.regress on small hand-made result files."""

from pathlib import Path

import pytest

from reports.load import load
from reports.regress import Thresholds, compare
from reports.summarize import summarize

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def multi():
    return summarize(load([DATA / "run_multi_seed.json"]), with_plots=False)


def get_section(model, name):
    return next(d for d in model.datasets if d.name == name)


def get_row(section, method):
    return next(r for r in section.rows if r.method == method)


def test_one_row_per_method_lora_first(multi):
    sst2 = get_section(multi, "sst2")
    assert [r.method for r in sst2.rows] == ["lora", "full_ft", "hira", "lora_prune", "sparselora"]
    assert not sst2.show_model and not sst2.show_hardware
    assert get_row(sst2, "lora").seeds == "3" and get_row(sst2, "lora").seed_ids == "seeds 0, 1, 2"


def test_quality_mean_and_interval(multi):
    cell = get_row(get_section(multi, "sst2"), "lora").cells["quality"]
    # accuracies 85, 90, 80 % over 20 examples each: the seeds' bootstrap is [80, 90]; the
    # Wilson interval of 51 right of 60 pooled examples, [73.89, 91.90], is wider on both sides
    assert cell.text == "85.00 (73.89–91.90)"
    assert "bootstrap" in cell.note and "Wilson" in cell.note


def test_best_values_marked(multi):
    sst2 = get_section(multi, "sst2")
    # full_ft 93.33 is the highest, but within the noise of lora's 85.00 (73.89–91.90): no star
    assert not any(r.cells["quality"].best for r in sst2.rows)
    # four of five rows tie on trainable params: no star at all
    assert not any(r.cells["params"].best for r in sst2.rows)
    # lora_prune's step p50 is the lowest, but every case's steps spread by ~0.09 s (p90 − p50): no star
    assert not any(r.cells["step"].best for r in sst2.rows)
    assert "within a case" in get_row(sst2, "lora_prune").cells["step"].note
    wiki = get_section(multi, "wikitext2")
    # lora's 31.00 ± 12.71 is the lowest perplexity, but within the noise: no star (direction: test_report_protocols)
    assert not any(r.cells["quality"].best for r in wiki.rows)
    assert "Perplexity" in wiki.columns[0].label


def test_compute_and_weight_sparsity_never_share_a_column(multi):
    sst2 = get_section(multi, "sst2")
    keys = [c.key for c in sst2.columns]
    assert "wsparse" in keys and "csparse" in keys
    assert get_row(sst2, "sparselora").cells["csparse"].text == "32.0"
    assert get_row(sst2, "sparselora").cells["wsparse"].text == "0.0"
    assert get_row(sst2, "lora_prune").cells["wsparse"].text == "48.0"
    assert get_row(sst2, "lora_prune").cells["csparse"].text == "—"
    assert "csparse" not in [c.key for c in get_section(multi, "wikitext2").columns]


def test_failures_are_shown_not_dropped(multi):
    statuses = {(f.case_id, f.status) for f in multi.failures}
    assert ("lora-imdb-tiny-gpu-seed0", "oom") in statuses
    assert ("lora_prune-sst2-tiny-cpu-seed0", "failed_floor") in statuses
    detail = next(f.detail for f in multi.failures if f.status == "failed_floor")
    assert "misses floor 0.75" in detail
    imdb = get_row(get_section(multi, "imdb"), "lora")
    assert imdb.cells["floor"].text == "0/1 pass" and imdb.cells["quality"].flag == "fail"
    assert get_row(get_section(multi, "sst2"), "lora_prune").cells["floor"].text == "2/3 pass"


def test_welch_against_lora_with_seeds(multi):
    sst2 = get_section(multi, "sst2")
    assert get_row(sst2, "lora").cells["vs_ref"].text == "reference"
    cell = get_row(sst2, "hira").cells["vs_ref"]
    assert cell.text.startswith("p=") and cell.text.endswith("Welch t")
    assert cell.note.startswith("Welch's t-test: t=")


def test_single_seed_says_no_interval_and_uses_mcnemar():
    model = summarize(load([DATA / "run_single_seed.json"]), with_plots=False)
    sst2 = get_section(model, "sst2")
    assert any("no interval over seeds exists" in n for n in sst2.notes)
    # one seed: the interval is the evaluation's (Wilson over its examples), inside [0, 100]
    note = get_row(sst2, "lora").cells["quality"].note
    assert note.startswith("1 seed; 95% interval") and "Wilson score interval over 60 examples" in note
    vs = get_row(sst2, "hira").cells["vs_ref"]
    # 60 examples at 90% vs 70% accuracy: at least 12 discordant; which form depends on b + c
    assert vs.text.endswith(("McNemar exact", "McNemar χ² (cc)"))
    assert "b=" in vs.note and "c=" in vs.note


def test_flat_table_and_provenance(multi):
    assert multi.table_columns[:3] == ["case_id", "method", "dataset"]
    assert len(multi.table_rows) == multi.n_runs == 20
    assert "compute_sparsity" in multi.table_columns and "weight_sparsity" in multi.table_columns
    (env,) = multi.environment
    assert ("torch", "2.4.0") in env.packages
    assert any(k == "CPU" for k, _ in env.items)
    assert any("do not record their run options" in line for line in multi.command)
    assert any("--seeds 0,1,2" in line for line in multi.command)
    assert multi.seeds == [0, 1, 2]


def test_regression_flags_quality_and_latency():
    current = load([DATA / "run_multi_seed.json"])
    baseline = load([DATA / "baseline.json"])
    reg = compare(current, baseline, thresholds=Thresholds())
    by_id = {r.case_id: r for r in reg.rows}
    hira = by_id["hira-sst2-tiny-cpu-seed0"]
    assert hira.status == "regressed" and hira.cells["quality"].text == "-10.00 pt"
    lora = by_id["lora-sst2-tiny-cpu-seed0"]
    assert lora.status == "regressed" and lora.cells["infer"].flag == "regress"
    assert by_id["full_ft-sst2-tiny-cpu-seed0"].status == "ok"
    assert reg.n_regressed == 6
    lenient = compare(current, baseline, thresholds=Thresholds(quality_drop_pts=20, time_rise_pct=200))
    assert lenient.n_regressed == 0
    assert compare(current, current, thresholds=Thresholds()).n_regressed == 0


def test_model_and_hardware_columns_appear_only_when_they_vary():
    import dataclasses

    rows = [r for r in load([DATA / "run_multi_seed.json"]) if r.dataset == "sst2"]
    other = [dataclasses.replace(r, model="tiny-llama") for r in rows if r.method in ("lora", "hira")]
    sst2 = get_section(summarize(rows + other, with_plots=False), "sst2")
    assert sst2.show_model and not sst2.show_hardware
    assert len(sst2.rows) == 7
    hira_llama = next(r for r in sst2.rows if (r.method, r.model) == ("hira", "tiny-llama"))
    assert hira_llama.cells["vs_ref"].note.startswith("Welch's t-test")  # compared with LoRA on the same model


def test_pareto_frontier():
    from reports.plots import get_pareto

    points = [(1, 50), (2, 60), (3, 55), (4, 90), (4, 80), (5, 85)]
    assert get_pareto(points, higher_is_better=True) == [(1, 50), (2, 60), (4, 90)]
    assert get_pareto([(1, 30), (2, 20), (3, 25)], higher_is_better=False) == [(1, 30), (2, 20)]


def test_repeated_runs_merge_and_are_said_to(tmp_path):
    import json

    # a second run of the same seeds (different numbers); the same file twice is read once
    data = json.loads((DATA / "run_multi_seed.json").read_text())
    for bench in data["benchmarks"]:
        if (bench.get("stats") or {}).get("median") is not None:
            bench["stats"]["median"] *= 1.01
    again = tmp_path / "again.json"
    again.write_text(json.dumps(data))
    assert len(load([DATA / "run_multi_seed.json"] * 2)) == len(load([DATA / "run_multi_seed.json"]))
    model = summarize(load([DATA / "run_multi_seed.json", again]), with_plots=False)
    sst2 = get_section(model, "sst2")
    assert get_row(sst2, "lora").seeds == "3 (6 runs)" and get_row(sst2, "lora").seed_ids == "seeds 0, 1, 2"
    assert any("repeat a seed" in n for n in sst2.notes)


def test_method_configs_are_listed(multi):
    configs = get_section(multi, "sst2").configs
    assert ("lora", "tiny-bert", '{"lr": 0.005, "r": 8}', '{"batch_size": 32, "epochs": 3}') in configs
