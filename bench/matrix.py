"""The benchmark matrix, declared once as data: tiers, cases and their quality floors.

A case id reads ``method-dataset-tier-hardware-seedN``. A case states only how
it differs from the tier's defaults (``TrainSettings`` and the method's
``Config``); never change what an existing id means — add a new one.
"""

import dataclasses
from dataclasses import dataclass, field

import pytest

from bench.method_options import (EAGER_SETTINGS, LORA_VARIANTS, SCALE_CPU_PEFT_OPTIONS, SCALE_PEFT_EXTRA,
                                   SCALE_PEFT_LR, TINY_PEFT_OPTIONS, TINY_TUNED_LR)
from methods import METHODS


@dataclass(frozen=True)
class Tier:
    """A size of experiment.

    Args:
        marker: the pytest marker that selects it.
        models: default model per task kind ("classification", "lm").
        settings: TrainSettings differences per dataset.
        options: method Config differences per method (applied to every dataset).
        data: "synthetic" (generated, ``fixtures.data.synthetic``), "real" (``fixtures.data.datasets``:
            --data-dir / $PEFT_BENCH_DATA / ../shared/data, then the hub) or "tokens" (token
            blocks for random-init shapes, ``fixtures.data.scale``).
    """

    marker: str
    models: dict
    settings: dict
    options: dict = field(default_factory=dict)
    data: str = "synthetic"


# The real tier's settings and learning rates, shared with the CI tier.
REAL_SETTINGS = {
    "sst2": {"epochs": 1, "max_length": 64, "batch_size": 32, "log_every": 100},
    "imdb": {"epochs": 1, "max_length": 256, "batch_size": 32, "log_every": 100},
    "wikitext2": {
        "max_length": 512, "lm_stride": 256, "batch_size": 8, "max_steps": 150,
        "eval_batch_size": 16, "train_split": "validation", "log_every": 25,
    },
}
# sst2_instruct / imdb_instruct: a causal LM answers " negative" / " positive" after the review
# (fixtures.data.tasks.SENTIMENT_TEMPLATE): the classification tasks' budget (1 epoch, batch 32),
# lengths raised by the prompt's tokens (SmolLM2: SST-2 sentences are at most ~60 tokens).
REAL_SETTINGS["sst2_instruct"] = {"epochs": 1, "max_length": 80, "batch_size": 32, "log_every": 100}
REAL_SETTINGS["imdb_instruct"] = {"epochs": 1, "max_length": 272, "batch_size": 32, "log_every": 100}
REAL_MODELS = {"classification": "minilm-l6", "lm": "smollm2-135m", "instruct": "smollm2-135m"}
REAL_OPTIONS = {
    "lora": {"lr": 1e-3},
    "qlora": {"lr": 1e-3},
    "lora_prune": {"lr": 1e-3},
    "sparselora": {"lr": 1e-3},
}

# The fast loop on the GPU (issue #6): the same data and quality floors as the real tier,
# with the speed options on. SST-2 is the real tier's full-epoch run with every batch padded
# to the full 64 tokens: one shape, so one compilation and one CUDA graph (MiniLM at this
# size is bound by kernel launches, not by the padded FLOPs). WikiText-2 is the throughput
# case: SmolLM2 at 16 x 512 tokens in pure bf16, compiled, the loss in chunks of 2,048
# tokens; LoRA-family methods on every linear layer at rank 16 (PERF_LM_OPTIONS).
PERF_SETTINGS = {
    "sst2": {**REAL_SETTINGS["sst2"], "compile": "reduce-overhead", "pad_multiple": 64, "log_every": 500},
    "wikitext2": {
        **REAL_SETTINGS["wikitext2"], "batch_size": 16, "max_steps": 100, "dtype": "bf16",
        "trainable_dtype": "bf16", "compile": "reduce-overhead", "loss_chunk": 2048, "limit_eval": 1000,
    },
}
# sst2_instruct: the real tier's epoch, prompts padded to multiples of 16 (few shapes), bf16
# autocast over fp32 weights; eager (the context-aware SparseLoRA split varies per batch).
PERF_SETTINGS["sst2_instruct"] = {**REAL_SETTINGS["sst2_instruct"], "pad_multiple": 16, "autocast": "bf16",
                                  "log_every": 500}
PERF_LM_OPTIONS = {"target_modules": ("all-linear",), "r": 16, "dropout": 0.0}
PERF_MIXED = {"trainable_dtype": "fp32", "autocast": "bf16"}


def get_lm_options(method: str) -> dict:
    """A method's options on the perf and scale LMs: every linear layer; the LoRA family (and its
    variants) also at rank 16 without dropout; HiRA without dropout at its own rank; the other
    peft methods at their own sizes."""
    if method == "full_ft":
        return {}
    if method in ("lora", "qlora", "lora_prune", "sparselora", *LORA_VARIANTS):
        return dict(PERF_LM_OPTIONS)
    return {"target_modules": ("all-linear",), **({"dropout": 0.0} if method == "hira" else {})}

# The scale tier (issue #13): what every method costs at Llama-3 sizes, random-init shapes
# (fixtures.models.shapes) on real WikiText-2 token blocks (fixtures.data.scale). The perf tier's fast loop:
# pure bf16, compiled, the loss in chunks of 2,048 tokens, but without CUDA graphs: at these
# sizes a step is bound by its GEMMs, not by kernel launches, and on the H200 a CUDA-graph tree
# left by a case that ran out of memory broke the next compiled case (results/h200-scale); each decoder layer compiled on its
# own (compile_scope=layers: one compilation serves every layer, where compiling the whole
# model took minutes cold at 135M, docs/speed.md). 40 steps: 4 warm-up, 36 timed; the loss
# read every 8 steps, so the first and last fifths are readings of their own (the floor).
SCALE_SETTINGS = {
    "wikitext2": {
        "max_length": 512, "lm_stride": 512, "batch_size": 8, "max_steps": 40, "log_every": 8,
        "eval_batch_size": 8, "inference_rounds": 5, "dtype": "bf16", "trainable_dtype": "bf16",
        "compile": "default", "compile_scope": "layers", "loss_chunk": 2048,
    },
}
# Shapes on the GPU -> (batch size, GPU GiB a case needs); 8 x 512 tokens by default. 8B asks for
# an 80 GB card, which reports 79.2-79.6 GiB (H100 and A100 80GB; 80 skipped them all). The PEFT
# methods' 8B step peaks measured 31-78.5 GiB on the H200 (results/h200-methods/scale8b-2026-12-04,
# results/h200-scale: QLoRA lowest, LoHa highest); one that outgrows a card ends `oom`, recorded.
SCALE_SHAPES = {"llama-1b": (8, 24), "llama-3b": (8, 40), "llama-8b": (8, 78)}
# Full fine-tuning's fp32 master weights, gradients and AdamW state: 126 GiB peak at 8B (results/h200-scale, run2).
SCALE_FULL_FT_GIB = {"llama-8b": 130}
# The CI shape runs the same path on a 2-core CPU in seconds: eager fp32, 2 x 32 tokens,
# 10 steps (loss read every 2), higher learning rates.
SCALE_CPU_SETTINGS = {
    "max_length": 32, "lm_stride": 32, "batch_size": 2, "max_steps": 10, "log_every": 2, "eval_batch_size": 2,
    "inference_rounds": 2, "dtype": "fp32", "trainable_dtype": "fp32", "compile": "", "loss_chunk": 0,
}
# The LoRA family on every linear layer at rank 16 (as the perf tier); HiRA keeps its own rank.
# QLoRA quantizes in place (no save/re-load of an 8B model) and upcasts nothing under bf16
# compute (methods.qlora.Config.upcast). Full fine-tuning's random init learns at 3e-4.
SCALE_OPTIONS = {
    "full_ft": {"lr": 3e-4},
    **{m: {**PERF_LM_OPTIONS, "lr": 1e-3} for m in ("lora", "lora_prune", "sparselora")},
    # HiRA's update is the Hadamard product with the base weights (random: std 0.02): a
    # ~15x higher rate than LoRA's moved the CI shape's loss as much (0.72% at 0.3 vs 0.93%).
    "hira": {"target_modules": ("all-linear",), "dropout": 0.0, "lr": 1.5e-2},
    "qlora": {**PERF_LM_OPTIONS, "lr": 1e-3, "build": "in_place", "upcast": "needed"},
    **{m: {**get_lm_options(m), "lr": lr, **SCALE_PEFT_EXTRA.get(m, {})} for m, lr in SCALE_PEFT_LR.items()},
}
SCALE_CPU_OPTIONS = {m: {"lr": 2e-2} for m in ("lora", "qlora", "lora_prune")}
SCALE_CPU_OPTIONS.update(full_ft={"lr": 1e-3}, hira={"lr": 0.3}, sparselora={
    "lr": 2e-2, "dense_first": 0, "dense_last": 0, "ffn_sparsity": 0.5, "attn_sparsity": 0.25})
SCALE_CPU_OPTIONS.update(SCALE_CPU_PEFT_OPTIONS)
# Per-method settings differences on the GPU. Full fine-tuning trains fp32 master weights under
# bf16 autocast (pure bf16 updates of full weights are lost to rounding). QLoRA compiles layer by
# layer like the others, with either backend (bitsandbytes >= 0.46 registers its 4-bit ops with
# torch.library; torchao's NF4 tensor is a traceable subclass): the 10-minute cold compilation at
# 135M (docs/speed.md) was the whole model under CUDA graphs. SparseLoRA compiles layer by layer
# too: dynamo guards on each layer's sparsity by value, so layers of one schedule share a graph
# (three graphs for 8 layers of the math preset). The table methods peft does not test compiled
# run eagerly (EAGER_SETTINGS, bench/method_options.py).
SCALE_METHOD_SETTINGS = {"full_ft": PERF_MIXED, **EAGER_SETTINGS}
# Second cases at 8B (the id's variant): the LoRA family with gradient checkpointing; LoRA
# with liger-kernel's fused kernels (its fused linear cross-entropy replaces the chunked loss).
# Checkpointing recomputes each compiled layer in the backward pass: without CUDA graphs
# (compile "default"), whose replays would overwrite the outputs the recomputation needs. The
# method's own settings win (QLoRA stays eager).
# QLoRA's torchao backend (variant "torchao") runs at every shape, with checkpointing at 8B
# ("torchao-gc"); the cases without a variant are bitsandbytes'. Variant "adamw": QLoRA with
# torch's fused AdamW in place of the backend's 8-bit one (methods.qlora.Config.optimizer), at
# every shape for both backends, with checkpointing at 8B.
GC = {"grad_checkpointing": True, "compile": "default"}
SCALE_VARIANTS = {
    "gc": (GC, ("lora", "hira", "qlora", "lora_prune", "sparselora")),
    "torchao-gc": (GC, ("qlora",)),
    "adamw-gc": (GC, ("qlora",)),
    "torchao-adamw-gc": (GC, ("qlora",)),
    "liger": ({"fused_kernels": "liger", "loss_chunk": 0}, ("lora",)),
    "liger-gc": ({"fused_kernels": "liger", "loss_chunk": 0, "grad_checkpointing": True, "compile": "default"},
                 ("lora",)),
}
# Variant words -> method options: QLoRA's second 4-bit backend, and its optimizer.
SCALE_VARIANT_OPTIONS = {"torchao": {"backend": "torchao"}, "adamw": {"optimizer": "adamw"}}
# QLoRA's variants of every shape (the 8B checkpointing ones are in SCALE_VARIANTS).
QLORA_SCALE_VARIANTS = ("torchao", "adamw", "torchao-adamw")


def get_variant_options(variant: str) -> dict:
    """The method options a scale variant's words set (``SCALE_VARIANT_OPTIONS``)."""
    return {k: v for word in variant.split("-") for k, v in SCALE_VARIANT_OPTIONS.get(word, {}).items()}
# The tiny tier's instruct cases: the classification cases' data, a causal LM head.
TINY_INSTRUCT_SETTINGS = {
    "sst2_instruct": {"epochs": 3, "max_length": 32, "log_every": 20},
    "imdb_instruct": {"epochs": 5, "max_length": 96, "batch_size": 16, "log_every": 25},
}

TIERS = {
    # Tiny models (pretrained here in seconds, see fixtures.models.pretrain) on generated data:
    # the wiring proof on a laptop CPU in minutes. Higher learning rates than on real models.
    "tiny": Tier(
        marker="smoke",
        models={"classification": "tiny-llama", "lm": "tiny-llama", "instruct": "tiny-llama"},
        settings={
            "sst2": {"epochs": 3, "max_length": 32, "log_every": 20},
            "imdb": {"epochs": 5, "max_length": 96, "batch_size": 16, "log_every": 25},
            "wikitext2": {"epochs": 8, "max_length": 64, "lm_stride": 32, "batch_size": 16, "log_every": 20},
            **TINY_INSTRUCT_SETTINGS,
        },
        options={
            "full_ft": {"lr": 1e-3},
            "lora": {"lr": 5e-3, "dropout": 0.0},
            "hira": {"lr": 3e-2},
            "qlora": {"lr": 5e-3, "dropout": 0.0},
            "lora_prune": {"lr": 5e-3, "dropout": 0.0, "prune_every": 20},
            # the tiny models have 2 layers: no dense first/last layer, or nothing would be sparse;
            # milder sparsity than the paper's 0.9/0.5 (a 128-wide FFN would keep 13 channels).
            "sparselora": {
                "lr": 5e-3, "dropout": 0.0, "dense_first": 0, "dense_last": 0,
                "ffn_sparsity": 0.5, "attn_sparsity": 0.25,
            },
            **TINY_PEFT_OPTIONS,
        },
    ),
    # Real pretrained models on the real datasets, at the settings of the reference runs
    # (MiniLM-L6 SST-2: 1 epoch, batch 32, length 64). WikiText-2 here has no train split,
    # so the LM trains on validation and reports test (recorded in the protocol).
    "real": Tier(
        marker="real",
        models=REAL_MODELS,
        settings=REAL_SETTINGS,
        options=REAL_OPTIONS,
        data="real",
    ),
    # The CPU CI check, -m "real and cpu and ci": real SST-2, a 5,000-example training subset
    # (seeded shuffle), the full 872-example validation split. To fit a 2-core CPU in about
    # two minutes: batch 16 with length buckets (little padding), LoRA on every linear layer
    # at lr 2e-3 (q/v-only LoRA reached 0.79-0.80 in this budget; lr 3e-3 diverged), 5
    # inference rounds. Measurements: docs/datasets-and-models.md.
    "ci": Tier(
        marker="real",
        models=REAL_MODELS,
        settings={
            "sst2": {
                **REAL_SETTINGS["sst2"], "batch_size": 16, "limit_train": 5000, "length_buckets": True,
                "inference_rounds": 5, "log_every": 50,
            },
        },
        options={"lora": {"lr": 2e-3, "target_modules": ("all-linear",)}},
        data="real",
    ),
    # -m perf: the fast loop, every method, GPU only (tokens/s, MFU and step time per method).
    "perf": Tier(
        marker="perf",
        models=REAL_MODELS,
        settings=PERF_SETTINGS,
        options=REAL_OPTIONS,
        data="real",
    ),
    # -m scale: random-init Llama-3 shapes on WikiText-2 token blocks; cost only (see SCALE_SETTINGS).
    "scale": Tier(
        marker="scale",
        models={"lm": "tiny-shape"},
        settings=SCALE_SETTINGS,
        options=SCALE_OPTIONS,
        data="tokens",
    ),
}


@dataclass(frozen=True)
class Floor:
    """The quality a case must reach.

    Args:
        metric: "accuracy" (higher is better) or "perplexity_ratio" (trained / untrained
            perplexity on the same held-out split, lower is better).
        value: the bound.
    """

    metric: str
    value: float

    def passes(self, measured: float) -> bool:
        """True when ``measured`` is on the right side of the bound."""
        higher_is_better = self.metric.startswith("accuracy") or self.metric == "loss_decrease"
        return measured >= self.value if higher_is_better else measured <= self.value


# Tiny-tier floors, set from every method's tiny cases on CPU and GPU over seeds 0-2
# (results/h200-floors: call1 and call2 on one H200 machine, its GPU and its CPU, 2026-12-03,
# 22 methods at the rates of bench/method_options.py; the CPU and GPU values agreed to a point).
# Generated data is balanced: chance is 0.50. A floor must prove learning: at least 0.60, which
# is 3.5 (300 evaluation examples) to 4 (400) standard errors of a chance-level accuracy above 0.50.
# The margin: every method kept in the default matrix clears its floor on every measured seed
# and device by at least 0.025 (about one standard error); the (method, task) pairs that do not,
# at their dev-chosen rate, leave the smoke marker for "unmet" (TINY_UNMET, below).
# Lowest seed per task, method/device (the floor's nearest):
# - sst2 (400 examples): sparselora 0.828 (GPU), fourierft 0.777 (GPU), lily 0.865; most 0.97-1.0.
# - imdb (300): adalora 0.647 (CPU), randlora 0.647, sparselora 0.673 (GPU), oft 0.677 (GPU),
#   vera 0.680, lora 0.693; the task is hard for two-layer models (full_ft 0.79-0.87): 0.62.
# - wikitext2: perplexity ratios 0.010-0.016 for every method against 0.5.
FLOORS = {
    ("sst2", "tiny"): Floor("accuracy", 0.75),
    ("imdb", "tiny"): Floor("accuracy", 0.62),
    ("wikitext2", "tiny"): Floor("perplexity_ratio", 0.5),
}
# Real-tier floors. SST-2: references on an H200 (MiniLM-L6, 1 epoch, batch 32, length 64):
# full FT 0.885, LoRA 0.867, HiRA 0.860, QLoRA 0.859; the floor sits ~3 points below the
# lowest. Our own H200 run with --limit-train 10000 (a third of an epoch) reached LoRA
# 0.821-0.833 and HiRA 0.80-0.81 over 3 seeds: that shortened protocol misses this floor
# (results/h200-real). IMDB: our H200 run (10,000 train, 5,000 test examples, length 256)
# gave 0.860-0.884 for all but sparselora; the floor sits 2 points below the lowest.
# WikiText-2: SmolLM2-135M zero-shot test perplexity was 19.25 in our run (tokenised v1
# text, context 512, stride 256); 150 LoRA steps reached 13.5; the floor asks for clearly
# better than zero-shot.
FLOORS[("sst2", "real")] = Floor("accuracy", 0.83)
FLOORS[("imdb", "real")] = Floor("accuracy", 0.84)
FLOORS[("wikitext2", "real")] = Floor("perplexity", 16.0)
# CI: measured on this repo's 2-core CPU (see docs/datasets-and-models.md for the command):
# LoRA on 5,000 SST-2 examples reached 0.835 validation accuracy in 70-78 s wall (2026-11-28,
# seed 0); 4,000 examples gave 0.811. The floor, 0.80, leaves room for seeds and library versions:
# seeds 0-3 (2026-12-05, python -m bench.shard --gpus cpu:2 -- -m "cpu and ci" --seeds 0,1,2,3)
# reached 0.835, 0.842, 0.829 and 0.825. A CPU-only case: no GPU run applies.
FLOORS[("sst2", "ci")] = Floor("accuracy", 0.80)
# The perf tier trains as the real tier does (WikiText-2: 100 steps at batch 16 instead of
# 150 at batch 8), so it keeps the real tier's floors.
FLOORS[("sst2", "perf")] = FLOORS[("sst2", "real")]
FLOORS[("wikitext2", "perf")] = FLOORS[("wikitext2", "real")]
# Scale: random weights have no quality; the floor is that training works: the last fifth's mean
# loss at least 0.3% below the first fifth's. The CI shape's fifths read the same 4 blocks
# (fixtures.data.scale.get_generated_blocks): a frozen model (lr 1e-12) gives exactly 0 on
# seeds 0-4, and every method at least 0.0064 (2x the floor; LoRA 0.0136-0.0304).
FLOORS[("wikitext2", "scale")] = Floor("loss_decrease", 0.003)
# Tiny instruct floors, from the same runs as the tiny floors above (results/h200-floors; the
# instruct base knows the prompt format, fixtures.models.pretrain; zero-shot 0.497-0.51).
# sst2_instruct (400): oft 0.830, ia3 0.833, lora/olora/pissa/qlora/sparselora 0.840 on one
# seed, most others 0.98-1.0. imdb_instruct (300): adalora 0.630, oft 0.650, ia3 0.670,
# miss 0.700, lily 0.713; most 0.72-0.91. (The earlier floors, 0.70 and 0.65 from one CPU seed,
# were missed on the GPU by 5 of 24 tiny instruct cases on seeds 1 and 2.)
FLOORS[("sst2_instruct", "tiny")] = Floor("accuracy", 0.70)
FLOORS[("imdb_instruct", "tiny")] = Floor("accuracy", 0.60)
# sst2_instruct on SmolLM2-135M-Instruct (the pack's GGUF), real tier, one epoch, measured on an
# H200 (results/h200-instruct/run3, 2026-12-02): LoRA 0.906, 0.901, 0.906 validation accuracy
# (seeds 0-2, all 872 sentences), zero-shot 0.780 (majority class 0.509). The floor sits 5
# points below the lowest seed and 7 above zero-shot; the perf tier (the same epoch in bf16
# autocast, prompts padded to multiples of 16) keeps it. Other methods are not yet measured
# on this task (SparseLoRA's three seeds hit their time limit at step ~1,950 of 2,104, with an
# answer-token training loss of 0.29 against LoRA's 0.17 at the same step).
FLOORS[("sst2_instruct", "real")] = Floor("accuracy", 0.85)
FLOORS[("sst2_instruct", "perf")] = FLOORS[("sst2_instruct", "real")]
# imdb_instruct (real): provisional, IMDB classification's real floor, until a finished run: the
# zero-shot model scored 0.80 on 200 SST-2 sentences (this CPU, 2026-12-01), so a trained case
# must beat that.
FLOORS[("imdb_instruct", "real")] = FLOORS[("imdb", "real")]
# A dataset added with --dataset NAME=PATH has no reference: it must beat always
# predicting the eval split's majority class by at least a point.
CUSTOM_FLOOR = Floor("accuracy_over_majority", 0.01)
# A --dataset text corpus: the trained perplexity must be at least 1% below the untrained one.
CUSTOM_LM_FLOOR = Floor("perplexity_ratio", 0.99)
# (method, dataset, tier) -> Floor, where a method is expected to differ from its dataset's floor.
METHOD_FLOORS: dict = {}


@dataclass(frozen=True)
class Case:
    """One method x dataset x tier x hardware combination (seed added at expansion).

    Args:
        method: a key of ``methods.METHODS``.
        dataset: a key of ``fixtures.data.tasks.TASKS``.
        tier: a key of ``TIERS``.
        hardware: "cpu" or "gpu".
        seed: random seed for data order, init and dropout.
        settings: TrainSettings differences beyond the tier's.
        options: method Config differences beyond the tier's.
        min_gpu_gib: GPU memory the case needs (gpu cases).
        model: the case's own model (a shape of ``fixtures.models.shapes``; "" = the tier's model per
            task kind); it becomes part of the id.
        variant: a short tag for settings that make a second case of the same method and
            model (e.g. "gc" for gradient checkpointing); it becomes part of the id.
        gpus: ranks the case runs on: 1 (one process, ``test_finetune``), or N > 1: N
            processes under torchrun, the model sharded with FSDP2 (``test_distributed``;
            one GPU each, or N CPU processes with gloo for cpu cases). Adds ``gpusN`` to the id.
        kind: a --dataset case's task kind when it is "lm" (a text corpus: floor CUSTOM_LM_FLOOR).
        sweep: {"SCOPE.FIELD": value} for a point of --sweep (``fixtures.run.sweep``; its tag joins the variant).
        nodes: machines the ``gpus`` ranks are spread over (``gpus / nodes`` each, a c10d
            rendezvous: ``fixtures.run.rendezvous``); adds ``nodesM`` to the id when > 1.
        unmet: why a case misses its floor on some seed (``TINY_UNMET``):
            marked "unmet" instead of its tier's marker, so the default run leaves it out.
    """

    method: str
    dataset: str
    tier: str
    hardware: str
    seed: int = 0
    settings: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    min_gpu_gib: float = 0.0
    model: str = ""
    variant: str = ""
    gpus: int = 1
    kind: str = ""
    sweep: dict = field(default_factory=dict)
    nodes: int = 1
    unmet: str = ""

    def __post_init__(self):
        if not isinstance(self.gpus, int) or self.gpus < 1:
            raise ValueError(f"Case.gpus={self.gpus!r}: must be an integer >= 1")
        if not isinstance(self.nodes, int) or self.nodes < 1 or self.gpus % self.nodes:
            raise ValueError(f"Case.nodes={self.nodes!r}: must be an integer >= 1 that divides gpus={self.gpus}")

    @property
    def id(self) -> str:
        extra = "".join(f"-{part}" for part in (self.model, self.variant) if part)
        ranks = (f"-gpus{self.gpus}" if self.gpus > 1 else "") + (f"-nodes{self.nodes}" if self.nodes > 1 else "")
        return f"{self.method}-{self.dataset}-{self.tier}{extra}-{self.hardware}{ranks}-seed{self.seed}"

    @property
    def needs_cuda(self) -> bool:
        return self.hardware == "gpu"

    @property
    def needs_bnb(self) -> bool:
        return self.method == "qlora" and self.get_options().get("backend", "bitsandbytes") == "bitsandbytes"

    @property
    def floor(self) -> Floor:
        default = FLOORS.get((self.dataset, self.tier), CUSTOM_LM_FLOOR if self.kind == "lm" else CUSTOM_FLOOR)
        return METHOD_FLOORS.get((self.method, self.dataset, self.tier), default)

    @property
    def floor_source(self) -> str:
        """Where the floor and the comment that gives its source live, for a one-line floor miss."""
        if (key := (self.method, self.dataset, self.tier)) in METHOD_FLOORS:
            return f"bench/matrix.py METHOD_FLOORS[{key!r}]"
        if (key := (self.dataset, self.tier)) in FLOORS:
            return f"bench/matrix.py FLOORS[{key!r}]"
        return f"bench/matrix.py {'CUSTOM_LM_FLOOR' if self.kind == 'lm' else 'CUSTOM_FLOOR'}"

    @property
    def marks(self) -> list:
        marker = TIERS[self.tier].marker
        # An unmet case leaves its tier's marker, and its tier's name where that is the marker ("scale").
        names = ["unmet"] if self.unmet else [marker]
        names += [] if self.unmet and self.tier == marker else [self.tier]
        names += [self.hardware, self.method, self.dataset]
        names += ["multigpu", f"gpus{self.gpus}"] if self.gpus > 1 else []
        names += ["multinode"] if self.nodes > 1 else []
        names += ["instruct"] if self.dataset in INSTRUCT_DATASETS else []
        names += [part for part in self.variant.split("-") if part in VARIANT_MARKERS]
        return [getattr(pytest.mark, n) for n in dict.fromkeys(names)]

    def get_settings(self) -> dict:
        """The tier's settings for this dataset, then the case's own differences."""
        return {**TIERS[self.tier].settings.get(self.dataset, {}), **self.settings}

    def get_options(self) -> dict:
        """The tier's options for this method, then the case's own differences."""
        return {**TIERS[self.tier].options.get(self.method, {}), **self.options}


INSTRUCT_DATASETS = ("sst2_instruct", "imdb_instruct")  # marker "instruct"
# the parts of a case's variant that are markers too: -m "scale and gpu and not liger"
VARIANT_MARKERS = ("gc", "liger", "torchao")
DATASETS = ("sst2", "imdb", "wikitext2", *INSTRUCT_DATASETS)
# SparseLoRA on the instruct tasks splits prompt from answer (prompt sparse, answer dense).
INSTRUCT_OPTIONS = {"sparselora": {"context_aware": True}}
# The tiny base has read the answer words only as adjectives of its reviews, never after the
# prompt (fixtures.models.pretrain.get_corpus), so the adapter must learn to say them there. Measured
# on this CPU (2026-12-01, seed 0): q/v LoRA at lr 5e-3 reached 0.665 on sst2_instruct, LoRA
# on every linear layer at lr 1e-2 0.875; on imdb_instruct lr 1e-2 stayed at chance (0.503),
# lr 3e-3 at rank 16 reached 0.723 (the loss leaves its plateau after ~270 of 375 steps).
TINY_ALL_LINEAR = {
    "sst2_instruct": {"target_modules": ("all-linear",), "lr": 1e-2},
    "imdb_instruct": {"target_modules": ("all-linear",), "lr": 3e-3, "r": 16},
}
LORA_FAMILY = ("lora", "qlora", "lora_prune", "sparselora")
# Pruning half of the adapter set lora_prune back on imdb_instruct: 0.61 at lr 3e-3 (0.637 when
# pruning every 100 steps), 0.73 at lr 5e-3.
TINY_INSTRUCT_METHOD = {("lora_prune", "imdb_instruct"): {"lr": 5e-3}}


def get_tiny_instruct_options(method: str, dataset: str) -> dict:
    """A tiny instruct case's option differences (every method but full_ft on every linear layer)."""
    if method in (*LORA_FAMILY, *LORA_VARIANTS):
        return {**TINY_ALL_LINEAR[dataset], **INSTRUCT_OPTIONS.get(method, {}),
                **TINY_INSTRUCT_METHOD.get((method, dataset), {})}
    return {"target_modules": ("all-linear",), **TINY_INSTRUCT_METHOD.get((method, dataset), {})} \
        if method != "full_ft" else {}

# The tiny cases that miss their floor on some seed at their dev-chosen rate (results/h200-floors,
# lowest seed of CPU and GPU): not in the smoke marker (the default run and CI), but marked
# "unmet", so `pytest bench -m unmet` runs them. A fix moves a pair back.
TINY_UNMET = {
    ("adalora", "sst2"): "0.60-0.64 at lr 5e-2 (the grid's upper edge)",
    ("fourierft", "imdb"): "0.52-0.57: no rate of the grid learns it",
    ("fourierft", "sst2_instruct"): "0.50-0.56: no rate of the grid learns it",
    ("fourierft", "imdb_instruct"): "0.50-0.56: no rate of the grid learns it",
    ("ia3", "sst2"): "0.58-0.63 at lr 0.5 (the grid's upper edge)",
    ("ia3", "imdb"): "0.58-0.66 at lr 0.5 (the grid's upper edge)",
    ("oft", "sst2"): "0.50-0.57 at every rate of the grid",
}

CASES = [
    Case(method, dataset, "tiny", hardware, unmet=TINY_UNMET.get((method, dataset), ""),
         options={**(get_tiny_instruct_options(method, dataset) if dataset in INSTRUCT_DATASETS else {}),
                  **({"lr": TINY_TUNED_LR[method, dataset]} if (method, dataset) in TINY_TUNED_LR else {})})
    for hardware in ("cpu", "gpu")
    for dataset in DATASETS
    for method in METHODS
]

# Real models on real data: every method x dataset x hardware (opt-in: -m real).
CASES += [
    Case(method, dataset, "real", hardware,
         options=INSTRUCT_OPTIONS.get(method, {}) if dataset in INSTRUCT_DATASETS else {})
    for hardware in ("cpu", "gpu")
    for dataset in DATASETS
    for method in METHODS
]
# The CPU CI check (-m "real and cpu and ci"): MiniLM-L6 + LoRA on real SST-2.
CASES += [Case("lora", "sst2", "ci", "cpu")]
# The fast GPU loop (-m perf): every method on SST-2 and WikiText-2; HiRA keeps its own rank.
# Full fine-tuning and QLoRA train in their usual mixed precision on the LM (fp32 trained
# weights, bf16 autocast): pure bf16 updates of full weights are lost to rounding, and
# QLoRA's frozen norms and embeddings are fp32 after peft's k-bit preparation.
CASES += [
    Case(method, dataset, "perf", "gpu",
         settings=PERF_MIXED if dataset == "wikitext2" and method in ("full_ft", "qlora")
         else EAGER_SETTINGS.get(method, {}),
         options={} if dataset == "sst2" else get_lm_options(method))
    for dataset in ("sst2", "wikitext2")
    for method in METHODS
]
CASES += [Case(method, "sst2_instruct", "perf", "gpu", options=INSTRUCT_OPTIONS.get(method, {})) for method in METHODS]

# The scale tier (-m scale): every method x shape on the GPU, gradient checkpointing and fused
# kernels as second cases at 8B; the CI shape on the CPU (-m "scale and cpu", seconds).
CASES += [
    Case(method, "wikitext2", "scale", "gpu", model=shape,
         min_gpu_gib=SCALE_FULL_FT_GIB.get(shape, gib) if method == "full_ft" else gib,
         settings={"batch_size": batch, **SCALE_METHOD_SETTINGS.get(method, {})})
    for shape, (batch, gib) in SCALE_SHAPES.items()
    for method in METHODS
]
CASES += [
    Case(method, "wikitext2", "scale", "gpu", model="llama-8b", variant=variant,
         min_gpu_gib=SCALE_SHAPES["llama-8b"][1], options=get_variant_options(variant),
         settings={"batch_size": SCALE_SHAPES["llama-8b"][0], **extra, **SCALE_METHOD_SETTINGS.get(method, {})})
    for variant, (extra, methods) in SCALE_VARIANTS.items()
    for method in methods
]
# The CI shape's cost path, every method (rates: bench/method_options.py SCALE_CPU_PEFT_OPTIONS).
CASES += [
    Case(method, "wikitext2", "scale", "cpu", model="tiny-shape", settings=SCALE_CPU_SETTINGS,
         options=SCALE_CPU_OPTIONS.get(method, {}))
    for method in METHODS
]
# QLoRA's variants at every shape (the 8B checkpointing cases are variants above); the CI shape
# runs the torchao backend (its optimizer is torch's AdamW on the CPU either way).
CASES += [
    Case("qlora", "wikitext2", "scale", "gpu", model=shape, min_gpu_gib=gib, variant=variant,
         options=get_variant_options(variant), settings={"batch_size": batch, **SCALE_METHOD_SETTINGS.get("qlora", {})})
    for shape, (batch, gib) in SCALE_SHAPES.items()
    for variant in QLORA_SCALE_VARIANTS
]
CASES += [Case("qlora", "wikitext2", "scale", "cpu", model="tiny-shape", variant="torchao", settings=SCALE_CPU_SETTINGS,
               options={**SCALE_CPU_OPTIONS["qlora"], **get_variant_options("torchao")})]

# Methods run on a dataset added with --dataset NAME=PATH (real tier, every hardware).
CUSTOM_METHODS = tuple(METHODS)


def get_custom_cases(names: list[str], *, kinds: dict | None = None, methods: tuple = ()) -> list[Case]:
    """Real-tier cases for datasets added on the command line (floor: CUSTOM_FLOOR, or
    CUSTOM_LM_FLOOR where ``kinds`` says a name is a text corpus, "lm"); ``methods``: --peft-config ones."""
    kinds = kinds or {}
    return [
        Case(method, name, "real", hardware, kind="lm" if kinds.get(name) == "lm" else "")
        for hardware in ("cpu", "gpu")
        for name in names
        for method in (*CUSTOM_METHODS, *methods)
    ]


# A method added with --peft-config NAME=PATH runs where LoRA runs (every tier, dataset and
# hardware; not LoRA's second cases), with the file's values and these rates: the tiny and
# scale tiers' LoRA rates; the real and perf tiers take the file method's default (5e-4).
PEFT_CONFIG_OPTIONS = {("tiny", "cpu"): {"lr": 5e-3}, ("tiny", "gpu"): {"lr": 5e-3},
                       ("scale", "gpu"): {"lr": 1e-3}, ("scale", "cpu"): {"lr": 2e-2}}


def get_peft_config_cases(names: list[str]) -> list[Case]:
    """The cases of methods added with --peft-config: LoRA's, each with the method's name."""
    return [
        dataclasses.replace(case, method=name, options=PEFT_CONFIG_OPTIONS.get((case.tier, case.hardware), {}))
        for name in names
        for case in CASES
        if case.method == "lora" and not case.variant and case.tier != "ci"
    ]

# Several GPUs (issue 17): a case with gpus=N runs as N processes under torchrun, the model
# sharded with FSDP2 (bench/test_distributed.py; ids carry gpusN). The fsdp tier trains the
# Llama-3.1-8B shape (random weights: cost only) on the synthetic LM stream in blocks of
# 2,048 tokens, 20 steps. Full fine-tuning keeps fp32 master weights and AdamW state, sharded,
# computing in bf16 (FSDP gathers the parameters in bf16): ~16 bytes per parameter, beyond
# one H200. LoRA trains in pure bf16; its gpus=1 case is the one-GPU baseline through the
# same launcher and loop, unsharded. Per-GPU batches are the same at every N (full FT 2,
# LoRA 4 blocks), so throughputs compare directly.
TIERS["fsdp"] = Tier(
    marker="fsdp",
    models={"lm": "llama-8b"},
    settings={"wikitext2": {"max_length": 2048, "lm_stride": 2048, "max_steps": 20, "log_every": 5}},
    options={"full_ft": {"lr": 1e-5}, "lora": {"lr": 1e-4, **PERF_LM_OPTIONS}},
)
FSDP_FULL = {**PERF_MIXED, "dtype": "fp32"}
FSDP_LORA = {"dtype": "bf16", "trainable_dtype": "bf16"}
DISTRIBUTED_CASES = [
    Case("full_ft", "wikitext2", "fsdp", "gpu", gpus=n, min_gpu_gib=80, settings={**FSDP_FULL, "batch_size": 2 * n})
    for n in (2, 4)
] + [
    Case("lora", "wikitext2", "fsdp", "gpu", gpus=n, min_gpu_gib=80, settings={**FSDP_LORA, "batch_size": 4 * n})
    for n in (1, 2)
]
# The same path on a CPU (CI: -m "cpu and (smoke or ci)"): 2 processes, gloo, the tiny tier's
# settings and floors; the global batch is the tier's, split across the two ranks.
DISTRIBUTED_CASES += [Case("full_ft", "wikitext2", "tiny", "cpu", gpus=2), Case("lora", "sst2", "tiny", "cpu", gpus=2)]
