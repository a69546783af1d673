"""Usage: python bench/perf_profile.py CASE_ID [CASE_ID ...] [--steps N] [--top K] [--set METHOD.FIELD=VALUE]

Where a scale case's training step spends its time. For each case id of the scale tier
(e.g. ``qlora-wikitext2-scale-llama-1b-gpu-seed0``) it builds the case with the suite's own
``build_run`` (on the GPU that needs the scale tier's token ids, ``python -m fixtures.data.scale``),
times it on one batch of random token ids (cost only), compiles as the
case does, runs warm-up steps, then prints:

- the step time, median of --steps on the host clock with the device synchronized after the
  forward, the backward and the optimizer, and those three phases;
- the compiled graphs and graph breaks dynamo recorded (with the breaks' reasons);
- one profiled step's device kernels, grouped by name, the --top K by total time, with calls
  per step and each group's share of the step.

Compare two cases' lines to see what one method adds to another's step, e.g.
    python bench/perf_profile.py lora-wikitext2-scale-llama-1b-gpu-seed0 qlora-wikitext2-scale-llama-1b-gpu-seed0
``--set qlora.upcast=all`` changes a method's option for this run only. ``--json PATH`` writes
every number printed.
"""

import argparse
import collections
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.matrix import CASES, TIERS  # noqa: E402
from fixtures.models.shapes import SHAPES  # noqa: E402
from fixtures.run.cases import build_run  # noqa: E402
from fixtures.run.options import parse_overrides  # noqa: E402
from fixtures.training.lm_loss import TrainingLoss  # noqa: E402
from fixtures.training.train import make_autocast, make_compiled  # noqa: E402


def get_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cases", nargs="+", help="scale-tier case ids (pytest bench --collect-only -q -m scale lists them)")
    p.add_argument("--steps", type=int, default=10, help="timed steps after the warm-up (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first, compilation included (default 3)")
    p.add_argument("--top", type=int, default=20, help="kernel groups shown (default 20)")
    p.add_argument("--set", action="append", default=[], metavar="METHOD.FIELD=VALUE",
                   help="a method option for this run (repeatable), as pytest's --set")
    p.add_argument("--json", help="write every number printed to this file")
    return p.parse_args(argv)


def find_case(case_id: str):
    """The scale case of that id; an unknown id names the scale cases' pattern."""
    for case in CASES:
        if case.id == case_id:
            if case.model not in SHAPES:
                raise SystemExit(f"{case_id}: not a scale case (its model {case.model!r} is not a shape)")
            return case
    raise SystemExit(f"unknown case id {case_id!r}; list them with: pytest bench --collect-only -q -m scale")


def make_batch(vocab: int, batch: int, length: int, device) -> dict:
    ids = torch.randint(1, vocab, (batch, length), device=device, generator=torch.Generator(device).manual_seed(0))
    return {"input_ids": ids, "labels": ids.clone()}


def build(case, overrides: dict, device) -> tuple:
    """(loss module, model, optimizer, settings) of the case, built by the suite's own
    ``build_run`` (shape, method, fused kernels, checkpointing as the case has them)."""
    run = build_run(case, tier=TIERS[case.tier], device=device,
                    options={"overrides": overrides, "models": {}, "datasets": {}, "data_dir": None})
    params = [p for p in run.model.parameters() if p.requires_grad]
    optimizer = run.method.make_optimizer(params, run.cfg, device=device)
    return TrainingLoss(run.model, loss_chunk=run.settings.loss_chunk), run.model, optimizer, run.settings


def sync(device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def time_steps(fn, optimizer, batch, settings, device, steps: int) -> dict:
    """Milliseconds per step and per phase (forward, backward, optimizer), the device synchronized
    at each phase's end: a phase whose time exceeds its kernels' waits on the host."""
    phases = {"step": [], "forward": [], "backward": [], "optimizer": []}
    for _ in range(steps):
        t0 = sync(device)
        with make_autocast(device, settings.autocast):
            loss = fn(**batch)
        t1 = sync(device)
        loss.backward()
        t2 = sync(device)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t3 = sync(device)
        for name, ms in zip(phases, ((t3 - t0) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)):
            phases[name].append(ms)
    return phases


def get_kernel_groups(prof, device) -> list:
    """Device kernels of one profiled step, summed by name: (name, total ms, calls)."""
    groups = collections.defaultdict(lambda: [0.0, 0])
    for event in prof.events():
        if device.type == "cuda":
            if event.device_type != torch.autograd.DeviceType.CUDA:
                continue
            us = event.device_time_total if hasattr(event, "device_time_total") else event.cuda_time_total
        else:
            if event.cpu_children:  # leaf operators only: their self time adds up
                continue
            us = event.cpu_time_total
        groups[event.name][0] += us / 1e3
        groups[event.name][1] += 1
    return sorted(((name, ms, n) for name, (ms, n) in groups.items()), key=lambda g: -g[1])


def profile_case(case, overrides: dict, args, device) -> dict:
    from torch._dynamo.utils import counters
    from torch.profiler import ProfilerActivity, profile

    loss_fn, model, optimizer, settings = build(case, overrides, device)
    batch = make_batch(model.config.vocab_size, settings.batch_size, settings.max_length, device)
    counters.clear()
    with contextlib.ExitStack() as stack:
        fn = make_compiled(loss_fn, model, compile=settings.compile, scope=settings.compile_scope, stack=stack)
        t0 = time.perf_counter()
        time_steps(fn, optimizer, batch, settings, device, args.warmup)
        warmup_s = time.perf_counter() - t0
        times = time_steps(fn, optimizer, batch, settings, device, args.steps)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            time_steps(fn, optimizer, batch, settings, device, 1)
    breaks = collections.Counter({reason: n for reason, n in counters["graph_break"].items()})
    groups = get_kernel_groups(prof, device)
    total = sum(ms for _, ms, _ in groups)
    out = {
        "case": case.id, "compile": settings.compile, "steps": len(times["step"]),
        **{f"{name}_ms_median": statistics.median(ms) for name, ms in times.items()},
        "warmup_s": warmup_s, "unique_graphs": counters["stats"].get("unique_graphs", 0),
        "graph_breaks": sum(breaks.values()), "graph_break_reasons": dict(breaks.most_common(10)),
        "kernels_per_step": sum(n for _, _, n in groups), "kernel_ms_per_step": total,
        "top": [{"name": name, "ms": ms, "calls": n, "share": ms / total if total else 0.0}
                for name, ms, n in groups[:args.top]],
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
    }
    del loss_fn, model, optimizer
    return out


def print_profile(p: dict) -> None:
    print(f"\n== {p['case']} (compile={p['compile'] or 'eager'})", flush=True)
    print(f"step {p['step_ms_median']:.1f} ms (median of {p['steps']}: forward {p['forward_ms_median']:.1f}, "
          f"backward {p['backward_ms_median']:.1f}, optimizer {p['optimizer_ms_median']:.1f}); warm-up {p['warmup_s']:.0f} s; "
          f"{p['unique_graphs']} compiled graph(s), {p['graph_breaks']} graph break(s); "
          f"{p['kernels_per_step']} kernels, {p['kernel_ms_per_step']:.1f} ms of kernels in one profiled step")
    for reason, n in p["graph_break_reasons"].items():
        print(f"  break x{n}: {reason[:160]}")
    for k in p["top"]:
        print(f"  {k['ms']:8.2f} ms {k['share']:6.1%} x{k['calls']:<5d} {k['name'][:110]}")


def main(argv=None) -> list:
    args = get_args(argv)
    overrides = parse_overrides(args.set)
    results = []
    for case_id in args.cases:
        case = find_case(case_id)
        device = torch.device("cuda" if case.hardware == "gpu" else "cpu")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise SystemExit(f"{case_id}: a GPU case, and this machine has no CUDA")
        torch.manual_seed(case.seed)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        p = profile_case(case, overrides, args, device)
        print_profile(p)
        results.append(p)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
