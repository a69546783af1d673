"""--dataset NAME=PATH: the kind follows the data (table, corpus), dataset.json columns and
string labels, the instruct form under a causal LM, and what a bad folder is told."""

import json

import pytest

from bench.matrix import CUSTOM_FLOOR, CUSTOM_LM_FLOOR, get_custom_cases
from fixtures.data.custom import DEFAULT_TEMPLATE
from fixtures.data.datasets import DataError, get_custom_kind, get_real_data, make_custom_task
from fixtures.run.cases import get_case_task
from fixtures.training.settings import TrainSettings
from methods import METHODS


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def make_table(folder, *, schema=None, header="review,stars", rows=(("great", "high"), ("awful", "low"),
                                                                   ("fine", "mid"), ("superb", "high"))):
    body = "\n".join(f"{t},{y}" for t, y in rows)
    write(folder / "train.csv", f"{header}\n{body}\n")
    write(folder / "test.csv", f"{header}\n{body}\n")
    if schema is not None:
        write(folder / "dataset.json", json.dumps(schema))
    return folder


def test_string_labels_and_custom_columns_through_dataset_json(tmp_path):
    folder = make_table(tmp_path / "stars", schema={"text": "review", "label": "stars", "labels": ["low", "mid", "high"]})
    task = make_custom_task(str(folder))
    assert task.kind == "classification" and task.num_labels == 3 and task.label_names == ("low", "mid", "high")
    data = get_real_data("stars", task, settings=TrainSettings(), data_dir=None, extra={"stars": str(folder)})
    assert data.train_labels == [2, 0, 1, 2] and data.train_texts[0] == "great"
    assert data.protocol["label_names"] == {"0": "low", "1": "mid", "2": "high"}


def test_string_labels_without_names_are_mapped_in_sorted_order(tmp_path):
    folder = make_table(tmp_path / "plain", header="text,label")
    task = make_custom_task(str(folder))
    assert task.label_names == ("high", "low", "mid")


def test_an_unknown_column_is_named_with_the_fix(tmp_path):
    folder = make_table(tmp_path / "cols")  # review,stars without dataset.json
    with pytest.raises(DataError, match="dataset.json"):
        make_custom_task(str(folder))
    write(folder / "dataset.json", json.dumps({"text": "review", "label": "stars", "colour": "red"}))
    with pytest.raises(ValueError, match="unknown key"):
        make_custom_task(str(folder))


def test_a_label_outside_the_names_is_refused(tmp_path):
    folder = make_table(tmp_path / "odd", schema={"text": "review", "label": "stars", "labels": ["low", "high"]})
    with pytest.raises(DataError, match="'mid' is not an integer class id nor one of the class names"):
        make_custom_task(str(folder))


def test_a_text_corpus_is_language_modelling(tmp_path):
    folder = tmp_path / "notes"
    write(folder / "train.txt", "one line\nanother line\n")
    write(folder / "test.txt", "a test line\n")
    task = make_custom_task(str(folder))
    assert (task.kind, task.metric, task.eval_split) == ("lm", "perplexity", "test")
    assert get_custom_kind(str(folder)) == "lm" and get_custom_kind(str(make_table(tmp_path / "t"))) == "classification"
    data = get_real_data("notes", task, settings=TrainSettings(), data_dir=None, extra={"notes": str(folder)})
    assert data.train_texts == ["one line\nanother line\n"] and data.train_labels == []


def test_a_folder_with_neither_corpus_nor_table_lists_what_it_looked_for(tmp_path):
    write(tmp_path / "empty" / "README.md", "nothing here")
    with pytest.raises(DataError, match=r"looked for train\.<tsv\|tsv\.gz\|csv\|csv\.gz\|parquet>.*train\.txt"):
        make_custom_task(str(tmp_path / "empty"))
    write(tmp_path / "half" / "train.txt", "text\n")
    with pytest.raises(DataError, match="no validation.txt or test.txt"):
        make_custom_task(str(tmp_path / "half"))


def test_a_causal_lm_turns_a_table_into_the_instruct_form(tmp_path):
    folder = make_table(tmp_path / "stars", schema={"text": "review", "label": "stars", "labels": ["low", "mid", "high"]})
    case = get_custom_cases(["stars"])[0]
    options = {"datasets": {"stars": str(folder)}, "models": {"stars": "tiny-llama"}}
    task = get_case_task(case, options)
    assert task.kind == "instruct" and task.template == DEFAULT_TEMPLATE and task.answers == (" low", " mid", " high")
    assert get_case_task(case, {**options, "models": {"stars": "tiny-bert"}}).kind == "classification"
    write(folder / "dataset.json", json.dumps({"text": "review", "label": "stars", "labels": ["low", "mid", "high"],
                                              "template": "Stars for {text}:", "answers": [" one", " two"]}))
    with pytest.raises(ValueError, match=r"label id\(s\) \[2\] have no answer word"):
        get_case_task(case, options)


def test_custom_cases_run_every_method_and_a_corpus_gets_a_perplexity_floor():
    cases = get_custom_cases(["stars", "notes"], kinds={"notes": "lm"})
    assert {c.method for c in cases} == set(METHODS)
    assert {c.floor for c in cases if c.dataset == "stars"} == {CUSTOM_FLOOR}
    assert {c.floor for c in cases if c.dataset == "notes"} == {CUSTOM_LM_FLOOR}
