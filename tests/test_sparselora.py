"""SparseLoRA correctness on tiny models built in code (CPU, seconds)."""

import copy
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
)

from methods import get_method
from methods._sparselora_estimator import (
    Proxy,
    ProxyGroup,
    get_channel_norms,
    get_keep,
    select_attention,
    select_ffn,
)

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 100

lora, sparselora = get_method("lora"), get_method("sparselora")  # the modules plus the default hooks



def make_model(family: str, layers: int = 4):
    torch.manual_seed(0)
    if family == "bert":
        config = BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=layers, num_attention_heads=4,
                            intermediate_size=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        return BertForSequenceClassification(config), "SEQ_CLS"
    if family == "distilbert":
        config = DistilBertConfig(vocab_size=VOCAB, dim=64, n_layers=layers, n_heads=4, hidden_dim=128,
                                  dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0)
        return DistilBertForSequenceClassification(config), "SEQ_CLS"
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=layers, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=128)
    return LlamaForCausalLM(config), "CAUSAL_LM"


def make_pair(family: str, **options):
    """Plain LoRA and SparseLoRA on copies of one base, with identical (non-zero) adapters."""
    base, task_type = make_model(family)
    targets = ("q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2") if family == "distilbert" else ("all-linear",)
    common = dict(dropout=0.0, target_modules=targets)
    plain = lora.apply(copy.deepcopy(base), lora.Config(**common), task_type=task_type)
    cfg = sparselora.Config(**common, dense_warmup=0.0, **options)
    sparse = sparselora.apply(copy.deepcopy(base), cfg, task_type=task_type)
    torch.manual_seed(1)
    for name, p in plain.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.2)
    sparse.load_state_dict(plain.state_dict())
    return plain, sparse, cfg


def get_batch(family: str, *, prompt: int = 0):
    ids = torch.randint(0, VOCAB, (3, 12), generator=torch.Generator().manual_seed(2))
    if family == "llama":
        labels = ids.clone()
        labels[:, :prompt] = -100
        return {"input_ids": ids, "labels": labels}
    return {"input_ids": ids, "labels": torch.tensor([0, 1, 1])}


def run_step(model, batch) -> tuple:
    model.train()
    out = model(**batch)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    if hasattr(model, "_sparselora"):  # the step's accounting (dense_warmup 0: every step sparse)
        sparselora.after_step(model, sparselora.Config(dense_warmup=0.0), step=1, total_steps=1)
    return out.logits.detach(), grads


def assert_same(plain, sparse, batch, *, atol: float) -> None:
    logits_a, grads_a = run_step(plain, batch)
    logits_b, grads_b = run_step(sparse, batch)
    torch.testing.assert_close(logits_b, logits_a, atol=atol, rtol=0)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], atol=atol, rtol=0, msg=name)


@pytest.mark.parametrize("family", ["bert", "llama", "distilbert"])
def test_sparsity_zero_equals_lora(family):
    plain, sparse, cfg = make_pair(family, ffn_sparsity=0.0, attn_sparsity=0.0)
    assert_same(plain, sparse, get_batch(family), atol=1e-6)
    assert sparselora.stats(sparse, cfg)["compute_sparsity"] == 0.0


@pytest.mark.parametrize("family", ["bert", "llama", "distilbert"])
def test_sliced_path_keeping_every_channel_equals_lora(family):
    """A sparsity so small that every channel is kept still runs the estimator and the sliced GEMMs."""
    plain, sparse, cfg = make_pair(family, ffn_sparsity=1e-12, attn_sparsity=1e-12, dense_first=0, dense_last=0)
    assert_same(plain, sparse, get_batch(family), atol=1e-5)
    stats = sparselora.stats(sparse, cfg)
    assert stats["estimator_flops"] > 0 and stats["compute_sparsity"] == 0.0


def test_context_aware_split_keeping_every_channel_equals_lora():
    plain, sparse, cfg = make_pair("llama", ffn_sparsity=1e-12, attn_sparsity=1e-12, dense_first=0, dense_last=0,
                                   context_aware=True)
    sparselora.set_context(sparse, cfg, 5)
    assert_same(plain, sparse, get_batch("llama", prompt=5), atol=1e-5)


@pytest.mark.parametrize("dense_scored", [False, True])
def test_context_aware_split_computes_answer_positions_densely(dense_scored):
    """Sparse FFN in the last layer only: positions >= the split equal the dense model's logits
    exactly (the FFN is per token and nothing follows), the prompt positions do not. The split
    is context_length, or one position earlier with dense_scored (the last prompt position,
    whose logits predict the first answer token, dense too); the accounting follows."""
    plain, sparse, cfg = make_pair("llama", layer_ffn_sparsity=[0.0, 0.0, 0.0, 0.75],
                                   layer_attn_sparsity=[0.0] * 4, context_aware=True, dense_scored=dense_scored)
    batch = get_batch("llama", prompt=7)
    split = 6 if dense_scored else 7
    sparselora.set_context(sparse, cfg, 7)
    logits, _ = run_step(sparse, batch)
    dense, _ = run_step(plain, batch)
    torch.testing.assert_close(logits[:, split:], dense[:, split:], atol=1e-6, rtol=0)
    assert (logits[:, :split] - dense[:, :split]).abs().max() > 1e-3
    # 3 x 12 tokens, `split` per row sparse: the FFN of layer 3 skips 75% of its FLOPs on split/12 of them
    stats = sparselora.stats(sparse, cfg)
    assert stats["compute_sparsity_per_block"]["3.ffn"] == pytest.approx(0.75 * split / 12)
    sparselora.set_context(sparse, cfg, 0)  # no prompt position: every token dense
    assert sparselora.get_state(sparse).context_length == 0
    sparse.zero_grad()
    torch.testing.assert_close(run_step(sparse, batch)[0], dense, atol=1e-6, rtol=0)


def test_dense_scored_is_the_label_split_one_position_earlier():
    options = dict(layer_ffn_sparsity=[0.0, 0.0, 0.0, 0.75], layer_attn_sparsity=[0.0] * 4, context_aware=True)
    _, scored, scored_cfg = make_pair("llama", dense_scored=True, **options)
    _, labelled, labelled_cfg = make_pair("llama", **options)
    batch = get_batch("llama", prompt=7)
    sparselora.set_context(scored, scored_cfg, 7)
    sparselora.set_context(labelled, labelled_cfg, 6)
    torch.testing.assert_close(run_step(scored, batch)[0], run_step(labelled, batch)[0], atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"dense_scored=True needs context_aware=True"):
        sparselora.Config(dense_scored=True)


def test_context_aware_without_a_context_length_is_refused():
    _, sparse, cfg = make_pair("llama", context_aware=True)
    sparselora.set_context(sparse, cfg, None)
    with pytest.raises(ValueError, match=r"context_aware=True, but this batch gives no context_length.*"
                                         r"every token would run dense.*context_aware=false"):
        run_step(sparse, get_batch("llama"))
    with pytest.raises(ValueError, match="context_length=2.5"):
        sparselora.set_context(sparse, cfg, 2.5)
    sparse.eval()  # evaluation is dense and needs no context
    with torch.no_grad():
        sparse(**get_batch("llama"))


def make_linear(out_f: int, in_f: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(out_f, in_f, generator=g, dtype=torch.float64), torch.randn(out_f, generator=g, dtype=torch.float64)


def test_ffn_choice_is_top_k_of_sequence_mean_scores_and_oracle_at_full_rank():
    """The paper's FFN score: each sample's sequence mean through the proxies, SiLU(gate)·up,
    the L2 norm over the batch, top k = int(96 · 0.25) = 24: one channel set per batch."""
    x = torch.randn(5, 8, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mean = x.mean(dim=1)
    (wg, _), (wu, _) = make_linear(96, 32, 1), make_linear(96, 32, 2)
    act = torch.nn.functional.silu
    low = (Proxy(wg, None, 4), Proxy(wu, None, 4))
    chosen = select_ffn(x, low, act, sparsity=0.75)
    scores = (act(low[0](mean)) * low[1](mean)).norm(dim=0)
    assert chosen.tolist() == sorted(scores.topk(24).indices.tolist())
    full = (Proxy(wg, None, 32), Proxy(wu, None, 32))
    oracle = (act(mean @ wg.T) * (mean @ wu.T)).norm(dim=0)
    assert select_ffn(x, full, act, sparsity=0.75).tolist() == sorted(oracle.topk(24).indices.tolist())


def test_kept_channels_are_int_of_width_times_density():
    assert get_keep(14336, 0.99) == 143 and get_keep(1536, 0.99) == 15 and get_keep(10, 0.7) == 3
    assert get_keep(128, 0.2) == 102 and get_keep(4, 0.99) == 1 and get_keep(64, 0.0) == 64


@pytest.mark.parametrize("rope", [True, False])
def test_attention_choice_is_oracle_at_full_rank(rope):
    heads, kv_heads, d, hidden = 4, 2, 8, 32
    x = torch.randn(30, hidden, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    (wq, bq), (wk, bk), (wv, bv) = make_linear(heads * d, hidden, 1), make_linear(kv_heads * d, hidden, 2), make_linear(kv_heads * d, hidden, 3)
    proxies = ProxyGroup([Proxy(wq, bq, hidden), Proxy(wk, bk, hidden), Proxy(wv, bv, hidden)])
    idx = select_attention(x, proxies, heads=heads, kv_heads=kv_heads, sparsity=0.5, rope=rope)
    # oracle from the true activations, head by head
    qn = get_channel_norms(x @ wq.T + bq).view(kv_heads, 2, d).mean(dim=1)  # the group's mean ‖q_c‖
    kn = get_channel_norms(x @ wk.T + bk).view(kv_heads, d)
    vn = get_channel_norms(x @ wv.T + bv).view(kv_heads, d)
    for g in range(kv_heads):
        score = qn[g] * kn[g]
        if rope:
            pairs = (score[: d // 2] + score[d // 2 :]).topk(2).indices.tolist()
            want = sorted(pairs + [p + d // 2 for p in pairs])
        else:
            want = sorted(score.topk(4).indices.tolist())
        assert [c - g * d for c in idx["k"][g * 4 : (g + 1) * 4].tolist()] == want
        for h in (2 * g, 2 * g + 1):  # the query heads of kv head g keep the same channels
            assert [c - h * d for c in idx["q"][h * 4 : (h + 1) * 4].tolist()] == want
            want_v = sorted(vn[g].topk(4).indices.tolist())
            assert [c - h * d for c in idx["o"][h * 4 : (h + 1) * 4].tolist()] == want_v
        assert [c - g * d for c in idx["v"][g * 4 : (g + 1) * 4].tolist()] == want_v


def test_grouped_proxies_give_the_norms_of_their_outputs():
    """The Gram route (one input GEMM, no (rows, out) outputs) equals each proxy's output norms,
    with and without a bias, at unequal widths."""
    x = torch.randn(40, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    proxies = [Proxy(*make_linear(48, 32, 1), 4), Proxy(make_linear(16, 32, 2)[0], None, 6),
               Proxy(*make_linear(16, 32, 3), 32)]
    for got, proxy in zip(ProxyGroup(proxies).get_norms(x), proxies):
        torch.testing.assert_close(got, proxy(x).norm(dim=0), rtol=1e-9, atol=1e-9)


def test_flops_match_hand_count():
    base, _ = make_model("bert", layers=1)
    cfg = sparselora.Config(dropout=0.0, ffn_sparsity=0.5, attn_sparsity=0.5, dense_first=0, dense_last=0,
                            svd_rank=4, dense_warmup=0.0)
    model = sparselora.apply(base, cfg, task_type="SEQ_CLS")
    run_step(model, get_batch("bert"))
    n, h, f, r = 3 * 12, 64, 128, 4
    dense = 2 * n * (4 * h * h + 2 * h * f)
    actual = 2 * n * (3 * h * (h // 2) + (h // 2) * h + h * (f // 2) + (f // 2) * h)
    stats = sparselora.stats(model, cfg)
    assert stats["base_gemm_flops_dense"] == 2 * dense  # forward + input-gradient GEMMs
    assert stats["base_gemm_flops_actual"] == 2 * actual
    assert stats["compute_sparsity"] == pytest.approx(1 - actual / dense)
    # attention: one GEMM of every token with the 3 proxies' A, then each proxy's Gram matrix
    # and b_cᵀ(ZᵀZ)b_c; the FFN proxy on the 3 sequence means
    attention = 2 * n * h * 3 * r + 3 * 2 * r * (n * r + r * h + h)
    assert stats["estimator_flops"] == attention + 2 * 3 * r * (h + f)
    assert stats["channel_sparsity_ffn"] == 0.5 and stats["channel_sparsity_attn"] == 0.5
    assert set(stats["compute_sparsity_per_block"]) == {"0.attn", "0.ffn"}


def test_training_reaches_compute_sparsity_and_counts_dense_steps():
    from fixtures.training.settings import TrainSettings
    from fixtures.training.train import train

    base, task_type = make_model("llama", layers=2)
    cfg = sparselora.Config(lr=1e-2, dropout=0.0, dense_first=0, dense_last=0, dense_warmup=0.25)
    model = sparselora.apply(base, cfg, task_type=task_type)
    batches = (get_batch("llama") for _ in range(100))
    train(model, batches, method=sparselora, cfg=cfg, settings=TrainSettings(log_every=4), total_steps=8,
          device=torch.device("cpu"))
    stats = sparselora.stats(model, cfg)
    assert stats["dense_steps"] == 2 and stats["sparse_steps"] == 6
    # 6 of 8 steps skip 90% of FFN and 50% of attention channels
    assert 0.4 < stats["compute_sparsity"] < 0.75 * 0.9
    assert stats["channel_sparsity_ffn"] == pytest.approx(1 - get_keep(128, 0.9) / 128)
    assert {"weight_sparsity", "compute_sparsity_per_layer", "estimator_seconds"} <= set(stats)


def test_counted_flops_follow_the_phase_of_the_timed_steps():
    """MFU counts the work of the steps it times: SparseLoRA's dense warm-up steps count as dense,
    its sparse steps as LoRA's FLOPs minus the base FLOPs it skips (plus its estimator's)."""
    from fixtures.training.settings import TrainSettings
    from fixtures.training.train import train

    def run(method, cfg):
        base, task_type = make_model("llama", layers=2)
        model = method.apply(base, cfg, task_type=task_type)
        batches = (get_batch("llama") for _ in range(100))
        result = train(model, batches, method=method, cfg=cfg, settings=TrainSettings(log_every=4), total_steps=8,
                       device=torch.device("cpu"))
        return model, result

    # rank 1: LoRA's own FLOPs (which the sparse path also slices on dropped FFN channels) stay a
    # small share of the step, as at the scale tier's sizes
    common = dict(lr=1e-2, dropout=0.0, target_modules=("all-linear",), r=1, alpha=2)
    _, plain = run(lora, lora.Config(**common))
    cfg = sparselora.Config(**common, dense_first=0, dense_last=0, dense_warmup=0.25)
    model, sparse = run(sparselora, cfg)
    stats = sparselora.stats(model, cfg)
    assert plain.phase_flops == {"": plain.step_flops} and plain.first_step_flops == plain.step_flops
    assert set(sparse.phase_flops) == {"dense", "sparse"} and sparse.first_step_flops == sparse.phase_flops["dense"]
    assert sparse.phase_flops["dense"] == plain.step_flops  # the warm-up is LoRA's step
    skipped = (stats["base_gemm_flops_dense"] - stats["base_gemm_flops_actual"]) / stats["sparse_steps"]
    estimator = stats["estimator_flops"] / stats["sparse_steps"]
    assert sparse.phase_flops["sparse"] == pytest.approx(plain.step_flops - skipped + estimator, rel=0.05)
    # every step of this short run is timed (no warm-up steps): 2 dense, 6 sparse
    expected = (2 * sparse.phase_flops["dense"] + 6 * sparse.phase_flops["sparse"]) / 8
    assert sparse.step_flops == pytest.approx(expected, abs=1) and sparse.step_flops < 0.8 * plain.step_flops
    assert sparselora.get_phase(model, cfg) == "sparse"  # the probe left the method as it ended


def test_evaluation_is_dense():
    plain, sparse, _ = make_pair("llama", dense_first=0, dense_last=0)
    batch = get_batch("llama")
    plain.eval(), sparse.eval()
    with torch.no_grad():
        torch.testing.assert_close(sparse(**batch).logits, plain(**batch).logits, atol=1e-6, rtol=0)


def test_schedule_keeps_first_and_last_layers_dense():
    ffn, attn = sparselora.get_schedule(sparselora.Config(), 4)
    assert ffn == [0.0, 0.9, 0.9, 0.0] and attn == [0.0, 0.5, 0.5, 0.0]
    explicit = sparselora.Config(layer_ffn_sparsity=[0.1, 0.2], layer_attn_sparsity=[0.0, 0.3])
    assert sparselora.get_schedule(explicit, 2) == ([0.1, 0.2], [0.0, 0.3])
    with pytest.raises(ValueError, match="layer_ffn_sparsity has 2 entries; the model has 4"):
        sparselora.get_schedule(explicit, 4)


def test_unsupported_architecture_is_a_clear_error():
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=VOCAB))
    with pytest.raises(ValueError, match=r"supports model types llama, bert, distilbert.*'gpt2'"):
        sparselora.apply(model, sparselora.Config(target_modules=("c_attn",)), task_type="CAUSAL_LM")


@pytest.mark.parametrize("field, value", [
    ("ffn_sparsity", 1.0), ("attn_sparsity", -0.1), ("svd_rank", 0), ("dense_warmup", 1.0),
    ("dense_first", -1), ("layer_ffn_sparsity", [0.5, 1.2]), ("context_aware", "yes"), ("dense_scored", 1), ("r", 0),
])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=rf"Config\.{field}"):
        sparselora.Config(**{field: value})


def test_config_is_json_native():
    cfg = sparselora.Config(layer_ffn_sparsity=[0.5, 0.5])
    assert cfg.layer_ffn_sparsity == (0.5, 0.5) and dataclasses.asdict(cfg)["svd_rank"] == 8
    assert hash(sparselora.Config(target_modules=["q_proj"])) is not None


def test_registered_in_the_matrix():
    from bench.matrix import CASES, TIERS

    assert {c.id for c in CASES if c.method == "sparselora" and c.hardware == "cpu" and c.tier == "tiny"} == {
        f"sparselora-{d}-tiny-cpu-seed0" for d in ("sst2", "imdb", "wikitext2", "sst2_instruct", "imdb_instruct")
    }
    sparselora.Config(**TIERS["tiny"].options["sparselora"])


def test_perf_script_runs_tiny_on_cpu():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "perf_sparselora.py"), "--tiny", "--steps", "1", "--warmup", "1", "--sweep", "0.5:0.5",
         "--batch-size", "2", "--seq-len", "32", "--gradients", "exact,reference"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "estimator" in proc.stdout and "# sweep" in proc.stdout and "(reference gradient)" in proc.stdout
    result = re.search(r"RESULT speed-up ([0-9.]+)x compute_sparsity ([0-9.]+)", proc.stdout)
    assert result and float(result.group(1)) > 0 and float(result.group(2)) > 0.3


def test_fixed_selection_reuses_the_first_batch_channels_without_the_estimator(monkeypatch):
    """perf_sparselora --fixed-selection: the same forward as the estimator's on the recorded
    batch, and no estimator call inside."""
    from bench.perf_sparselora import fixed_selection

    from methods import _sparselora_layers

    _, model, cfg = make_pair("llama", dense_first=0, dense_last=0)
    batch = get_batch("llama")
    other = {k: v.flip(0) for k, v in batch.items()}
    expected, _ = run_step(model, batch)
    model.zero_grad()
    calls = []
    real = _sparselora_layers.select_ffn
    monkeypatch.setattr(_sparselora_layers, "select_ffn", lambda *a, **k: calls.append(1) or real(*a, **k))
    with fixed_selection(model, cfg, batch):
        recorded = len(calls)
        logits, _ = run_step(model, batch)
        run_step(model, other)
    assert recorded > 0 and len(calls) == recorded  # the recording forward only
    torch.testing.assert_close(logits, expected, atol=1e-6, rtol=0)
    assert _sparselora_layers.select.__name__ == "select"  # restored, and no channel set left behind
    assert not any(hasattr(block, "fixed") for block in sparselora.get_state(model).blocks)


def make_llama(heads: int, kv_heads: int, *, layers: int = 2, head_dim: int = 8, ffn: int = 48):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=4 * heads, num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=kv_heads, head_dim=head_dim, intermediate_size=ffn)
    return LlamaForCausalLM(config).double()


def record_selections(monkeypatch) -> list:
    """Every selection the estimator makes, in call order (per layer: attention, then FFN)."""
    from methods import _sparselora_layers as layers

    chosen, original = [], layers.select

    def spy(block, xs, state):
        out = original(block, xs, state)
        chosen.append((block.name, {k: v.clone() for k, v in out.items()}))
        return out

    monkeypatch.setattr(layers, "select", spy)
    return chosen


def mask_like_selection(model, chosen: list, c: int) -> None:
    """The dense reference: at positions < c, the base outputs of q/k/v outside the kept channels,
    the o input columns outside them and the FFN's intermediate channels outside them (LoRA
    included) are zeroed; positions >= c stay dense."""
    layers = model.get_base_model().model.layers

    def drop(t, keep):
        t = t.clone()
        t[:, :c, ~keep] = 0
        return t

    for name, idx in chosen:
        i, kind = name.split(".")
        layer = layers[int(i)]
        for role in ("q", "k", "v", "o") if kind == "attn" else ("down",):
            module = getattr(layer.self_attn, f"{role}_proj") if kind == "attn" else layer.mlp.down_proj
            width = module.in_features if role in ("o", "down") else module.out_features
            keep = torch.zeros(width, dtype=torch.bool)
            keep[idx[role]] = True
            if role == "down":  # the whole intermediate channel, LoRA of gate/up included
                module.register_forward_pre_hook(lambda m, args, keep=keep: (drop(args[0], keep),))
            elif role == "o":
                module.base_layer.register_forward_pre_hook(lambda m, args, keep=keep: (drop(args[0], keep),))
            else:
                module.base_layer.register_forward_hook(lambda m, args, out, keep=keep: drop(out, keep))


@pytest.mark.parametrize("heads, kv_heads", [(9, 3), (32, 8)])  # SmolLM2's and Llama-3's grouping
@pytest.mark.parametrize("sparsity", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("context_length", [None, 5])
def test_outputs_and_gradients_equal_the_masked_dense_model(monkeypatch, heads, kv_heads, sparsity, context_length):
    """Every sliced projection (q/k/v/o with GQA, gate/up/down), LoRA on all of them: the sparse
    model's outputs, input gradients (through both layers) and LoRA gradients equal those of the
    dense model whose skipped channels are zeroed. No gather cuts the gradient to earlier layers."""
    base = make_llama(heads, kv_heads)
    cfg = sparselora.Config(dropout=0.0, target_modules=("all-linear",), ffn_sparsity=sparsity, attn_sparsity=sparsity,
                            dense_first=0, dense_last=0, dense_warmup=0.0, context_aware=context_length is not None)
    sparse = sparselora.apply(base, cfg, task_type="CAUSAL_LM")
    for name, p in sparse.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.2, generator=torch.Generator().manual_seed(len(name)))
    reference = lora.apply(make_llama(heads, kv_heads), lora.Config(dropout=0.0, target_modules=("all-linear",)),
                           task_type="CAUSAL_LM")
    reference.load_state_dict(sparse.state_dict())
    sparselora.set_context(sparse, cfg, context_length)
    chosen = record_selections(monkeypatch)
    embeds = torch.randn(3, 12, 4 * heads, dtype=torch.float64, generator=torch.Generator().manual_seed(3))

    def run(model):
        model.train()
        model.zero_grad()
        x = embeds.clone().requires_grad_(True)
        out = model(inputs_embeds=x).logits
        (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum().backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
        return out.detach(), x.grad, grads

    out, grad_x, grads = run(sparse)
    assert [name for name, _ in chosen] == ["0.attn", "0.ffn", "1.attn", "1.ffn"]
    for name, idx in chosen:  # k = int(width · (1 − s)) per layer: 8-wide heads in rotary pairs, 48-wide FFN
        want = 48 * (1 - sparsity) if name.endswith("ffn") else heads * 2 * int(4 * (1 - sparsity))
        assert idx["up" if name.endswith("ffn") else "q"].numel() == int(want)
    mask_like_selection(reference, chosen, 12 if context_length is None else context_length)
    ref_out, ref_grad_x, ref_grads = run(reference)
    torch.testing.assert_close(out, ref_out, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(grad_x, ref_grad_x, atol=1e-10, rtol=1e-10)
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], atol=1e-10, rtol=1e-10, msg=name)


@pytest.mark.parametrize("heads, kv_heads", [(9, 3), (32, 8)])
def test_query_heads_keep_the_channels_of_their_hf_key_value_head(heads, kv_heads):
    """Hugging Face's layout (repeat_kv): query head h attends with key/value head h // (heads / kv_heads)."""
    d, hidden = 8, 32
    x = torch.randn(20, hidden, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    proxies = ProxyGroup([Proxy(make_linear(n * d, hidden, i)[0], None, 4) for i, n in enumerate((heads, kv_heads, kv_heads))])
    idx = select_attention(x, proxies, heads=heads, kv_heads=kv_heads, sparsity=0.5, rope=True)
    q, k, v, o = (idx[r].view(-1, 4) % d for r in ("q", "k", "v", "o"))
    for h in range(heads):
        assert q[h].tolist() == k[h // (heads // kv_heads)].tolist()
        assert o[h].tolist() == v[h // (heads // kv_heads)].tolist()  # O reuses the V indices
    assert (idx["q"].view(-1, 4) // d).tolist() == [[h] * 4 for h in range(heads)]


def count_graphs():
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    return graphs, backend


def test_training_steps_compile_once_and_do_not_recompile():
    """Static kept widths, no counters on the traced path, the context split from a Python int:
    three sparse steps with a prompt/answer split trace as one graph (fullgraph) and reuse it."""
    base, task_type = make_model("llama", layers=2)
    cfg = sparselora.Config(dropout=0.0, dense_first=0, dense_last=0, dense_warmup=0.0, context_aware=True)
    model = sparselora.apply(base, cfg, task_type=task_type)
    graphs, backend = count_graphs()
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    counts = []
    for step in range(1, 4):
        sparselora.set_context(model, cfg, 5)
        batch = {k: v.roll(step, 0) for k, v in get_batch("llama", prompt=5).items()}
        compiled(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        sparselora.after_step(model, cfg, step=step, total_steps=3)
        counts.append(len(graphs))
    assert counts[0] >= 1 and counts == [counts[0]] * 3, counts
    stats = sparselora.stats(model, cfg)
    # FFN 0.9 and attention 0.5 of the channels skipped on 5 of 12 positions
    assert stats["sparse_steps"] == 3 and 0.5 * 5 / 12 < stats["compute_sparsity"] < 0.9 * 5 / 12
    assert stats["estimator_seconds"] == 0.0  # no clock read on the traced path


def test_paper_presets_are_the_published_schedules():
    ffn, attn = sparselora.get_schedule(sparselora.Config(preset="llama3-8b-math"), 32)
    assert [i for i, s in enumerate(ffn) if s] == list(range(3, 31)) and set(ffn) == {0.0, 0.99}
    assert [i for i, s in enumerate(attn) if s] == [*range(14, 20), *range(21, 24), *range(25, 30)]
    assert set(attn) == {0.0, 0.75}
    ffn, attn = sparselora.get_schedule(sparselora.Config(preset="llama3-8b-csr"), 32)
    assert [i for i, s in enumerate(ffn) if s] == list(range(17, 31)) and max(ffn) == 0.97
    assert [i for i, s in enumerate(attn) if s] == [*range(17, 20), *range(21, 24), *range(25, 30)] and max(attn) == 0.2
    assert sparselora.get_schedule(sparselora.Config(preset="math"), 32) == sparselora.get_schedule(
        sparselora.Config(preset="llama3-8b-math"), 32)
    assert sparselora.Config().dense_warmup == 0.05  # the paper's first 5% of steps dense
    assert sparselora.PAPER_LORA == {"r": 32, "alpha": 64, "target_modules": ("q_proj", "k_proj", "v_proj", "o_proj")}


@pytest.mark.parametrize("layers", [16, 28, 30])
def test_depth_scaled_presets_keep_the_fractions_of_depth(layers):
    ffn, attn = sparselora.get_schedule(sparselora.Config(preset="math"), layers)
    assert len(ffn) == len(attn) == layers
    assert sum(s > 0 for s in ffn) / layers == pytest.approx(28 / 32, abs=1.5 / layers)
    assert sum(s > 0 for s in attn) / layers == pytest.approx(14 / 32, abs=1.5 / layers)
    assert ffn[0] == 0.0 and ffn[-1] == 0.0 and attn[: layers // 3] == [0.0] * (layers // 3)


def test_a_preset_that_does_not_fit_the_depth_is_refused():
    with pytest.raises(ValueError, match=r"preset='llama3-8b-math' lists layers 3-30 \(FFN\) and 14-19, 21-23, "
                                         r"25-29 \(attention\) of a 32-layer model; this model has 30 layers.*'math'"):
        sparselora.get_schedule(sparselora.Config(preset="llama3-8b-math"), 30)
    with pytest.raises(ValueError, match=r"Config\.preset='llama8b'"):
        sparselora.Config(preset="llama8b")
    with pytest.raises(ValueError, match=r"Config\.preset='math' gives the per-layer schedule"):
        sparselora.Config(preset="math", layer_ffn_sparsity=[0.5])


def test_the_math_preset_on_smollm2_skips_most_context_flops():
    """SmolLM2-135M's shapes (30 layers, FFN 1536, 9/3 heads) with the paper's LoRA targets."""
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, head_dim=64)
    torch.manual_seed(0)
    with torch.device("meta"):
        shapes = LlamaForCausalLM(config)
    from methods._sparselora_layers import State, account, make_blocks

    ffn, attn = sparselora.get_schedule(sparselora.Config(preset="math"), 30)
    blocks, _ = make_blocks(shapes, model_type="llama", ffn_sparsity=ffn, attn_sparsity=[0.0] * 30, rank=8)
    state = State(blocks=blocks, active=True, context_aware=False, tokens=(2, 64))
    account(state, sparse=True)
    dense, actual = sum(b.flops_dense for b in blocks), sum(b.flops_actual for b in blocks)
    assert 1 - actual / dense > 0.6


@pytest.mark.parametrize("shape", [(1300, 1100), (1100, 1300)])
def test_large_proxies_take_the_same_top_singular_triplets_as_a_full_svd(shape):
    """Above GRAM_ABOVE the proxy's rank-r factors come from the Gram matrix; they must give the
    SVD's best rank-r approximation (a matrix with a clear top-8 spectrum)."""
    from methods._sparselora_estimator import GRAM_ABOVE, get_top_singular

    assert min(shape) > GRAM_ABOVE
    g = torch.Generator().manual_seed(0)
    out_f, in_f = shape
    w = torch.randn(out_f, 8, generator=g) @ torch.randn(8, in_f, generator=g) + 0.01 * torch.randn(shape, generator=g)
    u, s, vh = get_top_singular(w, 8)
    u0, s0, vh0 = torch.linalg.svd(w, full_matrices=False)
    torch.testing.assert_close(s, s0[:8], rtol=1e-4, atol=1e-3)
    best = (u0[:, :8] * s0[:8]) @ vh0[:8]
    torch.testing.assert_close((u * s) @ vh, best, rtol=1e-3, atol=1e-3)
    x = torch.randn(4, in_f, generator=g)
    proxy = Proxy(w, None, 8)
    torch.testing.assert_close(proxy(x), x @ best.T, rtol=1e-3, atol=1e-2)


def test_layer_by_layer_compilation_shares_a_graph_between_layers_of_one_schedule():
    """compile_scope=layers: dynamo guards on each layer's sparsity by value, so 8 layers of the
    depth-scaled math preset (dense, FFN-only and FFN + attention layers) trace as 3 graphs, not 8,
    and the compiled step's logits and gradients are the eager step's."""
    base, task_type = make_model("llama", layers=8)
    base.config.use_cache = False
    cfg = sparselora.Config(target_modules=("q_proj", "k_proj", "v_proj", "o_proj"), dropout=0.0,
                            preset="math", dense_warmup=0.0, context_aware=True)
    model = sparselora.apply(base, cfg, task_type=task_type)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.1)  # a non-zero adapter, so its gradients are tested too
    batch = get_batch("llama", prompt=8)

    def step():
        model.zero_grad(set_to_none=True)
        sparselora.set_context(model, cfg, 8)
        logits, _ = run_step(model, batch)
        return logits, [p.grad.clone() for p in model.parameters() if p.requires_grad]

    eager_logits, eager_grads = step()
    graphs, backend = count_graphs()
    layers = model.get_base_model().model.layers
    for layer in layers:
        layer.compile(backend=backend)
    try:
        logits, grads = step()
        again, _ = step()
    finally:
        for layer in layers:
            layer._compiled_call_impl = None
    # layer 0 (dense; its input needs no grad), layers 1, 2, 7 (FFN sparse), 3-6 (FFN + attention)
    assert len(graphs) == 3, len(graphs)
    torch.testing.assert_close(logits, eager_logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(again, eager_logits, rtol=0, atol=1e-5)
    for got, want in zip(grads, eager_grads):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
