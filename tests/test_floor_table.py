"""results/h200-smoke/floor_table.py: per method x task min/max over seeds, and the margin to the floor."""

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "results" / "h200-smoke" / "floor_table.py"


def load_script():
    spec = importlib.util.spec_from_file_location("floor_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def entry(method, dataset, seed, metric, value, floor, status="passed"):
    info = {"method": method, "dataset": dataset, "tier": "tiny", "hardware": "gpu", "seed": seed,
            "floor_metric": metric, "floor_value": floor, "status": status}
    if value is not None:
        info[metric] = value
    return {"extra_info": info}


def test_min_max_over_seeds_and_a_seed_below_the_floor_is_named(tmp_path, capsys):
    results = tmp_path / "r.json"
    results.write_text(json.dumps({"benchmarks": [
        entry("lora", "sst2_instruct", 0, "accuracy", 0.9, 0.7),
        entry("lora", "sst2_instruct", 1, "accuracy", 0.6, 0.7, "failed"),
        entry("lora", "wikitext2", 0, "perplexity_ratio", 0.2, 0.5),
        entry("lora", "wikitext2", 1, "perplexity_ratio", 0.3, 0.5),
        entry("qlora", "sst2_instruct", 0, "accuracy", None, 0.7, "error"),
    ]}))
    table = load_script()
    rows = {(r[0], r[1]): r for r in table.get_rows(table.load_entries([str(results)]))}
    assert rows["lora", "sst2_instruct"][4:9] == ("0,1", "accuracy", 0.6, 0.9, 0.7)
    assert abs(rows["lora", "sst2_instruct"][9] + 0.1) < 1e-9  # the worst seed sits 0.1 below the floor
    assert abs(rows["lora", "wikitext2"][9] - 0.2) < 1e-9  # lower is better: margin from the highest ratio
    assert rows["qlora", "sst2_instruct"][6] is None and rows["qlora", "sst2_instruct"][10] == "error"
    assert table.main([str(results)]) == 0
    assert "1 with a seed below its floor: lora-sst2_instruct" in capsys.readouterr().out
