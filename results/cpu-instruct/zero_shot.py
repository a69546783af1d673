"""SmolLM2-135M zero-shot on sst2_instruct, 200 validation sentences, CPU: the source of the
provisional real-tier instruct floors (bench/matrix.py). Usage: PYTHONPATH=. python results/cpu-instruct/zero_shot.py"""

import torch
from bench.matrix import CASES, TIERS
from fixtures.run.cases import build_run
case = next(c for c in CASES if c.id == "lora-sst2_instruct-real-cpu-seed0")
opts = {"models": {}, "overrides": {"train": {"limit_eval": 200}}, "datasets": {}, "data_dir": "/work/shared/data", "seeds": [0]}
run = build_run(case, tier=TIERS["real"], options=opts, device=torch.device("cpu"))
q = run.workload.evaluate(run.model, device=torch.device("cpu"))
print("zero-shot accuracy", q["accuracy"], "f1", q["f1"], "majority", q["majority_accuracy"], "n", len(q["labels"]))
