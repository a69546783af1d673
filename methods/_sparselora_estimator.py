"""SparseLoRA's training-free channel estimator (Khaki et al., ICML 2025, arXiv 2506.16500).

Offline, each frozen weight W (out, in) gets a rank-r SVD proxy, x·Wᵀ ≈ (x·A)·B,
computed once from the weights alone. Per batch, under no_grad (the indices carry no
gradient; the sliced GEMMs that use them do), the proxies score the channels and the
top k are kept, k = int(width·(1 − s)) (``get_keep``), one channel set per batch:

- FFN: each sample's sequence-mean input goes through the gate/up proxies, then
  act(gate)·up, then the L2 norm over the batch: one score per intermediate channel
  (‖act(lin1)‖ for an ungated FFN). The down projection reuses the FFN indices.
- Q/K: ‖q_c‖·‖k_c‖ per channel (norms over the sparse tokens, from the proxies' Gram
  matrices: ``ProxyGroup``), the query side averaged over the query heads of each GQA
  group; chosen per key/value head and shared by the
  query heads of its group (Hugging Face layout: query head h reads key/value head
  h // (heads / kv_heads)), so Q and K keep the same channels. With rotary embeddings
  the unit is the rotary pair (c, c + d/2), which RoPE mixes.
- V: ‖v_c‖ per key/value head; the output projection reuses the V indices.

Every head keeps the same number of channels, and k depends only on the width and the
sparsity, so every shape is static (one compiled graph serves every batch).
"""

import torch


class Proxy:
    """A rank-r stand-in for ``F.linear(x, W, b)``: A = V_r·diag(S_r) (in, r), B = U_rᵀ (r, out).

    With r = min(out, in) the proxy equals the layer (up to rounding).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, rank: int):
        w = weight.detach().float()
        u, s, vh = get_top_singular(w, rank)
        r = s.numel()
        self.a = (vh.T * s).to(weight.dtype).contiguous()
        self.b = u.T.to(weight.dtype).contiguous()
        self.bias = None if bias is None else bias.detach()
        self.rank = r
        self.out_features, self.in_features = w.shape

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.a.device != x.device or self.a.dtype != x.dtype:  # the model moved after apply()
            self.a, self.b = self.a.to(x.device, x.dtype), self.b.to(x.device, x.dtype)
        y = (x @ self.a) @ self.b
        return y if self.bias is None else y + self.bias.to(y.dtype)

    def flops(self, tokens: int) -> int:
        """Multiply-adds x2 of the two thin GEMMs for ``tokens`` rows."""
        return 2 * tokens * self.rank * (self.in_features + self.out_features)


class ProxyGroup:
    """The proxies of one block that read the same input (q, k, v), scored without their outputs.

    The input is multiplied once by the proxies' A matrices side by side (in, Σr). Each output
    channel's L2 norm over the rows then follows from that proxy's part Z (rows, r) through its
    r × r Gram matrix: ‖y_c‖² = b_cᵀ(ZᵀZ)b_c, plus 2·β_c·(1ᵀZ)·b_c + rows·β_c² with a bias β.
    The (rows, out) proxy outputs, most of the estimator's memory traffic, never exist; the norms
    are the same up to rounding (the Gram products run in float32 at least)."""

    def __init__(self, proxies: list):
        self.ranks = [p.rank for p in proxies]
        self.out_features = [p.out_features for p in proxies]
        self.in_features = proxies[0].in_features
        self.a = torch.cat([p.a for p in proxies], dim=1)
        # the Gram products run in float32 at least: converted now, not inside a compiled graph
        self.b = [p.b.to(torch.promote_types(p.b.dtype, torch.float32)) for p in proxies]
        self.bias = [None if p.bias is None else p.bias.to(self.b[0].dtype) for p in proxies]

    def get_norms(self, x: torch.Tensor) -> list:
        """Per proxy, the L2 norm of each output channel over the rows of ``x`` (rows, in), in
        float32 (float64 for float64 input)."""
        exact = torch.promote_types(x.dtype, torch.float32)
        if self.a.device != x.device or self.a.dtype != x.dtype or self.b[0].dtype != exact:  # the model moved
            self.a = self.a.to(x.device, x.dtype)
            self.b = [b.to(x.device, exact) for b in self.b]
            self.bias = [None if v is None else v.to(x.device, exact) for v in self.bias]
        z = (x @ self.a).to(exact)
        norms, start = [], 0
        for rank, b, bias in zip(self.ranks, self.b, self.bias):
            part = z[:, start : start + rank]
            start += rank
            squares = ((part.T @ part) @ b * b).sum(dim=0)
            if bias is not None:
                squares = squares + 2 * bias * (part.sum(dim=0) @ b) + part.shape[0] * bias.square()
            norms.append(squares.clamp_min(0).sqrt())
        return norms

    def flops(self, tokens: int) -> int:
        """Multiply-adds x2: the one input GEMM, then per proxy its Gram matrix and b_cᵀ(ZᵀZ)b_c."""
        work = 2 * tokens * self.in_features * sum(self.ranks)
        return work + sum(2 * r * (tokens * r + r * out + out) for r, out in zip(self.ranks, self.out_features))


# Above this smaller side a full SVD is slow (seconds per 8B-sized weight on a GPU, ~100 weights
# per model): the top singular triplets come from the eigenvectors of the small Gram matrix instead.
GRAM_ABOVE = 1024


def get_top_singular(w: torch.Tensor, rank: int) -> tuple:
    """(U_r, S_r, Vh_r) of the float32 matrix ``w``: the r largest singular triplets, exact (a
    full SVD for small matrices; for large ones the top eigenpairs of WᵀW or WWᵀ, whose
    eigenvalues are the squared singular values)."""
    r = min(rank, *w.shape)
    if min(w.shape) <= GRAM_ABOVE:
        u, s, vh = torch.linalg.svd(w, full_matrices=False)
        return u[:, :r], s[:r], vh[:r]
    tall = w.shape[0] >= w.shape[1]
    values, vectors = torch.linalg.eigh(w.T @ w if tall else w @ w.T)  # ascending
    top = vectors[:, -r:].flip(-1)
    s = values[-r:].flip(-1).clamp_min(0).sqrt()
    safe = s.clamp_min(torch.finfo(s.dtype).tiny)
    if tall:  # top = V_r: U_r = W V_r / s
        return (w @ top) / safe, s, top.T
    return top, s, (top.T @ w) / safe[:, None]  # top = U_r: Vh_r = U_rᵀ W / s


def get_keep(width: int, sparsity: float) -> int:
    """Channels kept out of ``width`` at ``sparsity``: int(width·(1 − s)), at least one
    (the 1e-9 absorbs float error: 10·(1 − 0.7) keeps 3, not 2)."""
    return max(1, min(width, int(width * (1.0 - sparsity) + 1e-9)))


def get_channel_norms(y: torch.Tensor) -> torch.Tensor:
    """L2 norm of each channel (last dim) over all tokens, in float32."""
    return y.reshape(-1, y.shape[-1]).float().norm(dim=0)


def get_top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k largest scores along the last dim, sorted ascending (regular gathers)."""
    return scores.topk(k, dim=-1).indices.sort(dim=-1).values


def get_ffn_scores(x: torch.Tensor, proxies: tuple, act) -> torch.Tensor:
    """Per intermediate channel: the L2 norm over the batch of act(gate)·up (act(lin1) for
    (lin1,)) of each sample's sequence mean. ``x`` is (batch, tokens, hidden), or
    (tokens, hidden) for one sample."""
    m = x.mean(dim=-2, dtype=torch.float32).to(x.dtype) if x.dim() > 1 else x
    m = m.reshape(-1, m.shape[-1])
    if len(proxies) == 2:
        gate, up = proxies
        return get_channel_norms(act(gate(m)) * up(m))
    return get_channel_norms(act(proxies[0](m)))


def select_ffn(x: torch.Tensor, proxies: tuple, act, *, sparsity: float) -> torch.Tensor:
    """The intermediate channels to keep for this batch (``x``: batch, tokens, hidden)."""
    scores = get_ffn_scores(x, proxies, act)
    return get_top_k(scores, get_keep(scores.numel(), sparsity))


def get_head_keep(head_dim: int, sparsity: float, *, rope: bool) -> int:
    """Channels kept per head: int(head_dim·(1 − s)), in whole rotary pairs with RoPE."""
    if rope and head_dim % 2 == 0:
        return 2 * get_keep(head_dim // 2, sparsity)
    return get_keep(head_dim, sparsity)


def select_per_head(scores: torch.Tensor, *, sparsity: float, rope: bool) -> torch.Tensor:
    """Kept within-head channels (kv_heads, k) from per-channel scores (kv_heads, head_dim).

    With rotary embeddings a channel c < d/2 and c + d/2 are kept or dropped together.
    """
    d = scores.shape[1]
    if rope and d % 2 == 0:
        half = d // 2
        pairs = get_top_k(scores[:, :half] + scores[:, half:], get_keep(half, sparsity))
        return torch.cat([pairs, pairs + half], dim=1)
    return get_top_k(scores, get_keep(d, sparsity))


def expand_heads(sel: torch.Tensor, *, heads: int, head_dim: int) -> torch.Tensor:
    """Flat channel indices for ``heads`` heads from per-kv-head choices (kv_heads, k).

    Query head h reads key/value head h // (heads // kv_heads), as transformers' repeat_kv.
    """
    rep = heads // sel.shape[0]
    per_head = sel.repeat_interleave(rep, dim=0)
    offsets = torch.arange(heads, device=sel.device).unsqueeze(1) * head_dim
    return (offsets + per_head).flatten()


def select_attention(x: torch.Tensor, proxies: ProxyGroup, *, heads: int, kv_heads: int, sparsity: float,
                     rope: bool) -> dict:
    """Kept output channels of q/k/v and input columns of o for this batch (``proxies``: q, k, v's)."""
    q_norms, k_norms, v_norms = proxies.get_norms(x)
    head_dim = q_norms.numel() // heads
    # the query side of a kv group: the mean of ‖q_c‖ over its query heads
    q_group = q_norms.view(kv_heads, heads // kv_heads, head_dim).mean(dim=1)
    qk_sel = select_per_head(q_group * k_norms.view(kv_heads, head_dim), sparsity=sparsity, rope=rope)
    v_sel = select_per_head(v_norms.view(kv_heads, head_dim), sparsity=sparsity, rope=False)
    return {
        "q": expand_heads(qk_sel, heads=heads, head_dim=head_dim),
        "k": expand_heads(qk_sel, heads=kv_heads, head_dim=head_dim),
        "v": expand_heads(v_sel, heads=kv_heads, head_dim=head_dim),
        "o": expand_heads(v_sel, heads=heads, head_dim=head_dim),
    }
