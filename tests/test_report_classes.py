"""The report on a dataset of more than two classes: macro-F1 and zero-shot columns, per-class
tables and confusion matrices (summed over seeds)."""

import copy
import json
from pathlib import Path

from reports.build import render
from reports.load import load
from reports.summarize import summarize

DATA = Path(__file__).parent / "data"


def make_file(tmp_path) -> Path:
    raw = json.loads((DATA / "run_multi_seed.json").read_text())
    runs = [b for b in raw["benchmarks"] if b["extra_info"]["dataset"] == "sst2" and b["extra_info"]["method"] == "lora"]
    out = []
    for seed, run in enumerate(runs[:2]):
        run = copy.deepcopy(run)
        e = run["extra_info"]
        e.update(dataset="topics", case_id=f"lora-topics-real-cpu-seed{seed}", seed=seed, f1=0.5 + 0.1 * seed,
                 accuracy_zero_shot=0.3, label_names=["sport", "politics", "science"],
                 confusion_matrix=[[3, 1, 0], [0, 2, 2], [1, 0, 3]],
                 per_class=[{"label": c, "name": n, "precision": 0.5, "recall": 0.25 * (c + 1), "f1": 0.4, "support": 4}
                            for c, n in enumerate(["sport", "politics", "science"])])
        e.pop("predictions", None), e.pop("labels", None)
        out.append(run)
    raw["benchmarks"] = out
    path = tmp_path / "topics.json"
    path.write_text(json.dumps(raw))
    return path


def test_per_class_tables_and_confusion_matrix(tmp_path):
    model = summarize(load([make_file(tmp_path)]), with_plots=False)
    (section,) = model.datasets
    row = section.rows[0]
    assert row.cells["f1"].text.startswith("55.00") and row.cells["zero_shot"].text.startswith("30.00")
    assert [c.key for c in section.columns][:3] == ["quality", "f1", "zero_shot"]
    (table,) = section.class_tables
    assert table.names == ["sport", "politics", "science"]
    assert table.rows[1] == ("politics", "50.0", "50.0", "40.0", "4")
    assert [count for count, _ in table.matrix[1]] == [0, 4, 4]  # two seeds summed
    assert table.matrix[0][0][1] == 0.75
    html = render(model)
    assert "Per-class results and confusion matrices" in html and "true \\ predicted" in html


def test_binary_results_have_no_class_tables():
    model = summarize(load([DATA / "run_multi_seed.json"]), with_plots=False)
    assert all(not d.class_tables for d in model.datasets)
