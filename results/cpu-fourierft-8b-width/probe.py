"""CPU probe: how far one learning rate moves the loss of a method at the llama-8b layer widths.

A random-init Llama-3.1-8B shape cut to LAYERS decoder layers (fp32, on the CPU), the method on
every linear layer as in the scale tier (bench.matrix.get_lm_options), AdamW at LR, STEPS steps on
one fixed batch of 2 x 64 WikiText-2 token ids (.ci-cache/tokens: python -m fixtures.data.scale).
Prints each step's loss and RESULT: 1 - (mean loss of the last fifth of the steps / the first fifth).

    PYTHONPATH=$PWD python results/cpu-fourierft-8b-width/probe.py METHOD LR LAYERS STEPS
"""
import sys
import time

import torch
from transformers import LlamaForCausalLM

from bench.matrix import get_lm_options
from fixtures.models.shapes import get_shape_config
from methods import get_method

method_name, lr, layers, steps = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
config = get_shape_config("llama-8b")
config.num_hidden_layers = layers
model = LlamaForCausalLM(config)
model.requires_grad_(False)
method = get_method(method_name)
cfg = method.Config(**get_lm_options(method_name), lr=lr)
model = method.apply(model, cfg, task_type="CAUSAL_LM")
params = [p for p in model.parameters() if p.requires_grad]
print(method_name, "trainable", sum(p.numel() for p in params), flush=True)
opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
ids = torch.load(".ci-cache/tokens/wikitext2-smollm2-ids-v1.pt")["train"].flatten()
x = ids[:2 * 64].view(2, 64).long()  # one fixed batch: how far the rate moves the loss, without batch noise
losses = []
for step in range(steps):
    t = time.perf_counter()
    loss = model(input_ids=x, labels=x).loss
    loss.backward()
    opt.step()
    opt.zero_grad()
    losses.append(loss.item())
    print(f"step {step} loss {losses[-1]:.4f} {time.perf_counter()-t:.1f}s", flush=True)
f = max(1, steps // 5)
first, last = sum(losses[:f]) / f, sum(losses[-f:]) / f
print(f"RESULT {method_name} lr={lr:g} layers={layers} decrease={1 - last / first:.4f} first={first:.4f} last={last:.4f}")
