"""Cost of use on the CPU: merge equality for every method that can merge, the energy fallback,
time-to-floor bookkeeping, and forgetting (zero for an adapter that never trained)."""

import contextlib
import gc
import types
import weakref

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

from bench.matrix import TIERS, Floor
from fixtures.run import energy
from fixtures.run.cost_of_use import CostOfUse
from fixtures.training import decode, forgetting, merge
from fixtures.training.quality_curve import QualityCurve, check_eval_every
from fixtures.training.settings import TrainSettings
from methods import METHODS, get_method
from methods._common import config_from_dict

CPU = torch.device("cpu")
nullprecision = contextlib.nullcontext


def make_llama(kind: str):
    torch.manual_seed(0)
    # 64 wide: bitsandbytes' CPU 4-bit kernels work in blocks of 64
    config = LlamaConfig(vocab_size=64, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=128, num_labels=2, pad_token_id=0,
                         max_position_embeddings=128)
    return (LlamaForCausalLM if kind == "CAUSAL_LM" else LlamaForSequenceClassification)(config)


def make_adapted(name: str, kind: str, **options):
    """A tiny Llama with ``name`` applied at the tiny tier's options (and ``options``), its trained
    weights perturbed (an untrained LoRA or HiRA adds zero, which any merge would pass)."""
    method = get_method(name)
    cfg = config_from_dict(method.Config, {**TIERS["tiny"].options.get(name, {}), **options})
    model = method.apply(make_llama(kind), cfg, task_type=kind)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    return model.eval(), method, cfg


BATCH = {"input_ids": torch.randint(1, 64, (3, 10), generator=torch.Generator().manual_seed(2))}


@pytest.mark.parametrize("kind", ["CAUSAL_LM", "SEQ_CLS"])
@pytest.mark.parametrize("name", list(METHODS))
def test_merged_logits_equal_unmerged(name, kind):
    model, method, cfg = make_adapted(name, kind)
    with torch.inference_mode():
        reference = model(**BATCH).logits
    obstacle = merge.get_merge_obstacle(model, method)
    if name in ("full_ft", "qlora", "lily"):  # no adapter; a 4-bit base; peft's Lily has no merge
        assert obstacle, f"{name} must say why it cannot merge"
        return
    assert obstacle is None, obstacle
    if method.before_merge is not None:
        method.before_merge(model, cfg)
    merged = merge.merge(model, method, cfg)
    assert not any("lora_" in n or "hira_" in n for n, _ in merged.named_modules()), "adapter layers left behind"
    assert merge.get_leftover_modules(merged) == [], f"{name}: peft tuner layers left in the merged model"
    assert merge.get_patched_forwards(merged) == [], f"{name}: forwards replaced per instance in the merged model"
    with torch.inference_mode():
        diff = (merged(**BATCH).logits - reference).abs().max().item()
    assert diff <= merge.get_tolerance(reference, "fp32"), f"{name}: merged logits differ by {diff}"


@pytest.mark.parametrize("backend", ["bitsandbytes", "torchao"])
def test_qlora_routes_score_both_ways(backend):
    pytest.importorskip(backend)
    model, method, cfg = make_adapted("qlora", "CAUSAL_LM", backend=backend)
    assert merge.get_merge_obstacle(model, method).startswith("4-bit base")
    with torch.inference_mode():
        reference = model(**BATCH).logits
    quant = merge.get_quant_settings(model)
    assert quant["backend"] == backend
    plain = merge.get_dequantized_merge(model)
    assert not merge.is_4bit(plain) and next(plain.parameters()).dtype == torch.bfloat16
    with torch.inference_mode():
        dequant = plain(**BATCH).logits.float()
        assert (dequant - reference).abs().max() < 0.2 * reference.abs().max()  # bf16, not garbage
        requant = merge.requantize(plain, quant)
        assert merge.is_4bit(requant)
        assert requant(**BATCH).logits.isfinite().all()


def make_run(model, method, cfg, *, kind: str, settings=None, task_kind=None, dataset="sst2"):
    """A stand-in for ``fixtures.run.cases.Run`` around a tiny model (a causal LM answers prompts
    unless ``task_kind`` says otherwise)."""
    def evaluate(m, *, device):
        with torch.inference_mode():
            return {"accuracy": float((m(**BATCH).logits[:, -1].argmax(-1) % 2 == 0).float().mean())}

    workload = types.SimpleNamespace(task_type=kind, get_inference_batch=lambda device: BATCH, evaluate=evaluate,
                                     protocol={"dataset": dataset})
    task = types.SimpleNamespace(kind=task_kind or ("instruct" if kind == "CAUSAL_LM" else "classification"))
    return types.SimpleNamespace(model=model, method=method, cfg=cfg, workload=workload, tokenizer=None, task=task,
                                 settings=settings or TrainSettings(inference_rounds=2))


def test_merge_error_keeps_the_case():
    model, method, cfg = make_adapted("lora", "SEQ_CLS")
    def broken(model, cfg):
        raise RuntimeError("no merge today")
    run = make_run(model, types.SimpleNamespace(merge=broken), cfg, kind="SEQ_CLS")
    record = CostOfUse(run, device=CPU, precision=nullprecision, tier_data="synthetic").measure()
    assert record["merge_error"] == "RuntimeError: no merge today"
    assert record["inference_seconds_base"] > 0 and record["inference_seconds_unmerged"] > 0
    assert "cost_of_use_error" not in record


def test_merged_model_is_timed_against_the_plain_base():
    """The merged model comes from a copy, the original is unloaded into the plain base, the two
    are timed interleaved; the overheads follow from the medians; the plain base is freed after."""
    model, method, cfg = make_adapted("lora", "SEQ_CLS")
    plain = weakref.ref(model.get_base_model())  # what unload leaves: the plain base
    run = make_run(model, method, cfg, kind="SEQ_CLS")
    del model
    record = CostOfUse(run, device=CPU, precision=nullprecision, tier_data="synthetic").measure()
    assert "cost_of_use_error" not in record and "base_plain_reason" not in record, record
    base, merged = record["inference_seconds_base_plain"], record["inference_seconds_merged"]
    assert base > 0 and merged > 0 and record["inference_seconds_base"] > 0
    assert record["merged_overhead_percent"] == pytest.approx(100 * (merged / base - 1))
    assert record["merged_overhead_vs_wrapped_percent"] == pytest.approx(
        100 * (merged / record["inference_seconds_base"] - 1))
    assert record["merged_logits_equal"] and record["merged_leftover_modules"] == 0
    assert record["merged_patched_forwards"] == 0
    assert not merge.has_adapter(run.model) and merge.get_leftover_modules(run.model) == []
    gc.collect()
    assert plain() is None, "the plain base outlived its timing"


def test_without_a_plain_base_the_reason_is_recorded():
    """A method with its own merge, and a copy that fails: merged in place, timed against the
    wrapped base as before, and why."""
    model, method, cfg = make_adapted("lora", "SEQ_CLS")
    own = types.SimpleNamespace(merge=lambda model, cfg: model.merge_and_unload())
    record = CostOfUse(make_run(model, own, cfg, kind="SEQ_CLS"), device=CPU, precision=nullprecision,
                       tier_data="synthetic").measure()
    assert "own merge" in record["base_plain_reason"] and record["inference_seconds_base_plain"] is None
    assert record["merged_overhead_percent"] == record["merged_overhead_vs_wrapped_percent"]
    assert record["merged_logits_equal"] and record["merged_leftover_modules"] == 0


def test_a_copy_that_fails_falls_back_to_merging_in_place(monkeypatch):
    def out_of_memory(model):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    monkeypatch.setattr(merge, "copy_model", out_of_memory)
    model, method, cfg = make_adapted("lora", "SEQ_CLS")
    record = CostOfUse(make_run(model, method, cfg, kind="SEQ_CLS"), device=CPU, precision=nullprecision,
                       tier_data="synthetic").measure()
    assert record["base_plain_reason"].startswith("copy failed: OutOfMemoryError: CUDA out of memory")
    assert record["inference_seconds_base_plain"] is None and "merge_error" not in record
    assert record["merged_logits_equal"] and record["merged_overhead_percent"] is not None


def test_sparselora_takes_its_forwards_off_before_the_merge():
    """SparseLoRA replaces its projections' forwards per instance (a deep copy would share those
    closures, so they block a plain base); its ``before_merge`` takes them and its hooks off, so it
    is timed against the plain base and its merged model is the plain one, with the same logits."""
    model, method, cfg = make_adapted("sparselora", "CAUSAL_LM")
    assert "forward replaced per instance" in merge.get_plain_base_obstacle(model, method)
    record = CostOfUse(make_run(model, method, cfg, kind="CAUSAL_LM"), device=CPU, precision=nullprecision,
                       tier_data="synthetic").measure()
    assert "base_plain_reason" not in record and record["inference_seconds_base_plain"] > 0
    assert record["merged_leftover_modules"] == 0 and record["merged_patched_forwards"] == 0
    assert record["merged_logits_equal"], record["merged_max_abs_diff"]


def test_sparselora_before_merge_leaves_plain_lora():
    """Nothing of SparseLoRA's training path is left: no replaced forward, no hook on the stack."""
    model, method, cfg = make_adapted("sparselora", "CAUSAL_LM")
    assert merge.get_patched_forwards(model)
    method.before_merge(model, cfg)
    assert merge.get_patched_forwards(model) == []
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_cost_of_use_record_for_a_causal_lm():
    model, method, cfg = make_adapted("lora", "CAUSAL_LM")
    run = make_run(model, method, cfg, kind="CAUSAL_LM")
    costs = CostOfUse(run, device=CPU, precision=nullprecision, tier_data="synthetic")
    costs.blocks = torch.randint(1, 64, (2, 16), generator=torch.Generator().manual_seed(3))
    record = costs.measure()
    assert "cost_of_use_error" not in record, record
    assert record["merged_logits_equal"] and record["merge_supported"]
    for prefix in ("decode_unmerged", "decode_merged"):
        assert record[f"{prefix}_b8_ttft_seconds"] > 0 and record[f"{prefix}_b1_seconds"] > 0
    assert record["inference_joules_per_batch"] is None and "cpu" in record["inference_joules_reason"]
    assert record["forgetting_baseline"] == "adapter disabled"


@pytest.mark.parametrize("tier_data, dataset, measured", [("synthetic", "wikitext2", False), ("real", "wikitext2", False),
                                                          ("real", "my_corpus", True)])
def test_forgetting_is_not_measured_on_the_training_text(tier_data, dataset, measured):
    model, method, cfg = make_adapted("lora", "CAUSAL_LM")
    run = make_run(model, method, cfg, kind="CAUSAL_LM", task_kind="lm", dataset=dataset)
    assert CostOfUse(run, device=CPU, precision=nullprecision, tier_data=tier_data).trains_on_general_text() is not measured
    if not measured:
        costs = CostOfUse(run, device=CPU, precision=nullprecision, tier_data=tier_data)
        costs.before_training()
        assert costs.blocks is None and "general text itself" in costs.record["forgetting_reason"]


def test_qlora_record_says_why_and_scores_routes():
    pytest.importorskip("bitsandbytes")
    model, method, cfg = make_adapted("qlora", "CAUSAL_LM")
    record = CostOfUse(make_run(model, method, cfg, kind="CAUSAL_LM"), device=CPU, precision=nullprecision,
                       tier_data="synthetic").measure()
    assert not record["merge_supported"] and "4-bit" in record["merge_unsupported_reason"]
    assert 0 <= record["merge_dequant_bf16_accuracy"] <= 1 and 0 <= record["merge_requant_4bit_accuracy"] <= 1


def test_energy_is_none_with_a_reason_on_cpu():
    joules, reason = energy.EnergyMeter(CPU).start().read()
    assert joules is None and "cpu" in reason
    assert energy.get_energy_record("train", None, reason, tokens=1000) == {
        "train_joules": None, "train_joules_reason": reason, "train_joules_per_1k_tokens": None}


def test_energy_short_or_still_phases_are_none(monkeypatch):
    readings = iter([1000, 1000, 1000, 6000])
    monkeypatch.setattr(energy, "read_millijoules", lambda device: (next(readings), None))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    meter = energy.EnergyMeter(torch.device("cuda")).start()
    joules, reason = meter.read()
    assert joules is None and "shorter" in reason  # a fresh phase: below the counter's refresh
    meter.started -= 2 * energy.MIN_PHASE_S
    joules, reason = meter.read()
    assert joules is None and "did not advance" in reason
    joules, reason = meter.read()
    assert joules == 5.0 and reason is None
    assert energy.get_energy_record("train", 5.0, None, tokens=2000)["train_joules_per_1k_tokens"] == 2.5


def test_time_to_floor_bookkeeping():
    scores = iter([0.5, 0.8, 0.9])
    curve = QualityCurve(lambda m: {"accuracy": next(scores)}, floor=Floor("accuracy", 0.75), before={},
                         device=CPU, precision=nullprecision)
    model = torch.nn.Linear(1, 1)
    for step in (10, 20, 30):
        assert curve(model, step) >= 0
    result = curve.result()
    assert [p["step"] for p in result["quality_curve"]] == [10, 20, 30]
    assert [p["accuracy"] for p in result["quality_curve"]] == [0.5, 0.8, 0.9]
    assert result["floor_met_step"] == 20
    point = result["quality_curve"][1]
    assert result["floor_met_wall_seconds"] == point["wall_seconds"] >= point["train_seconds"]
    assert result["floor_met_joules"] is None and "cpu" in point["joules_reason"]


def test_time_to_floor_never_met_and_perplexity_ratio():
    curve = QualityCurve(lambda m: {"perplexity": 90.0}, floor=Floor("perplexity_ratio", 0.5),
                         before={"perplexity": 100.0}, device=CPU, precision=nullprecision)
    curve(torch.nn.Linear(1, 1), 5)
    result = curve.result()
    assert result["quality_curve"][0]["perplexity_ratio"] == pytest.approx(0.9)
    assert result["floor_met_step"] is None and result["floor_met_train_seconds"] is None


@pytest.mark.parametrize("value", [0, -3])
def test_eval_every_must_be_positive(value):
    with pytest.raises(ValueError, match=r"TrainSettings.eval_every=.*must be > 0"):
        TrainSettings(eval_every=value)


def test_eval_every_larger_than_the_run_is_refused():
    check_eval_every(10, 10)
    with pytest.raises(ValueError, match=r"train.eval_every=11: larger than the run's 10 steps; use 1..10"):
        check_eval_every(11, 10)


def test_train_evaluates_every_n_steps():
    from fixtures.training.train import train

    model, method, cfg = make_adapted("lora", "CAUSAL_LM")
    ids = BATCH["input_ids"]
    batches = iter([{"input_ids": ids, "labels": ids}] * 5)
    seen = []
    settings = TrainSettings(eval_every=2, log_every=1)
    result = train(model, batches, method=method, cfg=cfg, settings=settings, total_steps=5, device=CPU,
                   on_eval=lambda m, step: seen.append(step) or 0.0)
    assert seen == [2, 4] and result.steps == 5


def test_forgetting_is_zero_for_an_untrained_adapter():
    method = get_method("lora")
    cfg = config_from_dict(method.Config, {})
    model = method.apply(make_llama("CAUSAL_LM"), cfg, task_type="CAUSAL_LM").eval()
    blocks = torch.randint(1, 64, (3, 32), generator=torch.Generator().manual_seed(4))
    record = forgetting.get_forgetting(model, blocks, device=CPU, precision=nullprecision)
    assert record["forgetting"] == 0.0
    assert record["forgetting_loss_trained"] == record["forgetting_loss_base"] > 0


def test_forgetting_loss_shifts_the_targets():
    model = make_llama("CAUSAL_LM").eval()
    blocks = torch.randint(1, 64, (2, 32), generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        expected = model(input_ids=blocks, labels=blocks).loss.item()  # transformers shifts internally
    assert forgetting.get_mean_loss(model, blocks, device=CPU, precision=nullprecision) == pytest.approx(expected, rel=1e-5)


def test_decoding_makes_exactly_the_tokens_asked():
    model = make_llama("CAUSAL_LM").eval()
    record = decode.get_decoding(model, BATCH, rounds=1, device=CPU, precision=nullprecision, prefix="d",
                                 new_tokens=4, warmup=False)
    assert record["decode_new_tokens"] == 4 and record["d_b8_seconds"] > 0
    assert set(record) >= {"d_b1_ttft_seconds", "d_b1_tokens_per_second", "d_b8_tokens_per_second"}


def test_energy_finds_the_gpu_by_uuid(monkeypatch):
    """A shard worker's cuda:0 is found by its UUID, not as NVML's GPU 0."""
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(uuid="ab-12"))
    nvml = types.SimpleNamespace(nvmlDeviceGetHandleByUUID=lambda u: f"by {u}",
                                 nvmlDeviceGetHandleByIndex=lambda i: f"index {i}")
    assert energy.get_handle(nvml, torch.device("cuda", 0)) == "by GPU-ab-12"
    nvml.nvmlDeviceGetHandleByUUID = lambda u: 1 / 0
    assert energy.get_handle(nvml, torch.device("cuda", 1)) == "index 1"


@pytest.mark.parametrize("name, rewrites", [("lora", False), ("pissa", True), ("olora", True), ("dora", False)])
def test_forgetting_baseline_is_the_pretrained_model_when_the_init_rewrites_the_base(name, rewrites):
    """PiSSA and OLoRA leave a residual in the base: with the adapter off the model is not the
    pretrained one, so their baseline is the model scored before training (base plus adapter at
    initialisation), as for full fine-tuning."""
    from fixtures.training import forgetting

    pretrained = make_llama("CAUSAL_LM")
    blocks = torch.randint(1, 64, (2, 16), generator=torch.Generator().manual_seed(3))
    before = forgetting.get_mean_loss(pretrained, blocks, device=CPU, precision=nullprecision)
    method = get_method(name)
    model = method.apply(pretrained, config_from_dict(method.Config, TIERS["tiny"].options.get(name, {})),
                         task_type="CAUSAL_LM")
    assert forgetting.rewrites_base(model) is rewrites
    with model.disable_adapter():
        off = forgetting.get_mean_loss(model, blocks, device=CPU, precision=nullprecision)
    at_init = forgetting.get_mean_loss(model, blocks, device=CPU, precision=nullprecision)
    assert at_init == pytest.approx(before, abs=1e-3)  # base + adapter at init is the pretrained model
    assert (off != pytest.approx(before, abs=1e-3)) is rewrites  # the adapter off is not, where the base was rewritten
