"""The peft-config methods (methods.peft_table, methods.adalora) and --peft-config files: registry,
matrix, validation, apply on the tiny model, and the usage errors of a bad file."""

import dataclasses
import json
import warnings

import pytest
import torch

from bench.matrix import CASES, PEFT_CONFIG_OPTIONS, TIERS, get_peft_config_cases
from bench.method_options import EAGER_SETTINGS, SCALE_PEFT_LR, TINY_PEFT_OPTIONS
from fixtures.models.models import make_tiny_model
from fixtures.run.cases import get_footprint, move_stray_buffers, set_trainable_dtype
from fixtures.run.peft_configs import get_case_method, get_peft_configs
from fixtures.training.breakdown import get_weight_bytes
from methods import METHODS, get_method
from methods._common import HOOKS, MethodUnavailable
from methods.peft_table import TABLE
from methods.peft_file import PeftFileError, read_peft_config

NEW = ("adalora", *TABLE)
CONFIGS = "tests/data/peft_configs"


def test_the_registry_has_eighteen_methods_or_more_and_each_runs_in_every_tier():
    assert len(METHODS) >= 18 and set(NEW) <= set(METHODS)
    for method in NEW:
        tiers = {c.tier for c in CASES if c.method == method}
        assert {"tiny", "real", "perf", "scale"} <= tiers, method
        datasets = {c.dataset for c in CASES if c.method == method and c.tier == "tiny"}
        assert datasets == {"sst2", "imdb", "wikitext2", "sst2_instruct", "imdb_instruct"}, method
    assert set(TINY_PEFT_OPTIONS) == set(SCALE_PEFT_LR) == set(NEW)
    assert set(EAGER_SETTINGS) <= set(METHODS)


def test_the_six_first_methods_keep_their_options():
    """Ids keep their meaning: the older methods' options are what they were."""
    perf = {c.method: c.get_options() for c in CASES if c.tier == "perf" and c.dataset == "wikitext2"}
    assert perf["lora"] == {"lr": 1e-3, "target_modules": ("all-linear",), "r": 16, "dropout": 0.0}
    assert perf["hira"] == {"target_modules": ("all-linear",), "dropout": 0.0}
    assert perf["full_ft"] == {}
    tiny = {(c.method, c.dataset): c.get_options() for c in CASES if c.tier == "tiny" and c.hardware == "cpu"}
    assert tiny[("hira", "sst2_instruct")] == {"lr": 3e-2, "target_modules": ("all-linear",)}
    assert tiny[("full_ft", "imdb_instruct")] == {"lr": 1e-3}
    assert tiny[("lora", "imdb_instruct")] == {"lr": 3e-3, "dropout": 0.0, "target_modules": ("all-linear",), "r": 16}


@pytest.mark.parametrize("name", NEW)
def test_each_config_validates_and_is_json_native(name):
    method = get_method(name)
    cfg = method.Config()
    json.dumps(dataclasses.asdict(cfg))
    assert method.Config.__doc__ and ("source" in method.Config.__doc__ or "experiments" in method.Config.__doc__)
    with pytest.raises(ValueError, match=r"\.lr=-1"):
        method.Config(lr=-1)
    assert method.Config(target_modules="all-linear").target_modules == ("all-linear",)


@pytest.mark.parametrize("name, field, value", [
    ("dora", "r", 0), ("vera", "dropout", 1.0), ("oft", "eps", 0.0), ("adalora", "target_r", 128),
    ("adalora", "tinit", 0.95), ("boft", "block_size", -4),
])
def test_nonsense_values_are_refused_by_name(name, field, value):
    with pytest.raises(ValueError, match=rf"methods\.{name}\.Config\.{field}"):
        get_method(name).Config(**{field: value})


def test_methods_define_only_the_hooks_they_change():
    lora, adalora = get_method("lora"), get_method("adalora")
    assert lora.make_optimizer is HOOKS["make_optimizer"] and lora.after_step is HOOKS["after_step"]
    assert adalora.after_step is not HOOKS["after_step"] and adalora.penalty is HOOKS["penalty"]
    assert get_method("sparselora").set_context is not None and lora.set_context is None
    with pytest.raises(AttributeError, match="lora"):
        lora.no_such_hook


def run_steps(name, kind="classification", steps=3, cfg=None):
    torch.manual_seed(0)
    method = get_method(name)
    model, _ = make_tiny_model("tiny-llama", kind=kind, num_labels=2, seed=0)
    cfg = cfg or method.Config(**TINY_PEFT_OPTIONS.get(name, {}))
    model = method.apply(model, cfg, task_type="SEQ_CLS" if kind == "classification" else "CAUSAL_LM")
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    optimizer = method.make_optimizer(params, cfg, device=torch.device("cpu"))
    ids = torch.randint(5, 60, (4, 10), generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 0, 1]) if kind == "classification" else ids
    for step in range(1, steps + 1):
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
        method.after_step(model, cfg, step=step, total_steps=steps)
        optimizer.zero_grad(set_to_none=True)
    return method, model, cfg, params, before


@pytest.mark.parametrize("name", NEW)
def test_apply_trains_adapters_on_the_tiny_model(name):
    _, model, _, params, before = run_steps(name)
    total = sum(p.numel() for p in model.parameters())
    assert 0 < sum(p.numel() for p in params) < total / 2, "adapters (and the head) only"
    moved = [n for (n, p), b in zip(((n, p) for n, p in model.named_parameters() if p.requires_grad), before)
             if not torch.equal(p.detach(), b) and "score" not in n]
    assert moved, f"{name}: no adapter weight moved"


def test_adalora_allocator_runs_and_shrinks_the_ranks():
    method = get_method("adalora")
    cfg = method.Config(init_r=8, target_r=2, tinit=0.1, tfinal=0.2, lr=1e-2)
    _, model, cfg, _, _ = run_steps("adalora", steps=10, cfg=cfg)
    stats = method.stats(model, cfg)
    assert stats["adalora_tinit_steps"] == 1 and stats["adalora_tfinal_steps"] == 2
    assert stats["adalora_mean_rank"] == pytest.approx(2, abs=0.5)


@pytest.mark.parametrize("name", ["vera", "randlora"])
def test_shared_projections_take_the_trained_dtype(name):
    """VeRA at bf16 errored at llama-8b: peft kept its shared random projections in float32."""
    method = get_method(name)
    model, _ = make_tiny_model("tiny-llama", kind="lm", num_labels=2, seed=0)
    model = method.apply(model.to(torch.bfloat16), method.Config(**TINY_PEFT_OPTIONS.get(name, {})), task_type="CAUSAL_LM")
    set_trainable_dtype(model, torch.bfloat16)
    ids = torch.randint(5, 60, (2, 8), generator=torch.Generator().manual_seed(1))
    model(input_ids=ids, labels=ids).loss.backward()
    buffers = [b for m in model.modules() if type(m).__name__ == "BufferDict" for b in m._buffers.values()]
    assert buffers and all(b.dtype == torch.bfloat16 for b in buffers)


def test_boft_permutations_follow_the_model_and_count_where_they_are():
    """At llama-8b BOFT's permutation buffers (39 GB) stayed on the CPU under a CUDA model, were
    copied to the GPU in every forward, and the breakdown counted them as GPU weights."""
    method = get_method("boft")
    model, _ = make_tiny_model("tiny-llama", kind="lm", num_labels=2, seed=0)
    model = method.apply(model, method.Config(**TINY_PEFT_OPTIONS.get("boft", {})), task_type="CAUSAL_LM")
    permutations = [m.boft_P for m in model.modules() if isinstance(getattr(m, "boft_P", None), torch.Tensor)]
    total = sum(b.untyped_storage().nbytes() for b in permutations)
    assert permutations and total > 0
    on_cpu = get_weight_bytes(model, "cpu")
    elsewhere = get_weight_bytes(model, "cuda")  # a CUDA run's view of a model left on the CPU
    assert on_cpu["mem_off_device_bytes"] == 0 and elsewhere["mem_frozen_bytes"] == 0
    assert elsewhere["mem_off_device_bytes"] == on_cpu["mem_frozen_bytes"] + on_cpu["mem_trainable_bytes"]
    assert get_weight_bytes(model)["mem_frozen_bytes"] == on_cpu["mem_frozen_bytes"]
    move_stray_buffers(model, torch.device("meta"))  # the model's device, as build_run passes it
    assert all(m.boft_P.device.type == "meta" for m in model.modules()
               if isinstance(getattr(m, "boft_P", None), torch.Tensor))
    assert all(p.device.type == "cpu" for p in model.parameters())  # parameters are peft's to place


def test_an_adapter_pruned_to_rank_zero_still_saves(monkeypatch):
    """AdaLoRA's allocator left layers at rank 0 at llama-8b, and peft's save check (meant for FSDP
    shards saved ungathered) warned about those empty matrices: the footprint is still measured."""
    _, model, _, _, _ = run_steps("adalora", steps=2)
    save = model.save_pretrained

    def save_with_the_check(path, **kwargs):
        warnings.warn("Adapter 'default': 2 LoRA tensor(s) have invalid shape: q_proj.lora_A:(0, 64)", UserWarning)
        return save(path, **kwargs)

    monkeypatch.setattr(model, "save_pretrained", save_with_the_check)
    assert get_footprint(model, "adalora")["adapter_bytes"] > 0
    with pytest.raises(UserWarning, match="other"):  # any other warning still stops the run
        monkeypatch.setattr(model, "save_pretrained", lambda path, **kw: warnings.warn("other", UserWarning))
        get_footprint(model, "adalora")


def test_a_method_whose_peft_lacks_its_config_skips_naming_the_version(monkeypatch):
    import peft

    monkeypatch.delattr(peft, "LilyConfig")
    method = get_method("lily")
    model, _ = make_tiny_model("tiny-llama", kind="classification", num_labels=2, seed=0)
    with pytest.raises(MethodUnavailable, match=r"lily needs peft >= 0\.19\.0"):
        method.apply(model, method.Config(), task_type="SEQ_CLS")


# --peft-config files


def write(tmp_path, values, name="adapter_config.json"):
    path = tmp_path / name
    path.write_text(values if isinstance(values, str) else json.dumps(values))
    return str(path)


@pytest.mark.parametrize("values, message", [
    ('{"peft_type": "HRA", "r": 8', "invalid JSON at line 1"),
    ([1, 2], "expected a JSON object"),
    ({"r": 8}, "no 'peft_type' key"),
    ({"peft_type": "NOT_A_TYPE"}, "peft_type 'NOT_A_TYPE' is not a type peft"),
    ({"peft_type": "HRA", "r": "eight"}, r"key 'r' = 'eight': HRAConfig.r expects an integer"),
    ({"peft_type": "HRA", "rank": 8}, r"key\(s\) \['rank'\] are no fields of HRAConfig"),
])
def test_a_bad_file_names_the_file_and_the_key(tmp_path, values, message):
    path = write(tmp_path, values)
    with pytest.raises(PeftFileError, match=message) as error:
        read_peft_config(path)
    assert str(tmp_path) in str(error.value)
    with pytest.raises(pytest.UsageError, match=rf"--peft-config mine={path}: .*{message}"):
        get_peft_configs({"mine": path}, {})


def test_a_missing_file_and_a_taken_name_are_usage_errors(tmp_path):
    with pytest.raises(pytest.UsageError, match=r"--peft-config mine=/no/such\.json: /no/such\.json: no such file"):
        get_peft_configs({"mine": "/no/such.json"}, {})
    with pytest.raises(pytest.UsageError, match=r"'lora' is already a method"):
        get_peft_configs({"lora": f"{CONFIGS}/hra"}, {"lora": "a method"})
    with pytest.raises(pytest.UsageError, match="NAME must be an identifier"):
        get_peft_configs({"my-hra": f"{CONFIGS}/hra"}, {})


def test_a_file_method_runs_where_lora_runs_and_applies():
    cases = get_peft_config_cases(["myhra"])
    lora = [c for c in CASES if c.method == "lora" and not c.variant and c.tier != "ci"]
    assert [c.id.replace("myhra-", "lora-", 1) for c in cases] == [c.id for c in lora]
    assert all(c.get_options() == PEFT_CONFIG_OPTIONS.get((c.tier, c.hardware), {}) for c in cases)
    assert "myhra" not in TIERS["tiny"].options
    method = get_case_method("myhra", {"peft_configs": {"myhra": f"{CONFIGS}/hra"}})
    cfg = method.Config(lr=1e-2)
    assert cfg.peft_config["r"] == 8 and json.dumps(dataclasses.asdict(cfg))
    model, _ = make_tiny_model("tiny-llama", kind="classification", num_labels=2, seed=0)
    model = method.apply(model, cfg, task_type="SEQ_CLS")
    assert any("hra_" in n for n, p in model.named_parameters() if p.requires_grad)


def test_prompt_learning_on_a_classifier_skips_saying_why(tmp_path):
    path = write(tmp_path, {"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4})
    method = get_case_method("prompts", {"peft_configs": {"prompts": path}})
    model, _ = make_tiny_model("tiny-llama", kind="classification", num_labels=2, seed=0)
    with pytest.raises(MethodUnavailable, match="prompt learning .* not on a SEQ_CLS model"):
        method.apply(model, method.Config(), task_type="SEQ_CLS")


def test_targets_the_model_lacks_skip_saying_why(tmp_path):
    path = write(tmp_path, {"peft_type": "HRA", "r": 4, "target_modules": ["query", "value"]})
    method = get_case_method("bert_hra", {"peft_configs": {"bert_hra": path}})
    model, _ = make_tiny_model("tiny-llama", kind="classification", num_labels=2, seed=0)
    with pytest.raises(MethodUnavailable, match="HRAConfig cannot apply to"):
        method.apply(model, method.Config(), task_type="SEQ_CLS")


def test_three_peft_configs_outside_the_registry_run_on_the_tiny_tier(tmp_path):
    """HRA, GraLoRA and DeLoRA from their saved adapter_config.json files (tests/data/peft_configs,
    written by PeftConfig.save_pretrained), through pytest, on tiny SST-2: each clears the floor.
    HRA's Householder reflections need a higher rate than the tiny tier's 5e-3 (0.61 there, 0.96 at 2e-2)."""
    import subprocess
    import sys

    names = {"hra_file": "hra", "gralora_file": "gralora", "delora_file": "delora"}
    args = [arg for name, folder in names.items() for arg in ("--peft-config", f"{name}={CONFIGS}/{folder}")]
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench", *args, "-m", f"smoke and cpu and sst2 and ({' or '.join(names)})",
         "--set", "hra_file.lr=0.02", "-q", "-p", "no:cacheprovider", "--benchmark-json", str(out)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = {b["extra_info"]["method"]: b["extra_info"] for b in json.loads(out.read_text())["benchmarks"]}
    assert set(results) == set(names)
    assert all(r["status"] == "passed" and r["accuracy"] >= r["floor_value"] for r in results.values())
    assert results["hra_file"]["config"]["peft_config"]["peft_type"] == "HRA"


def test_shira_mask_drawn_on_the_device_has_peft_size_and_seed():
    """SHiRA's mask off the CPU (methods.peft_table.draw_random_mask): r * (out + in) entries
    set, the same subset for the same seed, another for another seed."""
    from methods.peft_table import draw_random_mask

    shape, count = (48, 32), 4 * (48 + 32)
    a = draw_random_mask(shape, count, 42, torch.device("cpu"))
    assert a.shape == shape and a.dtype == torch.bool and int(a.sum()) == count
    assert torch.equal(a, draw_random_mask(shape, count, 42, torch.device("cpu")))
    assert not torch.equal(a, draw_random_mask(shape, count, 7, torch.device("cpu")))


def test_shira_on_the_cpu_keeps_peft_mask():
    """On the CPU the table's SHiRA mask is peft's own random_mask, entry for entry."""
    from peft.tuners.shira.mask_functions import random_mask

    from methods.peft_table import shira_random_mask

    layer = torch.nn.Linear(32, 48)
    assert torch.equal(shira_random_mask(layer, 4, random_seed=42), random_mask(layer, 4, random_seed=42))


def test_a_save_that_fails_records_why_and_keeps_the_counts(monkeypatch):
    """RandLoRA at llama-8b trained, then saving its adapter (with its random bases) filled the
    GPU machine's disk: the footprint records the error, the case keeps its results."""
    _, model, _, _, _ = run_steps("randlora", steps=1)

    def full_disk(path, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model, "save_pretrained", full_disk)
    footprint = get_footprint(model, "randlora")
    assert footprint["adapter_bytes"] is None and "No space left" in footprint["adapter_bytes_error"]
    assert footprint["trainable_params"] > 0


def test_boft_never_compiles_peft_extension(monkeypatch):
    """peft would run ninja and nvcc for its fbd_cuda extension once per BOFT layer, a failed
    build not remembered (on the H200's torch 2.11 it never compiles): the harness takes peft's
    torch path, and builds nothing, for the table's boft and for a BOFT --peft-config file."""
    from peft.tuners.boft import layer
    from torch.utils import cpp_extension

    builds = []
    monkeypatch.setattr(layer, "_FBD_CUDA", None)  # as in a fresh process
    monkeypatch.setattr(cpp_extension, "load", lambda *a, **k: builds.append(k.get("name")))
    method = get_method("boft")
    model, _ = make_tiny_model("tiny-llama", kind="classification", num_labels=2, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = method.apply(model, method.Config(target_modules=("all-linear",)), task_type="SEQ_CLS")
    assert not [w for w in caught if "CUDA extension" in str(w.message)]  # peft's warning of a failed build
    assert builds == [] and layer._FBD_CUDA is False
    boft_layers = [m for m in model.modules() if hasattr(m, "fbd_cuda_available")]
    assert boft_layers and not any(m.fbd_cuda_available for m in boft_layers)
    with pytest.raises(ValueError, match=r"n_butterfly_factor=2: must be 1; .*fbd_cuda"):
        method.Config(n_butterfly_factor=2)


def test_a_boft_file_takes_the_torch_path_or_skips_saying_why(tmp_path, monkeypatch):
    from peft.tuners.boft import layer

    monkeypatch.setattr(layer, "_FBD_CUDA", None)
    model, _ = make_tiny_model("tiny-llama", kind="classification", num_labels=2, seed=0)
    two = get_case_method("boft2", {"peft_configs": {"boft2": write(tmp_path, {
        "peft_type": "BOFT", "boft_block_size": 4, "boft_n_butterfly_factor": 2}, "two.json")}})
    with pytest.raises(MethodUnavailable, match="boft_n_butterfly_factor=2: .*fbd_cuda"):
        two.apply(model, two.Config(), task_type="SEQ_CLS")
    one = get_case_method("boft1", {"peft_configs": {"boft1": write(tmp_path, {
        "peft_type": "BOFT", "boft_block_size": 4, "target_modules": ["q_proj", "v_proj"]})}})
    one.apply(model, one.Config(), task_type="SEQ_CLS")
    assert layer._FBD_CUDA is False
