"""reports.ranks: a case on several ranks is its own row, with world size, memory per rank and
throughput per GPU; tables of one-process cases do not grow the columns."""

import json

from reports.load import load
from reports.summarize import summarize


def write_run(path, entries):
    benches = [{"name": f"test[{e['case_id']}]", "stats": None, "extra_info": e} for e in entries]
    path.write_text(json.dumps({"machine_info": {}, "commit_info": {}, "benchmarks": benches}), encoding="utf-8")
    return path


def make_entry(case_id, **extra):
    return {"case_id": case_id, "method": "full_ft", "dataset": "wikitext2", "tier": "tiny", "hardware": "cpu",
            "model": "tiny-llama", "seed": 0, "status": "passed", "perplexity_ratio": 0.4,
            "floor_metric": "perplexity_ratio", "floor_value": 0.5, **extra}


def test_ranks_columns_split_the_group_and_show_per_rank_figures(tmp_path):
    path = write_run(tmp_path / "run.json", [
        make_entry("full_ft-wikitext2-tiny-cpu-seed0", steady_tokens_per_second=1000.0, peak_cpu_rss_bytes=2**20),
        make_entry("full_ft-wikitext2-tiny-cpu-gpus2-seed0", world_size=2, steady_tokens_per_second=1800.0,
                   steady_tokens_per_second_per_gpu=900.0, per_rank_peak_cpu_rss_bytes=[2 * 2**20, 3 * 2**20]),
    ])
    (section,) = summarize(load([path]), with_plots=False).datasets
    assert {"ranks", "rate_gpu", "rank_mem"} <= {c.key for c in section.columns}
    cells = {r.cells["ranks"].text: r.cells for r in section.rows}
    assert set(cells) == {"1", "2"}  # not two seeds of one group
    assert cells["2"]["rate"].text == "1.8k" and cells["2"]["rate_gpu"].text == "900"
    assert cells["2"]["rank_mem"].text == "2.0 / 3.0"
    assert cells["1"]["rate_gpu"].text == "1k" and cells["1"]["rank_mem"].text == "1.0"


def test_one_process_tables_have_no_ranks_columns(tmp_path):
    path = write_run(tmp_path / "run.json", [make_entry("full_ft-wikitext2-tiny-cpu-seed0")])
    (section,) = summarize(load([path]), with_plots=False).datasets
    assert not {"ranks", "rate_gpu", "rank_mem"} & {c.key for c in section.columns}
