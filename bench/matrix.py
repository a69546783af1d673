"""The benchmark matrix, declared once as data: tiers, cases and their quality floors.

A case id reads ``method-dataset-tier-hardware-seedN``. A case states only how
it differs from the tier's defaults (``TrainSettings`` and the method's
``Config``); never change what an existing id means — add a new one.
"""

from dataclasses import dataclass, field

import pytest

from methods import METHODS


@dataclass(frozen=True)
class Tier:
    """A size of experiment.

    Args:
        marker: the pytest marker that selects it.
        models: default model per task kind ("classification", "lm").
        settings: TrainSettings differences per dataset.
        options: method Config differences per method (applied to every dataset).
        data: "synthetic" (generated, ``fixtures.synthetic``) or "real" (``fixtures.datasets``:
            --data-dir / $PEFT_BENCH_DATA / ../shared/data, then the hub).
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
REAL_MODELS = {"classification": "minilm-l6", "lm": "smollm2-135m"}
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
PERF_LM_OPTIONS = {"target_modules": ("all-linear",), "r": 16, "dropout": 0.0}
PERF_MIXED = {"trainable_dtype": "fp32", "autocast": "bf16"}

TIERS = {
    # Tiny models (pretrained here in seconds, see fixtures.pretrain) on generated data:
    # the wiring proof on a laptop CPU in minutes. Higher learning rates than on real models.
    "tiny": Tier(
        marker="smoke",
        models={"classification": "tiny-llama", "lm": "tiny-llama"},
        settings={
            "sst2": {"epochs": 3, "max_length": 32, "log_every": 20},
            "imdb": {"epochs": 5, "max_length": 96, "batch_size": 16, "log_every": 25},
            "wikitext2": {"epochs": 8, "max_length": 64, "lm_stride": 32, "batch_size": 16, "log_every": 20},
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
        higher_is_better = self.metric.startswith("accuracy")
        return measured >= self.value if higher_is_better else measured <= self.value


# Smoke floors: generated data is balanced (majority class = 0.50), so accuracy floors
# sit >= 15 points above chance; perplexity must fall well below the untrained model's.
FLOORS = {
    ("sst2", "tiny"): Floor("accuracy", 0.75),
    ("imdb", "tiny"): Floor("accuracy", 0.68),
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
# seed 0); 4,000 examples gave 0.811. The floor, 0.80, leaves room for seeds and library versions.
FLOORS[("sst2", "ci")] = Floor("accuracy", 0.80)
# The perf tier trains as the real tier does (WikiText-2: 100 steps at batch 16 instead of
# 150 at batch 8), so it keeps the real tier's floors.
FLOORS[("sst2", "perf")] = FLOORS[("sst2", "real")]
FLOORS[("wikitext2", "perf")] = FLOORS[("wikitext2", "real")]
# A dataset added with --dataset NAME=PATH has no reference: it must beat always
# predicting the eval split's majority class by at least a point.
CUSTOM_FLOOR = Floor("accuracy_over_majority", 0.01)
# (method, dataset, tier) -> Floor, where a method is expected to differ from its dataset's floor.
METHOD_FLOORS: dict = {}


@dataclass(frozen=True)
class Case:
    """One method x dataset x tier x hardware combination (seed added at expansion).

    Args:
        method: a key of ``methods.METHODS``.
        dataset: a key of ``fixtures.tasks.TASKS``.
        tier: a key of ``TIERS``.
        hardware: "cpu" or "gpu".
        seed: random seed for data order, init and dropout.
        settings: TrainSettings differences beyond the tier's.
        options: method Config differences beyond the tier's.
        min_gpu_gib: GPU memory the case needs (gpu cases).
    """

    method: str
    dataset: str
    tier: str
    hardware: str
    seed: int = 0
    settings: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    min_gpu_gib: float = 0.0

    @property
    def id(self) -> str:
        return f"{self.method}-{self.dataset}-{self.tier}-{self.hardware}-seed{self.seed}"

    @property
    def needs_cuda(self) -> bool:
        return self.hardware == "gpu"

    @property
    def needs_bnb(self) -> bool:
        return self.method == "qlora"

    @property
    def floor(self) -> Floor:
        default = FLOORS.get((self.dataset, self.tier), CUSTOM_FLOOR)
        return METHOD_FLOORS.get((self.method, self.dataset, self.tier), default)

    @property
    def marks(self) -> list:
        names = [TIERS[self.tier].marker, self.tier, self.hardware, self.method, self.dataset]
        return [getattr(pytest.mark, n) for n in dict.fromkeys(names)]

    def get_settings(self) -> dict:
        """The tier's settings for this dataset, then the case's own differences."""
        return {**TIERS[self.tier].settings.get(self.dataset, {}), **self.settings}

    def get_options(self) -> dict:
        """The tier's options for this method, then the case's own differences."""
        return {**TIERS[self.tier].options.get(self.method, {}), **self.options}


DATASETS = ("sst2", "imdb", "wikitext2")

CASES = [
    Case(method, dataset, "tiny", hardware)
    for hardware in ("cpu", "gpu")
    for dataset in DATASETS
    for method in METHODS
]

# Real models on real data: every method x dataset x hardware (opt-in: -m real).
CASES += [
    Case(method, dataset, "real", hardware)
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
         else {},
         options={} if dataset == "sst2" or method == "full_ft"
         else {k: v for k, v in PERF_LM_OPTIONS.items() if not (method == "hira" and k == "r")})
    for dataset in ("sst2", "wikitext2")
    for method in METHODS
]

# Methods run on a dataset added with --dataset NAME=PATH (real tier, every hardware).
CUSTOM_METHODS = ("lora", "full_ft")


def get_custom_cases(names: list[str]) -> list[Case]:
    """Real-tier cases for datasets added on the command line (floor: CUSTOM_FLOOR)."""
    return [
        Case(method, name, "real", hardware)
        for hardware in ("cpu", "gpu")
        for name in names
        for method in CUSTOM_METHODS
    ]
