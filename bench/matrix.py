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
    """

    marker: str
    models: dict
    settings: dict
    options: dict = field(default_factory=dict)


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
        return measured >= self.value if self.metric == "accuracy" else measured <= self.value


# Smoke floors: generated data is balanced (majority class = 0.50), so accuracy floors
# sit >= 15 points above chance; perplexity must fall well below the untrained model's.
FLOORS = {
    ("sst2", "tiny"): Floor("accuracy", 0.75),
    ("imdb", "tiny"): Floor("accuracy", 0.68),
    ("wikitext2", "tiny"): Floor("perplexity_ratio", 0.5),
}
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
        return METHOD_FLOORS.get((self.method, self.dataset, self.tier), FLOORS[(self.dataset, self.tier)])

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
