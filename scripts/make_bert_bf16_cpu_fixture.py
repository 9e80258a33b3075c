#!/usr/bin/env python3
"""Writes test/fixtures/bert-bf16-cpu/{index.json,data.bin}: a random HF BERT's outputs in float64
(the reference) and how far PyTorch's CPU bf16 autocast
(torch.autocast(device_type='cpu', dtype=torch.bfloat16)) lands from them. test/cpu-bf16-bert.test.ts
holds our CPU bf16 BERT to at most 2x that error, tensor by tensor (the bar of test/bert-bf16.test.ts).

Run from the repository root:
    python3 scripts/make_bert_bf16_cpu_fixture.py
Needs torch and transformers (CPU; pip install torch transformers).

The shapes are chosen for the bf16 GEMM's edges: 63 token rows (not a multiple of the 6-row
micro-tile), head dim 24, intermediate 200 (not a multiple of the 64-column panel), three
sequences with padding. The weights are not stored: each parameter is drawn from mulberry32
(src/models/rng.ts) with the seed, centre and scale listed in index.json, value i =
centre + scale * (2 u_i - 1) rounded to float32, which the test redraws bit for bit.

index.json: versions, config, batch, seq, input ids / mask / token types, params (name, shape,
seed, centre, scale), outputs (name, shape, offset into data.bin, float32 little-endian: the
float64 reference rounded), and autocast: per output max_abs_err, max_abs_ref, rel_l2 of
autocast against the reference.
"""
import json
import math
import os

import numpy as np
import torch
import transformers
from transformers import BertConfig, BertModel

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "bert-bf16-cpu")

CONFIG = {
    "vocab_size": 96,
    "hidden_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 200,
    "max_position_embeddings": 40,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
}
B, T, LENGTHS = 3, 21, [21, 13, 5]


def mulberry32(seed):
    a = seed & 0xFFFFFFFF

    def nxt():
        nonlocal a
        a = (a + 0x6D2B79F5) & 0xFFFFFFFF
        t = a
        t = ((t ^ (t >> 15)) * (t | 1)) & 0xFFFFFFFF
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296.0

    return nxt


def draw(n, seed, centre, scale):
    r = mulberry32(seed)
    return np.array([centre + scale * (2.0 * r() - 1.0) for _ in range(n)], dtype=np.float32)


def main() -> None:
    cfg = BertConfig(**CONFIG, attn_implementation="eager")
    model = BertModel(cfg, add_pooling_layer=True).eval()
    params = []
    with torch.no_grad():
        for i, (name, p) in enumerate(model.named_parameters()):
            if name.endswith("LayerNorm.weight"):
                centre, scale = 1.0, 0.2
            elif name.endswith("bias"):
                centre, scale = 0.0, 0.2
            elif "embeddings" in name:
                centre, scale = 0.0, 1.0
            else:  # a Linear weight [out, in]: unit-variance outputs for unit-variance inputs
                centre, scale = 0.0, math.sqrt(3.0 / p.shape[1])
            seed = 7001 + i
            p.copy_(torch.from_numpy(draw(p.numel(), seed, centre, scale)).reshape(p.shape))
            params.append({"name": name, "shape": list(p.shape), "seed": seed, "centre": centre, "scale": scale})

    r = mulberry32(99)
    ids = np.zeros((B, T), dtype=np.int64)
    mask = np.zeros((B, T), dtype=np.int64)
    types = np.zeros((B, T), dtype=np.int64)
    for b, n in enumerate(LENGTHS):
        for t in range(T):
            ids[b, t] = 2 if t == 0 else 5 + int(r() * (CONFIG["vocab_size"] - 5))
            mask[b, t] = 1 if t < n else 0
            types[b, t] = 1 if t >= n // 2 and t < n else 0
    ids_t, mask_t, types_t = torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types)

    with torch.no_grad():
        ref_model = BertModel(cfg, add_pooling_layer=True).eval()
        ref_model.load_state_dict(model.state_dict())
        ref_model.double()
        ref = ref_model(input_ids=ids_t, attention_mask=mask_t, token_type_ids=types_t)
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            ac = model(input_ids=ids_t, attention_mask=mask_t, token_type_ids=types_t)

    outputs, autocast, blobs, off = [], {}, [], 0
    for name, want, got in [
        ("last_hidden", ref.last_hidden_state, ac.last_hidden_state),
        ("pooled", ref.pooler_output, ac.pooler_output),
    ]:
        w = want.double()
        g = got.double()
        autocast[name] = {
            "max_abs_err": float((g - w).abs().max()),
            "max_abs_ref": float(w.abs().max()),
            "rel_l2": float((g - w).norm() / w.norm()),
        }
        a = w.float().numpy().astype("<f4").ravel()
        outputs.append({"name": name, "shape": list(want.shape), "offset": off})
        blobs.append(a)
        off += a.size

    os.makedirs(OUT, exist_ok=True)
    np.concatenate(blobs).tofile(os.path.join(OUT, "data.bin"))
    index = {
        "generator": "scripts/make_bert_bf16_cpu_fixture.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "config": CONFIG,
        "batch": B,
        "seq": T,
        "lengths": LENGTHS,
        "input_ids": ids.ravel().tolist(),
        "attention_mask": mask.ravel().tolist(),
        "token_type_ids": types.ravel().tolist(),
        "params": params,
        "outputs": outputs,
        "autocast": autocast,
    }
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    for k, v in autocast.items():
        print(f"{k}: autocast max-abs err / scale {v['max_abs_err'] / v['max_abs_ref']:.3e}, rel L2 {v['rel_l2']:.3e}")


if __name__ == "__main__":
    main()
