"""The report on a user's dataset: protocols kept apart, floors shown right, memory per case, small fixes."""

import json
import mmap
from pathlib import Path

import torch

from fixtures.run.measure import PeakMemory
from reports import plots
from reports.load import load
from reports.summarize import summarize

MiB = 2**20


def make_entry(method, seed=0, *, dataset="reviews6", acc=0.8, protocol=None, settings=None, **extra):
    """One benchmark entry of a --dataset run, as the suite writes it (numbers made up)."""
    case_id = f"{method}-{dataset}-real-cpu-seed{seed}"
    info = {
        "case_id": case_id, "method": method, "dataset": dataset, "tier": "real", "hardware": "cpu",
        "seed": seed, "model": "tiny-bert", "status": "passed", "accuracy": acc,
        "floor_metric": "accuracy_over_majority", "floor_value": 0.01,
        "protocol": {"source": "local", "n_train": 600, "n_eval": 120, "max_length": 64, **(protocol or {})},
        "settings": {"epochs": 1, "batch_size": 32, "limit_train": 0, **(settings or {})},
        "config": {"r": 8, "lr": 1e-3} if method == "lora" else {"lr": 1e-3},
        "peak_cpu_rss_bytes": 900 * MiB, "cpu_rss_start_bytes": 800 * MiB, "case_cpu_rss_bytes": 100 * MiB,
        "trainable_params": 1000 if method == "lora" else 100000, "adapter_bytes": 4000,
        **extra,
    }
    return {"group": None, "name": f"test_finetune[{case_id}]", "fullname": f"bench/test_finetune.py::"
            f"test_finetune[{case_id}]", "params": None, "param": None, "extra_info": info, "options": {},
            "stats": {"median": 0.01, "rounds": 5}}


def write_run(path: Path, entries, machine_info=None) -> Path:
    path.write_text(json.dumps({"machine_info": {"node": "box", **(machine_info or {})}, "commit_info": {},
                                "benchmarks": entries, "datetime": "2026-12-01T22:00:00", "version": "5.1.0"}))
    return path


def get_section(model, name="reviews6"):
    return next(d for d in model.datasets if d.name == name)


def test_a_case_records_its_own_cpu_memory_increase():
    with PeakMemory(torch.device("cpu"), interval=0.005) as first:
        # a fresh anonymous mapping: memory that earlier tests freed back to the heap would
        # otherwise serve the block without raising the RSS
        block = mmap.mmap(-1, 64 * MiB)
        for offset in range(0, 64 * MiB, 4096):  # touch every page
            block[offset] = 1
    with PeakMemory(torch.device("cpu"), interval=0.005):
        pass
    r = first.result
    assert r["case_cpu_rss_bytes"] == r["peak_cpu_rss_bytes"] - r["cpu_rss_start_bytes"]
    assert r["case_cpu_rss_bytes"] >= 48 * MiB  # the block, seen by the sampler
    del block


def test_the_report_shows_the_case_increase_not_the_process_peak(tmp_path):
    run = write_run(tmp_path / "run.json", [make_entry("lora"), make_entry("full_ft", case_cpu_rss_bytes=300 * MiB)])
    section = get_section(summarize(load([run]), with_plots=False))
    rss = {r.method: r.cells["rss"] for r in section.rows}
    assert rss["lora"].text == "100.0" and rss["full_ft"].text == "300.0"
    # the process peak is its own, labelled column: it includes the cases run before
    peak = {r.method: r.cells["rss_peak"] for r in section.rows}
    assert peak["lora"].text == "900.0" and "every case run before" in peak["lora"].note
    assert "rss_peak" in [c.key for c in section.columns]
    assert "includes earlier cases" in next(c.label for c in section.columns if c.key == "rss_peak")
    # older files without the key: peak minus start
    old = make_entry("lora")
    del old["extra_info"]["case_cpu_rss_bytes"]
    run = write_run(tmp_path / "old.json", [old])
    assert get_section(summarize(load([run]), with_plots=False)).rows[0].cells["rss"].text == "100.0"


def test_gpu_and_cpu_memory_are_on_separate_axes(tmp_path):
    run = write_run(tmp_path / "run.json", [make_entry("lora", peak_gpu_allocated_bytes=2000 * MiB),
                                            make_entry("full_ft", peak_gpu_allocated_bytes=4000 * MiB)])
    rows = load([run])
    plot = plots.make_memory_bars([[rows[0]], [rows[1]]], name="mem")
    assert plot.svg.count('id="axes_') == 2  # one panel per kind of memory
    assert "Peak GPU memory (MiB)" in plot.svg and "CPU RSS increase (MiB)" in plot.svg


def test_the_floor_tooltip_shows_the_bound_with_its_sign_and_the_reference(tmp_path):
    ref = "lora-reviews6-real-cpu-seed0"
    run = write_run(tmp_path / "run.json", [
        make_entry("lora", acc=0.86, floor_source="majority", floor_margin=0.05),
        make_entry("full_ft", acc=0.58, status="failed_floor", floor_source="lora", floor_reference_case=ref,
                   floor_reference_accuracy=0.86, floor_margin=0.05, floor_relative_accuracy=0.81,
                   floor_relative_passed=False),
    ])
    model = summarize(load([run]), with_plots=False)
    floors = {r.method: r.cells["floor"] for r in get_section(model).rows}
    assert floors["lora"].note.startswith("floor accuracy_over_majority ≥ 0.01")
    assert "majority-class floor only" in floors["lora"].note
    assert f"accuracy ≥ 0.8100 = LoRA {ref} 0.8600 − margin 0.05" in floors["full_ft"].note
    assert floors["full_ft"].text == "0/1 pass" and floors["full_ft"].flag == "fail"
    failure = next(f for f in model.failures if f.case_id.startswith("full_ft"))
    assert "misses the relative floor" in failure.detail and ref in failure.detail


def test_runs_under_different_protocols_are_separate_rows(tmp_path):
    limited = {"protocol": {"n_train": 200, "limit_train": 200}, "settings": {"limit_train": 200}}
    run = write_run(tmp_path / "run.json", [
        make_entry("lora", 0, acc=0.90), make_entry("lora", 1, acc=0.88),  # full train: two seeds
        make_entry("full_ft", 0, acc=0.92),
        make_entry("lora", 0, acc=0.60, **limited), make_entry("full_ft", 0, acc=0.55, **limited),
    ])
    section = get_section(summarize(load([run]), with_plots=False))
    assert section.show_protocol
    rows = [(r.method, r.protocol, r.seeds) for r in section.rows]
    assert rows == [("lora", "limit_train=200, n_train=200", "1"), ("full_ft", "limit_train=200, n_train=200", "1"),
                    ("lora", "limit_train=—, n_train=600", "2"), ("full_ft", "limit_train=—, n_train=600", "1")]
    labels = {(r.method, round(r.cells["quality"].value, 2)): r.protocol for r in section.rows}
    assert "n_train=600" in labels[("lora", 89.0)]  # the two full-train seeds, merged
    assert "n_train=200" in labels[("lora", 60.0)]  # the limited run is not a third seed
    assert len(section.rows) == 4
    # full_ft is compared with the LoRA of its own protocol
    vs = {(r.method, r.protocol): r.cells["vs_ref"] for r in section.rows}
    assert all(c.text == "reference" for (m, _), c in vs.items() if m == "lora")
    assert not any("repeat a seed" in n for n in section.notes)
    assert any("protocols differ" in n for n in section.notes)


def test_runs_with_the_same_protocol_are_seeds_of_one_row(tmp_path):
    run = write_run(tmp_path / "run.json", [make_entry("lora", s, acc=0.8 + s / 100) for s in range(3)])
    section = get_section(summarize(load([run]), with_plots=False))
    (row,) = section.rows
    assert row.seeds == "3" and row.seed_ids == "seeds 0, 1, 2" and row.protocol == ""
    assert not section.show_protocol


def test_a_time_limit_is_no_protocol_difference(tmp_path):
    """Seeds that finished under different time limits are one row (the limit controls the run)."""
    entries = [make_entry("lora", s, settings={"time_limit_s": 400 + s}) for s in range(3)]
    section = get_section(summarize(load([write_run(tmp_path / "run.json", entries)]), with_plots=False))
    (row,) = section.rows
    assert row.seeds == "3" and row.protocol == ""


def test_no_star_within_the_noise_none_on_zero_and_empty_columns_hidden(tmp_path):
    entries = [
        make_entry("lora", 0, acc=0.90, adapter_bytes=int(21.7 * 1024), mfu=0.0, train_seconds=10.0),
        make_entry("lora", 1, acc=0.91, adapter_bytes=int(21.7 * 1024), mfu=0.0, train_seconds=10.0),
        make_entry("full_ft", 0, acc=0.70, adapter_bytes=int(21.8 * 1024), mfu=0.0, train_seconds=30.0),
        make_entry("full_ft", 1, acc=0.71, adapter_bytes=int(21.8 * 1024), mfu=0.0, train_seconds=30.0),
        make_entry("hira", 0, acc=0.905, adapter_bytes=900 * 1024, mfu=0.0, train_seconds=10.1, weight_sparsity=0.0),
        make_entry("hira", 1, acc=0.895, adapter_bytes=900 * 1024, mfu=0.0, train_seconds=10.1, weight_sparsity=0.0),
    ]
    section = get_section(summarize(load([write_run(tmp_path / "run.json", entries)]), with_plots=False))
    cells = {r.method: r.cells for r in section.rows}
    # lora 90.50 ± 6.35 vs hira 90.00 ± 6.35: inside the interval; both far above full_ft
    assert not any(c["quality"].best for c in cells.values())
    assert not cells["lora"]["adapter"].best  # 21.7 vs 21.8 KiB: within 2%
    assert not cells["lora"]["train"].best  # 10.0 vs 10.1 s
    keys = [c.key for c in section.columns]
    assert "mfu" in keys and not any(c["mfu"].best for c in cells.values())  # MFU 0.00: no star
    for empty in ("gpu", "step", "wsparse", "csparse"):  # no value, or zero sparsity, for every method
        assert empty not in keys
    assert "rss" in keys and "adapter" in keys


def test_a_star_where_the_best_stands_apart_in_the_metric_s_direction(tmp_path):
    entries = [make_entry(m, s, acc=a + s / 1000, adapter_bytes=b) for m, a, b in
               (("lora", 0.90, 4000), ("full_ft", 0.60, 400000)) for s in (0, 1, 2)]
    section = get_section(summarize(load([write_run(tmp_path / "run.json", entries)]), with_plots=False))
    cells = {r.method: r.cells for r in section.rows}
    assert cells["lora"]["quality"].best and not cells["full_ft"]["quality"].best
    assert cells["lora"]["adapter"].best  # lower is better
