#!/usr/bin/env python3
"""Writes test/fixtures/bert/bf16.{json,bin}: what PyTorch's own bf16 mixed precision
(torch.autocast(device_type='cpu', dtype=torch.bfloat16)) gives on the fp32 fixture of
make_bert_fixture.py, and how far that is from the fp32 reference. The bf16 parity test allows
our bf16 BERT at most 2x this error, tensor by tensor.

Run from the repository root, after make_bert_fixture.py:
    python3 test/reference/make_bert_bf16_fixture.py [--fixture DIR]
(DIR: another fixture folder written by make_bert_fixture.py --out DIR; default the committed one.)
Needs torch and transformers (CPU). It reads the committed fp32 fixture (weights, inputs, loss
weights Gc/Gp/Gh and the float64 reference results), so both fixtures describe the same model.

The model runs in float32 under autocast (autocast leaves float64 alone), in eval mode, with the
same two losses as the fp32 fixture:
  L1 = sum(cls * Gc) + sum(pooled * Gp)   -> bf16grad/<hf name>
  L2 = sum(last_hidden * Gh)              -> bf16grad_h/<hf name>
and outputs bf16out/last_hidden, bf16out/pooled (float32 copies of what autocast returns).

bf16.json: versions, and per tensor name (out/..., grad/..., grad_h/... as in the fp32 fixture):
  shape, offset (floats into bf16.bin, little-endian float32),
  max_abs_err  max |autocast - reference|
  max_abs_ref  max |reference|          (the tensor's scale)
  rel_l2       ||autocast - reference|| / ||reference||
The reference is the fp32 fixture's float64 result (rounded to float32 when it was stored).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from transformers import BertConfig, BertModel

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "bert")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixture", default=FIX)
    fix = ap.parse_args().fixture
    with open(os.path.join(fix, "index.json")) as f:
        index = json.load(f)
    flat = np.fromfile(os.path.join(fix, "data.bin"), dtype="<f4")
    ref = {}
    for e in index["tensors"]:
        n = int(np.prod(e["shape"])) if e["shape"] else 1
        ref[e["name"]] = torch.from_numpy(flat[e["offset"] : e["offset"] + n].copy()).reshape(e["shape"])

    cfg = BertConfig(**index["config"], attn_implementation="eager")
    model = BertModel(cfg, add_pooling_layer=True)
    model.eval()
    model.float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(ref["param/" + name])

    B, T = index["batch"], index["seq"]
    ids = torch.tensor(index["input_ids"]).reshape(B, T)
    mask = torch.tensor(index["attention_mask"]).reshape(B, T)
    types = torch.tensor(index["token_type_ids"]).reshape(B, T)
    Gc, Gp, Gh = ref["in/Gc"], ref["in/Gp"], ref["in/Gh"]

    def run():
        model.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            out = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        return out.last_hidden_state, out.pooler_output

    last, pooled = run()
    # The losses in float32 (outside autocast), as a float32 training loss would be.
    loss1 = (last[:, 0].float() * Gc).sum() + (pooled.float() * Gp).sum()
    loss1.backward()
    grads1 = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    last2, _ = run()
    (last2.float() * Gh).sum().backward()
    grads2 = {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
              for n, p in model.named_parameters()}

    mine = {"out/last_hidden": last.detach().float(), "out/pooled": pooled.detach().float()}
    for n, _ in model.named_parameters():
        mine["grad/" + n] = grads1[n].float()
        mine["grad_h/" + n] = grads2[n].float()

    out = {
        "generator": "test/reference/make_bert_bf16_fixture.py",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "autocast": "torch.autocast(device_type='cpu', dtype=torch.bfloat16), float32 model, eval mode",
        "dtypes": {"last_hidden": str(last.dtype), "pooled": str(pooled.dtype)},
        "tensors": [],
    }
    off = 0
    blobs = []
    for name, t in mine.items():
        a = t.detach().cpu().numpy().astype("<f4").ravel()
        r = ref[name].numpy().astype(np.float64).ravel()
        d = a.astype(np.float64) - r
        out["tensors"].append({
            "name": name,
            "shape": list(t.shape),
            "offset": off,
            "max_abs_err": float(np.abs(d).max()),
            "max_abs_ref": float(np.abs(r).max()),
            "rel_l2": float(np.linalg.norm(d) / max(np.linalg.norm(r), 1e-30)),
        })
        off += a.size
        blobs.append(a)
    np.concatenate(blobs).tofile(os.path.join(fix, "bf16.bin"))
    with open(os.path.join(fix, "bf16.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    worst = max(out["tensors"], key=lambda e: e["max_abs_err"] / max(e["max_abs_ref"], 1e-30))
    print(f"wrote {len(out['tensors'])} tensors, {off * 4} bytes to {os.path.relpath(fix)}; "
          f"output dtypes {out['dtypes']}; worst max-abs error / scale {worst['name']}", file=sys.stderr)


if __name__ == "__main__":
    main()
