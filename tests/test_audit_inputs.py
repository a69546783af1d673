"""Inputs the reliability audit found accepted or refused too late: each is now refused up
front, naming the option, field or cell and the fix."""

import json
from types import SimpleNamespace

import pytest

from fixtures.data.custom import get_schema
from fixtures.data.datasets import DataError, make_custom_task
from fixtures.run.options import get_run_options, parse_seeds
from fixtures.training.settings import TrainSettings


@pytest.mark.parametrize("field, value, expected", [
    ("max_grad_norm", -1.0, "TrainSettings.max_grad_norm=-1.0: must be > 0"),  # reversed training
    ("inference_rounds", 0, "TrainSettings.inference_rounds=0: must be >= 1"),  # refused after training before
    ("time_limit_s", float("nan"), "TrainSettings.time_limit_s=nan: must be a finite number"),  # limit disabled
    ("warmup_ratio", float("nan"), "TrainSettings.warmup_ratio=nan"),
])
def test_settings_that_break_a_run_are_refused_by_name(field, value, expected):
    with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(".", r"\.")):
        TrainSettings(**{field: value})


def test_a_seed_outside_numpys_range_is_a_usage_error():
    with pytest.raises(pytest.UsageError, match=r"seed 99999999999999999999 is outside 0\.\.4294967295"):
        parse_seeds("0,99999999999999999999")
    with pytest.raises(pytest.UsageError, match="seed -1 is outside"):
        parse_seeds("-1")
    assert parse_seeds(f"0,{2**32 - 1}") == [0, 2**32 - 1]


def test_limit_train_zero_is_a_usage_error_not_no_limit(tmp_path):
    options = {"seeds": "0", "model": [], "dataset": [], "overrides": [], "limit_train": 0, "limit_eval": None,
               "data_dir": None, "benchmark_json": None, "custom_floor_margin": 0.05, "peft_config": [],
               "sweep": [], "tune": None, "tune_factors": None}
    config = SimpleNamespace(getoption=lambda name, default=None: options.get(name, default), rootpath=tmp_path,
                             getini=lambda name: [])
    with pytest.raises(pytest.UsageError, match="--limit-train 0: must be >= 1 \\(leave it out for no limit\\)"):
        get_run_options(config)


def test_a_dataset_json_holding_a_list_says_it_must_be_an_object(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="must be a JSON object .* got a list") as error:
        get_schema(tmp_path)
    assert "unknown key" not in str(error.value)


def test_a_typo_in_an_integer_label_is_refused_not_a_new_class(tmp_path):
    rows = ["text\tlabel", "good\t1", "bad\t0", "fine\t1x", "awful\t0"]
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "test.tsv").write_text("text\tlabel\nok\t1\nno\t0\n")
    with pytest.raises(DataError, match=r"train\.tsv:4: label '1x' is not an integer class id"):
        make_custom_task(str(tmp_path))
    (tmp_path / "train.tsv").write_text("text\tlabel\ngood\tpos\nbad\tneg\n")  # names throughout: still fine
    assert make_custom_task(str(tmp_path)).num_labels == 2


def test_a_recovered_run_names_its_journal_without_an_absolute_path(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from pytest_benchmark.storage.file import FileStorage

    from fixtures.run.journal import recover
    from reports.journal import HEADER_KEY

    monkeypatch.chdir(tmp_path)
    logger = SimpleNamespace(info=lambda *a, **k: None)
    storage = FileStorage(tmp_path / ".benchmarks", logger=logger, default_machine_id="machine")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    journal = tmp_path / ".benchmarks" / "machine" / f"journal_20261201_000000_{dead.pid}.jsonl"
    journal.parent.mkdir(parents=True)
    lines = [{HEADER_KEY: 1, "machine_info": {}, "commit_info": {}}, {"name": "a", "extra_info": {"case_id": "a"}}]
    journal.write_text("".join(json.dumps(x) + "\n" for x in lines))
    (saved,) = recover(SimpleNamespace(storage=storage), lambda text: None)
    recovered_from = json.loads(saved.read_text())["recovered_from"]
    assert recovered_from == os.path.join(".benchmarks", "machine", journal.name)


def test_reports_survive_a_string_machine_info_and_refuse_a_csv_output(tmp_path):
    from reports.build import main

    result = {"machine_info": "a string", "commit_info": {}, "benchmarks": [
        {"name": "test_finetune[lora-sst2-tiny-cpu-seed0]", "extra_info": {"case_id": "lora-sst2-tiny-cpu-seed0",
                                                                          "status": "passed", "accuracy": 0.9},
         "stats": None}]}
    (tmp_path / "run.json").write_text(json.dumps(result))
    assert main([str(tmp_path / "run.json"), "-o", str(tmp_path / "out" / "index.html")]) == 0
    csv = tmp_path / "out" / "index.csv"
    before = csv.read_text()
    assert main([str(tmp_path / "run.json"), "-o", str(csv)]) == 2  # would have overwritten the CSV with HTML
    assert csv.read_text() == before


def test_a_truncated_safetensors_file_is_named_and_a_bad_input(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    from fixtures.models.real_models import ModelError, make_real_model
    from fixtures.run.outcome import get_failure_status

    config = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8)
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:20])  # cut mid-header
    with pytest.raises(ModelError, match=f"cannot read {weights}.*damaged or incomplete") as error:
        make_real_model(str(tmp_path), kind="classification", num_labels=2)
    assert get_failure_status(error.value) == "bad_input"


def test_a_bad_dataset_json_and_bad_data_are_bad_input_not_a_bug(tmp_path):
    from fixtures.data.custom import SchemaError
    from fixtures.run.outcome import get_failure_status

    (tmp_path / "dataset.json").write_text(json.dumps({"nope": 1}))
    with pytest.raises(SchemaError) as error:
        get_schema(tmp_path)
    assert get_failure_status(error.value) == "bad_input"
    assert get_failure_status(DataError("x.tsv:3: bad")) == "bad_input"
    assert get_failure_status(RuntimeError("a bug")) is None  # still "error", with its traceback


def test_an_unterminated_csv_quote_is_reported_where_it_opens(tmp_path):
    from fixtures.data.datasets import read_delimited

    rows = ["text,label", "good,1", '"bad,0', "fine,1", "awful,0", "ok,1"]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"train\.csv:3: a quote opened in this row is never closed"):
        read_delimited(tmp_path / "train.csv")
