"""Methods that differ only in their peft config: one ``TABLE`` entry each.

An entry names the peft config class, the method's own fields (field -> type, default,
peft keyword), the peft keywords it always sets, and where its defaults come from. From it
``get_entry`` builds the method's frozen ``Config`` (with ``target_modules``, ``lr`` and
``weight_decay``, validated: positive sizes, dropouts in [0, 1)) and its ``apply``;
the loop's hooks are the defaults (``methods._common.HOOKS``).

Sources of the defaults: peft's comparison suite, huggingface/peft
``method_comparison/MetaMathQA/experiments/<method>/*/adapter_config.json`` and
``training_params.json`` (Llama-3.2-3B, read 2026-12 at 5d602fd). Its runs use one learning
rate, 1e-4 (``default_training_params.json``), except where an experiment's
``training_params.json`` sets its own; each method's default ``lr`` here is this suite's LoRA
rate (5e-4) times that ratio. LoRA variants keep this suite's LoRA defaults (r 8, alpha 16),
so that each differs from ``lora`` in its one field, as the comparison suite's own LoRA and
DoRA runs differ only in ``use_dora``. Target modules: empty means the model family's
attention q/v (as ``lora``), or peft's default for the architecture where the entry says so.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, make_dataclass

import torch

from methods._common import MethodUnavailable, check_fraction, check_positive, get_target_modules, normalize_targets

LORA_LR = 5e-4  # methods.lora.Config.lr: the rate the comparison suite's 1e-4 maps to


@dataclass(frozen=True)
class Entry:
    """One table method.

    Args:
        peft_class: the peft config class (e.g. "VeraConfig").
        since: the first peft release that has it (a method whose peft lacks it skips).
        summary: paper and idea, one line.
        fields: field -> (type, default, peft keyword).
        source: where the defaults come from.
        fixed: peft keywords always set (e.g. use_dora=True).
        lr: default peak learning rate.
        positive: fields that must be > 0.
        fractions: fields in [0, 1) (dropouts).
        peft_targets: empty target_modules = peft's default for the architecture (else attention q/v).
        merge_unsupported: why peft cannot merge this adapter into the base ("" = it can).
        runtime: attributes that replace peft's own on the built config, where peft set one;
            not config fields, so never saved with it (SHiRA's ``mask_fn``).
        check: more validation of the Config (raises ValueError), beside positive/fractions.
        prepare: run before peft builds the adapter (BOFT: peft's torch path, no compile).
    """

    peft_class: str
    since: str
    summary: str
    fields: dict
    source: str
    fixed: dict = field(default_factory=dict)
    lr: float = LORA_LR
    positive: tuple = ()
    fractions: tuple = ()
    peft_targets: bool = False
    merge_unsupported: str = ""
    runtime: dict = field(default_factory=dict)
    check: Callable[[object], None] | None = None
    prepare: Callable[[], None] | None = None


def use_torch_butterfly() -> None:
    """BOFT through peft's pure-torch butterfly, never its ``fbd_cuda`` extension.

    peft tries to JIT-compile that CUDA extension (ninja and nvcc) while it builds each BOFT
    layer, and a failed build is not remembered, so every layer tries again. On the H200
    machine (torch 2.11, CUDA 13) the kernel does not compile ("no suitable conversion
    function from DeprecatedTypeProperties to ScalarType", results/h200-tune/run-2026-12-04's
    logs), so each of the 224 layers of the llama-8b shape ran nvcc and failed, and the case
    never reached its first step within the run's limit (results/h200-methods/scale8b-2026-12-05b).
    Where the build succeeded, a case's setup time would depend on a compile cache. peft's torch
    path computes the same rotation; it builds one butterfly factor (``check_one_butterfly``)."""
    from peft.tuners.boft import layer

    if layer._FBD_CUDA is None:  # not tried yet in this process: mark it unavailable, so peft never builds it
        layer._FBD_CUDA = False


def check_one_butterfly(cfg) -> None:
    """peft's torch path builds one butterfly factor and silently uses 1 for any other value."""
    if cfg.n_butterfly_factor != 1:
        raise ValueError(f"methods.boft.Config.n_butterfly_factor={cfg.n_butterfly_factor!r}: must be 1; peft builds "
                         "more factors only with its fbd_cuda extension, which the harness does not compile "
                         "(methods.peft_table.use_torch_butterfly)")


def draw_random_mask(shape: tuple[int, int], count: int, seed: int | None, device: torch.device) -> torch.Tensor:
    """A bool mask of ``shape`` with ``count`` entries set, a uniformly random subset drawn on ``device``."""
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(seed)
    numel = shape[0] * shape[1]
    idx = torch.randperm(numel, generator=generator, device=device)[:count]
    mask = torch.zeros(numel, dtype=torch.bool, device=device)
    mask[idx] = True
    return mask.view(shape)


def shira_random_mask(base_layer: torch.nn.Module, r: int, random_seed: int | None = None, **kwargs) -> torch.Tensor:
    """SHiRA's random mask (peft's ``random_mask``: r * (out + in) weights of each layer, a
    uniformly random subset), drawn on the weight's device when that is not the CPU.

    peft draws it with ``torch.randperm`` over all of the weight's entries on the CPU, one
    thread: 2.3-3.9 s per 4096 x 14336 MLP weight on a 2-core machine, so 4-7 minutes of setup
    at the llama-8b shape (all linear layers), enough that no 8B case reached its first step
    within its time limit (results/h200-methods/scale8b-2026-12-05). On a GPU the same draw takes
    milliseconds. The subset for a seed differs from peft's (another generator); on the CPU
    peft's own function runs, so CPU results match peft's exactly."""
    from peft.tuners.shira.mask_functions import random_mask
    from peft.tuners.tuners_utils import _get_in_out_features

    device = base_layer.weight.device
    if device.type in ("cpu", "meta"):
        return random_mask(base_layer, r, random_seed=random_seed, **kwargs)
    out_features, in_features = _get_in_out_features(base_layer)[::-1]
    return draw_random_mask((out_features, in_features), r * (out_features + in_features), random_seed, device)


LORA_FIELDS = {"r": (int, 8, "r"), "alpha": (int, 16, "lora_alpha"), "dropout": (float, 0.1, "lora_dropout")}
# PiSSA and OLoRA re-initialise the base from its own SVD / QR: no dropout on the adapter (peft's docs).
LORA_INIT_FIELDS = {**LORA_FIELDS, "dropout": (float, 0.0, "lora_dropout")}
LORA_SOURCE = "this suite's LoRA defaults (methods.lora)"
EXPERIMENTS = "peft method_comparison/MetaMathQA/experiments/"

TABLE = {
    "dora": Entry("LoraConfig", "0.9.0", "DoRA (Liu et al., ICML 2024): LoRA on a weight's direction, its magnitude "
                  "trained apart", LORA_FIELDS, f"{LORA_SOURCE}; use_dora as {EXPERIMENTS}lora/llama-3.2-3B-rank32-dora",
                  fixed={"use_dora": True}, positive=("r", "alpha"), fractions=("dropout",)),
    "rslora": Entry("LoraConfig", "0.7.0", "rsLoRA (Kalajdzievski, 2023): LoRA scaled by alpha/sqrt(r), not alpha/r",
                    LORA_FIELDS, f"{LORA_SOURCE}; use_rslora as {EXPERIMENTS}lora/llama-3.2-3B-rank64-rslora",
                    fixed={"use_rslora": True}, positive=("r", "alpha"), fractions=("dropout",)),
    "pissa": Entry("LoraConfig", "0.11.0", "PiSSA (Meng et al., NeurIPS 2024): LoRA initialised from the weight's top "
                   "singular vectors, the base keeps the residual", {**LORA_INIT_FIELDS, "init": (str, "pissa", "init_lora_weights")},
                   f"{LORA_SOURCE}; init 'pissa' (exact SVD; 'pissa_niter_N' is peft's fast randomised SVD)",
                   positive=("r", "alpha"), fractions=("dropout",)),
    "olora": Entry("LoraConfig", "0.11.0", "OLoRA (Büyükakyüz, 2024): LoRA initialised from a QR decomposition of the "
                   "weight", LORA_INIT_FIELDS, f"{LORA_SOURCE}; init_lora_weights='olora'",
                   fixed={"init_lora_weights": "olora"}, positive=("r", "alpha"), fractions=("dropout",)),
    "vera": Entry("VeraConfig", "0.11.0", "VeRA (Kopiczko et al., ICLR 2024): frozen shared random A, B; trained "
                  "scaling vectors", {"r": (int, 256, "r"), "d_initial": (float, 0.1, "d_initial"),
                                      "dropout": (float, 0.0, "vera_dropout")},
                  f"{EXPERIMENTS}vera/llama-3.2-3B-default (lr 1e-3: 10x)", fixed={"save_projection": True},
                  lr=10 * LORA_LR, positive=("r", "d_initial"), fractions=("dropout",)),
    "ia3": Entry("IA3Config", "0.4.0", "IA3 (Liu et al., NeurIPS 2022): trained vectors rescale keys, values and the "
                 "FFN's inner activations", {}, f"{EXPERIMENTS}ia3/llama-3.2-3B-default (peft's default targets); "
                 "lr as ia3/llama-3.2-3B-lr_0.001 (10x)", lr=10 * LORA_LR, peft_targets=True),
    "loha": Entry("LoHaConfig", "0.6.0", "LoHa (Hyeon-Woo et al., ICLR 2022): the update is the Hadamard product of two "
                  "low-rank products", {"r": (int, 32, "r"), "alpha": (int, 64, "alpha"),
                                        "rank_dropout": (float, 0.0, "rank_dropout"),
                                        "module_dropout": (float, 0.0, "module_dropout")},
                  f"{EXPERIMENTS}loha/llama-3.2-3B-rank32", positive=("r", "alpha"),
                  fractions=("rank_dropout", "module_dropout")),
    "lokr": Entry("LoKrConfig", "0.6.0", "LoKr (Yeh et al., ICLR 2024): the update is a Kronecker product with a "
                  "low-rank factor", {"r": (int, 32, "r"), "alpha": (int, 64, "alpha"),
                                      "decompose_factor": (int, 4, "decompose_factor"),
                                      "rank_dropout": (float, 0.0, "rank_dropout"),
                                      "module_dropout": (float, 0.0, "module_dropout")},
                  f"{EXPERIMENTS}lokr/llama-3.2-3B-rank32-factor4-lr0.003 (lr 3e-3: 30x)", lr=30 * LORA_LR,
                  positive=("r", "alpha"), fractions=("rank_dropout", "module_dropout")),
    "oft": Entry("OFTConfig", "0.7.0", "OFT (Qiu et al., NeurIPS 2023): a trained block-diagonal orthogonal rotation "
                 "of the input (Cayley transform)", {"r": (int, 32, "r"), "eps": (float, 6e-5, "eps"),
                                                     "module_dropout": (float, 0.0, "module_dropout")},
                 f"{EXPERIMENTS}oft/llama-3.2-3B-rank32 (r = number of blocks)", fixed={"oft_block_size": 0},
                 positive=("r", "eps"), fractions=("module_dropout",)),
    "boft": Entry("BOFTConfig", "0.11.0", "BOFT (Liu et al., ICLR 2024): an orthogonal rotation factored as a butterfly "
                  "of sparse blocks", {"block_size": (int, 4, "boft_block_size"),
                                       "n_butterfly_factor": (int, 1, "boft_n_butterfly_factor"),
                                       "dropout": (float, 0.0, "boft_dropout")},
                  f"{EXPERIMENTS}boft/llama-3.2-3B-default", positive=("block_size", "n_butterfly_factor"),
                  fractions=("dropout",), check=check_one_butterfly, prepare=use_torch_butterfly),
    "miss": Entry("MissConfig", "0.17.0", "MiSS (Kang & Yin, 2025): one shared trained shard expanded over the weight",
                  {"r": (int, 64, "r"), "mini_r": (int, 1, "mini_r"), "dropout": (float, 0.0, "miss_dropout")},
                  f"{EXPERIMENTS}miss/llama-3.2-3B-default", positive=("r", "mini_r"), fractions=("dropout",)),
    "lily": Entry("LilyConfig", "0.19.0", "Lily (Zhong et al., 2025): low-rank adapters whose projectors are shared "
                  "across layers and routed", {"r": (int, 140, "r"), "stride_A": (int, 14, "stride_A"),
                                               "num_B": (int, 2, "num_B"), "scaling": (float, 8.0, "scaling")},
                  f"{EXPERIMENTS}lily/llama-3.2-3B-rank140-mlp-a2-b2-s8.0 (there on the MLP)",
                  positive=("r", "stride_A", "num_B", "scaling"),
                  merge_unsupported="peft's Lily layers have no merge (peft 0.21: NotImplementedError): "
                                    "its projectors are shared across layers and routed"),
    "shira": Entry("ShiraConfig", "0.17.0", "SHiRA (Bhardwaj et al., 2024): a sparse trained update of a fixed random "
                   "set of weights (as many as rank-r LoRA)", {"r": (int, 32, "r"),
                                                                "mask_type": (str, "random", "mask_type"),
                                                                "random_seed": (int, 42, "random_seed")},
                   f"{EXPERIMENTS}shira/llama-3.2-3B-lr_0.0003-random_seed_42 (lr 3e-4: 3x)", lr=3 * LORA_LR,
                   positive=("r",), runtime={"mask_fn": shira_random_mask}),
    "fourierft": Entry("FourierFTConfig", "0.12.0", "FourierFT (Gao et al., ICML 2024): trained coefficients of a few "
                       "random 2-D Fourier frequencies", {"n_frequency": (int, 1000, "n_frequency"),
                                                          "scaling": (float, 300.0, "scaling"),
                                                          "random_loc_seed": (int, 777, "random_loc_seed")},
                       f"{EXPERIMENTS}fourierft/llama-3.2-3B-default", positive=("n_frequency", "scaling")),
    "randlora": Entry("RandLoraConfig", "0.16.0", "RandLoRA (Albert et al., ICLR 2025): full-rank updates from frozen "
                      "random bases, trained diagonal scalings", {"r": (int, 32, "r"),
                                                                  "alpha": (int, 640, "randlora_alpha"),
                                                                  "dropout": (float, 0.0, "randlora_dropout")},
                      f"{EXPERIMENTS}randlora/llama-3.2-3B-default", fixed={"save_projection": True},
                      positive=("r", "alpha"), fractions=("dropout",)),
}


def make_config_class(name: str, entry: Entry) -> type:
    """The frozen, validated Config of a table method."""

    def __post_init__(self):
        normalize_targets(self)
        check_positive(self, "lr", *entry.positive)
        check_fraction(self, *entry.fractions)
        if entry.check:
            entry.check(self)

    own = [(f, t, field(default=d)) for f, (t, d, _) in entry.fields.items()]
    common = [("target_modules", tuple[str, ...], field(default=())), ("lr", float, field(default=entry.lr)),
              ("weight_decay", float, field(default=0.0))]
    cls = make_dataclass("Config", own + common, frozen=True, namespace={"__post_init__": __post_init__})
    cls.__module__, cls.owner = __name__, f"methods.{name}.Config"
    defaults = ", ".join(f"{f}={d!r}" for f, (_, d, _) in entry.fields.items())
    where = "peft's default for the architecture" if entry.peft_targets else "the family's attention q/v"
    cls.__doc__ = (f"{entry.summary}.\n\nDefaults: {defaults or 'none of its own'}, lr={entry.lr:g} "
                   f"(source: {entry.source}). target_modules: empty = {where}.")
    return cls


CONFIGS = {name: make_config_class(name, entry) for name, entry in TABLE.items()}


def get_peft_config_class(name: str):
    """The peft config class of a table method; MethodUnavailable when the installed peft lacks it."""
    import peft

    entry = TABLE[name]
    cls = getattr(peft, entry.peft_class, None)
    if cls is None:
        raise MethodUnavailable(f"{name} needs peft >= {entry.since} ({entry.peft_class}); "
                                f"found peft {peft.__version__}: pip install -U peft")
    return cls


def make_peft_config(name: str, model: torch.nn.Module, cfg, *, task_type: str):
    """The peft config of a table method for this Config and model."""
    entry = TABLE[name]
    targets = None if entry.peft_targets and not cfg.target_modules else get_target_modules(model, cfg.target_modules)
    values = {keyword: getattr(cfg, f) for f, (_, _, keyword) in entry.fields.items()}
    config = get_peft_config_class(name)(target_modules=targets, task_type=task_type, **entry.fixed, **values)
    for attribute, value in entry.runtime.items():
        if getattr(config, attribute, None) is not None:  # replaces peft's own (None: the config's options chose none)
            setattr(config, attribute, value)
    return config


@dataclass(frozen=True)
class TableMethod:
    """What ``get_method`` serves for a table method: its Config and apply."""

    name: str
    Config: type

    @property
    def MERGE_UNSUPPORTED(self) -> str | None:  # noqa: N802  (the name methods._common's hooks read)
        """Why the merged-inference measurement cannot run for this method (None: it can)."""
        return TABLE[self.name].merge_unsupported or None

    def apply(self, model: torch.nn.Module, cfg, *, task_type: str) -> torch.nn.Module:
        """Wrap the model with the method's peft adapter."""
        from peft import get_peft_model

        if TABLE[self.name].prepare:
            TABLE[self.name].prepare()
        return get_peft_model(model, make_peft_config(self.name, model, cfg, task_type=task_type))


def get_entry(name: str) -> TableMethod:
    """The table method ``name`` (a key of TABLE)."""
    return TableMethod(name, CONFIGS[name])
