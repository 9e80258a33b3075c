#!/usr/bin/env python3
"""One-off check that a GAN checkpoint written by `biofeg train-gan` loads the way the original
BioFEG code loads its own (generate_features.py): torch.load(path) gives a dict whose
'generator', 'discriminator' and 'entity_embedding' entries are state_dicts for
load_state_dict(strict=True). Written for this repo; the modules below only mirror the original's
parameter names and shapes:

  generator / discriminator: fc1 = Linear(in, hidden), fc2 = Linear(hidden, out) (LeakyReLU between)
  entity_embedding:          cand_encoder.bert_model = BertModel(config) (+ cand_encoder.additional_linear)

The BERT config comes from our 'biofeg' entry (meta JSON), which the original ignores. The check
loads the file with weights_only=True (torch's safe loader) and once with weights_only=False (what
the original's torch version did), loads all three state_dicts strictly and prints a summary.

Usage: python3 test/reference/check_gan_checkpoint.py <runs/.../gan/epoch_N> [more files...]
Needs torch; transformers for the BERT part (skipped with a note when absent). Tests never run it.
"""
import json
import sys

import torch
from torch import nn


class TwoLayer(nn.Module):
    def __init__(self, sd):
        super().__init__()
        h, i = sd["fc1.weight"].shape
        o = sd["fc2.weight"].shape[0]
        self.fc1 = nn.Linear(i, h)
        self.fc2 = nn.Linear(h, o)


class CandEncoder(nn.Module):
    def __init__(self, bert, linear):
        super().__init__()
        self.bert_model = bert
        if linear is not None:
            self.additional_linear = linear


class DescriptionEmbedding(nn.Module):
    def __init__(self, meta):
        super().__init__()
        from transformers import BertConfig, BertModel

        enc = meta["encoder"]
        cfg = BertConfig(**{k: v for k, v in enc["config"].items() if k not in ("architectures", "model_type")})
        bert = BertModel(cfg, add_pooling_layer=True)
        linear = nn.Linear(cfg.hidden_size, enc["outDim"]) if enc["addLinear"] else None
        self.cand_encoder = CandEncoder(bert, linear)


def check(path):
    states = torch.load(path, map_location="cpu", weights_only=True)
    legacy = torch.load(path, map_location="cpu", weights_only=False)
    assert list(states.keys()) == list(legacy.keys())
    for key in ("generator", "discriminator", "entity_embedding"):
        assert key in states, f"{path}: no {key}"
    meta = json.loads(states["biofeg"]["meta"])
    out = {"file": path, "keys": list(states.keys()), "dims": meta["dims"]}
    for key in ("generator", "discriminator"):
        m = TwoLayer(states[key])
        m.load_state_dict(states[key], strict=True)
        out[key] = {k: list(v.shape) for k, v in states[key].items()}
    try:
        e = DescriptionEmbedding(meta)
    except ImportError:
        out["entity_embedding"] = "transformers not installed: names not checked"
    else:
        missing, unexpected = e.load_state_dict(states["entity_embedding"], strict=True)
        assert not missing and not unexpected
        w = states["entity_embedding"]["cand_encoder.bert_model.embeddings.word_embeddings.weight"]
        assert torch.equal(e.cand_encoder.bert_model.embeddings.word_embeddings.weight.data, w)
        out["entity_embedding"] = f"{len(states['entity_embedding'])} tensors loaded strictly into BertModel"
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    for p in sys.argv[1:]:
        check(p)
    print("ok")
