"""QLoRA's two 4-bit backends (bitsandbytes, torchao): config, skips, the NF4 round trip, LoRA
gradients over an NF4 base against a dense reference, the memory breakdown's bytes, the
optimizer and FLOPs recorded (CPU, tiny shapes, seconds)."""

import dataclasses

import pytest
import torch

from bench.matrix import CASES, TIERS
from fixtures.data.scale import get_loss_decrease
from fixtures.models.shapes import make_shape_model
from fixtures.run.cases import build_run, set_seed
from fixtures.training.breakdown import get_optimizer_bytes, get_weight_bytes
from fixtures.training.train import train
from methods import qlora
from methods._common import MethodUnavailable, config_from_dict

CPU = torch.device("cpu")
LORA = dict(r=8, alpha=16, dropout=0.0, target_modules=("all-linear",), build="in_place", upcast="needed")


def get_case(case_id: str):
    return next(c for c in CASES if c.id == case_id)


def make_qlora(backend: str, seed: int = 0):
    torch.manual_seed(seed)
    model = make_shape_model("tiny-shape", device="cpu", dtype=torch.float32, seed=seed)
    return qlora.apply(model, qlora.Config(**LORA, backend=backend), task_type="CAUSAL_LM")


# config and skips

def test_unknown_backend_lists_the_backends():
    with pytest.raises(ValueError, match=r"Config.backend='gptq'.*'bitsandbytes', 'torchao'"):
        qlora.Config(backend="gptq")
    assert config_from_dict(qlora.Config, {"backend": "torchao"}).backend == "torchao"
    assert qlora.Config().backend == "bitsandbytes"  # existing ids keep their meaning


def test_torchao_refuses_what_it_cannot_quantize_to():
    with pytest.raises(ValueError, match="quant_type='nf4' and double_quant=true"):
        qlora.Config(backend="torchao", quant_type="fp4")
    with pytest.raises(ValueError, match="double_quant=False"):
        qlora.Config(backend="torchao", double_quant=False)


@pytest.mark.parametrize("backend, package", [("torchao", "torchao"), ("bitsandbytes", "bitsandbytes")])
def test_a_missing_backend_package_skips_naming_what_to_install(monkeypatch, backend, package):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    with pytest.raises(MethodUnavailable, match=f"needs {package}; install it with: pip install {package}"):
        qlora.check_backend(qlora.Config(backend=backend), CPU)


def test_a_backend_off_its_hardware_skips():
    with pytest.raises(MethodUnavailable, match="runs on cuda or cpu, not meta"):
        qlora.check_backend(qlora.Config(backend="torchao"), torch.device("meta"))


def test_torchao_cases_do_not_need_bitsandbytes():
    torchao_cases = [c for c in CASES if c.get_options().get("backend") == "torchao"]
    assert torchao_cases and not any(c.needs_bnb for c in torchao_cases)
    assert get_case("qlora-wikitext2-scale-llama-8b-gpu-seed0").needs_bnb


# the scale tier

def test_scale_tier_runs_both_backends_compiled():
    ids = {c.id for c in CASES}
    for shape in ("llama-1b", "llama-3b", "llama-8b"):
        assert f"qlora-wikitext2-scale-{shape}-gpu-seed0" in ids
        assert f"qlora-wikitext2-scale-{shape}-torchao-gpu-seed0" in ids
    for variant in ("gc", "torchao-gc"):
        case = get_case(f"qlora-wikitext2-scale-llama-8b-{variant}-gpu-seed0")
        assert case.get_settings()["grad_checkpointing"]
    for c in CASES:
        if c.method == "qlora" and c.tier == "scale":
            assert c.get_options()["backend" if "torchao" in c.variant else "build"] == (
                "torchao" if "torchao" in c.variant else "in_place")
            if c.hardware == "gpu":
                assert c.get_settings()["compile"] == "default" and c.get_settings()["compile_scope"] == "layers"


# torchao's NF4 tensor

def test_nf4_round_trip_is_as_close_as_bitsandbytes():
    pytest.importorskip("torchao")
    bnb = pytest.importorskip("bitsandbytes")
    from methods._qlora_torchao import get_nf4_api

    to_nf4, _ = get_nf4_api()
    torch.manual_seed(0)
    w = torch.randn(256, 512) * 0.02
    nf4 = to_nf4(w, 64, 256)
    back = nf4.get_original_weight()
    assert back.shape == w.shape and back.dtype == w.dtype
    # a value is coded against its block's absmax (the nearest of 16 codes: NF4's widest gap is
    # -1.0 to -0.6962, so at most half of it x absmax off) and decoded with the int8-quantized scale
    absmax = w.reshape(-1, 64).abs().amax(1, keepdim=True)
    scale = nf4.dequantize_scalers(nf4.quantized_scalers, nf4.quantization_factor, nf4.scaler_block_size)
    bound = 0.1519 * absmax + (scale.reshape(-1, 1) - absmax).abs() + 1e-7
    assert ((back - w).reshape(-1, 64).abs() <= bound).all()
    assert (scale.reshape(-1, 1) - absmax).abs().max() < 0.01 * absmax.max()
    packed, state = bnb.functional.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
    theirs = bnb.functional.dequantize_4bit(packed, state)
    ours_err, theirs_err = (back - w).abs().mean(), (theirs - w).abs().mean()
    assert ours_err <= 1.05 * theirs_err and theirs_err <= 1.05 * ours_err, (ours_err, theirs_err)
    assert 0 < ours_err < 0.1 * w.abs().mean()


def test_scaler_block_is_the_largest_power_of_two_that_fits():
    from methods._qlora_torchao import get_scaler_block_size

    assert get_scaler_block_size(2048 * 2048) == 256
    assert get_scaler_block_size(576 * 576) == 64  # SmolLM2-135M: 5,184 blocks
    with pytest.raises(ValueError, match="not a multiple of the NF4 block"):
        get_scaler_block_size(100)


def test_lora_over_nf4_matches_a_dense_reference():
    pytest.importorskip("torchao")
    from methods._qlora_torchao import is_nf4

    model, dense = make_qlora("torchao"), make_qlora("torchao")  # the same seed: the same model twice
    four_bit = [m for m in model.modules() if type(m) is torch.nn.Linear and is_nf4(m.weight)]
    assert len(four_bit) == 7 * 2 and not is_nf4(model.get_base_model().lm_head.weight)
    torch.manual_seed(1)
    with torch.no_grad():  # B = 0 at init: make the adapters matter, the same in both
        for (name, p), q in zip(model.named_parameters(), dense.parameters()):
            if "lora_B" in name:
                q.copy_(p.normal_(0, 0.02))
    for m in dense.modules():  # the reference: each NF4 weight as the dense tensor it decodes to
        if type(m) is torch.nn.Linear and is_nf4(m.weight):
            m.weight = torch.nn.Parameter(m.weight.get_original_weight(), requires_grad=False)
    assert not any(is_nf4(p) for p in dense.parameters())
    ids = torch.randint(0, 2000, (2, 16), generator=torch.Generator().manual_seed(0))
    losses, grads = [], []
    for m in (model, dense):
        loss = m(input_ids=ids, labels=ids).loss
        loss.backward()
        losses.append(loss.item())
        grads.append({n: p.grad for n, p in m.named_parameters() if p.requires_grad})
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) == 2 * 7 * 2
    for name, g in grads[0].items():
        assert g.abs().sum() > 0, name
        torch.testing.assert_close(g, grads[1][name], rtol=1e-4, atol=1e-6)


def test_nf4_frozen_bytes_are_packed_data_plus_every_constant():
    pytest.importorskip("torchao")
    from methods._qlora_torchao import is_nf4

    model = make_qlora("torchao")
    nf4 = [p for p in model.parameters() if is_nf4(p)]
    expected = 0
    for p in nf4:  # fp32 on the CPU: 4-bit codes, int8 scales, fp32 factors, the mean, the 16-value code
        blocks = p.numel() // 64
        groups = blocks // p.scaler_block_size
        # one group of scales: torchao keeps its factor as a view of the whole row it computed
        factors = 4 * groups if groups > 1 else 4 * p.scaler_block_size
        expected += p.numel() // 2 + blocks + factors + 4 + 16 * 4
    others = sum(p.numel() * p.element_size() for p in model.parameters() if not p.requires_grad and not is_nf4(p))
    others += sum(b.numel() * b.element_size() for b in model.buffers())
    assert get_weight_bytes(model)["mem_frozen_bytes"] == expected + others


def test_both_backends_store_about_the_same_4bit_bytes():
    pytest.importorskip("torchao")
    pytest.importorskip("bitsandbytes")
    frozen = {b: get_weight_bytes(make_qlora(b))["mem_frozen_bytes"] for b in ("bitsandbytes", "torchao")}
    # the same packed 4-bit codes and int8 scales; bitsandbytes keeps a 256-value fp32 code per weight
    assert abs(frozen["torchao"] - frozen["bitsandbytes"]) <= 14 * 256 * 4 + 0.02 * frozen["bitsandbytes"], frozen


def test_torchao_8bit_adamw_state_is_counted():
    pytest.importorskip("torchao")
    from methods._qlora_torchao import get_optimizer_class

    cls = get_optimizer_class()
    assert cls is not None and cls.__name__ == "AdamW8bit"
    p = torch.nn.Parameter(torch.randn(64, 256))
    opt = cls([p], lr=1e-3)
    p.grad = torch.randn_like(p)
    opt.step()
    # two 8-bit states: 16,384 codes, 64 fp32 block scales and a 256-value fp32 code each, plus the step
    assert get_optimizer_bytes(opt) == 2 * (16384 + 64 * 4 + 256 * 4) + 4


@pytest.mark.parametrize("backend, cuda_optimizer", [
    ("bitsandbytes", "bitsandbytes.optim.adamw.PagedAdamW8bit"), ("torchao", "torchao.optim.adam.AdamW8bit")])
def test_optimizer_choice_and_record(backend, cuda_optimizer):
    pytest.importorskip(backend)
    cfg = qlora.Config(**LORA, backend=backend)
    cls = qlora.get_optimizer_class(cfg, torch.device("cuda"))
    assert f"{cls.__module__}.{cls.__qualname__}" == cuda_optimizer
    model = make_qlora(backend)
    record = qlora.stats(model, cfg)
    assert record["qlora_backend"] == backend and record["qlora_optimizer"] == "torch.optim.adamw.AdamW"
    assert record["qlora_backend_version"][0].isdigit() and record["qlora_build"] == "in_place"
    assert isinstance(qlora.make_optimizer([p for p in model.parameters() if p.requires_grad], cfg, device=CPU),
                      torch.optim.AdamW)


@pytest.mark.parametrize("backend", ["bitsandbytes", "torchao"])
def test_optimizer_adamw_takes_torchs_adamw_on_cuda_too(backend):
    """qlora.optimizer="adamw": torch's AdamW in place of the backend's 8-bit one, recorded as such."""
    pytest.importorskip(backend)
    cfg = qlora.Config(**LORA, backend=backend, optimizer="adamw")
    assert qlora.get_optimizer_class(cfg, torch.device("cuda")) is torch.optim.AdamW
    with pytest.raises(ValueError, match="optimizer='sgd'.*'8bit', 'adamw'"):
        qlora.Config(**LORA, backend=backend, optimizer="sgd")


def test_all_three_count_the_same_flops():
    """QLoRA's step does LoRA's matmuls: bitsandbytes' fused 4-bit matmul is counted as one."""
    pytest.importorskip("torchao")
    pytest.importorskip("bitsandbytes")
    flops = {}
    for case_id in ("lora-wikitext2-scale-tiny-shape-cpu-seed0", "qlora-wikitext2-scale-tiny-shape-cpu-seed0",
                    "qlora-wikitext2-scale-tiny-shape-torchao-cpu-seed0"):
        case = get_case(case_id)
        set_seed(0)
        run = build_run(case, tier=TIERS["scale"], options={"overrides": {}, "models": {}, "datasets": {}}, device=CPU)
        result = train(run.model, run.workload.batches(seed=0, device=CPU), method=run.method, cfg=run.cfg,
                       settings=run.settings, total_steps=1, device=CPU)
        flops[case.variant or case.method] = result.step_flops
    assert flops["qlora"] == flops["lora"] == flops["torchao"] > 0, flops


def test_torchao_scale_case_trains_on_the_cpu():
    pytest.importorskip("torchao")
    case = get_case("qlora-wikitext2-scale-tiny-shape-torchao-cpu-seed0")
    set_seed(0)
    run = build_run(case, tier=TIERS["scale"], options={"overrides": {}, "models": {}, "datasets": {}}, device=CPU)
    assert dataclasses.asdict(run.cfg)["backend"] == "torchao"
    result = train(run.model, run.workload.batches(seed=0, device=CPU), method=run.method, cfg=run.cfg,
                   settings=run.settings, total_steps=run.workload.total_steps, device=CPU)
    assert case.floor.passes(get_loss_decrease(result.loss_curve, result.steps)["loss_decrease"])
    assert run.method.stats(run.model, run.cfg)["qlora_scaler_block_sizes"] == {"32": 4, "64": 4, "128": 6}
