#!/usr/bin/env python3
"""Writes test/fixtures/checkpoint/: a tiny random BERT saved in every checkpoint format our reader
must understand, plus reference.json (shape, dtype, sum, sum of |x| and the first values of every
tensor) so the TypeScript tests need no Python.

Run from the repo root:  python3 test/reference/make_checkpoint_fixture.py
Needs: torch (CPU), transformers, safetensors, numpy.

With `--check DIR...` it instead checks folders written by our saveHfFolder: transformers'
BertModel.from_pretrained must load each with no missing, unexpected or mis-shaped keys and give
exactly the fixture's tensors (see test/fixtures/checkpoint/README.md).
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "checkpoint")


def describe(sd):
    """Reference statistics per tensor, computed in float64 on the exact stored values."""
    ref = {}
    for name, t in sd.items():
        t64 = t.detach().to(torch.float64).contiguous().reshape(-1)
        ref[name] = {
            "shape": list(t.shape),
            "dtype": str(t.dtype).replace("torch.", ""),
            "sum": float(t64.sum()),
            "abs_sum": float(t64.abs().sum()),
            "first": [float(v) for v in t64[:4]],
        }
    return ref


def fresh(path):
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)


def main():
    torch.manual_seed(1234)
    config = BertConfig(
        vocab_size=50,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
        type_vocab_size=2,
    )
    model = BertModel(config)
    with torch.no_grad():
        # Non-trivial values everywhere (LayerNorms included) so a wrong tensor cannot pass by luck.
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5 + 0.1)
    model.eval()
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}

    os.makedirs(OUT, exist_ok=True)
    ref = {"bert": describe(sd)}

    # 1. save_pretrained: config.json + model.safetensors, HF names without prefix.
    d = os.path.join(OUT, "hf-safetensors")
    fresh(d)
    model.save_pretrained(d, safe_serialization=True)

    # 2. torch.save(state_dict) in the zip format, as pytorch_model.bin; with an int64 position_ids
    #    buffer as older transformers versions saved it.
    d = os.path.join(OUT, "hf-torch-zip")
    fresh(d)
    config.to_json_file(os.path.join(d, "config.json"))
    sd_pos = model.state_dict()  # an OrderedDict carrying _metadata, restored by BUILD
    sd_pos["embeddings.position_ids"] = torch.arange(16, dtype=torch.int64).unsqueeze(0)
    torch.save(sd_pos, os.path.join(d, "pytorch_model.bin"))

    # 3. The same with the `bert.` prefix and an MLM head whose decoder weight is tied to the word
    #    embeddings (one storage shared by two tensors), as BertForMaskedLM checkpoints have.
    d = os.path.join(OUT, "hf-torch-zip-prefixed")
    fresh(d)
    config.to_json_file(os.path.join(d, "config.json"))
    pre = {"bert." + k: v for k, v in sd.items()}
    pre["cls.predictions.bias"] = torch.linspace(-1, 1, 50)
    pre["cls.predictions.decoder.weight"] = pre["bert.embeddings.word_embeddings.weight"]
    torch.save(pre, os.path.join(d, "pytorch_model.bin"))
    ref["cls"] = describe({k: v for k, v in pre.items() if k.startswith("cls.")})

    # 4. The legacy (pre-1.6, non-zip) torch.save format, with old-style LayerNorm gamma/beta names.
    d = os.path.join(OUT, "hf-torch-legacy")
    fresh(d)
    config.to_json_file(os.path.join(d, "config.json"))
    legacy = {}
    for k, v in sd.items():
        k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        legacy[k] = v
    torch.save(legacy, os.path.join(d, "pytorch_model.bin"), _use_new_zipfile_serialization=False)

    # 5. Odd tensors: dtypes other than f32, a transposed (non-contiguous) view, a view at a storage
    #    offset, a scalar, and two views of one storage.
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.25 - 2
    misc = {
        "f16": (torch.randn(3, 5) * 3).to(torch.float16),
        "bf16": (torch.randn(7) * 100).to(torch.bfloat16),
        "f64": torch.randn(2, 3, dtype=torch.float64),
        "i64": torch.tensor([[-5, 0, 7], [2**31 - 1, -(2**31), 3]], dtype=torch.int64),
        "i32": torch.tensor([1, -2, 3], dtype=torch.int32),
        "transposed": base.t(),
        "offset_view": base[1:3, 2:5],
        "row": base[2],
        "scalar": torch.tensor(3.5),
        "bool": torch.tensor([True, False, True]),
    }
    torch.save(misc, os.path.join(OUT, "misc.bin"))
    ref["misc"] = describe(misc)
    # safetensors cannot hold views; the contiguous copies go to misc.safetensors.
    save_file(
        {k: v.contiguous() for k, v in misc.items() if k in ("f16", "bf16", "f64", "i64", "i32", "transposed")},
        os.path.join(OUT, "misc.safetensors"),
        metadata={"note": "fixture"},
    )

    # 6. A BLINK bi-encoder state_dict: two BERTs under context_encoder.bert_model. /
    #    cand_encoder.bert_model., each with an additional_linear (out_dim 4).
    torch.manual_seed(99)
    lin = {
        "context_encoder.additional_linear.weight": torch.randn(4, 8),
        "context_encoder.additional_linear.bias": torch.randn(4),
        "cand_encoder.additional_linear.weight": torch.randn(4, 8),
        "cand_encoder.additional_linear.bias": torch.randn(4),
    }
    bi = torch.nn.Module()
    for side, sign in (("context_encoder", 1.0), ("cand_encoder", -1.0)):
        enc = torch.nn.Module()
        enc.bert_model = BertModel(config)
        enc.bert_model.load_state_dict({k: v * sign for k, v in sd.items()})
        enc.additional_linear = torch.nn.Linear(8, 4)
        enc.additional_linear.load_state_dict(
            {"weight": lin[side + ".additional_linear.weight"], "bias": lin[side + ".additional_linear.bias"]}
        )
        setattr(bi, side, enc)
    d = os.path.join(OUT, "biencoder")
    fresh(d)
    torch.save(bi.state_dict(), os.path.join(d, "pytorch_model.bin"))
    ref["additional_linear"] = describe(lin)

    ref["config"] = json.loads(config.to_json_string())
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", os.path.abspath(OUT))


def check(dirs):
    ref = BertModel.from_pretrained(os.path.join(OUT, "hf-safetensors")).state_dict()
    for d in dirs:
        model, info = BertModel.from_pretrained(d, output_loading_info=True)
        bad = {k: v for k, v in info.items() if v}
        if bad:
            raise SystemExit(f"{d}: {bad}")
        for k, v in model.state_dict().items():
            if not torch.equal(v, ref[k]):
                raise SystemExit(f"{d}: {k} differs from the fixture")
        print(f"{d}: BertModel.from_pretrained loads it; no missing/unexpected keys; tensors equal")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        check(sys.argv[2:])
    else:
        main()
