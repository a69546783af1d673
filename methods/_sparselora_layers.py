"""SparseLoRA's sliced projections: per-block channel choice, sliced GEMMs, per-step accounting.

Attention projections get their ``forward`` replaced (peft's ``lora.Linear`` or a plain
``nn.Linear``; parameter names are unchanged); the first of q/k/v that sees the block's
input runs the estimator, the others reuse its choice, and o (the block's last) clears it.
A gated MLP (Llama) gets its whole ``forward`` replaced; an ungated FFN (BERT) its
projections'.

- Row roles (q, k, v, gate, up, lin1, intermediate) multiply by ``W[idx]``: a narrow
  GEMM. Q/K/V scatter the narrow base output back to full width and then add the dense
  LoRA output. An FFN channel is skipped as a whole (its activation is 0), so the FFN
  stays narrow and gate/up's LoRA keeps only rows idx, down's only columns idx.
- Column roles (o, down, lin2, output) multiply by ``W[:, idx]``. For the FFN the input
  is already narrow; for o the attention output is gathered at the V indices.

Autograd records the narrow matmuls, so the input-gradient GEMMs shrink likewise and the
gradient reaches earlier layers through every sliced GEMM. With a context split (a Python
int from ``set_context``) positions < context_length take the sliced path and the rest
the original forward, joined along the sequence: static shapes, no sync. Kept widths are
fixed per layer, and nothing on the traced path counts: ``account`` derives the FLOPs,
kept channels and estimator FLOPs of a step from the schedule, once per step.
"""

import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from methods._sparselora_estimator import Proxy, ProxyGroup, get_head_keep, get_keep, select_attention, select_ffn

# model_type -> paths inside one transformer layer; "rope" marks rotary attention.
ARCHITECTURES = {
    "llama": {
        "attn": {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj"},
        "ffn": {"gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"},
        "mlp": "mlp",  # a gated MLP: its forward is replaced as a whole
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
    """The attention or FFN block of one layer: its sparsity, kept widths and proxies.

    Args:
        name: "<layer>.attn" or "<layer>.ffn".
        kind: "attn" or "ffn".
        sparsity: fraction of channels skipped on sparse steps (0 = always dense).
        proxies: role -> SVD proxy of the roles the estimator reads (attention: "qkv", one ``ProxyGroup``).
        shapes: role -> (out_features, in_features) of the block's projections.
        act: the FFN activation (ffn blocks).
        heads: query heads; kv_heads: key/value heads (attn blocks).
        rope: rotary attention (select channel pairs).
        keep: channels kept (ffn: of the intermediate width; attn: per head), fixed.
        width: the width ``keep`` is taken from (ffn: intermediate; attn: head_dim).
    """

    name: str
    kind: str
    sparsity: float
    proxies: dict
    shapes: dict = field(default_factory=dict)
    act: object = None
    heads: int = 0
    kv_heads: int = 0
    rope: bool = False
    keep: int = 0
    width: int = 0
    source: object = None  # the tensor the current selection was computed from (one forward)
    idx: dict | None = None
    flops_dense: int = 0
    flops_actual: int = 0
    channels_kept: int = 0
    channels_total: int = 0

    def kept(self, role: str) -> tuple:
        """(out, in) of ``role``'s sliced GEMM on sparse tokens."""
        out_f, in_f = self.shapes[role]
        if self.kind == "ffn":
            return (self.keep, in_f) if role in ROW_ROLES else (out_f, self.keep)
        heads = self.kv_heads if role in ("k", "v") else self.heads
        return (heads * self.keep, in_f) if role in ROW_ROLES else (out_f, heads * self.keep)


@dataclass
class State:
    """SparseLoRA's run state, kept on the model as ``model._sparselora``.

    ``context_length`` (a Python int from ``set_context``, or None) splits every sequence:
    positions < context_length run sparse, the rest dense. ``reference_gradient`` (Config.gradient
    "reference") detaches the sparse positions' q/k/v base outputs and o's gathered input. ``tokens`` is the (batch, length)
    of the last training forward, for the accounting that ``after_step`` does per step.
    """

    blocks: list
    active: bool
    context_aware: bool
    context_length: int | None = None
    tokens: tuple = ()
    profile: bool = False
    dense_steps: int = 0
    sparse_steps: int = 0
    estimator_flops: int = 0
    estimator_seconds: float = 0.0
    reference_gradient: bool = False
    handles: list = field(default_factory=list)
    patched: list = field(default_factory=list)  # the modules whose forward ``install`` replaced

    def part(self, label: str):
        """A profiler range around one part of the sliced computation (only while profiling)."""
        return torch.profiler.record_function(f"sparselora.{label}") if self.profile else nullcontext()

    def get_split(self, length: int) -> int:
        """Sparse positions per sequence: the context length (clipped), or all of them."""
        if self.context_length is None:
            return length
        return max(0, min(self.context_length, length))


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


def split(x: torch.Tensor, c: int) -> tuple:
    """(sparse part, dense part or None) of ``x`` (..., tokens, features) at position ``c``."""
    if c >= x.shape[-2]:
        return x, None
    return x[..., :c, :], x[..., c:, :]


def join(ys: torch.Tensor, yd: torch.Tensor | None) -> torch.Tensor:
    return ys if yd is None else torch.cat([ys, yd], dim=-2)


@torch.no_grad()
def select(block: Block, xs: torch.Tensor, state: State) -> dict:
    """Run the estimator on the sparse part ``xs`` (batch, tokens, hidden) of a block's input."""
    timed = not torch.compiler.is_compiling()  # a clock read does not trace: compiled runs go untimed
    start = time.perf_counter() if timed else 0.0
    with state.part("estimator"):
        if block.kind == "ffn":
            proxies = tuple(block.proxies[r] for r in ("gate", "up") if r in block.proxies)
            idx = select_ffn(xs, proxies, block.act, sparsity=block.sparsity)
            chosen = {"gate": idx, "up": idx, "down": idx}
        else:
            chosen = select_attention(
                xs.reshape(-1, xs.shape[-1]), block.proxies["qkv"], heads=block.heads, kv_heads=block.kv_heads,
                sparsity=block.sparsity, rope=block.rope,
            )
    if timed:
        state.estimator_seconds += time.perf_counter() - start
    return chosen


def is_sparse(module, block: Block, state: State) -> bool:
    """Sparse only in training forwards with gradients, after the dense warm-up, in sparse blocks."""
    return module.training and state.active and block.sparsity > 0 and torch.is_grad_enabled()


def sliced_forward(module, x: torch.Tensor, *, role: str, block: Block, state: State, c: int) -> torch.Tensor:
    """One projection on the block's kept channels for positions < c, dense after (see the module docstring)."""
    base = get_base(module)
    w, bias = base.weight, base.bias
    out_f, in_f = w.shape
    idx = block.idx[role]
    is_ffn = block.kind == "ffn"
    if role in ROW_ROLES:
        xs, xd = split(x, c)
        with state.part("gather"):
            wi, bi = w[idx], None if bias is None else bias[idx]
        with state.part("gemm"):
            # reference gradient: the base output of the sparse positions as under no_grad (q/k/v only)
            ys = F.linear(xs.detach() if state.reference_gradient and not is_ffn else xs, wi, bi)
        if is_ffn:  # an ungated FFN (BERT): the intermediate stays narrow; no context split here
            return add(ys, get_lora_delta(module, xs, rows=idx))
        with state.part("scatter"):
            ys = ys.new_zeros(*ys.shape[:-1], out_f).index_copy(-1, idx, ys)
        y = join(ys, None if xd is None else F.linear(xd, w, bias))
        return add(y, get_lora_delta(module, x))
    # column roles: o (full-width input, gathered at the V indices) / down of an ungated FFN (narrow input)
    narrow = x.shape[-1] != in_f
    xs, xd = (x, None) if narrow else split(x, c)
    with state.part("gather"):
        wi = w[:, idx]
        xs_cols = xs if narrow else xs[..., idx]
        if state.reference_gradient and not narrow:  # o's gathered input as under no_grad (reference)
            xs_cols = xs_cols.detach()
    with state.part("gemm"):
        ys = F.linear(xs_cols, wi, bias)
    y = join(ys, None if xd is None else F.linear(xd, w, bias))
    block.source, block.idx = None, None  # the block's last projection: its selection is spent
    # narrow FFN input: its skipped channels are 0, so A's kept columns give the full LoRA output
    return add(y, get_lora_delta(module, x, cols=idx) if narrow else get_lora_delta(module, x))


def make_forward(module, *, role: str, block: Block, state: State):
    """The replacement forward of one projection: dense (original) unless ``is_sparse``."""
    original = module.forward

    def forward(x, *args, **kwargs):
        if not is_sparse(module, block, state):
            return original(x, *args, **kwargs)
        c = state.get_split(x.shape[-2])
        if c == 0:  # no context position: every token dense
            return original(x, *args, **kwargs)
        if role in ROW_ROLES and block.source is not x:  # the block's first projection on this input
            block.source, block.idx = x, select(block, split(x, c)[0], state)
        if block.idx is None:
            return original(x, *args, **kwargs)
        return sliced_forward(module, x, role=role, block=block, state=state, c=c)

    return forward


def make_mlp_forward(mlp, modules: dict, *, block: Block, state: State):
    """The replacement forward of a gated MLP (Llama): down(act(gate(x))·up(x)) on the kept
    intermediate channels for positions < c, the original MLP after. The sparse part stays
    narrow end to end: a skipped channel's activation is 0, so gate/up keep only their LoRA
    rows ``idx`` and down's LoRA only its columns ``idx`` (exact for the zeros)."""
    original = mlp.forward
    gate, up, down = modules["gate"], modules["up"], modules["down"]

    def forward(x, *args, **kwargs):
        if not is_sparse(mlp, block, state):
            return original(x, *args, **kwargs)
        c = state.get_split(x.shape[-2])
        if c == 0:
            return original(x, *args, **kwargs)
        xs, xd = split(x, c)
        idx = select(block, xs, state)["up"]
        wg, wu, wd = get_base(gate), get_base(up), get_base(down)
        with state.part("gather"):
            g_w, u_w, d_w = wg.weight[idx], wu.weight[idx], wd.weight[:, idx]
            g_b = None if wg.bias is None else wg.bias[idx]
            u_b = None if wu.bias is None else wu.bias[idx]
        with state.part("gemm"):
            g = add(F.linear(xs, g_w, g_b), get_lora_delta(gate, xs, rows=idx))
            u = add(F.linear(xs, u_w, u_b), get_lora_delta(up, xs, rows=idx))
            h = block.act(g) * u
            ys = add(F.linear(h, d_w, wd.bias), get_lora_delta(down, h, cols=idx))
        return join(ys, None if xd is None else original(xd, *args, **kwargs))

    return forward


def make_blocks(model, *, model_type: str, ffn_sparsity: list, attn_sparsity: list, rank: int) -> tuple:
    """Blocks for every layer and the (module, role, block, parts) whose forward gets replaced
    (role "mlp": a whole gated MLP, ``parts`` its projections)."""
    from transformers.activations import get_activation

    spec, config = ARCHITECTURES[model_type], model.config
    act = get_activation(getattr(config, spec["act"]))
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    blocks, targets = [], []
    for i, layer in enumerate(get_layers(model, model_type)):
        for kind, sparsity in (("attn", attn_sparsity[i]), ("ffn", ffn_sparsity[i])):
            modules = {role: layer.get_submodule(path) for role, path in spec[kind].items()}
            shapes = {role: tuple(get_base(m).weight.shape) for role, m in modules.items()}
            readers = ("q", "k", "v") if kind == "attn" else ("gate", "up")
            proxies = {}
            if sparsity > 0:
                for role in readers:
                    if role in modules:
                        base = get_base(modules[role])
                        proxies[role] = Proxy(base.weight, base.bias, rank)
                if kind == "attn":
                    proxies = {"qkv": ProxyGroup([proxies[role] for role in readers])}
            if kind == "ffn":
                width = shapes["up"][0]
                keep = get_keep(width, sparsity)
            else:
                width = shapes["q"][0] // heads
                keep = get_head_keep(width, sparsity, rope=spec["rope"])
            block = Block(
                name=f"{i}.{kind}", kind=kind, sparsity=sparsity, proxies=proxies, shapes=shapes,
                act=act, heads=heads, kv_heads=kv_heads, rope=spec["rope"], keep=keep, width=width,
            )
            blocks.append(block)
            if kind == "ffn" and "gate" in modules:
                targets.append((layer.get_submodule(spec["mlp"]), "mlp", block, modules))
            else:
                targets += [(module, role, block, None) for role, module in modules.items()]
    return blocks, targets


def account(state: State, *, sparse: bool) -> None:
    """Add one training step's base GEMM FLOPs, kept channels and estimator FLOPs, derived
    from the schedule and the step's (batch, length) and context split (outside any graph)."""
    if not state.tokens:
        return
    batch, length = (int(v) for v in state.tokens)
    n = batch * length
    ns = batch * state.get_split(length) if sparse else 0
    for block in state.blocks:
        on = ns > 0 and block.sparsity > 0
        for role, (out_f, in_f) in block.shapes.items():
            dense = 2 * n * in_f * out_f
            block.flops_dense += dense
            if on:
                kept_out, kept_in = block.kept(role)
                block.flops_actual += 2 * (ns * kept_out * kept_in + (n - ns) * in_f * out_f)
            else:
                block.flops_actual += dense
        if on:
            block.channels_kept += block.keep
            block.channels_total += block.width
            rows = batch if block.kind == "ffn" else ns  # the FFN scores sequence means
            state.estimator_flops += sum(p.flops(rows) for p in block.proxies.values())
    state.tokens = ()


def install(model, blocks: list, targets: list, *, state: State) -> None:
    """Replace the forwards and hook the decoder stack to reset selections and note the batch shape."""
    state.patched = [module for module, *_ in targets]
    for module, role, block, parts in targets:
        if role == "mlp":
            module.forward = make_mlp_forward(module, parts, block=block, state=state)
        else:
            module.forward = make_forward(module, role=role, block=block, state=state)
    stack = getattr(model, getattr(model, "base_model_prefix", ""), None) or model

    def before_forward(_module, args, kwargs):
        for block in blocks:
            block.source, block.idx = None, None
        if not (_module.training and torch.is_grad_enabled()):
            return
        if state.context_aware and state.context_length is None:
            raise ValueError(
                "methods.sparselora.Config.context_aware=True, but this batch gives no context_length "
                "(its labels mark no prompt with -100): every token would run dense. Train on a prompt -> "
                "answer task (e.g. sst2_instruct), or set --set sparselora.context_aware=false"
            )
        ids = kwargs.get("input_ids", args[0] if args else None)
        ids = kwargs.get("inputs_embeds") if ids is None else ids
        if ids is not None:
            state.tokens = (ids.shape[0], ids.shape[1])

    def after_forward(_module, args, kwargs, output):
        for block in blocks:
            block.source, block.idx = None, None  # no activation outlives the forward through us

    state.handles = [
        stack.register_forward_pre_hook(before_forward, with_kwargs=True),
        stack.register_forward_hook(after_forward, with_kwargs=True),
    ]


def uninstall(state: State) -> None:
    """Undo ``install``: every replaced forward back to its class's, the stack's hooks removed."""
    for module in state.patched:
        module.__dict__.pop("forward", None)
    for handle in state.handles:
        handle.remove()
    state.patched, state.handles = [], []
