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

from methods import lora, sparselora
from methods._sparselora_estimator import (
    Proxy,
    get_channel_norms,
    get_keep,
    select_attention,
    select_ffn,
)

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 100


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
    plain, sparse, cfg = make_pair(family, ffn_sparsity=1e-6, attn_sparsity=1e-6, dense_first=0, dense_last=0)
    assert_same(plain, sparse, get_batch(family), atol=1e-5)
    stats = sparselora.stats(sparse, cfg)
    assert stats["estimator_flops"] > 0 and stats["compute_sparsity"] == 0.0


def test_context_aware_split_keeping_every_channel_equals_lora():
    plain, sparse, _ = make_pair("llama", ffn_sparsity=1e-6, attn_sparsity=1e-6, dense_first=0, dense_last=0,
                                 context_aware=True)
    assert_same(plain, sparse, get_batch("llama", prompt=5), atol=1e-5)


def test_context_aware_split_computes_loss_tokens_densely():
    _, sparse, cfg = make_pair("llama", ffn_sparsity=0.5, attn_sparsity=0.5, dense_first=0, dense_last=0,
                               context_aware=True)
    batch = get_batch("llama", prompt=6)
    run_step(sparse, batch)
    # 3 x 12 tokens; positions 5..10 predict a labelled token (dense), the other 6 per row are sparse
    stats = sparselora.stats(sparse, cfg)
    assert 0.0 < stats["compute_sparsity"] < 0.5 * 0.75
    sparse.zero_grad()
    run_step(sparse, get_batch("llama", prompt=12))  # nothing labelled: all sparse
    assert sparselora.stats(sparse, cfg)["compute_sparsity"] > stats["compute_sparsity"]


def make_linear(out_f: int, in_f: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(out_f, in_f, generator=g, dtype=torch.float64), torch.randn(out_f, generator=g, dtype=torch.float64)


def test_ffn_choice_is_top_k_of_proxy_scores_and_oracle_at_full_rank():
    x = torch.randn(40, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    (wg, _), (wu, _) = make_linear(96, 32, 1), make_linear(96, 32, 2)
    act = torch.nn.functional.silu
    low = (Proxy(wg, None, 4), Proxy(wu, None, 4))
    chosen = select_ffn(x, low, act, sparsity=0.75)
    scores = (act(low[0](x)) * low[1](x)).norm(dim=0)
    assert chosen.tolist() == sorted(scores.topk(24).indices.tolist())
    full = (Proxy(wg, None, 32), Proxy(wu, None, 32))
    oracle = (act(x @ wg.T) * (x @ wu.T)).norm(dim=0)
    assert select_ffn(x, full, act, sparsity=0.75).tolist() == sorted(oracle.topk(24).indices.tolist())


@pytest.mark.parametrize("rope", [True, False])
def test_attention_choice_is_oracle_at_full_rank(rope):
    heads, kv_heads, d, hidden = 4, 2, 8, 32
    x = torch.randn(30, hidden, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    (wq, bq), (wk, bk), (wv, bv) = make_linear(heads * d, hidden, 1), make_linear(kv_heads * d, hidden, 2), make_linear(kv_heads * d, hidden, 3)
    proxies = {"q": Proxy(wq, bq, hidden), "k": Proxy(wk, bk, hidden), "v": Proxy(wv, bv, hidden)}
    idx = select_attention(x, proxies, heads=heads, kv_heads=kv_heads, sparsity=0.5, rope=rope)
    # oracle from the true activations, head by head
    qn = get_channel_norms(x @ wq.T + bq).view(kv_heads, 2, d).norm(dim=1)
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
    assert stats["estimator_flops"] == 3 * 2 * n * r * (h + h) + 2 * n * r * (h + f)
    assert stats["channel_sparsity_ffn"] == 0.5 and stats["channel_sparsity_attn"] == 0.5
    assert set(stats["compute_sparsity_per_block"]) == {"0.attn", "0.ffn"}


def test_training_reaches_compute_sparsity_and_counts_dense_steps():
    from fixtures.settings import TrainSettings
    from fixtures.train import train

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
    ("dense_first", -1), ("layer_ffn_sparsity", [0.5, 1.2]), ("context_aware", "yes"), ("r", 0),
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
        f"sparselora-{d}-tiny-cpu-seed0" for d in ("sst2", "imdb", "wikitext2")
    }
    sparselora.Config(**TIERS["tiny"].options["sparselora"])


def test_perf_script_runs_tiny_on_cpu():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "perf_sparselora.py"), "--tiny", "--steps", "1", "--warmup", "1", "--sweep", "0.5:0.5",
         "--batch-size", "2", "--seq-len", "32"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "estimator" in proc.stdout and "# sweep" in proc.stdout
    result = re.search(r"RESULT speed-up ([0-9.]+)x compute_sparsity ([0-9.]+)", proc.stdout)
    assert result and float(result.group(1)) > 0 and float(result.group(2)) > 0.3


def test_training_step_traces_under_torch_compile():
    """The estimator reads no clock while dynamo traces it (a clock read there warned, and
    the suite's -W error made every compiled SparseLoRA case fail)."""
    plain, sparse, _ = make_pair("llama", dense_first=0, dense_last=0)
    compiled = torch.compile(sparse, backend="eager")  # dynamo's tracing, no code generation
    batch = get_batch("llama")
    compiled.train()
    compiled(**batch).loss.backward()
    stats = sparselora.stats(sparse, sparselora.Config(dense_first=0, dense_last=0))
    assert stats["compute_sparsity"] > 0 and stats["estimator_seconds"] == 0.0


def test_training_loop_refuses_to_compile_it():
    from fixtures.settings import TrainSettings
    from fixtures.train import train

    base, task_type = make_model("llama", layers=2)
    cfg = sparselora.Config(dropout=0.0)
    model = sparselora.apply(base, cfg, task_type=task_type)
    with pytest.raises(ValueError, match=r"compile='default': sparselora cannot be compiled .*train.compile=''"):
        train(model, iter([]), method=sparselora, cfg=cfg, settings=TrainSettings(compile="default"), total_steps=1,
              device=torch.device("cpu"))
