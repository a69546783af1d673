"""Usage: python bench/perf_trainer.py [--model minilm-l6] [--data-dir DIR] [--out FILE.json]

The reference point for the suite's own training loop: the same fine-tuning run through
the Hugging Face ``Trainer`` + peft, as a user would write it. Same model (loaded by the
suite), same real SST-2 split and tokenisation (``fixtures``), same LoRA config as the
real tier's ``lora`` case (q/v, r 8, alpha 16, dropout 0.1, lr 1e-3), batch 32, length
64, one epoch, linear warm-up over 6% of the steps then linear decay, clipping at 1.0,
fused AdamW, dynamic padding per batch. Validation accuracy is computed by the suite's
own ``predict`` on the full split, so both sides are scored alike.

Prints one JSON object (and writes it to --out): the wall time of ``trainer.train()``,
steps, steps per second, and accuracy. Compare it with the suite's case, e.g.:

    python -m pytest bench -m "real and gpu and sst2 and lora and not lora_prune"
    python bench/perf_trainer.py --out trainer.json

Needs ``accelerate`` (the Trainer requires it).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.matrix import REAL_OPTIONS, REAL_SETTINGS  # noqa: E402
from fixtures.data.batches import encode_classification  # noqa: E402
from fixtures.data.datasets import get_default_data_dir, get_real_data  # noqa: E402
from fixtures.data.tasks import TASKS  # noqa: E402
from fixtures.models.real_models import make_real_model  # noqa: E402
from fixtures.run.provenance import get_portable  # noqa: E402
from fixtures.training.evaluate import get_classification_metrics, predict  # noqa: E402
from fixtures.training.settings import TrainSettings  # noqa: E402
from methods import lora  # noqa: E402


def get_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm-l6", help="a classification model the suite knows (default minilm-l6)")
    p.add_argument("--data-dir", default=None, help="real datasets root (default as the suite: ../shared/data)")
    p.add_argument("--limit-train", type=int, default=0, help="train on at most N examples (0 = the whole split)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the JSON result here")
    return p.parse_args(argv)


class Examples(torch.utils.data.Dataset):
    """Tokenised examples as the Trainer's collator wants them."""

    def __init__(self, ids, labels):
        self.ids, self.labels = ids, labels

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": [1] * len(self.ids[i]), "labels": self.labels[i]}


def main(argv=None) -> dict:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

    args = get_args(argv)
    task = TASKS["sst2"]
    settings = TrainSettings(**REAL_SETTINGS["sst2"], limit_train=args.limit_train)
    data_dir = get_default_data_dir(Path(__file__).resolve().parents[1], args.data_dir)
    data = get_real_data("sst2", task, settings=settings, data_dir=data_dir, extra={})
    set_seed(args.seed)
    model, tokenizer, source = make_real_model(args.model, kind="classification", num_labels=task.num_labels)
    cfg = lora.Config(**REAL_OPTIONS["lora"])
    model = lora.apply(model, cfg, task_type="SEQ_CLS")
    ids = encode_classification(tokenizer, data.train_texts, max_length=settings.max_length)
    steps = len(ids) // settings.batch_size
    training = TrainingArguments(
        output_dir="/tmp/perf-trainer", per_device_train_batch_size=settings.batch_size, num_train_epochs=1,
        learning_rate=cfg.lr, weight_decay=cfg.weight_decay, lr_scheduler_type="linear",
        warmup_steps=max(1, int(settings.warmup_ratio * steps)), max_grad_norm=settings.max_grad_norm,
        logging_steps=settings.log_every, save_strategy="no", eval_strategy="no", report_to=[],
        seed=args.seed, dataloader_drop_last=True, disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),  # the default, minus a warning on CPU
    )
    trainer = Trainer(model=model, args=training, train_dataset=Examples(ids, data.train_labels),
                      data_collator=DataCollatorWithPadding(tokenizer))
    start = time.perf_counter()
    output = trainer.train()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    device = next(model.parameters()).device
    eval_ids = encode_classification(tokenizer, data.eval_texts, max_length=settings.max_length)
    predictions = predict(model, eval_ids, pad_id=tokenizer.pad_token_id, batch_size=settings.eval_batch_size, device=device)
    metrics = get_classification_metrics(predictions, data.eval_labels, task.num_labels)
    result = {
        "runner": "transformers.Trainer + peft", "model": args.model, "model_source": source,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "train_examples": len(ids), "steps": output.global_step, "batch_size": settings.batch_size,
        "train_seconds": seconds, "trainer_train_runtime": output.metrics.get("train_runtime"),
        "steps_per_second": output.global_step / seconds, "accuracy": metrics["accuracy"],
        "config": {"r": cfg.r, "alpha": cfg.alpha, "dropout": cfg.dropout, "lr": cfg.lr, "optim": str(training.optim)},
    }
    result = get_portable(result, root=str(Path(__file__).resolve().parents[1]))
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
