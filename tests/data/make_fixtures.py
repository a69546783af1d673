"""Regenerate the hand-made report fixtures (synthetic numbers, no dataset content).

Usage: python tests/data/make_fixtures.py   (from the repository root)
"""
import json, random

def machine(node="ci-box", gpu="none"):
    return {"node": node, "processor": "x86_64", "machine": "x86_64", "python_compiler": "GCC 12.2.0",
            "python_implementation": "CPython", "python_implementation_version": "3.11.2", "python_version": "3.11.2",
            "python_build": ["main", "Mar 13 2023"], "release": "6.1.0", "system": "Linux",
            "cpu": {"arch_string_raw": "x86_64", "brand_raw": "Test CPU", "count": 2},
            "gpu": gpu, "gpu_gib": 0.0 if gpu == "none" else 80.0, "gpu_count": 0 if gpu == "none" else 1,
            "nvidia_driver": None if gpu == "none" else "550.54", "cpu_name": "Test CPU @ 2.0GHz", "cpu_count": 2,
            "packages": {"torch": "2.4.0", "transformers": "4.44.0", "peft": "0.12.0", "bitsandbytes": "not installed",
                         "pytest-benchmark": "5.3.1"},
            "git_commit": "c3cfd24aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}

def stats(median):
    return {"min": median * 0.9, "max": median * 1.3, "mean": median * 1.05, "stddev": median * 0.1,
            "rounds": 5, "median": median, "iqr": median * 0.1, "q1": median * 0.95, "q3": median * 1.05,
            "iqr_outliers": 0, "stddev_outliers": 1, "outliers": "1;0", "ld15iqr": median * 0.9,
            "hd15iqr": median * 1.3, "ops": 1 / median, "total": median * 5, "iterations": 1}

def bench(method, dataset, seed, *, rng, hardware="cpu", model=None, status=None, acc=None, ppl=None,
          n_eval=20, params=None, extra=None, median=0.004):
    kind = "lm" if dataset == "wikitext2" else "cls"
    model = model or ("tiny-llama" if kind == "lm" else "tiny-bert")
    case_id = f"{method}-{dataset}-tiny-{hardware}-seed{seed}"
    trainable = params or {"lora": 12288, "hira": 12288, "lora_prune": 12288, "full_ft": 410000, "sparselora": 12288}.get(method, 12288)
    e = {"case_id": case_id, "method": method, "dataset": dataset, "tier": "tiny", "hardware": hardware,
         "device_name": "cpu" if hardware == "cpu" else "cuda:0", "seed": seed, "model": model,
         "train_seconds": 20 + rng.random() * 10 * (3 if method == "full_ft" else 1), "train_steps": 120,
         "step_seconds_p50": 0.1 + rng.random() * 0.05, "step_seconds_p90": 0.2,
         "loss_curve": [[s, 0.7 * (0.985 ** s) + rng.random() * 0.02] for s in range(0, 121, 20)],
         "inference_batch_size": 32,
         "peak_cpu_rss_bytes": int((600 + rng.random() * 50 + (200 if method == "full_ft" else 0)) * 2**20),
         "cpu_rss_start_bytes": 500 * 2**20,
         "peak_gpu_allocated_bytes": None if hardware == "cpu" else int(3e9), "peak_gpu_reserved_bytes": None,
         "peak_gpu_nvml_bytes": None,
         "trainable_params": trainable, "total_params": 410000 + (trainable if method != "full_ft" else 0),
         "trainable_percent": 100 * trainable / (410000 + (trainable if method != "full_ft" else 0)),
         "adapter_bytes": trainable * 4, "weight_sparsity": 0.0,
         "config": {"r": 8, "lr": 0.005}, "settings": {"epochs": 3, "batch_size": 32},
         "protocol": {"source": "generated", "train_split": "train", "eval_split": "validation",
                      "n_train": 640, "n_eval": n_eval, "max_length": 32} if kind == "cls" else
                     {"source": "generated", "train_split": "train", "eval_split": "test", "n_train": 400,
                      "n_eval": 50, "eval_context": 64, "eval_stride": 32}}
    if kind == "cls":
        labels = [i % 2 for i in range(n_eval)]
        n_right = round(acc * n_eval)
        order = list(range(n_eval)); rng.shuffle(order)
        right = set(order[:n_right])
        preds = [l if i in right else 1 - l for i, l in enumerate(labels)]
        e.update(floor_metric="accuracy", floor_value=0.75, accuracy=n_right / n_eval, f1=n_right / n_eval,
                 precision=n_right / n_eval, recall=n_right / n_eval, predictions=preds, labels=labels)
        passed = e["accuracy"] >= 0.75
    else:
        e.update(floor_metric="perplexity_ratio", floor_value=0.5, perplexity=ppl, perplexity_untrained=100.0,
                 perplexity_ratio=ppl / 100, eval_nll_per_token=0.0, eval_tokens_scored=3200, eval_context=64,
                 eval_stride=32)
        passed = ppl / 100 <= 0.5
    e["status"] = status or ("passed" if passed else "failed_floor")
    e["floor_passed"] = passed
    if extra:
        e.update(extra)
    name = f"test_finetune[{case_id}]"
    return {"group": None, "name": name, "fullname": f"bench/test_finetune.py::{name}", "params": {"case": case_id},
            "param": case_id, "extra_info": e, "options": {"disable_gc": False, "timer": "perf_counter",
            "min_rounds": 5, "max_time": 1.0, "min_time": 5e-06, "warmup": False}, "stats": stats(median)}

def doc(benchmarks, node="ci-box", gpu="none", when="2026-11-28T12:00:00.000000+00:00"):
    return {"machine_info": machine(node, gpu), "commit_info": {"id": "c3cfd24aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "time": "2026-11-28T11:00:00+00:00", "author_time": "2026-11-28T11:00:00+00:00", "dirty": False,
            "project": "peft-bench", "branch": "main"}, "benchmarks": benchmarks, "datetime": when, "version": "5.3.1"}

def multi(shift=0.0, slow=1.0):
    rng = random.Random(7)
    b = []
    accs = {"lora": [0.85, 0.9, 0.8], "hira": [0.8, 0.75, 0.85], "lora_prune": [0.7, 0.8, 0.75], "full_ft": [0.95, 0.9, 0.95],
            "sparselora": [0.85, 0.85, 0.8]}
    for m, vals in accs.items():
        for s, a in enumerate(vals):
            ex = None
            if m == "lora_prune":
                ex = {"weight_sparsity": 0.48, "adapter_weight_sparsity": 0.5, "target_sparsity": 0.5}
            if m == "sparselora":
                ex = {"compute_sparsity": 0.31 + 0.01 * s, "channel_sparsity_ffn": 0.4, "channel_sparsity_attn": 0.2,
                      "dense_steps": 12, "compute_sparsity_per_layer": {f"layer{i}.mlp": 0.2 + 0.05 * i for i in range(4)}}
            b.append(bench(m, "sst2", s, rng=rng, acc=max(0.0, a - (shift if m == "hira" else 0)), extra=ex,
                           median=0.004 * (slow if m == "lora" else 1)))
    for m, vals in {"lora": [30.0, 32.0], "hira": [36.0, 41.0]}.items():
        for s, p in enumerate(vals):
            b.append(bench(m, "wikitext2", s, rng=rng, ppl=p))
    gpu = bench("lora", "imdb", 0, rng=rng, hardware="gpu", acc=0.0, status="oom",
                extra={"error": "CUDA out of memory. Tried to allocate 2.00 GiB", "accuracy": None, "f1": None})
    b.append(gpu)
    return b

json.dump(doc(multi()), open("tests/data/run_multi_seed.json", "w"), indent=1)
json.dump(doc(multi(shift=-0.1, slow=0.5), when="2026-11-27T12:00:00.000000+00:00"), open("tests/data/baseline.json", "w"))
rng = random.Random(3)
single = [bench("lora", "sst2", 0, rng=rng, acc=0.9, n_eval=60), bench("hira", "sst2", 0, rng=rng, acc=0.7, n_eval=60),
          bench("full_ft", "sst2", 0, rng=rng, acc=0.55, n_eval=60)]
json.dump(doc(single, node="gpu-box"), open("tests/data/run_single_seed.json", "w"), indent=1)
rng = random.Random(5)
evil = [bench("lora", "sst2<script>alert(1)</script>", 0, rng=rng, acc=0.9, model="<script>alert('m')</script>"),
        bench("hira<b>x</b>", "sst2<script>alert(1)</script>", 0, rng=rng, acc=0.8, model="<script>alert('m')</script>")]
json.dump(doc(evil, node="<script>alert('node')</script>"), open("tests/data/run_evil_names.json", "w"), indent=1)
