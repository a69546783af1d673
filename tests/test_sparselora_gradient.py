"""SparseLoRA's gradient switch (Config.gradient) and schedule scale (Config.sparsity_scale)."""

import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from methods import sparselora

VOCAB = 100


def make_models():
    """The same 2-layer Llama with identical non-zero adapters, under each gradient mode."""
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=128)
    base = LlamaForCausalLM(config)
    common = dict(dropout=0.0, target_modules=("all-linear",), dense_first=0, dense_last=0, dense_warmup=0.0,
                  ffn_sparsity=0.5, attn_sparsity=0.5)
    models = {}
    for mode in sparselora.GRADIENTS:
        cfg = sparselora.Config(**common, gradient=mode)
        models[mode] = sparselora.apply(copy.deepcopy(base), cfg, task_type="CAUSAL_LM")
    torch.manual_seed(1)
    for name, p in models["exact"].named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.2)
    models["reference"].load_state_dict(models["exact"].state_dict())
    return models


def get_grads(model) -> tuple:
    ids = torch.randint(0, VOCAB, (3, 12), generator=torch.Generator().manual_seed(2))
    model.train()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    return out.loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_reference_gradient_cuts_earlier_layers_but_keeps_the_layers_own_lora_gradients():
    models = make_models()
    loss_exact, exact = get_grads(models["exact"])
    loss_ref, ref = get_grads(models["reference"])
    assert torch.equal(loss_exact, loss_ref)  # the forward is the same; only the backward differs
    # the last layer's o projection and FFN see the same gradient from above and the same input
    own = [n for n in exact if ".layers.1." in n and any(k in n for k in ("o_proj", "gate_proj", "up_proj", "down_proj"))]
    assert len(own) == 8
    for name in own:
        torch.testing.assert_close(ref[name], exact[name], rtol=1e-5, atol=1e-7)
    # the first layer's adapters learn from what passed the last layer's attention: no longer exact
    earlier = [n for n in exact if ".layers.0." in n]
    differs = [n for n in earlier if not torch.allclose(ref[n], exact[n], rtol=1e-3, atol=1e-6)]
    assert len(differs) == len(earlier), sorted(set(earlier) - set(differs))
    assert models["reference"]._sparselora.reference_gradient and not models["exact"]._sparselora.reference_gradient


def test_the_switch_is_recorded_and_validated():
    model = make_models()["reference"]
    assert sparselora.stats(model, sparselora.Config(gradient="reference"))["sparselora_gradient"] == "reference"
    with pytest.raises(ValueError, match=r"gradient='approx'"):
        sparselora.Config(gradient="approx")


def test_sparsity_scale_multiplies_the_schedule_and_refuses_a_scaled_value_of_one():
    cfg = sparselora.Config(ffn_sparsity=0.6, attn_sparsity=0.4, dense_first=1, dense_last=1, sparsity_scale=0.5)
    assert sparselora.get_schedule(cfg, 4) == ([0.0, 0.3, 0.3, 0.0], [0.0, 0.2, 0.2, 0.0])
    ffn, attn = sparselora.get_schedule(sparselora.Config(preset="math", sparsity_scale=0.5), 32)
    assert max(ffn) == pytest.approx(0.495) and max(attn) == pytest.approx(0.375)
    with pytest.raises(ValueError, match=r"sparsity_scale=2.0.*scale < 1.11"):
        sparselora.Config(ffn_sparsity=0.9, sparsity_scale=2.0)
    with pytest.raises(ValueError, match=r"sparsity_scale=-1"):
        sparselora.Config(sparsity_scale=-1)
