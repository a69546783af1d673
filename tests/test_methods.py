"""Each method's wiring, on tiny random models built in code (no pretraining, no data)."""

import dataclasses

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM

from bench.matrix import CASES, FLOORS, TIERS
from methods import METHODS, get_method
from methods._common import config_from_dict


def make_bert():
    torch.manual_seed(0)
    # 64 wide: bitsandbytes' CPU 4-bit kernels work in blocks of 64
    config = BertConfig(vocab_size=50, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, num_labels=2)
    return BertForSequenceClassification(config)


def make_llama():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=64)
    return LlamaForCausalLM(config)


def batch_for(model):
    ids = torch.randint(5, 50, (4, 12), generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 0, 1]) if model.config.architectures is None and hasattr(model, "classifier") else ids
    return {"input_ids": ids, "labels": labels}


def test_registry_and_matrix_agree():
    assert {c.method for c in CASES} == set(METHODS)
    for tier in TIERS.values():
        assert set(tier.options) <= set(METHODS), "tier options name an unknown method"


def test_case_ids_read_as_documented():
    case = next(c for c in CASES if c.method == "lora" and c.dataset == "sst2" and c.hardware == "cpu")
    assert case.id == "lora-sst2-tiny-cpu-seed0"
    names = {m.name for m in case.marks}
    assert {"smoke", "tiny", "cpu", "lora", "sst2"} <= names


def test_every_case_has_a_floor_above_chance():
    for case in CASES:
        floor = case.floor
        if floor.metric == "accuracy":
            # Balanced classes (chance 0.50); 0.60 is 3.5-4 standard errors of a chance-level
            # score above chance on the tiny tier's 300-400 evaluation examples (bench/matrix.py).
            assert floor.value >= 0.60, f"{case.id}: floor {floor.value} is not >= chance + 10 points"
        elif floor.metric == "perplexity_ratio":
            assert 0 < floor.value < 1, f"{case.id}: perplexity must fall below the untrained model's"
        elif floor.metric == "loss_decrease":  # random-init shapes: the loss must fall
            assert 0 < floor.value < 1, f"{case.id}: the training loss must decrease"
        else:
            assert floor.metric == "perplexity" and floor.value > 1, f"{case.id}: {floor}"
    assert set(FLOORS) >= {(c.dataset, c.tier) for c in CASES}


def trainable_names(model):
    return [n for n, p in model.named_parameters() if p.requires_grad]


@pytest.mark.parametrize("name", ["lora", "hira", "lora_prune"])
def test_adapters_only_train(name):
    method = get_method(name)
    model = method.apply(make_bert(), method.Config(), task_type="SEQ_CLS")
    names = trainable_names(model)
    assert names, "nothing trains"
    for n in names:
        assert f"{name.split('_')[0]}_" in n or "classifier" in n, f"{name}: unexpected trainable {n}"
    assert any("query" in n for n in names) and any("value" in n for n in names)
    assert not any("key" in n or "intermediate" in n for n in names)


def test_full_ft_trains_everything():
    method = get_method("full_ft")
    model = method.apply(make_bert(), method.Config(), task_type="SEQ_CLS")
    assert all(p.requires_grad for p in model.parameters())


def test_lora_adapters_get_gradients_and_move():
    method = get_method("lora")
    model = method.apply(make_llama(), method.Config(dropout=0.0), task_type="CAUSAL_LM")
    batch = batch_for(model)
    model(**batch).loss.backward()
    # B starts at zero, so at step 0 only B receives gradient (A's is B^T-scaled)
    grads = {n: p.grad for n, p in model.named_parameters() if "lora_B" in n}
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads.values())


def test_hira_delta_is_zero_at_init_and_merge_matches():
    method = get_method("hira")
    base = make_llama().eval()
    ids = batch_for(base)["input_ids"]
    with torch.no_grad():
        expected = base(input_ids=ids).logits.clone()
    model = method.apply(base, method.Config(), task_type="CAUSAL_LM").eval()
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, expected, atol=1e-6), "HiRA changes W0 at init"
        for n, p in model.named_parameters():
            if "hira_" in n:
                p.add_(torch.randn_like(p) * 0.1)
        unmerged = model(input_ids=ids).logits.clone()
        assert not torch.allclose(unmerged, expected, atol=1e-4)
        merged = model.merge_and_unload()(input_ids=ids).logits
    assert torch.allclose(merged, unmerged, atol=1e-4)


def test_qlora_layers_are_4bit_nf4_and_head_stays_full_precision():
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb

    method = get_method("qlora")
    model = method.apply(make_bert(), method.Config(), task_type="SEQ_CLS")
    four_bit = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert four_bit, "no 4-bit layers"
    assert all(m.weight.quant_type == "nf4" for m in four_bit)
    heads = [m for n, m in model.named_modules() if n.endswith("classifier") or ".classifier." in n]
    assert heads and not any(isinstance(m, bnb.nn.Linear4bit) for m in heads)
    model(**{"input_ids": torch.randint(5, 50, (2, 8)), "labels": torch.tensor([0, 1])}).loss.backward()


@pytest.mark.parametrize("criterion", ["magnitude", "topk", "l1"])
def test_lora_prune_reaches_its_target(criterion):
    method = get_method("lora_prune")
    cfg = method.Config(criterion=criterion, target_sparsity=0.5, prune_every=2)
    model = method.apply(make_bert(), cfg, task_type="SEQ_CLS")
    with torch.no_grad():
        for p in method.get_adapter_weights(model):
            p.copy_(torch.randn_like(p))
    for step in range(1, 11):
        method.after_step(model, cfg, step=step, total_steps=10)
    stats = method.stats(model, cfg)
    assert stats["adapter_weight_sparsity"] == pytest.approx(0.5, abs=0.02)
    if criterion == "l1":
        assert method.penalty(model, cfg) > 0
    else:
        assert method.penalty(model, cfg) is None


def test_lora_prune_schedule_is_gradual_and_ends_at_target():
    cfg = get_method("lora_prune").Config(prune_every=100)
    schedule = get_method("lora_prune").get_scheduled_sparsity
    values = [schedule(cfg, step=s, total_steps=400) for s in (100, 200, 300, 400)]
    assert values == sorted(values) and values[-1] == pytest.approx(0.5)
    assert schedule(cfg, step=150, total_steps=400) is None


@pytest.mark.parametrize(
    "name, field, value",
    [("lora", "r", 0), ("lora", "lr", -1e-4), ("lora", "dropout", 1.0), ("hira", "r", 0),
     ("qlora", "quant_type", "int3"), ("lora_prune", "target_sparsity", 1.0), ("lora_prune", "criterion", "random")],
)
def test_nonsense_hyper_parameters_are_refused_by_name(name, field, value):
    with pytest.raises(ValueError, match=field):
        get_method(name).Config(**{field: value})


def test_unknown_options_and_methods_list_the_valid_ones():
    with pytest.raises(ValueError, match="known"):
        config_from_dict(get_method("lora").Config, {"rank": 4})
    with pytest.raises(ValueError, match="lora, hira"):
        get_method("not_a_method")


def test_configs_are_json_native():
    import json

    for name in METHODS:
        json.dumps(dataclasses.asdict(get_method(name).Config()))


def test_one_target_name_as_a_string_is_one_module():
    for name in ("lora", "hira", "qlora", "lora_prune", "sparselora"):
        assert get_method(name).Config(target_modules="all-linear").target_modules == ("all-linear",)
