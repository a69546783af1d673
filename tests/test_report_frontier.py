"""reports.frontier and reports.tuning: the sparsity frontier and the tuned rates, from results only.

``data/run_sweep_tiny.json`` is a real tiny-tier run on this CPU (large per-example lists removed):
    pytest bench/test_finetune.py -m "smoke and cpu and sst2 and (lora or sparselora)" \\
        --sweep sparselora.sparsity_scale=0.5,1,1.5,1.9 --seeds 0,1
    pytest bench/test_finetune.py -m "smoke and cpu and sst2 and lora_prune" \\
        --sweep lora_prune.target_sparsity=0.3,0.6,0.9 --seeds 0,1
    pytest bench/test_finetune.py -m "smoke and cpu and sst2 and lora" --tune lr --tune-factors 0.3,1,3 --seeds 0,1
"""

from pathlib import Path

import pytest

from reports.build import render
from reports.frontier import make_frontier_section
from reports.load import Row, Source, load
from reports.summarize import summarize
from reports.tuning import make_tuning_section

TINY = Path(__file__).parent / "data" / "run_sweep_tiny.json"


@pytest.fixture(scope="module")
def rows():
    return load([TINY])


def test_the_frontier_renders_from_the_tiny_tier(rows):
    model = summarize(rows)
    methods = [f.method for f in model.frontier.frontiers]
    assert methods == ["sparselora", "lora_prune"]
    sparse = model.frontier.frontiers[0]
    assert len(sparse.points) == 4 and sparse.reference.n == 2
    assert [round(p.x, 2) for p in sorted(sparse.points, key=lambda p: p.x)] == sorted(round(p.x, 2) for p in sparse.points)
    assert sparse.sentence.startswith(("SparseLoRA keeps LoRA's accuracy up to", "SparseLoRA does not keep"))
    html = render(model)
    assert 'id="frontier"' in html and sparse.plot.svg in html
    assert "LoRA 95% interval" in sparse.plot.svg and "LoRA speed" in sparse.plot.svg


def test_the_tuned_runs_show_their_rate_dev_plot_and_edge(rows):
    section = make_tuning_section(rows)
    assert len(section.rows) == 1 and len(section.plots) == 1
    row = section.rows[0]
    assert row[1] == "lora+tuned" and row[-1] == "seeds 0, 1"
    tuned = next(r for r in rows if r.method == "lora+tuned")
    assert row[4] == f"{tuned.extra['tune_lr']:.3g}"
    assert (row[5].startswith("⚠")) == tuned.extra["tune_at_edge"]
    assert row[7] == f"{tuned.extra['tune_device_seconds']:,.0f}"  # whole seconds: 146, not "1e+02"
    html = render(summarize(rows))
    assert 'id="tuning"' in html and section.plots[0].svg.split(">", 1)[0] in html


def make_rows(method: str, variant: str, points: list) -> list[Row]:
    """Rows of one case: (accuracy, sparsity, step seconds) per seed."""
    key = "compute_sparsity" if method == "sparselora" else "adapter_weight_sparsity"
    source = Source("x.json", {}, {}, "", "", 0)
    return [Row(case_id=f"{method}-{seed}", method=method + (f"+{variant}" if variant else ""), dataset="sst2",
                tier="real", hardware="gpu", model="m", seed=seed, status="passed", latency={},
                extra={"method": method, "accuracy": acc, key: x, "step_seconds_p50": step}, source=source)
            for seed, (acc, x, step) in enumerate(points)]


def test_the_sentence_names_the_largest_fraction_whose_interval_overlaps_loras():
    rows = make_rows("lora", "", [(0.90, 0, 1.0), (0.91, 0, 1.0), (0.92, 0, 1.0)])
    rows += make_rows("sparselora", "s1", [(0.905, 0.2, 0.8), (0.915, 0.2, 0.8), (0.91, 0.2, 0.8)])
    rows += make_rows("sparselora", "s2", [(0.90, 0.4, 0.625), (0.93, 0.4, 0.625), (0.91, 0.4, 0.625)])
    rows += make_rows("sparselora", "s3", [(0.80, 0.6, 0.5), (0.81, 0.6, 0.5), (0.80, 0.6, 0.5)])
    frontier = make_frontier_section(rows, with_plots=False).frontiers[0]
    assert [p.overlaps for p in frontier.points] == [True, True, False]
    assert frontier.sentence == ("SparseLoRA keeps LoRA's accuracy up to 40.0% of base FLOPs skipped, "
                                 "at 1.60× LoRA's speed (sparselora+s2: mean 91.33 against LoRA's 91.00, "
                                 "the 95% intervals overlap).")
    rows = [r for r in rows if r.method in ("lora", "sparselora+s3")]
    assert make_frontier_section(rows, with_plots=False).frontiers[0].sentence.startswith(
        "SparseLoRA does not keep LoRA's accuracy at any point measured: its mildest, 60.0%")


def test_no_frontier_without_lora_or_without_a_sparsity_method():
    only_sparse = make_rows("sparselora", "s1", [(0.9, 0.2, 1.0)])
    assert make_frontier_section(only_sparse) is None
    assert make_frontier_section(make_rows("lora", "", [(0.9, 0, 1.0)])) is None
    assert make_tuning_section(only_sparse) is None


def test_frontier_intervals_stay_inside_0_100_and_noisy_speed_reads_within_noise():
    """Three seeds at 100, 100 and 83.5 gave "94.50 ± 23.66" with a t-interval: past 100. The
    frontier uses the table's bounded interval; step times inside each other's noise are no speed-up."""
    rows = make_rows("lora", "", [(1.0, 0, 1.0), (1.0, 0, 1.2), (1.0, 0, 0.8)])
    rows += make_rows("sparselora", "", [(1.0, 0.39, 1.1), (1.0, 0.39, 0.9), (0.835, 0.39, 1.3)])
    frontier = make_frontier_section(rows).frontiers[0]
    (point,) = frontier.points
    assert 0 <= point.quality.ci_low <= point.quality.mean <= point.quality.ci_high <= 100
    assert 0 <= frontier.reference.ci_low <= frontier.reference.ci_high <= 100
    assert not point.speed_apart and "within noise" in frontier.sentence
    html = render(summarize(rows))
    assert "94.50 (" in html and "± 23.66" not in html


def test_a_two_rank_lora_is_not_the_one_rank_frontiers_reference():
    rows = make_rows("lora", "", [(0.90, 0, 1.0), (0.91, 0, 1.0)])
    two = make_rows("lora", "", [(0.50, 0, 3.0), (0.52, 0, 3.0)])
    for r in two:
        r.extra["world_size"] = 2
    rows += two + make_rows("sparselora", "", [(0.905, 0.4, 0.5), (0.91, 0.4, 0.5)])
    (frontier,) = make_frontier_section(rows, with_plots=False).frontiers
    assert frontier.reference.n == 2 and frontier.reference.mean > 90 and "ranks" not in frontier.where
    assert "at 2.00× LoRA's speed" in frontier.sentence


def test_sweep_points_are_entries_of_their_block_not_blocks_of_their_own(rows):
    """A --sweep value is the case's own setting: the verdict compares each point with LoRA in one block."""
    from reports.verdict import get_verdicts

    (verdict,) = get_verdicts(rows)
    labels = {line.label for line in verdict.lines} | set(verdict.others)
    assert {"lora", "sparselora+sparsity_scale0.5", "lora_prune+target_sparsity0.9"} <= labels


def test_a_lora_run_with_a_setting_of_its_own_is_not_a_seed_of_the_reference():
    """A second LoRA run with eval_every set (time to quality) made the reference "2 seeds" of seed 0
    and its slower steps hid SparseLoRA's speed in the noise."""
    rows = make_rows("lora", "", [(0.86, 0, 0.095)])
    curve = make_rows("lora", "", [(0.87, 0, 0.122)])
    curve[0].extra["settings"] = {"eval_every": 8}
    rows += curve + make_rows("sparselora", "", [(0.70, 0.68, 0.226)])
    (frontier,) = make_frontier_section(rows, with_plots=False).frontiers
    assert frontier.reference.n == 1 and frontier.reference.mean == pytest.approx(86.0)
    (point,) = frontier.points
    assert point.speedup == pytest.approx(0.095 / 0.226)
