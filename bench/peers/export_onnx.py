#!/usr/bin/env python3
"""Exports the bench:bert BERT shapes to ONNX for the onnxruntime-node peer (bench/peers/bert_onnx.ts).

  export_onnx.py --sizes tiny,small,base [--out runs/onnx] [--force]

The same random HF transformers BertModel as bench/peers/bert_torch.py (its SIZES, torch.manual_seed(0),
eager attention), exported with torch.onnx.export (TorchScript exporter, opset 17, batch and sequence
dynamic) as a user would for serving: inputs input_ids and attention_mask (int64), output cls = the last
layer's [CLS] vector (as `biofeg encode` returns). onnxruntime fuses attention, LayerNorm and GELU
itself at graph optimization level 'all', so the file holds the plain exported graph.

Writes <out>/bert-<size>.onnx and bert-<size>.json (config, versions); a size whose files exist with
the same config is skipped unless --force. Prints one JSON line: {"models": {size: path}}.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_torch import SIZES  # noqa: E402  (one table of shapes for both peers)

OPSET = 17


def export(size, out, force):
    import torch
    import transformers
    from transformers import BertConfig, BertModel

    s = SIZES[size]
    path = os.path.join(out, f'bert-{size}.onnx')
    meta_path = os.path.join(out, f'bert-{size}.json')
    meta = {'size': size, 'config': s, 'opset': OPSET, 'attention': 'eager', 'output': 'cls', 'seed': 0}
    if not force and os.path.exists(path) and os.path.exists(meta_path):
        with open(meta_path) as f:
            old = json.load(f)
        if all(old.get(k) == v for k, v in meta.items()):
            return path
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=s['vocab'], hidden_size=s['hidden'], num_hidden_layers=s['layers'],
                     num_attention_heads=s['heads'], intermediate_size=s['inter'], max_position_embeddings=512,
                     attn_implementation='eager')
    model = BertModel(cfg).eval()

    class Cls(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0, :]

    B, T = s['batch'], s['seq']
    ids = torch.randint(1, s['vocab'], (B, T), dtype=torch.long)
    mask = torch.ones(B, T, dtype=torch.long)
    os.makedirs(out, exist_ok=True)
    tmp = path + '.tmp'
    with torch.inference_mode():
        torch.onnx.export(Cls(model), (ids, mask), tmp, input_names=['input_ids', 'attention_mask'], output_names=['cls'],
                          dynamic_axes={'input_ids': {0: 'batch', 1: 'seq'}, 'attention_mask': {0: 'batch', 1: 'seq'},
                                        'cls': {0: 'batch'}},
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    os.replace(tmp, path)
    with open(meta_path, 'w') as f:
        json.dump({**meta, 'torch': torch.__version__, 'transformers': transformers.__version__}, f, indent=2)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--sizes', default='tiny,small,base')
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'runs', 'onnx'))
    ap.add_argument('--force', action='store_true')
    a = ap.parse_args()
    models = {size: os.path.abspath(export(size, a.out, a.force)) for size in a.sizes.split(',') if size}
    print(json.dumps({'models': models}))


if __name__ == '__main__':
    main()
