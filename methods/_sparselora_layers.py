"""SparseLoRA's sliced projections: per-block channel choice, sliced GEMMs, FLOP accounting.

Every frozen projection of a sparse block gets its ``forward`` replaced (peft's
``lora.Linear`` or a plain ``nn.Linear``; parameter names are unchanged). The first
projection that sees a block's input runs the estimator once; the others reuse it.

- Row roles (q, k, v, gate, up, lin1, intermediate) multiply by ``W[idx]``: a
  narrow GEMM. Q/K/V scatter the narrow base output back to full width and then
  add the dense LoRA output. An FFN channel is skipped as a whole (its activation
  is 0), so gate/up keep their output narrow and their LoRA keeps only rows idx.
- Column roles (o, down, lin2, output) multiply by ``W[:, idx]``. For the FFN the
  input is already narrow; for o the attention output is gathered at the V indices.

Autograd records the narrow matmul, so the input-gradient GEMM shrinks likewise.
Tokens marked dense (context-aware split) take the full weights.
"""

import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from methods._sparselora_estimator import Proxy, select_attention, select_ffn

# model_type -> paths inside one transformer layer; "rope" marks rotary attention.
ARCHITECTURES = {
    "llama": {
        "attn": {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj"},
        "ffn": {"gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"},
        "act": "hidden_act",
        "rope": True,
    },
    "bert": {
        "attn": {
            "q": "attention.self.query", "k": "attention.self.key",
            "v": "attention.self.value", "o": "attention.output.dense",
        },
        "ffn": {"up": "intermediate.dense", "down": "output.dense"},
        "act": "hidden_act",
        "rope": False,
    },
    "distilbert": {
        "attn": {"q": "attention.q_lin", "k": "attention.k_lin", "v": "attention.v_lin", "o": "attention.out_lin"},
        "ffn": {"up": "ffn.lin1", "down": "ffn.lin2"},
        "act": "activation",
        "rope": False,
    },
}
ROW_ROLES = ("q", "k", "v", "gate", "up")


@dataclass
class Block:
    """The attention or FFN block of one layer: its sparsity, proxies, selection and counters.

    Args:
        name: "<layer>.attn" or "<layer>.ffn".
        kind: "attn" or "ffn".
        sparsity: fraction of channels skipped on sparse steps (0 = always dense).
        proxies: role -> SVD proxy of the roles the estimator reads.
        act: the FFN activation (ffn blocks).
        heads: query heads; kv_heads: key/value heads (attn blocks).
        rope: rotary attention (select channel pairs).
    """

    name: str
    kind: str
    sparsity: float
    proxies: dict
    act: object = None
    heads: int = 0
    kv_heads: int = 0
    rope: bool = False
    source: object = None  # the tensor the current selection was computed from
    idx: dict | None = None
    flops_dense: int = 0
    flops_actual: int = 0
    channels_kept: int = 0
    channels_total: int = 0


@dataclass
class State:
    """SparseLoRA's run state, kept on the model as ``model._sparselora``."""

    blocks: list
    active: bool
    context_aware: bool
    dense_tokens: torch.Tensor | None = None
    profile: bool = False
    dense_steps: int = 0
    sparse_steps: int = 0
    estimator_flops: int = 0
    estimator_seconds: float = 0.0
    handles: list = field(default_factory=list)

    def part(self, label: str):
        """A profiler range around one part of the sliced computation (only while profiling)."""
        return torch.profiler.record_function(f"sparselora.{label}") if self.profile else nullcontext()


def get_layers(model: torch.nn.Module, model_type: str) -> list:
    """The transformer layers: the first ModuleList whose items hold the family's q projection."""
    q_path = ARCHITECTURES[model_type]["attn"]["q"]
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module):
            try:
                module[0].get_submodule(q_path)
            except AttributeError:
                continue
            return list(module)
    raise ValueError(f"no transformer layers with {q_path!r} found in {type(model).__name__}")


def get_base(module: torch.nn.Module) -> torch.nn.Linear:
    """The frozen nn.Linear under a peft LoRA layer (or the layer itself)."""
    return getattr(module, "base_layer", module)


def get_lora_delta(module, x: torch.Tensor, *, rows=None, cols=None) -> torch.Tensor | None:
    """Sum of the active adapters' B·A·dropout(x)·scale, optionally on B's rows / A's columns."""
    if not hasattr(module, "lora_A") or module.disable_adapters or module.merged:
        return None
    delta = None
    for name in module.active_adapters:
        if name not in module.lora_A:
            continue
        a, b = module.lora_A[name].weight, module.lora_B[name].weight
        a = a if cols is None else a[:, cols]
        b = b if rows is None else b[rows]
        out = F.linear(F.linear(module.lora_dropout[name](x.to(a.dtype)), a), b) * module.scaling[name]
        delta = out if delta is None else delta + out
    return delta


def add(y: torch.Tensor, delta: torch.Tensor | None) -> torch.Tensor:
    return y if delta is None else (y + delta).to(y.dtype)


@torch.no_grad()
def select(block: Block, x: torch.Tensor, state: State) -> None:
    """Run the estimator on the sparse tokens of ``x`` once per forward; count its cost."""
    block.source = x
    xs = x.reshape(-1, x.shape[-1])
    if state.dense_tokens is not None:
        xs = xs[~state.dense_tokens]
    if xs.shape[0] == 0:  # every token carries the loss: nothing to sparsify
        block.idx = None
        return
    timed = not torch.compiler.is_compiling()  # a clock read does not trace: compiled runs go untimed
    start = time.perf_counter() if timed else 0.0
    with state.part("estimator"):
        if block.kind == "ffn":
            proxies = tuple(block.proxies[r] for r in ("gate", "up") if r in block.proxies)
            idx = select_ffn(xs, proxies, block.act, sparsity=block.sparsity)
            block.idx = {"gate": idx, "up": idx, "down": idx}
        else:
            block.idx = select_attention(
                xs, block.proxies, heads=block.heads, kv_heads=block.kv_heads, sparsity=block.sparsity, rope=block.rope
            )
    if timed:
        state.estimator_seconds += time.perf_counter() - start
    state.estimator_flops += sum(p.flops(xs.shape[0]) for p in block.proxies.values())
    width = block.idx["up"] if block.kind == "ffn" else block.idx["v"]
    full = next(iter(block.proxies.values())).out_features if block.kind == "ffn" else block.proxies["v"].out_features
    block.channels_kept += width.numel()
    block.channels_total += full


def merge_rows(n: int, parts: list, width: int, like: torch.Tensor) -> torch.Tensor:
    """Rows of ``parts`` [(positions, values)] placed into an (n, width) tensor."""
    out = like.new_zeros(n, width)
    for pos, values in parts:
        out = out.index_copy(0, pos, values)
    return out


def sliced_forward(module, x: torch.Tensor, *, role: str, block: Block, state: State) -> torch.Tensor:
    """The projection on the block's kept channels (see the module docstring)."""
    base = get_base(module)
    w, bias = base.weight, base.bias
    out_f, in_f = w.shape
    lead, xf = x.shape[:-1], x.reshape(-1, x.shape[-1])
    n = xf.shape[0]
    idx = block.idx[role]
    mask = state.dense_tokens
    if mask is not None:
        pos_s, pos_d = (~mask).nonzero().squeeze(1), mask.nonzero().squeeze(1)
        xs, xd = xf[pos_s], xf[pos_d]
    else:
        xs, xd = xf, None
    ns, nd = xs.shape[0], n - xs.shape[0]
    is_ffn = block.kind == "ffn"
    if role in ROW_ROLES:
        with state.part("gather"):
            wi, bi = w[idx], None if bias is None else bias[idx]
        with state.part("gemm"):
            ys = F.linear(xs, wi, bi)
        block.flops_actual += 2 * (ns * in_f * idx.numel() + nd * in_f * out_f)
        if is_ffn:
            ys = add(ys, get_lora_delta(module, xs, rows=idx))
            if xd is None:
                return ys.view(*lead, idx.numel())  # the whole FFN stays narrow
        with state.part("scatter"):
            ys = ys.new_zeros(ns, out_f).index_copy(1, idx, ys)
        if xd is not None:
            yd = F.linear(xd, w, bias)
            yd = add(yd, get_lora_delta(module, xd)) if is_ffn else yd
            ys = merge_rows(n, [(pos_s, ys), (pos_d, yd)], out_f, ys)
        y = ys.view(*lead, out_f)
        return y if is_ffn else add(y, get_lora_delta(module, x))
    # column roles: o / down
    narrow = x.shape[-1] != in_f
    with state.part("gather"):
        wi = w[:, idx]
        xs_cols = xs if narrow else xs[:, idx]
    with state.part("gemm"):
        ys = F.linear(xs_cols, wi, bias)
    block.flops_actual += 2 * (ns * idx.numel() * out_f + nd * in_f * out_f)
    if xd is not None:
        ys = merge_rows(n, [(pos_s, ys), (pos_d, F.linear(xd, w, bias))], out_f, ys)
    y = ys.view(*lead, out_f)
    # narrow FFN input: its skipped channels are 0, so A's kept columns give the full LoRA output
    return add(y, get_lora_delta(module, x, cols=idx) if narrow else get_lora_delta(module, x))


def make_forward(module, *, role: str, block: Block, state: State):
    """The replacement forward: dense (original) unless training, sparse steps and a sparse block."""
    original = module.forward

    def forward(x, *args, **kwargs):
        base = get_base(module)
        tokens = x.numel() // x.shape[-1]
        if module.training:
            block.flops_dense += 2 * tokens * base.in_features * base.out_features
        if not (module.training and state.active and block.sparsity > 0 and torch.is_grad_enabled()):
            if module.training:
                block.flops_actual += 2 * tokens * base.in_features * base.out_features
            return original(x, *args, **kwargs)
        if role in ROW_ROLES and block.source is not x:
            select(block, x, state)
        if block.idx is None:
            block.flops_actual += 2 * tokens * base.in_features * base.out_features
            return original(x, *args, **kwargs)
        return sliced_forward(module, x, role=role, block=block, state=state)

    return forward


def make_blocks(model, *, model_type: str, ffn_sparsity: list, attn_sparsity: list, rank: int) -> tuple:
    """Blocks for every layer and the (module, role, block) triples whose forward gets replaced."""
    from transformers.activations import get_activation

    spec, config = ARCHITECTURES[model_type], model.config
    act = get_activation(getattr(config, spec["act"]))
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    blocks, targets = [], []
    for i, layer in enumerate(get_layers(model, model_type)):
        for kind, sparsity in (("attn", attn_sparsity[i]), ("ffn", ffn_sparsity[i])):
            modules = {role: layer.get_submodule(path) for role, path in spec[kind].items()}
            readers = ("q", "k", "v") if kind == "attn" else ("gate", "up")
            proxies = {}
            if sparsity > 0:
                for role in readers:
                    if role in modules:
                        base = get_base(modules[role])
                        proxies[role] = Proxy(base.weight, base.bias, rank)
            block = Block(
                name=f"{i}.{kind}", kind=kind, sparsity=sparsity, proxies=proxies,
                act=act, heads=heads, kv_heads=kv_heads, rope=spec["rope"],
            )
            blocks.append(block)
            targets += [(module, role, block) for role, module in modules.items()]
    return blocks, targets


def get_dense_tokens(labels: torch.Tensor) -> torch.Tensor:
    """Causal LM: position t carries the loss when the label at t+1 is not -100 (flattened)."""
    dense = torch.zeros_like(labels, dtype=torch.bool)
    dense[:, :-1] = labels[:, 1:] != -100
    return dense.reshape(-1)


def install(model, blocks: list, targets: list, *, state: State, causal_lm: bool) -> None:
    """Replace the projections' forwards and hook the model to reset selections per forward."""
    for module, role, block in targets:
        module.forward = make_forward(module, role=role, block=block, state=state)

    def before_forward(_module, args, kwargs):
        for block in blocks:
            block.source, block.idx = None, None
        labels = kwargs.get("labels")
        state.dense_tokens = None
        if state.context_aware and causal_lm and labels is not None and _module.training:
            dense = get_dense_tokens(labels)
            state.dense_tokens = dense if bool(dense.any()) else None

    def after_forward(_module, args, kwargs, output):
        for block in blocks:
            block.source = None  # no activation outlives the forward through us

    state.handles = [
        model.register_forward_pre_hook(before_forward, with_kwargs=True),
        model.register_forward_hook(after_forward, with_kwargs=True),
    ]
