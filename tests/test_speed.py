"""The speed options: chunked LM loss, batches on the device, dtypes, compile, FLOPs/MFU, measure off."""

import dataclasses

import pytest
import torch

from fixtures.data.batches import iter_classification_batches, pad
from fixtures.models.models import make_tiny_model
from fixtures.training.flops import get_mfu, get_peak_flops, make_flop_counter
from fixtures.training.lm_loss import TrainingLoss, get_chunked_lm_loss
from fixtures.training.settings import TrainSettings
from fixtures.training.train import train
from methods import get_method


def make_lm(seed=0):
    model, _ = make_tiny_model("tiny-llama", kind="lm", num_labels=0, seed=seed)
    return model


@pytest.mark.parametrize("chunk", [7, 64, 10_000])
def test_chunked_loss_equals_the_models_own_loss_and_gradients(chunk):
    model = make_lm()
    ids = torch.randint(0, model.config.vocab_size, (3, 40), generator=torch.Generator().manual_seed(1))
    own = model(input_ids=ids, labels=ids).loss
    own.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    chunked = get_chunked_lm_loss(model, input_ids=ids, labels=ids, chunk=chunk)
    chunked.backward()
    torch.testing.assert_close(chunked, own)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[n], msg=n)


def test_chunked_loss_goes_through_a_peft_wrapper():
    lora = get_method("lora")
    model = lora.apply(make_lm(), lora.Config(dropout=0.0), task_type="CAUSAL_LM")
    ids = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(TrainingLoss(model, loss_chunk=5)(input_ids=ids, labels=ids),
                               model(input_ids=ids, labels=ids).loss)


def test_device_batches_equal_host_padding_and_round_to_the_multiple():
    rows = [[5] * n for n in (3, 9, 4, 17, 2, 6, 11, 8)]
    labels = [0, 1, 0, 1, 1, 0, 1, 0]
    batches = iter_classification_batches(rows, labels, pad_id=0, batch_size=4, seed=3, device="cpu")
    padded = iter_classification_batches(rows, labels, pad_id=0, batch_size=4, seed=3, device="cpu", pad_multiple=8)
    generator = torch.Generator().manual_seed(3)
    order = torch.randperm(len(rows), generator=generator)
    for start in (0, 4):
        idx = order[start : start + 4]
        expected = pad([rows[i] for i in idx], pad_id=0)
        got, rounded = next(batches), next(padded)
        assert torch.equal(got["input_ids"], expected["input_ids"])
        assert torch.equal(got["attention_mask"], expected["attention_mask"])
        assert got["labels"].tolist() == [labels[i] for i in idx]
        assert rounded["input_ids"].shape[1] % 8 == 0
        assert rounded["attention_mask"].sum() == got["attention_mask"].sum()


def test_precision_settings_are_checked():
    assert TrainSettings(compile=True).compile == "default"
    assert TrainSettings(compile=False).compile == ""
    with pytest.raises(ValueError, match="compile"):
        TrainSettings(compile="fast")
    with pytest.raises(ValueError, match="autocast"):
        TrainSettings(dtype="bf16")  # fp32 trainable params in a bf16 model need autocast
    TrainSettings(dtype="bf16", autocast="bf16")
    TrainSettings(dtype="bf16", trainable_dtype="bf16")
    with pytest.raises(ValueError, match="dtype"):
        TrainSettings(dtype="fp8", trainable_dtype="fp8")
    with pytest.raises(ValueError, match="loss_chunk"):
        TrainSettings(loss_chunk=-1)


def test_flop_counter_counts_a_linear_step():
    layer = torch.nn.Linear(10, 20, bias=False)
    x = torch.randn(4, 10)
    with make_flop_counter(True) as counter:
        layer(x).sum().backward()
    # forward 2*4*10*20, weight gradient the same; the input needs no gradient
    assert counter.get_total_flops() == 2 * (2 * 4 * 10 * 20)
    with make_flop_counter(False) as nothing:
        assert nothing is None


def test_mfu_against_a_known_peak_only():
    assert get_peak_flops("NVIDIA H200") == pytest.approx(989.4e12)
    assert get_peak_flops("") is None and get_peak_flops("Some CPU") is None
    assert get_mfu(989.4e12, 1.0, "NVIDIA H200") == pytest.approx(1.0)
    assert get_mfu(1e12, 1.0, "") is None and get_mfu(None, 1.0, "NVIDIA H200") is None


def run_lm(settings, steps=12, seed=0):
    torch.manual_seed(seed)
    lora = get_method("lora")
    cfg = lora.Config(dropout=0.0, lr=5e-3)
    model = lora.apply(make_lm(seed), cfg, task_type="CAUSAL_LM")
    blocks = torch.randint(0, 50, (64, 32), generator=torch.Generator().manual_seed(seed))

    def batches():
        while True:
            for i in range(0, 64, 8):
                yield {"input_ids": blocks[i : i + 8], "labels": blocks[i : i + 8]}

    settings = dataclasses.replace(TrainSettings(log_every=4), **settings)
    return train(model, batches(), method=lora, cfg=cfg, settings=settings, total_steps=steps, device=torch.device("cpu"))


def test_measure_off_times_nothing_and_reads_the_loss_once():
    measured, bare = run_lm({}), run_lm({"measure": False})
    assert len(measured.step_seconds) == 12 and measured.step_flops > 0 and len(measured.loss_curve) == 3
    assert bare.step_seconds == [] and bare.step_flops is None and [s for s, _ in bare.loss_curve] == [12]
    assert bare.steady_seconds > 0 and bare.steady_tokens == measured.steady_tokens == (12 - 1) * 8 * 32


def test_chunked_loss_trains_like_the_models_loss():
    own, chunked = run_lm({}), run_lm({"loss_chunk": 50})
    for (s1, l1), (s2, l2) in zip(own.loss_curve, chunked.loss_curve):
        assert s1 == s2 and l1 == pytest.approx(l2, rel=1e-4)


def test_bf16_training_runs_and_keeps_trainable_dtype():
    from fixtures.run.cases import set_trainable_dtype

    lora = get_method("lora")
    model = lora.apply(make_lm().to(torch.bfloat16), lora.Config(dropout=0.0), task_type="CAUSAL_LM")
    set_trainable_dtype(model, torch.bfloat16)
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.bfloat16}
    set_trainable_dtype(model, torch.float32)
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    assert {p.dtype for p in model.parameters() if not p.requires_grad} == {torch.bfloat16}


def test_attention_flops_broadcast_grouped_kv_heads():
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    from fixtures.training.flops import count_sdpa, count_sdpa_backward

    q, kv, full = (2, 4, 8, 16), (2, 2, 8, 16), (2, 4, 8, 16)
    assert count_sdpa(q, kv, kv) == sdpa_flop_count(q, full, full)
    assert count_sdpa_backward(q, q, kv, kv) == sdpa_backward_flop_count(q, q, full, full)


def test_a_failing_flop_counter_does_not_fail_training(monkeypatch):
    import fixtures.training.train as train_module

    class Broken:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def get_total_flops(self):
            raise AssertionError("formula rejects these shapes")

    monkeypatch.setattr(train_module, "make_flop_counter", lambda enabled: Broken())
    result = run_lm({})
    assert result.step_flops is None and len(result.loss_curve) == 3


def test_perf_tier_is_gpu_only_and_states_its_precision_per_method():
    from bench.matrix import CASES
    from bench.method_options import EAGER_SETTINGS, LORA_VARIANTS
    from fixtures.run.cases import get_settings

    perf = [c for c in CASES if c.tier == "perf"]
    assert {c.hardware for c in perf} == {"gpu"} and {c.dataset for c in perf} == {"sst2", "wikitext2", "sst2_instruct"}
    for case in perf:
        settings = get_settings(case, {})  # every perf case is a valid TrainSettings
        # every method with CUDA graphs, SparseLoRA included; the instruct task and the methods
        # peft does not test compiled (EAGER_SETTINGS) run eagerly
        eager = case.dataset == "sst2_instruct" or case.method in EAGER_SETTINGS
        assert settings.compile == ("" if eager else "reduce-overhead")
        if case.dataset == "wikitext2":
            mixed = case.method in ("full_ft", "qlora")
            assert settings.loss_chunk > 0 and settings.dtype == "bf16"
            assert (settings.trainable_dtype, settings.autocast) == (("fp32", "bf16") if mixed else ("bf16", ""))
            if case.method not in ("full_ft", "hira"):  # every linear layer; the LoRA family at rank 16
                assert case.get_options()["target_modules"] == ("all-linear",)
                if case.method in ("lora", "qlora", "lora_prune", "sparselora", *LORA_VARIANTS):
                    assert case.get_options()["r"] == 16


def test_layers_scope_compiles_each_block_and_restores_eager():
    from fixtures.training.train import compiled_layers, get_layers

    lora = get_method("lora")
    model = lora.apply(make_lm(), lora.Config(dropout=0.0), task_type="CAUSAL_LM")
    layers = get_layers(model)
    assert len(layers) == model.config.num_hidden_layers
    with compiled_layers(model, None):
        assert all(layer._compiled_call_impl is not None for layer in layers)
    assert all(layer._compiled_call_impl is None for layer in layers)
    with pytest.raises(ValueError, match="compile_scope"):
        get_layers(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("scope", ["model", "layers"])
def test_compiled_training_matches_eager(scope):
    eager, compiled = run_lm({}, steps=6), run_lm({"compile": "default", "compile_scope": scope}, steps=6)
    for (s1, l1), (s2, l2) in zip(eager.loss_curve, compiled.loss_curve):
        assert s1 == s2 and l1 == pytest.approx(l2, rel=1e-3)


def test_each_compiled_run_starts_from_a_clean_compiler_state(monkeypatch):
    """An earlier case's guards and automatic-dynamic shape marks never reach the next case's
    compilation (the scale tier's 3B SparseLoRA case failed to compile after the 1B cases)."""
    import contextlib

    from fixtures.training import train as loop

    resets = []
    monkeypatch.setattr(loop.torch._dynamo, "reset", lambda: resets.append(1))
    model = torch.nn.Linear(2, 2)
    with contextlib.ExitStack() as stack:
        assert loop.make_compiled(model, model, compile="", scope="model", stack=stack) is model
        assert resets == []
        loop.make_compiled(model, model, compile="default", scope="model", stack=stack)
    assert resets == [1]
