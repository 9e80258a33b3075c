#!/usr/bin/env python3
"""Writes test/fixtures/bert/: a tiny random Hugging Face BertModel, its outputs on padded
inputs of mixed lengths, and the gradients of two scalar losses w.r.t. every parameter.

Run from the repository root:  python3 test/reference/make_bert_fixture.py
(--seed N --out DIR write another random model elsewhere, e.g. to see how the bf16 bar varies
across models; the committed fixture is the default seed 7.)
Needs torch and transformers (CPU is enough). The tests read the committed output only.

Files:
  index.json  config, inputs, and for every tensor its name, shape and float offset in data.bin
  data.bin    little-endian float32, all tensors back to back

Tensors:
  param/<hf name>       the weights (all randomised: non-zero biases, LayerNorm weights != 1)
  out/last_hidden       [B, T, H]   last hidden state (eval mode: no dropout)
  out/pooled            [B, H]      tanh(dense([CLS]))
  in/Gc, in/Gp, in/Gh   fixed random weights of the losses below
  grad/<hf name>        d/dparam of L1 = sum(cls * Gc) + sum(pooled * Gp)
  grad_h/<hf name>      d/dparam of L2 = sum(last_hidden * Gh), Gh zero at padded positions

The reference runs in float64 so its own rounding is far below the tests' 1e-4 tolerance.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from transformers import BertConfig, BertModel

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "bert")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7, help="seed of the weights, inputs and loss weights")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    out_dir = args.out
    torch.manual_seed(20231206)
    cfg = BertConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=32,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        attn_implementation="eager",
    )
    model = BertModel(cfg, add_pooling_layer=True)
    model.eval()
    model.double()

    # Randomise everything at scales where each part of the network matters.
    g = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            elif "LayerNorm.bias" in name or name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            elif "embeddings" in name:
                p.copy_(0.6 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            else:  # Linear weight [out, in]
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / np.sqrt(p.shape[1]))
            # Round to float32 so both sides start from identical weights.
            p.copy_(p.float().double())

    B, T = 3, 12
    lengths = [12, 7, 3]
    ids = torch.randint(1, cfg.vocab_size, (B, T), generator=g)
    mask = torch.zeros(B, T, dtype=torch.long)
    types = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
        ids[b, n:] = 0  # [PAD]
        types[b, n // 2 : n] = 1  # second "segment" in every sequence
    ids[:, 0] = 2  # a [CLS]-like id

    H = cfg.hidden_size
    Gc = torch.randn(B, H, generator=g, dtype=torch.float64).float().double()
    Gp = torch.randn(B, H, generator=g, dtype=torch.float64).float().double()
    Gh = (torch.randn(B, T, H, generator=g, dtype=torch.float64) * mask[:, :, None]).float().double()

    def run():
        model.zero_grad(set_to_none=True)
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        return out.last_hidden_state, out.pooler_output

    last, pooled = run()
    loss1 = (last[:, 0] * Gc).sum() + (pooled * Gp).sum()
    loss1.backward()
    grads1 = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    last2, _ = run()
    (last2 * Gh).sum().backward()
    grads2 = {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
              for n, p in model.named_parameters()}

    tensors = []
    for n, p in model.named_parameters():
        tensors.append(("param/" + n, p.detach()))
    tensors += [("out/last_hidden", last.detach()), ("out/pooled", pooled.detach())]
    tensors += [("in/Gc", Gc), ("in/Gp", Gp), ("in/Gh", Gh)]
    for n, _ in model.named_parameters():
        tensors.append(("grad/" + n, grads1[n]))
    for n, _ in model.named_parameters():
        tensors.append(("grad_h/" + n, grads2[n]))

    os.makedirs(out_dir, exist_ok=True)
    index = {
        "generator": "test/reference/make_bert_fixture.py",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "config": {
            "vocab_size": cfg.vocab_size,
            "hidden_size": cfg.hidden_size,
            "num_hidden_layers": cfg.num_hidden_layers,
            "num_attention_heads": cfg.num_attention_heads,
            "intermediate_size": cfg.intermediate_size,
            "max_position_embeddings": cfg.max_position_embeddings,
            "type_vocab_size": cfg.type_vocab_size,
            "layer_norm_eps": cfg.layer_norm_eps,
            "hidden_act": cfg.hidden_act,
            "hidden_dropout_prob": cfg.hidden_dropout_prob,
            "attention_probs_dropout_prob": cfg.attention_probs_dropout_prob,
        },
        "batch": B,
        "seq": T,
        "lengths": lengths,
        "input_ids": ids.flatten().tolist(),
        "attention_mask": mask.flatten().tolist(),
        "token_type_ids": types.flatten().tolist(),
        "tensors": [],
    }
    off = 0
    blobs = []
    for name, t in tensors:
        a = t.detach().cpu().numpy().astype("<f4").ravel()
        index["tensors"].append({"name": name, "shape": list(t.shape), "offset": off})
        off += a.size
        blobs.append(a)
    np.concatenate(blobs).tofile(os.path.join(out_dir, "data.bin"))
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print(f"wrote {len(tensors)} tensors, {off * 4} bytes to {os.path.relpath(out_dir)}", file=sys.stderr)


if __name__ == "__main__":
    main()
