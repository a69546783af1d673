"""The scale tier: shapes, cases, token blocks, the loss-decrease floor, memory breakdown,
gradient checkpointing, QLoRA's in-place 4-bit base and its upcast (CPU, tiny-shape, seconds)."""

import dataclasses

import pytest
import torch

from bench.matrix import CASES, FLOORS, TIERS, Case
from fixtures.data.scale import check_loss_fifths, get_loss_decrease
from fixtures.models.shapes import SHAPES, count_params, get_shape, get_shape_config, make_shape_model
from fixtures.run.cases import build_run, set_seed
from fixtures.run.options import check_model
from fixtures.training.breakdown import get_parts_sum, get_weight_bytes
from fixtures.training.train import train
from methods import METHODS

CPU = torch.device("cpu")


def get_case(case_id: str) -> Case:
    return next(c for c in CASES if c.id == case_id)


def get_run(case, **train_settings):
    set_seed(case.seed)
    options = {"overrides": {"train": train_settings}, "models": {}, "datasets": {}}
    return build_run(case, tier=TIERS[case.tier], options=options, device=CPU)


def train_run(run, steps=None):
    steps = steps or run.workload.total_steps
    return train(run.model, run.workload.batches(seed=0, device=CPU), method=run.method, cfg=run.cfg,
                 settings=run.settings, total_steps=steps, device=CPU)


# shapes and cases

@pytest.mark.parametrize("name, billions", [("llama-1b", 1.24), ("llama-3b", 3.21), ("llama-8b", 8.03)])
def test_shape_params_match_the_published_sizes(name, billions):
    assert count_params(name) / 1e9 == pytest.approx(billions, abs=0.01)
    config = get_shape_config(name)
    assert config.hidden_size == get_shape(name).hidden and config.tie_word_embeddings == get_shape(name).tied


def test_count_params_matches_a_built_model():
    model = make_shape_model("tiny-shape", device="cpu", seed=0)
    assert sum(p.numel() for p in model.parameters()) == count_params("tiny-shape")
    assert next(model.parameters()).dtype == torch.bfloat16


def test_unknown_shape_lists_the_shapes():
    with pytest.raises(ValueError, match="llama-1b, llama-3b, llama-8b"):
        get_shape("llama-70b")
    with pytest.raises(pytest.UsageError, match="random-init shape .*llama-8b"):
        check_model("wikitext2", "llama-70b")
    check_model("wikitext2", "llama-8b")  # a shape is a model name


def test_real_tier_refuses_a_shape_by_name():
    case = Case("lora", "wikitext2", "real", "cpu")
    options = {"overrides": {}, "models": {"wikitext2": "llama-1b"}, "datasets": {}}
    with pytest.raises(ValueError, match="llama-1b: a random-init shape.*refuse"):
        build_run(case, tier=TIERS["real"], options=options, device=CPU)


def test_scale_cases_cover_every_method_and_shape_and_keep_old_ids():
    scale = [c for c in CASES if c.tier == "scale"]
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    for shape in ("llama-1b", "llama-3b", "llama-8b"):
        assert {c.method for c in scale if c.model == shape and not c.variant and c.hardware == "gpu"} == set(METHODS)
    assert {c.method for c in scale if c.hardware == "cpu"} == set(METHODS)
    # every method's CI shape case is in the scale marker (CI runs it)
    marked = {c.method for c in scale if c.hardware == "cpu" and "scale" in {m.name for m in c.marks}}
    assert marked == set(METHODS)
    gc = {c.method for c in scale if c.variant == "gc"}
    assert gc == {"lora", "hira", "qlora", "lora_prune", "sparselora"}
    assert all(c.get_settings()["grad_checkpointing"] for c in scale if c.variant == "gc")
    assert "lora-wikitext2-scale-llama-8b-gc-gpu-seed0" in ids and "lora-sst2-tiny-cpu-seed0" in ids
    for c in scale:
        s = c.get_settings()
        if c.hardware == "gpu":
            assert s["batch_size"] * s["max_length"] == 8 * 512 and s["max_steps"] - s["max_steps"] // 10 >= 30
        assert s["max_steps"] % (5 * s["log_every"]) == 0  # the fifths are readings of their own
        assert c.floor == FLOORS[("wikitext2", "scale")] and c.floor.metric == "loss_decrease"


def test_an_80_gb_card_runs_the_8b_peft_cases_and_full_ft_asks_for_more():
    """H100 and A100 80GB report 79.2-79.6 GiB: every 8B PEFT case runs there (one that outgrows
    the card ends oom); full fine-tuning's measured 126 GiB asks for a larger card, and skips."""
    from fixtures.run.hardware import get_unmet_need, probe

    h100 = dataclasses.replace(probe(), gpu_gib=79.2, cuda=True)
    eight = [c for c in CASES if c.tier == "scale" and c.model == "llama-8b" and c.hardware == "gpu"]
    assert len(eight) > len(METHODS)  # every method, and the 8B variants
    for c in eight:
        unmet = get_unmet_need(h100, needs_cuda=True, min_gpu_gib=c.min_gpu_gib, needs_bnb=False)
        assert (unmet is None) == (c.method != "full_ft"), (c.id, unmet)
    assert {c.min_gpu_gib for c in eight if c.method == "full_ft"} == {130}


def test_each_part_of_a_variant_is_a_marker():
    """-m "scale and gpu and not liger" leaves out exactly the cases that need liger-kernel."""
    def names(case):
        return {m.name for m in case.marks}

    scale_gpu = [c for c in CASES if c.tier == "scale" and c.hardware == "gpu"]
    assert {c.variant for c in scale_gpu if "liger" in names(c)} == {"liger", "liger-gc"}
    assert all("gc" in names(c) and "torchao" in names(c) for c in scale_gpu if c.variant == "torchao-gc")
    assert all(not names(c) & {"gc", "liger", "torchao"} for c in scale_gpu if not c.variant)


# the floor

def test_loss_decrease_from_readings():
    curve = [[2, 10.0], [4, 9.0], [6, 8.0], [8, 7.0], [10, 6.0]]
    assert get_loss_decrease(curve, 10)["loss_decrease"] == pytest.approx(0.4)
    assert get_loss_decrease([[5, 4.0], [10, 3.0], [15, 3.0], [20, 2.0], [25, 2.0]], 25)["loss_decrease"] == 0.5
    with pytest.raises(ValueError, match="log_every"):
        get_loss_decrease([[5, 4.0], [10, 3.0]], 10)


def test_readings_that_miss_the_fifths_are_refused_before_training():
    """--set train.max_steps=12 at log_every 8 trained an 8B case for 5 minutes, then lost it."""
    for log_every, steps in ((8, 40), (2, 10), (5, 25)):
        check_loss_fifths(log_every, steps)
    with pytest.raises(ValueError, match=r"log_every to one of \[1, 2, 4, 8\]"):
        check_loss_fifths(3, 40)
    with pytest.raises(ValueError, match="max_steps to a multiple of 5"):
        check_loss_fifths(8, 12)


def test_a_frozen_model_fails_the_floor_and_a_trained_one_passes():
    case = get_case("lora-wikitext2-scale-tiny-shape-cpu-seed0")
    frozen = get_run(dataclasses.replace(case, options={**case.options, "lr": 1e-12}))
    result = train_run(frozen)
    decrease = get_loss_decrease(result.loss_curve, result.steps)["loss_decrease"]
    assert abs(decrease) < 1e-6 and not case.floor.passes(decrease)  # the fifths read the same blocks
    run = get_run(case)
    result = train_run(run)
    assert case.floor.passes(get_loss_decrease(result.loss_curve, result.steps)["loss_decrease"])
    assert run.workload.protocol["weights"] == "random-init (cost only)"


# memory breakdown (CPU: the parts measured from the tensors; the add-up needs CUDA's allocator)

def test_breakdown_parts_are_the_tensors_bytes():
    run = get_run(get_case("full_ft-wikitext2-scale-tiny-shape-cpu-seed0"))
    mem = train_run(run, steps=2).memory
    n = count_params("tiny-shape")
    assert mem["mem_trainable_bytes"] == 4 * n  # fp32, the tied embedding once
    assert mem["mem_grad_bytes"] == 4 * n
    assert 8 * n <= mem["mem_optimizer_bytes"] <= 8 * n + 8 * 64  # exp_avg + exp_avg_sq (+ step scalars)
    assert mem["mem_frozen_bytes"] == sum(b.numel() * b.element_size() for b in run.model.buffers())
    assert mem["mem_step_peak_bytes"] is None  # no allocator statistics on CPU


def test_lora_breakdown_counts_the_frozen_base():
    run = get_run(get_case("lora-wikitext2-scale-tiny-shape-cpu-seed0"))
    mem = train_run(run, steps=2).memory
    trainable = sum(p.numel() for p in run.model.parameters() if p.requires_grad)
    assert mem["mem_trainable_bytes"] == mem["mem_grad_bytes"] == 4 * trainable
    assert mem["mem_frozen_bytes"] >= 4 * count_params("tiny-shape")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (torch's allocator statistics)")
@pytest.mark.parametrize("method", ["lora", "full_ft"])
def test_breakdown_adds_up_to_the_peak_gpu(method):
    case = dataclasses.replace(get_case(f"{method}-wikitext2-scale-tiny-shape-cpu-seed0"), hardware="gpu")
    device = torch.device("cuda")
    set_seed(0)
    options = {"overrides": {"train": {"batch_size": 8, "max_length": 256}}, "models": {}, "datasets": {}}
    run = build_run(case, tier=TIERS["scale"], options=options, device=device)
    mem = train(run.model, run.workload.batches(seed=0, device=device), method=run.method, cfg=run.cfg,
                settings=run.settings, total_steps=4, device=device).memory
    assert abs(get_parts_sum(mem) - mem["mem_step_peak_bytes"]) <= 0.10 * mem["mem_step_peak_bytes"], mem


# gradient checkpointing

def test_grad_checkpointing_trains_and_is_recorded():
    case = get_case("lora-wikitext2-scale-tiny-shape-cpu-seed0")
    run = get_run(case, grad_checkpointing=True)
    assert dataclasses.asdict(run.settings)["grad_checkpointing"] is True
    base = run.model.get_base_model()
    assert all(layer.gradient_checkpointing for layer in base.model.layers)
    result = train_run(run)
    assert case.floor.passes(get_loss_decrease(result.loss_curve, result.steps)["loss_decrease"])


def test_fused_kernels_refuse_the_cpu_clearly():
    with pytest.raises(ValueError, match="need CUDA"):
        get_run(get_case("lora-wikitext2-scale-tiny-shape-cpu-seed0"), fused_kernels="liger")


# QLoRA at scale

def test_qlora_in_place_trains_without_a_disk_copy(monkeypatch):
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb
    from transformers import PreTrainedModel

    def no_save(*args, **kwargs):
        raise AssertionError("the in-place build saved the model")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", no_save)
    case = get_case("qlora-wikitext2-scale-tiny-shape-cpu-seed0")
    run = get_run(case)
    linears = [m for m in run.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(linears) == 7 * SHAPES["tiny-shape"].layers
    mem = get_weight_bytes(run.model)
    dense_bytes = 4 * sum(m.in_features * m.out_features for m in linears)
    four_bit = sum(m.weight.untyped_storage().nbytes() for m in linears)
    assert four_bit <= dense_bytes / 8 * 1.0 and mem["mem_frozen_bytes"] < 4 * count_params("tiny-shape")
    result = train_run(run)
    assert case.floor.passes(get_loss_decrease(result.loss_curve, result.steps)["loss_decrease"])
    assert run.method.stats(run.model, run.cfg)["qlora_upcast"] == "needed"


@pytest.mark.parametrize("dtype, fp32_expected", [
    (torch.bfloat16, set()), (torch.float16, {"norm"}), (torch.float32, {"norm", "embed"}),
])
def test_qlora_upcast_needed_keeps_what_it_should(dtype, fp32_expected):
    from methods.qlora import prepare_needed

    model = make_shape_model("tiny-shape", device="cpu", dtype=dtype)
    prepare_needed(model, dtype)
    fp32 = {("norm" if "norm" in n else "embed" if "embed" in n else n) for n, p in model.named_parameters()
            if p.dtype == torch.float32}
    if dtype == torch.float32:
        assert {"norm", "embed"} <= fp32
    else:
        assert fp32 == fp32_expected
    assert not any(p.requires_grad for p in model.parameters())


def test_new_switches_are_off_by_default_and_validated():
    from fixtures.training.settings import TrainSettings

    s = TrainSettings()
    assert s.grad_checkpointing is False and s.fused_kernels == ""
    with pytest.raises(ValueError, match="fused_kernels='triton'"):
        TrainSettings(fused_kernels="triton")
    with pytest.raises(ValueError, match="set loss_chunk=0"):
        TrainSettings(fused_kernels="liger", loss_chunk=2048)
    from methods.qlora import Config

    assert (Config().build, Config().upcast) == ("reload", "all")  # the existing cases keep their meaning
    with pytest.raises(ValueError, match="Config.upcast='some'"):
        Config(upcast="some")
