"""Real-dataset loaders on small files written here: formats, errors, limits, sources."""

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fixtures.data.datasets import (
    DataError,
    DataUnavailable,
    get_default_data_dir,
    get_real_data,
    get_subset,
    make_custom_task,
    read_table,
)
from fixtures.data.tasks import TASKS
from fixtures.training.settings import TrainSettings

ROWS = [("good film", 1), ("bad film", 0), ("great, fun", 1), ('dull "plot"', 0)]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """The hub must never be tried from unit tests (it would hang on this machine)."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv("PEFT_BENCH_DATA", raising=False)


def write_tsv(path: Path, rows, header="sentence\tlabel") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *(f"{t}\t{y}" for t, y in rows)]) + "\n", encoding="utf-8")
    return path


def write_csv(path: Path, rows, header="text,label") -> Path:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(buf.getvalue().encode()))
    else:
        path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def write_parquet(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": [t for t, _ in rows], "label": [y for _, y in rows]}), path)
    return path


@pytest.mark.parametrize("name,writer", [
    ("train.tsv", write_tsv), ("train.csv", write_csv), ("train.csv.gz", write_csv), ("train.parquet", write_parquet),
])
def test_read_table_formats(tmp_path, name, writer):
    texts, labels, lines = read_table(writer(tmp_path / name, ROWS))
    assert texts == [t for t, _ in ROWS] and labels == [y for _, y in ROWS]
    assert lines[0] == (1 if name.endswith("parquet") else 2)


def test_sst2_and_imdb_layout(tmp_path):
    write_tsv(tmp_path / "sst2" / "train.tsv", ROWS)
    write_tsv(tmp_path / "sst2" / "dev.tsv", ROWS[:2])  # GLUE's name for validation
    data = get_real_data("sst2", TASKS["sst2"], settings=TrainSettings(), data_dir=tmp_path, extra={})
    assert data.eval_labels == [1, 0] and data.protocol["source"] == "local"
    assert data.protocol["eval_split"] == "validation" and data.protocol["eval_file"].endswith("dev.tsv")
    write_csv(tmp_path / "imdb" / "train.csv.gz", ROWS)
    write_csv(tmp_path / "imdb" / "test.csv.gz", ROWS)
    data = get_real_data("imdb", TASKS["imdb"], settings=TrainSettings(), data_dir=tmp_path, extra={})
    assert data.protocol["eval_split"] == "test" and data.protocol["n_train"] == 4


def test_wikitext_trains_on_validation_and_says_so(tmp_path):
    (tmp_path / "wikitext2").mkdir()
    (tmp_path / "wikitext2" / "validation.txt").write_text(" = A = \n \n one two\n three\n")
    (tmp_path / "wikitext2" / "test.txt").write_text(" four five\n six\n")
    with pytest.raises(DataUnavailable, match="train_split=validation"):
        get_real_data("wikitext2", TASKS["wikitext2"], settings=TrainSettings(), data_dir=tmp_path, extra={})
    settings = TrainSettings(train_split="validation", limit_train=2)
    data = get_real_data("wikitext2", TASKS["wikitext2"], settings=settings, data_dir=tmp_path, extra={})
    assert data.train_texts == [" = A = \n \n"] and data.eval_texts == [" four five\n six\n"]
    assert "validation" in data.protocol["caveat"] and data.protocol["n_train_lines"] == 2


def test_unavailable_message_says_what_to_provide(tmp_path):
    with pytest.raises(DataUnavailable) as e:
        get_real_data("sst2", TASKS["sst2"], settings=TrainSettings(), data_dir=tmp_path, extra={})
    assert "sst2/train.tsv" in str(e.value) and "HF_DATASETS_OFFLINE" in str(e.value)


def test_missing_split_file(tmp_path):
    write_tsv(tmp_path / "sst2" / "train.tsv", ROWS)
    with pytest.raises(DataUnavailable, match="no validation split"):
        get_real_data("sst2", TASKS["sst2"], settings=TrainSettings(), data_dir=tmp_path, extra={})


def test_explicit_missing_folder(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="no such folder"):
        get_default_data_dir(tmp_path, str(tmp_path / "nope"))
    monkeypatch.setenv("PEFT_BENCH_DATA", str(tmp_path / "gone"))
    with pytest.raises(DataError, match="PEFT_BENCH_DATA"):
        get_default_data_dir(tmp_path, None)


def test_default_data_dir_is_shared_data_beside_the_repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    assert get_default_data_dir(repo, None) is None
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert get_default_data_dir(repo, None) == (tmp_path / "shared" / "data").resolve()


@pytest.mark.parametrize("content,match", [
    ("", "empty file"),
    ("sentence\tlabel\n", "no rows"),
    ("sentence\tscore\nok\t1\n", r"missing column\(s\) \['label'\]"),
    ("words\tlabel\nok\t1\n", r"missing column\(s\) \['text/sentence'\]"),
    ("sentence\tlabel\nok\t1\nbad\tyes\n", r"train.tsv:3: label 'yes' is not an integer"),
    ("sentence\tlabel\nok\t1\ntoo\tmany\tfields\n", r"train.tsv:3: 3 fields"),
])
def test_tsv_errors_name_file_and_line(tmp_path, content, match):
    path = tmp_path / "train.tsv"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        read_table(path)


def test_unparseable_csv_names_line(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('text,label\n"fine",1\n"broken"x",0\n')
    with pytest.raises(DataError, match=r"train.csv:3"):
        read_table(path)


def test_label_outside_expected_set(tmp_path):
    write_tsv(tmp_path / "sst2" / "train.tsv", [*ROWS, ("odd", 2)])
    write_tsv(tmp_path / "sst2" / "validation.tsv", ROWS)
    with pytest.raises(DataError, match=r"train.tsv:6: label 2 outside the expected set \[0, 1\]"):
        get_real_data("sst2", TASKS["sst2"], settings=TrainSettings(), data_dir=tmp_path, extra={})


def test_single_class_split(tmp_path):
    write_tsv(tmp_path / "sst2" / "train.tsv", ROWS)
    write_tsv(tmp_path / "sst2" / "validation.tsv", [("a", 1), ("b", 1)])
    with pytest.raises(DataError, match="validation.tsv: only one class \\(1\\) in the split; need at least two"):
        get_real_data("sst2", TASKS["sst2"], settings=TrainSettings(), data_dir=tmp_path, extra={})


def test_limit_is_a_seeded_shuffle_and_deterministic(tmp_path):
    rows = [(f"text {i}", i % 2) for i in range(100)]
    write_tsv(tmp_path / "sst2" / "train.tsv", rows)
    write_tsv(tmp_path / "sst2" / "validation.tsv", rows)
    settings = TrainSettings(limit_train=10, limit_eval=20)
    a = get_real_data("sst2", TASKS["sst2"], settings=settings, data_dir=tmp_path, extra={})
    b = get_real_data("sst2", TASKS["sst2"], settings=settings, data_dir=tmp_path, extra={})
    assert a.train_texts == b.train_texts and len(a.train_texts) == 10 and len(a.eval_texts) == 20
    assert a.train_texts != [t for t, _ in rows[:10]]  # shuffled, not the file's first rows
    assert all(int(t.split()[1]) % 2 == y for t, y in zip(a.train_texts, a.train_labels))  # pairs kept
    assert a.protocol["limit_train"] == 10 and a.protocol["n_eval_available"] == 100


def test_subset_prefix_for_running_text():
    assert get_subset(["a", "b", "c"], [], 2, shuffle=False) == (["a", "b"], [])
    assert get_subset(["a", "b"], [0, 1], 0, shuffle=True) == (["a", "b"], [0, 1])


def test_custom_dataset_with_three_classes(tmp_path):
    folder = tmp_path / "topics"
    rows = [("sport", 0), ("politics", 1), ("science", 2), ("match", 0)]
    write_parquet(folder / "train.parquet", rows)
    write_parquet(folder / "test.parquet", rows)
    task = make_custom_task(str(folder))
    assert task.num_labels == 3 and task.eval_split == "test"
    data = get_real_data("topics", task, settings=TrainSettings(), data_dir=None, extra={"topics": str(folder)})
    assert data.protocol["num_labels"] == 3 and data.eval_labels == [0, 1, 2, 0]


def test_custom_dataset_errors(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        make_custom_task(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no train"):
        make_custom_task(str(tmp_path / "empty"))
    write_csv(tmp_path / "gap" / "train.csv", [("a", 0), ("b", 2)])
    with pytest.raises(DataError, match="not 0..N-1"):
        make_custom_task(str(tmp_path / "gap"))


def test_hub_not_tried_offline(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def guarded(name, *args, **kwargs):
        assert name != "datasets", "the hub loader was imported while offline"
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guarded)
    with pytest.raises(DataUnavailable, match="hub not tried"):
        get_real_data("imdb", TASKS["imdb"], settings=TrainSettings(), data_dir=None, extra={})


class FakeSplit:
    """Just enough of a datasets.Dataset for the hub loader."""

    def __init__(self, columns: dict):
        self.columns = columns
        self.column_names = list(columns)

    def __getitem__(self, name):
        return self.columns[name]


def test_hub_source_when_online(monkeypatch):
    import sys
    import types

    for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    calls = []

    def load_dataset(path, config):
        calls.append((path, config))
        if path == "stanfordnlp/sst2":
            raise ConnectionError("no network")
        split = FakeSplit({"sentence": ["good", "bad", "fine"], "label": [1, 0, 1], "idx": [0, 1, 2]})
        return {"train": split, "validation": split}

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    data = get_real_data("sst2", TASKS["sst2"], settings=TrainSettings(), data_dir=None, extra={})
    assert calls == [("stanfordnlp/sst2", None), ("nyu-mll/glue", "sst2")]
    assert data.protocol["source"] == "hub" and data.protocol["eval_file"] == "hub:nyu-mll/glue/sst2[validation]"
    assert data.train_labels == [1, 0, 1]


def test_length_buckets_cover_every_example_once_per_epoch():
    import torch

    from fixtures.data.batches import iter_classification_batches

    ids = [[1] * (1 + i % 37) for i in range(400)]
    labels = list(range(400))
    batches = iter_classification_batches(ids, labels, pad_id=0, batch_size=8, seed=0, device="cpu", buckets=True)
    epoch = [next(batches) for _ in range(50)]
    seen = torch.cat([b["labels"] for b in epoch]).tolist()
    assert sorted(seen) == labels
    padding = sum(int((b["attention_mask"] == 0).sum()) for b in epoch)
    assert padding < 0.1 * sum(len(r) for r in ids)


def test_a_non_utf8_table_names_file_line_and_byte(tmp_path):
    from fixtures.data.datasets import read_table

    path = tmp_path / "train.csv"
    path.write_bytes(b"text,label\ngood,0\ncaf\xe9,1\n")  # Latin-1, not UTF-8
    with pytest.raises(DataError, match=r"train.csv:3: not UTF-8 text: byte offset 21 \(0xe9\)"):
        read_table(path)


def test_a_utf8_bom_header_is_accepted(tmp_path):
    from fixtures.data.datasets import read_table

    path = tmp_path / "train.csv"
    path.write_bytes("text,label\na,0\nb,1\n".encode("utf-8-sig"))  # as Excel writes it
    assert read_table(path)[:2] == (["a", "b"], [0, 1])


def test_a_single_class_train_says_so(tmp_path):
    write_csv(tmp_path / "one" / "train.csv", [("a", 1), ("b", 1)])
    with pytest.raises(DataError, match=r"train.csv: only one class \(1\) in train; need at least two"):
        make_custom_task(str(tmp_path / "one"))


def test_dataset_folders_are_checked_up_front_and_expand_home(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from fixtures.run.options import get_custom_datasets

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mine").mkdir()

    def config(*values):
        return SimpleNamespace(getoption=lambda name: list(values), getini=lambda name: [])

    assert get_custom_datasets(config("mine=~/mine")) == {"mine": str(tmp_path / "mine")}
    with pytest.raises(pytest.UsageError, match="--dataset gone=~/gone: no such folder"):
        get_custom_datasets(config("gone=~/gone"))


def test_a_data_error_in_a_case_prints_its_message_not_a_stack(tmp_path):
    import os
    import subprocess
    import sys

    write_csv(tmp_path / "one" / "train.csv", [("a", 1), ("b", 1)])
    write_csv(tmp_path / "one" / "test.csv", [("a", 1), ("b", 0)])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "-m", "one and lora", "--dataset", f"one={tmp_path / 'one'}",
         "-p", "no:cacheprovider", "--benchmark-disable", "-q"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-3000:]
    assert "only one class (1) in train; need at least two" in output
    assert "Traceback" not in output and "datasets.py:" not in output
