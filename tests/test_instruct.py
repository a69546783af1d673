"""The instruct task kind: prompt encoding, left padding with context_length, answer scoring,
bad templates and answers, the loop's context hook, and N-class metrics."""

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from fixtures.data.batches import encode_prompts, get_answer_ids, iter_instruct_batches, pad_prompts
from fixtures.data.tasks import TASKS, Task, TaskData
from fixtures.data.tokenizers import make_word_tokenizer
from fixtures.training.evaluate import get_answer_scores, get_classification_metrics
from fixtures.training.settings import TrainSettings
from fixtures.training.workload import make_workload

WORDS = ["Review:", "Sentiment:", "negative", "positive", "good", "bad", "film", "the", "was"]


@pytest.fixture(scope="module")
def tokenizer():
    return make_word_tokenizer(WORDS)


def test_prompt_is_head_text_tail_without_special_tokens(tokenizer):
    (ids,) = encode_prompts(tokenizer, ["the film was good"], template="Review: {text}\nSentiment:",
                            max_length=32, answer_length=1)
    assert tokenizer.convert_ids_to_tokens(ids) == ["Review:", "the", "film", "was", "good", "Sentiment:"]
    (short,) = encode_prompts(tokenizer, ["the film was good"], template="Review: {text}\nSentiment:",
                              max_length=5, answer_length=1)  # the text is cut, the template kept
    assert tokenizer.convert_ids_to_tokens(short) == ["Review:", "the", "film", "Sentiment:"]
    with pytest.raises(ValueError, match="max_length=3"):
        encode_prompts(tokenizer, ["good"], template="Review: {text}\nSentiment:", max_length=3, answer_length=1)


def test_left_padding_puts_every_answer_at_context_length():
    batch = pad_prompts([[5, 6, 7], [8]], [[9], [10, 11]], pad_id=0, multiple=4)
    assert batch["context_length"] == 4 and isinstance(batch["context_length"], int)
    assert batch["input_ids"].tolist() == [[0, 5, 6, 7, 9, 0], [0, 0, 0, 8, 10, 11]]
    assert batch["attention_mask"].tolist() == [[0, 1, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1]]
    assert batch["labels"].tolist() == [[-100] * 4 + [9, -100], [-100] * 4 + [10, 11]]
    assert (batch["labels"][:, : batch["context_length"]] == -100).all()


def test_training_batches_carry_context_length_and_answer_labels(tokenizer):
    answers = get_answer_ids(tokenizer, (" negative", " positive"))
    prompts = [[7, 8], [7, 8, 9], [9]]
    batch = next(iter_instruct_batches(prompts, [0, 1, 1], answers, pad_id=0, batch_size=3, seed=0,
                                       device=torch.device("cpu"), pad_multiple=8))
    width = batch["context_length"]
    assert width == 8 and batch["input_ids"].shape == (3, 9)
    assert sorted(batch["labels"][:, width].tolist()) == sorted(a[0] for a in [answers[0], answers[1], answers[1]])


class NextTokenModel(torch.nn.Module):
    """Logits that always predict token (x + 1) % V after token x, whatever the attention mask."""

    vocab = 12

    def forward(self, input_ids, attention_mask=None, **_):
        logits = torch.nn.functional.one_hot((input_ids + 1) % self.vocab, self.vocab).float() * 5.0
        return SimpleNamespace(logits=logits)


def test_one_token_answers_are_scored_at_the_last_prompt_position():
    prompts = [[1, 2], [3, 4, 6], [9, 4]]
    scores = get_answer_scores(NextTokenModel(), prompts, [[3], [5], [7]], pad_id=0, batch_size=2,
                               device=torch.device("cpu"))
    assert [max(range(3), key=row.__getitem__) for row in scores] == [0, 2, 1]


def test_multi_token_answers_sum_every_answer_token():
    model = NextTokenModel()
    # after 2: [3, 4] is predicted token by token; [3, 9] only its first token
    scores = get_answer_scores(model, [[1, 2], [7, 2]], [[3, 9], [3, 4]], pad_id=0, batch_size=4,
                               device=torch.device("cpu"))
    logp = torch.log_softmax(torch.tensor([5.0] + [0.0] * 11), 0)
    hit, miss = float(logp[0]), float(logp[1])
    for row in scores:
        assert row[1] == pytest.approx(2 * hit) and row[0] == pytest.approx(hit + miss)


def test_a_template_without_the_text_slot_is_refused():
    with pytest.raises(ValueError, match=r"template.*\{text\}"):
        dataclasses.replace(TASKS["sst2_instruct"], template="Review:\nSentiment:")


def test_a_label_id_without_an_answer_word_is_refused():
    with pytest.raises(ValueError, match=r"label id\(s\) \[2\] have no answer"):
        dataclasses.replace(TASKS["sst2_instruct"], num_labels=3)


def test_answers_with_the_same_first_token_are_refused(tokenizer):
    with pytest.raises(ValueError, match="'neutral' and 'unknown' both start with token"):
        get_answer_ids(tokenizer, (" positive", "neutral", "unknown"))  # both are [UNK] here


def test_instruct_workload_records_its_protocol(tokenizer):
    task = TASKS["sst2_instruct"]
    data = TaskData(["the film was good", "bad"], [1, 0], ["good", "bad"], [1, 0], {"source": "test"})
    workload = make_workload(data, tokenizer, task=task, settings=TrainSettings(max_length=16, batch_size=2))
    p = workload.protocol
    assert p["template"] == task.template and p["answers"] == [" negative", " positive"]
    assert "left" in p["padding_side"] and "context_length" in p["split_point"]
    assert workload.task_type == "CAUSAL_LM" and workload.total_steps == 1
    assert set(workload.get_inference_batch(torch.device("cpu"))) == {"input_ids", "attention_mask"}


def test_the_loop_hands_context_length_to_set_context_and_strips_it():
    from fixtures.training.train import train

    seen, forwards = [], []

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))

        def forward(self, **batch):
            forwards.append(sorted(batch))
            return SimpleNamespace(loss=self.w * batch["input_ids"].float().mean())

    method = SimpleNamespace(
        __name__="methods.fake", make_optimizer=lambda params, cfg, device: torch.optim.SGD(params, lr=0.1),
        penalty=lambda model, cfg: None, after_step=lambda model, cfg, step, total_steps: None,
        set_context=lambda model, cfg, context_length: seen.append(context_length),
    )
    batches = iter([{"input_ids": torch.ones(2, 3, dtype=torch.long), "context_length": 2}] * 2)
    train(Model(), batches, method=method, cfg=SimpleNamespace(lr=0.1), settings=TrainSettings(),
          total_steps=2, device=torch.device("cpu"))
    assert seen == [2, 2, None]  # None after the loop: evaluation runs without the split
    assert forwards == [["input_ids"], ["input_ids"]]


def test_more_than_two_classes_give_per_class_results_and_a_confusion_matrix():
    metrics = get_classification_metrics([0, 1, 2, 2, 1, 0], [0, 1, 2, 1, 1, 2], 3, ("a", "b", "c"))
    assert metrics["confusion_matrix"] == [[1, 0, 0], [0, 2, 1], [1, 0, 1]]
    b = metrics["per_class"][1]
    assert b["name"] == "b" and b["support"] == 3 and b["precision"] == 1.0 and b["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(sum(c["f1"] for c in metrics["per_class"]) / 3)
    assert "per_class" not in get_classification_metrics([0, 1], [0, 1], 2)


def test_every_instruct_task_is_valid():
    for name, task in TASKS.items():
        if task.kind == "instruct":
            assert isinstance(task, Task) and task.data in TASKS and task.num_labels == len(task.answers)
