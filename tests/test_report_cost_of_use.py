"""The cost-of-use section, rendered from a fabricated results file (no bench, no methods)."""

import json

import pytest

from reports.build import render
from reports.cost_of_use import make_cost_of_use
from reports.load import load
from reports.summarize import summarize


def make_bench(method, **extra):
    case_id = f"{method}-sst2_instruct-real-gpu-seed0"
    info = {"case_id": case_id, "method": method, "dataset": "sst2_instruct", "tier": "real", "hardware": "gpu",
            "seed": 0, "model": "smollm2-135m", "status": "passed", "floor_metric": "accuracy", "floor_value": 0.8,
            "accuracy": 0.86, "steady_step_seconds": 0.1, "inference_seconds_unmerged": 0.012,
            "train_joules": 5000.0, "train_joules_per_1k_tokens": 2.5, "inference_joules_per_batch": 1.2,
            "forgetting": 0.05, "forgetting_loss_base": 3.0, "forgetting_loss_trained": 3.05, **extra}
    return {"name": f"test_finetune[{case_id}]", "stats": {"median": 0.012}, "extra_info": info}


MERGED = {"inference_seconds_base": 0.010, "inference_seconds_merged": 0.0102, "unmerged_overhead_percent": 20.0,
          "merged_overhead_percent": 2.0, "merged_logits_equal": True, "merged_max_abs_diff": 0.01,
          "merged_tolerance": 0.5, "merged_dtype": "bf16", "decode_unmerged_b1_tokens_per_second": 100.0,
          "decode_merged_b1_tokens_per_second": 130.0}


@pytest.fixture
def rows(tmp_path):
    curve = [{"step": 8, "wall_seconds": 3.0, "train_seconds": 1.0, "joules": None, "accuracy": 0.7},
             {"step": 16, "wall_seconds": 6.0, "train_seconds": 2.0, "joules": None, "accuracy": 0.85}]
    benches = [
        make_bench("lora", **MERGED, quality_curve=curve, floor_met_step=16, floor_met_wall_seconds=6.0),
        make_bench("hira", **{**MERGED, "merged_overhead_percent": 4.0, "merged_logits_equal": False,
                              "merged_max_abs_diff": 0.9}),
        make_bench("qlora", merge_supported=False, merge_unsupported_reason="4-bit base",
                   merge_dequant_bf16_accuracy=0.855, merge_requant_4bit_accuracy=0.84, train_joules=None,
                   train_joules_reason="no GPU energy counter on cpu"),
        make_bench("lora_prune", merge_error="RuntimeError: boom"),
    ]
    data = {"machine_info": {"node": "h200"}, "commit_info": {}, "datetime": "2026-12-03T10:00:00",
            "version": "5.3.1", "benchmarks": benches}
    path = tmp_path / "costs.json"
    path.write_text(json.dumps(data))
    return load([path])


def test_table_rows_and_claims(rows):
    section = make_cost_of_use(rows, with_plots=True)
    table = {r[0]: dict(zip(section.sections[0].columns, r)) for r in section.sections[0].rows}
    assert list(table) == ["lora", "hira", "lora_prune", "qlora"]  # LoRA first, the reference
    assert table["lora"]["merged ms"] == "10.20" and table["lora"]["merged +%"] == "+2.0 †"  # no plain base
    assert "plain base ms" not in section.sections[0].columns  # older results: no run timed one
    assert table["lora"]["merged = unmerged"].startswith("yes")
    assert table["hira"]["merged = unmerged"].startswith("NO")
    assert table["qlora"]["merged = unmerged"] == "not merged: 4-bit base"
    assert table["lora_prune"]["merged = unmerged"] == "merge failed: RuntimeError: boom"
    assert table["qlora"]["train J"] == "—" and table["lora"]["train J"] == "5,000"
    assert "Energy not measured (train: no GPU energy counter on cpu): 1 run(s)." in section.sections[0].notes
    assert table["lora"]["time to floor (s, step)"] == "6.00 s, step 16"
    assert table["lora"]["forgetting"].startswith("+0.050")
    claims = section.claims
    assert claims[0].endswith("sst2_instruct/smollm2-135m/gpu: merged, 2.0% slower than the base model with its "
                              "adapter switched off, timed apart (unmerged, 20.0% slower than the base model), 1 run(s).")
    assert "merged, 4.0% slower" in claims[1]
    assert claims[2].startswith("QLoRA merged and re-quantised to 4-bit loses 2.00 accuracy points")
    assert "(de-quantised bf16 merge: loses 0.50 accuracy points)" in claims[2]
    assert len(section.sections[0].plots) == 1  # quality vs wall time, from the eval_every run


def test_section_renders_and_is_absent_without_records(rows):
    html = render(summarize(rows))
    assert 'id="cost-of-use"' in html and "claims, checked" in html
    for r in rows:
        for key in [k for k in r.extra if "merge" in k or "inference_seconds" in k or "quality_curve" in k]:
            del r.extra[key]
    assert make_cost_of_use(rows) is None
    assert 'id="cost-of-use"' not in render(summarize(rows, with_plots=False))


def test_a_latency_claim_inside_its_runs_spread_reads_within_noise():
    from reports.cost_of_use import get_loss_text, get_overhead_text

    assert get_overhead_text([-5.6]) == "5.6% faster than the base model"
    assert get_overhead_text([10.0, -20.0, -6.8]).startswith("within noise of the base model (-5.6% ± ")
    assert get_overhead_text([2.0, 2.2, 1.8]) == "2.0% slower than the base model"
    assert get_loss_text([0.0, 0.0]) == "loses no accuracy" and get_loss_text([-0.5]) == "gains 0.50 accuracy points"
    # the 3-seed CPU smoke report read "re-quantised to 4-bit gains 0.29 accuracy points" from six runs
    # spread far wider than that
    assert get_loss_text([-3.0, 2.0, -1.0, 1.5, -2.5, 1.26]).startswith("changes accuracy within noise (+0.29 ± ")
    assert get_loss_text([2.0, 2.1, 1.9]) == "loses 2.00 accuracy points"


def test_shared_and_empty_columns_leave_the_table_for_its_title(rows):
    section = make_cost_of_use(rows, with_plots=False).sections[0]
    assert section.title == "sst2_instruct · smollm2-135m · gpu / real"  # every row shares model and tier
    assert "model" not in section.columns and "hardware / tier" not in section.columns
    assert "decode tok/s b8 (unm. / merged)" not in section.columns  # no run decoded at batch 8
    assert all(len(r) == len(section.columns) for r in section.rows)
    assert '<td class="text">' in render(summarize(rows))  # the merge check wraps instead of widening the table


def test_a_language_model_shows_perplexity_and_a_missing_forgetting_is_a_note(tmp_path):
    """The quality cell reads perplexity, not the floor's ratio; why forgetting is missing goes to
    the notes, so the cell stays a dash and the column a width that fits the page."""
    lm = {"floor_metric": "perplexity_ratio", "perplexity_ratio": 0.0108, "perplexity": 11.42, "accuracy": None,
          "forgetting": None, "forgetting_reason": "trained on the general text itself"}
    benches = [make_bench("lora", **MERGED, **lm), make_bench("hira", **MERGED, **{**lm, "forgetting": None})]
    path = tmp_path / "lm.json"
    path.write_text(json.dumps({"machine_info": {}, "commit_info": {}, "datetime": "2026-12-03T10:00:00",
                                "version": "5.3.1", "benchmarks": benches}))
    section = make_cost_of_use(load([path]), with_plots=False).sections[0]
    table = {r[0]: dict(zip(section.columns, r)) for r in section.rows}
    assert table["lora"]["quality"] == "perplexity 11.42"
    assert "forgetting" not in section.columns  # every cell a dash: the column is left out
    assert "Forgetting not measured (trained on the general text itself): 2 run(s)." in section.notes


PLAIN = {**MERGED, "inference_seconds_base_plain": 0.0095, "inference_seconds_merged": 0.0096,
         "merged_overhead_percent": 100 * (0.0096 / 0.0095 - 1), "merged_overhead_vs_wrapped_percent": -4.0,
         "merged_leftover_modules": 0}


def test_merged_overhead_is_against_the_plain_base_where_there_is_one(tmp_path):
    """A run with a plain base shows it and its merged +% against it; a run without one (its
    reason in the notes) and an older run keep theirs against the wrapped base, marked."""
    benches = [make_bench("lora", **PLAIN), make_bench("hira", **MERGED),
               make_bench("ia3", **{**MERGED, "inference_seconds_base_plain": None,
                                    "base_plain_reason": "copy failed: OutOfMemoryError"})]
    path = tmp_path / "plain.json"
    path.write_text(json.dumps({"machine_info": {}, "commit_info": {}, "datetime": "2026-12-06T10:00:00",
                                "version": "5.3.1", "benchmarks": benches}))
    rows = load([path])
    cost = make_cost_of_use(rows, with_plots=False)
    section = cost.sections[0]
    table = {r[0]: dict(zip(section.columns, r)) for r in section.rows}
    assert table["lora"]["plain base ms"] == "9.50" and table["lora"]["base ms"] == "10.00"
    assert table["lora"]["merged +%"] == "+1.1"
    assert table["hira"]["merged +%"] == "+2.0 †" and table["ia3"]["merged +%"] == "+2.0 †"
    assert table["hira"]["plain base ms"] == "—"
    assert "Plain base not measured (copy failed: OutOfMemoryError): 1 run(s)." in section.notes
    assert cost.claims[0].startswith('LoRA: "no additional inference latency" once merged (Hu et al., 2022): '
                                     "sst2_instruct/smollm2-135m/gpu: merged, 1.1% slower than the base model (unmerged")
    assert 'id="cost-of-use"' in render(summarize(rows, with_plots=False))


def test_claims_keep_each_setup_apart(tmp_path):
    """Two setups are two numbers, not one interval pooled over runs that differ in kind."""
    plain = {**MERGED, "inference_seconds_base_plain": 0.010}
    benches = [make_bench("lora", **{**plain, "merged_overhead_percent": -3.1}),
               make_bench("lora", **{**plain, "merged_overhead_percent": -0.1}, model="minilm-l6", dataset="sst2",
                          case_id="lora-sst2-real-gpu-seed0")]
    path = tmp_path / "setups.json"
    path.write_text(json.dumps({"machine_info": {}, "commit_info": {}, "datetime": "2026-12-05T10:00:00",
                                "version": "5.3.1", "benchmarks": benches}))
    claims = make_cost_of_use(load([path]), with_plots=False).claims
    assert "sst2/minilm-l6/gpu: merged, 0.1% faster than the base model" in claims[0]
    assert "sst2_instruct/smollm2-135m/gpu: merged, 3.1% faster than the base model" in claims[0]
    assert "within noise" not in claims[0]


def test_runs_of_another_protocol_are_another_row_named_by_what_differs(tmp_path):
    """Two LoRA runs, one evaluated every 25 steps, stay apart (their time to floor and quality
    differ in kind), each labelled as the summary tables label it; a seed of the same protocol
    still joins its row."""
    plain = {**MERGED, "inference_seconds_base_plain": 0.010}
    curve = [{"step": 25, "wall_seconds": 2.0, "train_seconds": 1.0, "joules": None, "accuracy": 0.8}]
    every = {"settings": {"eval_every": 25}, "quality_curve": curve}
    benches = [make_bench("lora", **{**plain, **every, "merged_overhead_percent": 5.6}),
               make_bench("lora", **{**plain, **every, "merged_overhead_percent": 0.4, "seed": 1,
                                     "case_id": "lora-sst2_instruct-real-gpu-seed1"}),
               make_bench("lora", **{**plain, "settings": {"eval_every": 0}, "merged_overhead_percent": 0.3}),
               make_bench("hira", **{**plain, "settings": {"eval_every": 0}, "merged_overhead_percent": 0.1})]
    path = tmp_path / "protocols.json"
    path.write_text(json.dumps({"machine_info": {}, "commit_info": {}, "datetime": "2026-12-05T10:00:00",
                                "version": "5.3.1", "benchmarks": benches}))
    section = make_cost_of_use(load([path]), with_plots=True).sections[0]
    table = {r[0]: dict(zip(section.columns, r)) for r in section.rows}
    assert set(table) == {"lora [eval_every=25]", "lora", "hira"}
    assert "lora [eval_every=25] (smollm2-135m)" in section.plots[0].svg  # the curve's legend names its row
    assert table["lora [eval_every=25]"]["merged +%"] == "+3.0"  # the mean of its two seeds
    assert table["lora"]["merged +%"] == "+0.3"
