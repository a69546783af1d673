"""Usage: python bench/perf_sparselora.py --model PATH | --shape NAME | --tiny [options]

Times the same LoRA training step loop for ``lora`` and ``sparselora`` on the same
batches and prints: step ms per method and the speed-up; a time split of one
profiled sparselora step (estimator, weight gathers, sliced GEMMs, scatters,
attention, LM head); a sweep over sparsity configs; and, with --text, perplexity
before and after --ppl-steps training steps on that text.

PATH is a Hugging Face model directory (Llama family, BERT/MiniLM, DistilBERT) or a
GGUF file (e.g. SmolLM2-135M, loaded with transformers' ``gguf_file=``; needs the
``gguf`` package). On CUDA the model runs in bf16 and steps are timed with CUDA
events after --warmup untimed steps.

--shape NAME builds a random-init Llama of a real size (``fixtures/models/shapes.py``: llama-1b,
llama-3b, llama-8b, tiny-shape) directly on the device in bf16: cost only. The paper's speed
protocol: ``--shape llama-8b --preset math --context-length 384 --compile reduce-overhead`` with its
defaults batch 8 x 512, the last 128 positions dense, 20 warm-up + 50 timed steps per run,
LoRA q/k/v/o r 32 for both methods; ``--runs 5`` drops the best and worst run.
``--fixed-selection`` also times SparseLoRA with its estimator off (the channel sets it chose
for the first batch, reused): the difference is the estimator's cost in the compiled step,
which the profiler's split (an eager pass) cannot show. ``--gradients exact,reference`` also times
SparseLoRA with ``gradient=reference`` (the reference code's inexact backward, docs/sparselora.md)
after the exact one, on the same batches. ``--json PATH`` writes every number printed.

Examples:
    python bench/perf_sparselora.py --shape llama-8b --preset math --context-length 384 --compile reduce-overhead --runs 3
    python bench/perf_sparselora.py --model /models/SmolLM2-135M-Instruct-Q8_0.gguf
    python bench/perf_sparselora.py --model /models/all-MiniLM-L6-v2 --batch-size 32 --seq-len 256
    python bench/perf_sparselora.py --tiny      # a tiny Llama built in code, seconds on a CPU
"""

import argparse
import contextlib
import copy
import json
import math
import re
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures.run.measure import release  # noqa: E402
from fixtures.training.train import make_compiled  # noqa: E402
from methods import get_method  # noqa: E402

lora, sparselora = get_method("lora"), get_method("sparselora")  # the modules plus the default hooks
from methods import _sparselora_layers as sparse_layers  # noqa: E402

PARTS = ("estimator", "gather", "gemm", "scatter")


def get_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="HF model dir or .gguf file (Llama family, BERT/MiniLM, DistilBERT)")
    p.add_argument("--shape", help="a random-init Llama shape of fixtures/models/shapes.py (cost only), e.g. llama-8b")
    p.add_argument("--tiny", action="store_true", help="a tiny Llama from config (CPU smoke run)")
    p.add_argument("--preset", default="", help="a sparselora preset (math, csr, llama3-8b-math, ...): replaces the sparsities")
    p.add_argument("--context-length", type=int, default=0,
                   help="positions < this run sparse, the rest dense (context-aware split; 0 = all sparse)")
    p.add_argument("--compile", default="", choices=("", "default", "reduce-overhead"), help="torch.compile both methods")
    p.add_argument("--compile-scope", default="layers", choices=("layers", "model"),
                   help="compile each decoder layer (one graph per distinct layer; minutes less at 8B) or the whole model")
    p.add_argument("--runs", type=int, default=1, help="timed runs per method; with >= 3 the best and worst are dropped")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--batch-size", type=int, help="default 16 (causal LM) / 32 (classification); 4 with --tiny")
    p.add_argument("--seq-len", type=int, help="default 512 (causal LM) / 128 (classification); 64 with --tiny")
    p.add_argument("--steps", type=int, default=20, help="timed steps per method")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per method first")
    p.add_argument("--batches", type=int, default=8, help="distinct batches cycled through")
    p.add_argument("--r", type=int, default=16, help="LoRA rank")
    p.add_argument("--targets", default="all-linear", help="LoRA target modules, comma-separated")
    p.add_argument("--ffn-sparsity", type=float, default=0.9)
    p.add_argument("--attn-sparsity", type=float, default=0.5)
    p.add_argument("--dense-first", type=int, default=1)
    p.add_argument("--dense-last", type=int, default=1)
    p.add_argument("--svd-rank", type=int, default=8)
    p.add_argument("--gradients", default="exact",
                   help="sparselora.gradient modes to time, comma-separated (exact, reference); the first is profiled and swept")
    p.add_argument("--fixed-selection", action="store_true",
                   help="also time SparseLoRA with its estimator off (the channel sets it chose for the first "
                        "batch, kept): the difference is the estimator's cost in the compiled step")
    p.add_argument("--sweep", default="0.5:0.25,0.9:0.5,0.95:0.75,0.99:0.75",
                   help="FFN:ATTN sparsity pairs to time ('' to skip)")
    p.add_argument("--text", help="a text file: real batches from it, and perplexity before/after training")
    p.add_argument("--ppl-steps", type=int, default=100, help="training steps between the perplexity readings")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--dtype", choices=("auto", "bf16", "fp32"), default="auto", help="auto: bf16 on CUDA, fp32 on CPU")
    args = p.parse_args(argv)
    if not (args.tiny or args.model or args.shape):
        p.error("give --model PATH, --shape NAME or --tiny")
    return args


def load_model(args, device, dtype):
    """(model, tokenizer or None, task_type) for --tiny, --shape or --model."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    if args.shape:
        from fixtures.models.shapes import make_shape_model

        return make_shape_model(args.shape, device=device, dtype=dtype), None, "CAUSAL_LM"
    if args.tiny:
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=512, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                             num_key_value_heads=2, intermediate_size=256)
        return LlamaForCausalLM(config).to(device, dtype), None, "CAUSAL_LM"
    path = Path(args.model)
    where = dict(gguf_file=path.name) if path.suffix == ".gguf" else {}
    root = path.parent if where else path
    config = AutoConfig.from_pretrained(root, **where)
    causal = config.model_type not in ("bert", "distilbert")
    cls = AutoModelForCausalLM if causal else AutoModelForSequenceClassification
    extra = {} if causal else {"num_labels": 2}
    model = cls.from_pretrained(root, dtype=dtype, **where, **extra).to(device)
    tokenizer = AutoTokenizer.from_pretrained(root, **where) if args.text else None
    return model, tokenizer, "CAUSAL_LM" if causal else "SEQ_CLS"


def make_batches(args, model, tokenizer, task_type, device) -> tuple[list, list]:
    """(train batches, held-out batches): blocks of --text, else random token ids."""
    g = torch.Generator().manual_seed(0)
    bs, seq = args.batch_size, args.seq_len
    if args.text:
        ids = tokenizer(Path(args.text).read_text(), return_tensors="pt")["input_ids"][0]
        blocks = ids[: len(ids) // seq * seq].view(-1, seq)
        held = max(bs, len(blocks) // 10)
        train_blocks, eval_blocks = blocks[:-held], blocks[-held:]
    else:
        n = bs * args.batches
        train_blocks = torch.randint(0, model.config.vocab_size, (n, seq), generator=g)
        eval_blocks = torch.randint(0, model.config.vocab_size, (bs, seq), generator=g)

    def to_batches(blocks):
        out = []
        for i in range(0, len(blocks) - bs + 1, bs):
            ids = blocks[i : i + bs].to(device)
            labels = ids if task_type == "CAUSAL_LM" else torch.randint(0, 2, (bs,), generator=g).to(device)
            out.append({"input_ids": ids, "labels": labels})
        return out

    return to_batches(train_blocks), to_batches(eval_blocks)


def make_run(base, method, cfg, task_type, device):
    """(model, optimizer) with the method applied to ``base`` (a callable: a fresh model) or a copy of it."""
    fresh = not isinstance(base, torch.nn.Module)
    model = method.apply(base() if fresh else copy.deepcopy(base), cfg, task_type=task_type)
    params = [p for p in model.parameters() if p.requires_grad]
    return model, method.make_optimizer(params, cfg, device=device)


def run_steps(model, optimizer, method, cfg, batches, *, steps: int, start: int, device, fn=None,
              context: int = 0, graphs: bool = False) -> list[float]:
    """``steps`` training steps through ``fn`` (the model, or its compiled form); per-step
    milliseconds (CUDA events, or the host clock on CPU)."""
    cuda = device.type == "cuda"
    fn = model if fn is None else fn
    times = []
    model.train()
    for i in range(steps):
        batch = batches[(start + i) % len(batches)]
        if method.set_context is not None:
            method.set_context(model, cfg, context or None)
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
        t0 = time.perf_counter()
        fn(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        method.after_step(model, cfg, step=start + i + 1, total_steps=10**9)
        if cuda:
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end))
        else:
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def get_median(values: list) -> float:
    return sorted(values)[len(values) // 2]


def time_method(base, method, cfg, task_type, batches, args, device, record: dict | None = None) -> tuple:
    """(step ms, model, optimizer): per run, --warmup untimed then --steps timed steps, the run's
    median; over --runs runs the mean, best and worst dropped when there are >= 3. The model
    comes back eager (layers compiled in place are restored)."""
    t0 = time.perf_counter()
    model, optimizer = make_run(base, method, cfg, task_type, device)
    setup_s = time.perf_counter() - t0  # the model, the adapters and (SparseLoRA) the SVD proxies
    print(f"  {cfg.__module__.split('.')[-1]}: set up in {setup_s:.1f} s", flush=True)
    with contextlib.ExitStack() as stack:
        ms = time_compiled(model, optimizer, method, cfg, batches, args, device, stack, record)
    if record is not None:
        record["setup_s"] = setup_s
    print(f"  {cfg.__module__.split('.')[-1]}: {ms:.2f} ms/step", flush=True)
    return ms, model, optimizer


def time_compiled(model, optimizer, method, cfg, batches, args, device, stack, record) -> float:
    """time_method's runs, compiled as --compile says (in-place layer compiles restored by ``stack``)."""
    fn = make_compiled(model, model, compile=args.compile, scope=args.compile_scope, stack=stack)
    graphs = args.compile == "reduce-overhead"
    context = getattr(args, "context_length", 0)
    kw = dict(device=device, fn=fn, context=context, graphs=graphs)
    t0 = time.perf_counter()
    first = run_steps(model, optimizer, method, cfg, batches, steps=1, start=0, **kw)
    if device.type == "cuda":
        torch.cuda.synchronize()
    compile_s = time.perf_counter() - t0
    runs = []
    for r in range(max(1, args.runs)):
        run_steps(model, optimizer, method, cfg, batches, steps=args.warmup, start=1, **kw)
        runs.append(get_median(run_steps(model, optimizer, method, cfg, batches, steps=args.steps,
                                         start=1 + args.warmup, **kw)))
    kept = sorted(runs)[1:-1] if len(runs) >= 3 else runs
    ms = sum(kept) / len(kept)
    if record is not None:
        record.update(step_ms=ms, runs_ms=runs, first_step_s=compile_s, first_step_ms_timed=first[0],
                      peak_gib=torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None)
    return ms


def get_time_us(event, cuda: bool) -> float:
    if cuda:
        return getattr(event, "device_time_total", None) or getattr(event, "cuda_time_total", 0.0)
    return event.cpu_time_total


def get_self_us(event, cuda: bool) -> float:
    if cuda:
        return getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0.0)
    return event.self_cpu_time_total


def profile_split(model, optimizer, cfg, batches, device, steps: int = 3, context: int = 0) -> dict:
    """Milliseconds per step of SparseLoRA's parts, attention, LM head and all GEMMs (torch.profiler,
    an eager pass: the record_function ranges live outside compiled graphs)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile, record_function

    cuda = device.type == "cuda"
    state = sparselora.get_state(model)
    state.profile = True
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    ranges, handles = [], []
    if head is not None:
        handles.append(head.register_forward_pre_hook(lambda m, a: ranges.append(record_function("sparselora.lm_head").__enter__())))
        handles.append(head.register_forward_hook(lambda m, a, o: ranges.pop().__exit__(None, None, None)))
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        total = sum(run_steps(model, optimizer, sparselora, cfg, batches, steps=steps, start=10**6, device=device,
                              context=context))
    state.profile = False
    for h in handles:
        h.remove()
    split = {name: 0.0 for name in (*PARTS, "lm_head", "attention", "all_gemms_fwd_bwd")}
    # host-side events only: on CUDA their device times are the kernels they (and their children) launched
    for event in prof.events():
        if event.device_type != DeviceType.CPU:
            continue
        name = event.name
        if name.startswith("sparselora."):
            split[name.split(".", 1)[1]] += get_time_us(event, cuda)
        elif re.search(r"scaled_dot_product|flash_attention|efficient_attention|cudnn_attention", name):
            split["attention"] += get_self_us(event, cuda)
        elif name in ("aten::mm", "aten::addmm", "aten::bmm"):
            split["all_gemms_fwd_bwd"] += get_self_us(event, cuda)
    out = {k: v / 1e3 / steps for k, v in split.items()}
    out["step_profiled"] = total / steps
    # device time of the whole step: every kernel (self times of device events)
    out["device_total"] = sum(e.self_device_time_total for e in prof.key_averages()
                              if cuda and getattr(e, "self_device_time_total", 0)) / 1e3 / steps if cuda else total / steps
    out["estimator_share"] = out["estimator"] / out["device_total"] if out["device_total"] else 0.0
    return out


@contextlib.contextmanager
def fixed_selection(model, cfg, batch, context: int = 0):
    """SparseLoRA with its estimator off: one eager training forward records the channel sets the
    estimator chooses for ``batch`` (on each block, as ``block.fixed``); inside, every forward
    reuses them. The same kept widths, gathers and GEMMs, no SVD proxies, scores or top-k."""
    real = sparse_layers.select

    def record(block, xs, state):
        chosen = real(block, xs, state)
        block.fixed = {role: idx.clone() for role, idx in chosen.items()}
        return chosen

    sparse_layers.select = record
    try:
        model.train()
        sparselora.set_context(model, cfg, context or None)
        model(**batch).loss.detach()
        sparse_layers.select = lambda block, xs, state: block.fixed
        yield
    finally:
        sparse_layers.select = real
        for block in sparselora.get_state(model).blocks:
            block.__dict__.pop("fixed", None)


def time_fixed_selection(model, optimizer, cfg, batches, args, device, sparse_ms: float) -> dict:
    """SparseLoRA's step with the estimator off, timed as time_method times (compiled the same way)."""
    if device.type == "cuda":
        torch._dynamo.reset()
    record = {}
    with fixed_selection(model, cfg, batches[0], getattr(args, "context_length", 0)), contextlib.ExitStack() as stack:
        ms = time_compiled(model, optimizer, sparselora, cfg, batches, args, device, stack, record)
    record["estimator_ms"] = sparse_ms - ms
    record["estimator_share"] = (sparse_ms - ms) / sparse_ms
    print(f"  sparselora, estimator off (fixed channel sets): {ms:.2f} ms/step; the estimator's cost in this "
          f"step: {sparse_ms - ms:.2f} ms, {100 * record['estimator_share']:.1f}% of {sparse_ms:.2f}", flush=True)
    return record


@torch.no_grad()
def get_perplexity(model, batches) -> float:
    model.eval()
    losses = [model(**b).loss.float().item() for b in batches]
    model.train()
    return math.exp(sum(losses) / len(losses))


def free(device) -> None:
    """Drop the compiled graphs of the method timed before, then give its memory back and reset the peak."""
    if device.type == "cuda":
        torch._dynamo.reset()
    release(device)


def main(argv=None) -> None:
    args = get_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}.get(args.dtype, torch.bfloat16 if device.type == "cuda" else torch.float32)
    if args.shape:  # the paper's protocol and LoRA unless told otherwise; a fresh model per method
        from types import SimpleNamespace

        from fixtures.models.shapes import get_shape_config, make_shape_model

        def base():
            model = make_shape_model(args.shape, device=device, dtype=dtype)
            model.requires_grad_(False)
            return model

        tokenizer, task_type, config = None, "CAUSAL_LM", get_shape_config(args.shape)
        shell = SimpleNamespace(config=config)
        args.batch_size, args.seq_len = args.batch_size or 8, args.seq_len or 512
        if args.targets == "all-linear" and args.r == 16:
            args.targets, args.r = ",".join(sparselora.PAPER_LORA["target_modules"]), sparselora.PAPER_LORA["r"]
    else:
        base, tokenizer, task_type = load_model(args, device, dtype)
        base.requires_grad_(False)
        shell, config = base, base.config
    causal = task_type == "CAUSAL_LM"
    args.batch_size = args.batch_size or (4 if args.tiny else 16 if causal else 32)
    args.seq_len = args.seq_len or (64 if args.tiny else 512 if causal else 128)
    batches, held_out = make_batches(args, shell, tokenizer, task_type, device)
    targets = tuple(t for t in args.targets.split(",") if t)
    common = dict(r=args.r, alpha=2 * args.r, dropout=0.0, target_modules=targets, lr=args.lr)
    lora_cfg = lora.Config(**common)

    gradients = [g for g in args.gradients.split(",") if g]

    def sparse_cfg(ffn: float, attn: float, preset: str = "", gradient: str = gradients[0]):
        return sparselora.Config(
            **common, ffn_sparsity=ffn, attn_sparsity=attn, dense_first=args.dense_first,
            dense_last=args.dense_last, svd_rank=args.svd_rank, dense_warmup=0.0, preset=preset,
            context_aware=args.context_length > 0, gradient=gradient,
        )

    for gradient in gradients:  # a bad mode is a usage error before any timing
        try:
            sparse_cfg(args.ffn_sparsity, args.attn_sparsity, args.preset, gradient)
        except ValueError as error:
            sys.exit(f"--gradients: {error}")

    name = args.model or args.shape or "tiny llama"
    print(f"# {name} ({config.model_type}, {config.num_hidden_layers} layers) "
          f"on {device} {dtype}; batch {args.batch_size} x seq {args.seq_len}"
          f"{f' (positions >= {args.context_length} dense)' if args.context_length else ''}; LoRA r={args.r} on "
          f"{args.targets}; compile={args.compile or 'off'}; {args.runs} run(s) of {args.warmup} warm-up + "
          f"{args.steps} timed steps; {'text' if args.text else 'random'} batches", flush=True)
    result = {"model": name, "cost_only": bool(args.shape), "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "dtype": str(dtype), "batch": args.batch_size, "seq": args.seq_len, "context_length": args.context_length,
              "compile": args.compile, "compile_scope": args.compile_scope if args.compile else "", "preset": args.preset, "lora": {"r": args.r, "targets": targets},
              "protocol": {"warmup": args.warmup, "steps": args.steps, "runs": args.runs}}
    lora_rec, sparse_rec = {}, {}
    lora_ms, m, o = time_method(base, lora, lora_cfg, task_type, batches, args, device, record=lora_rec)
    del m, o
    free(device)
    cfg = sparse_cfg(args.ffn_sparsity, args.attn_sparsity, args.preset)
    sparse_ms, model, optimizer = time_method(base, sparselora, cfg, task_type, batches, args, device, record=sparse_rec)
    stats = sparselora.stats(model, cfg)
    print(f"\n{'method':<12}{'step ms':>10}{'speed-up':>10}{'compute sparsity':>18}{'first step s':>14}")
    print(f"{'lora':<12}{lora_ms:>10.2f}{1.0:>9.2f}x{0.0:>18.3f}{lora_rec['first_step_s']:>14.1f}")
    print(f"{'sparselora':<12}{sparse_ms:>10.2f}{lora_ms / sparse_ms:>9.2f}x{stats['compute_sparsity']:>18.3f}"
          f"{sparse_rec['first_step_s']:>14.1f}")

    split = profile_split(model, optimizer, cfg, batches, device, steps=min(3, args.steps), context=args.context_length)
    print(f"\n# sparselora time split (ms/step, torch.profiler, eager; profiled step {split['step_profiled']:.2f} ms, "
          f"device time {split['device_total']:.2f} ms; estimator {100 * split['estimator_share']:.1f}% of it)")
    notes = {
        "estimator": "SVD proxies + scores + top-k (no_grad)",
        "gather": "weight slices W[idx] / W[:, idx], activation gathers (forward)",
        "gemm": "sliced base GEMMs (forward; input-grad GEMMs shrink alike)",
        "scatter": "narrow q/k/v outputs back to full width (forward)",
        "attention": "SDPA kernels, forward + backward",
        "lm_head": "output projection (forward)",
        "all_gemms_fwd_bwd": "every mm/addmm/bmm, forward + backward",
    }
    for part, note in notes.items():
        print(f"  {part:<20}{split[part]:>9.2f}   {note}")
    if args.fixed_selection:
        print()
        result["fixed_selection"] = time_fixed_selection(model, optimizer, cfg, batches, args, device, sparse_ms)
    result["gradient"] = gradients[0]
    for gradient in gradients[1:]:
        del model, optimizer
        free(device)
        record = {}
        ms, model, optimizer = time_method(base, sparselora, sparse_cfg(args.ffn_sparsity, args.attn_sparsity, args.preset, gradient),
                                           task_type, batches, args, device, record=record)
        result.setdefault("other_gradients", {})[gradient] = dict(step=record, speedup=lora_ms / ms)
        print(f"{f'sparselora ({gradient} gradient)':<12}{ms:>10.2f}{lora_ms / ms:>9.2f}x{record['first_step_s']:>14.1f}", flush=True)
    result.update(lora_step=lora_rec, sparselora_step=sparse_rec, speedup=lora_ms / sparse_ms, split_eager_ms=split,
                  stats={k: v for k, v in stats.items() if not isinstance(v, dict)},
                  schedule=dict(zip(("ffn", "attn"), sparselora.get_schedule(cfg, config.num_hidden_layers))))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))

    if args.sweep:
        print(f"\n# sweep (dense first {args.dense_first}, last {args.dense_last})")
        print(f"{'ffn:attn':<12}{'step ms':>10}{'speed-up':>10}{'compute sparsity':>18}{'estimator GFLOP':>17}")
        for pair in args.sweep.split(","):
            ffn, attn = (float(v) for v in pair.split(":"))
            c = sparse_cfg(ffn, attn)
            ms, m, _ = time_method(base, sparselora, c, task_type, batches, args, device)
            s = sparselora.stats(m, c)
            print(f"{pair:<12}{ms:>10.2f}{lora_ms / ms:>9.2f}x{s['compute_sparsity']:>18.3f}{s['estimator_flops'] / 1e9:>17.3f}")
            del m

    if args.text and causal:
        print(f"\n# perplexity on held-out blocks of {args.text}, before / after {args.ppl_steps} steps")
        for name, method, c in (("lora", lora, lora_cfg), ("sparselora", sparselora, cfg)):
            m, opt = make_run(base, method, c, task_type, device)
            before = get_perplexity(m, held_out)
            run_steps(m, opt, method, c, batches, steps=args.ppl_steps, start=0, device=device)
            print(f"  {name:<12}{before:>10.3f} -> {get_perplexity(m, held_out):.3f}")
            del m, opt
    print(f"\nRESULT speed-up {lora_ms / sparse_ms:.3f}x compute_sparsity {stats['compute_sparsity']:.3f}")


if __name__ == "__main__":
    main()
