"""The scale section and the verdict, rendered from a fabricated results file (no bench, no methods)."""

import copy
import json

import pytest

from reports.build import render
from reports.load import load
from reports.summarize import summarize
from reports.verdict import get_verdicts

GIB = 2**30
COST_ONLY = "random-init (cost only)"
PARAMS = {"llama-1b": 1_235_814_400, "llama-8b": 8_030_261_248}


def make_bench(method, model, *, step, peak, frozen, status="passed", variant=None, mfu=0.4):
    case_id = f"{method}-wikitext2-scale-{model}{'-' + variant if variant else ''}-gpu-seed0"
    extra = {
        "case_id": case_id, "method": method, "variant": variant, "dataset": "wikitext2", "tier": "scale",
        "hardware": "gpu", "seed": 0, "model": model, "status": status, "weights": COST_ONLY,
        "protocol": {"weights": COST_ONLY, "model_params": PARAMS[model]},
        "floor_metric": "loss_decrease", "floor_value": 0.003,
    }
    if status == "passed":
        extra.update(
            perplexity=120000.0, loss_decrease=0.05, steady_step_seconds=step, step_seconds_p50=step, train_seconds=step * 40,
            train_steps=40, steady_tokens_per_second=4096 / step, mfu=mfu, peak_gpu_allocated_bytes=peak,
            mem_frozen_bytes=frozen, mem_trainable_bytes=0.1 * GIB, mem_grad_bytes=0.1 * GIB,
            mem_optimizer_bytes=0.2 * GIB, mem_activation_peak_bytes=peak - frozen - 0.4 * GIB,
            mem_step_peak_bytes=peak,
        )
    return {"name": f"test_finetune[{case_id}]", "fullname": f"bench/test_finetune.py::test_finetune[{case_id}]",
            "stats": {"median": 0.1} if status == "passed" else None, "extra_info": extra}


def make_results(tmp_path):
    benches = [
        make_bench("lora", "llama-1b", step=0.1, peak=20 * GIB, frozen=2.3 * GIB),
        make_bench("qlora", "llama-1b", step=0.15, peak=16 * GIB, frozen=1.0 * GIB),
        make_bench("full_ft", "llama-1b", step=0.12, peak=40 * GIB, frozen=0.0),
        make_bench("lora", "llama-8b", step=0.45, peak=60 * GIB, frozen=15 * GIB),
        make_bench("lora", "llama-8b", step=0.60, peak=30 * GIB, frozen=15 * GIB, variant="gc"),
        make_bench("qlora", "llama-8b", step=0.70, peak=25 * GIB, frozen=5.5 * GIB),
        make_bench("hira", "llama-8b", step=0.50, peak=65 * GIB, frozen=15 * GIB),  # dominated by lora
        make_bench("full_ft", "llama-8b", step=0, peak=0, frozen=0, status="oom"),
    ]
    sst2 = {"name": "test_finetune[lora-sst2-real-gpu-seed0]", "stats": {"median": 0.01}, "extra_info": {
        "case_id": "lora-sst2-real-gpu-seed0", "method": "lora", "dataset": "sst2", "tier": "real", "hardware": "gpu",
        "seed": 0, "model": "minilm-l6", "status": "passed", "accuracy": 0.86, "step_seconds_p50": 0.01,
        "peak_gpu_allocated_bytes": GIB}}
    qlora = copy.deepcopy(sst2)
    qlora["extra_info"].update(case_id="qlora-sst2-real-gpu-seed0", method="qlora", accuracy=0.857,
                               step_seconds_p50=0.014, peak_gpu_allocated_bytes=0.46 * GIB)
    data = {"machine_info": {"node": "h200"}, "commit_info": {}, "datetime": "2026-12-01T22:00:00",
            "version": "5.3.1", "benchmarks": [*benches, sst2, qlora]}
    path = tmp_path / "scale.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def rows(tmp_path):
    return load([make_results(tmp_path)])


def test_verdict_lists_the_front_with_ratios_against_lora(rows):
    verdicts = {(v.dataset, v.scope): v for v in get_verdicts(rows)}
    eight = verdicts[("wikitext2", "llama-8b · gpu · scale")]
    lines = [line.text for line in eight.lines]
    assert lines[0] == ("lora: the reference; step time p50 450.00 ms; GPU peak memory 61,440.0 MiB; "
                        "cost only (no quality measured)")
    # a LoRA variant is compared with plain LoRA
    assert "lora+gc: step time p50 1.33× LoRA; GPU peak memory 0.50× LoRA; cost only (no quality measured)" in lines
    assert "qlora: step time p50 1.56× LoRA; GPU peak memory 0.42× LoRA; cost only (no quality measured)" in lines
    assert not any(line.startswith("hira") for line in lines)  # slower and larger than LoRA
    assert eight.others == ["hira"]
    assert eight.left_out == ["full_ft (oom)"]
    assert eight.basis == "1 seed (seed 0) · scale tier (random-init shapes: cost only) · GPU sharing not recorded"
    sst2 = verdicts[("sst2", "minilm-l6 · gpu · real")]
    assert ("qlora: accuracy 0.3 pt worse than LoRA; step time p50 1.40× LoRA; GPU peak memory 0.46× LoRA"
            in [line.text for line in sst2.lines])


def test_scale_section_plots_table_and_cost_only_cells(rows):
    model = summarize(rows)
    html = render(model)
    assert 'id="verdict"' in html and 'id="scale"' in html
    assert html.index('id="verdict"') < html.index("Dataset: sst2")
    titles = [p.title for p in model.scale.plots]
    assert titles == ["Step time against size", "Training throughput against size", "Peak memory by part"]
    assert all("<svg" in p.svg for p in model.scale.plots)
    table = {(r[0], r[1]): r for r in model.scale.rows}
    assert table[("llama-8b", "qlora")][-1] == "0.37×"  # frozen weights against LoRA's
    assert table[("llama-8b", "full_ft")][2] == "oom"
    assert table[("llama-8b", "lora+gc")][4] == "1.33×"  # step time against LoRA's


def test_scale_table_shows_the_qlora_backends_side_by_side(tmp_path):
    backends = {None: ("bitsandbytes", "0.50.2", "bitsandbytes.optim.adamw.PagedAdamW8bit"),
                "torchao": ("torchao", "0.17.0", "torchao.optim.adam.AdamW8bit")}
    benches = [make_bench("lora", "llama-8b", step=0.25, peak=35 * GIB, frozen=15 * GIB),
               make_bench("lora", "llama-8b", step=0.36, peak=20 * GIB, frozen=15 * GIB, variant="gc")]
    for variant, (backend, version, optimizer) in backends.items():
        for gc, step in (("", 0.30), ("gc", 0.40)):
            name = "-".join(v for v in (variant, gc) if v) or None
            bench = make_bench("qlora", "llama-8b", step=step, peak=10 * GIB, frozen=5.3 * GIB, variant=name)
            bench["extra_info"].update(qlora_backend=backend, qlora_backend_version=version, qlora_optimizer=optimizer)
            benches.append(bench)
    path = tmp_path / "backends.json"
    path.write_text(json.dumps({"machine_info": {}, "commit_info": {}, "datetime": "2026-12-03T10:00:00",
                                "version": "5.3.1", "benchmarks": benches}))
    table = {r[1]: r for r in summarize(load([path])).scale.rows}
    assert list(table) == ["lora", "lora+gc", "qlora (bitsandbytes 0.50.2, PagedAdamW8bit)",
                           "qlora+gc (bitsandbytes 0.50.2, PagedAdamW8bit)", "qlora+torchao (torchao 0.17.0, AdamW8bit)",
                           "qlora+torchao-gc (torchao 0.17.0, AdamW8bit)"]
    assert table["qlora+torchao (torchao 0.17.0, AdamW8bit)"][4] == "1.20×"  # against LoRA
    assert table["qlora+torchao-gc (torchao 0.17.0, AdamW8bit)"][4] == "1.11×"  # against LoRA + gc


def test_scale_rows_are_cost_only_in_the_datasets_table(rows):
    model = summarize(rows)
    wiki = next(d for d in model.datasets if d.name == "wikitext2")
    assert {r.cells["quality"].text for r in wiki.rows} == {"cost only"}
    assert wiki.plots == []  # no quality plot of random-init runs
