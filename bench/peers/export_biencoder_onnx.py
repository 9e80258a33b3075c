#!/usr/bin/env python3
"""Exports a biofeg bi-encoder checkpoint to ONNX for the onnxruntime-node service peer (bench/peers/serve_onnx.ts).

  export_biencoder_onnx.py --model DIR --out DIR [--force]

What a Node developer without biofeg would do with the same weights: each side (context_encoder,
cand_encoder) loaded into an HF transformers BertModel (eager attention) from model.safetensors and
exported with torch.onnx.export (opset 17, batch and sequence dynamic; inputs input_ids and
attention_mask, int64; output cls = the last layer's [CLS] vector, BLINK's embedding without
additional_linear), plus the vocabulary as a tokenizer.json (BertTokenizerFast, lower-casing, BLINK's
markers [unused0..2] as special tokens) for a JS tokenizer.

Writes <out>/context.onnx, candidate.onnx, tokenizer.json and export.json (the model's sha256);
skipped when export.json matches unless --force. Prints one JSON line: {"out": DIR}.
"""
import argparse
import hashlib
import json
import os
import sys

OPSET = 17


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--force', action='store_true')
    a = ap.parse_args()

    weights = os.path.join(a.model, 'model.safetensors')
    meta = {'model': os.path.abspath(a.model), 'sha256': sha256(weights), 'opset': OPSET, 'output': 'cls'}
    meta_path = os.path.join(a.out, 'export.json')
    if not a.force and os.path.exists(meta_path):
        with open(meta_path) as f:
            if json.load(f) == meta:
                print(json.dumps({'out': a.out}))
                return

    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel, BertTokenizerFast

    with open(os.path.join(a.model, 'config.json')) as f:
        cfg_json = json.load(f)
    ours = cfg_json.pop('biofeg', {})
    if ours.get('add_linear'):
        sys.exit('export_biencoder_onnx.py: additional_linear models are not exported (the bench makes none)')
    cfg = BertConfig(**cfg_json, attn_implementation='eager')
    state = load_file(weights)

    class Cls(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0, :]

    os.makedirs(a.out, exist_ok=True)
    for side, prefix in (('context', 'context_encoder.bert_model.'), ('candidate', 'cand_encoder.bert_model.')):
        bert = BertModel(cfg, add_pooling_layer=ours.get('pooler', True)).eval()
        sd = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        missing, unexpected = bert.load_state_dict(sd, strict=False)
        missing = [k for k in missing if not k.endswith('position_ids')]
        if missing or unexpected:
            sys.exit(f'export_biencoder_onnx.py: {side}: missing {missing[:5]}, unexpected {unexpected[:5]}')
        ids = torch.randint(1, cfg.vocab_size, (4, 32), dtype=torch.long)
        mask = torch.ones(4, 32, dtype=torch.long)
        path = os.path.join(a.out, f'{side}.onnx')
        with torch.inference_mode():
            torch.onnx.export(Cls(bert), (ids, mask), path + '.tmp', input_names=['input_ids', 'attention_mask'],
                              output_names=['cls'], opset_version=OPSET, dynamo=False,
                              dynamic_axes={'input_ids': {0: 'batch', 1: 'seq'}, 'attention_mask': {0: 'batch', 1: 'seq'},
                                            'cls': {0: 'batch'}})
        os.replace(path + '.tmp', path)

    with open(os.path.join(a.model, 'vocab.txt'), encoding='utf-8') as f:
        vocab = {line.rstrip('\n'): i for i, line in enumerate(f) if line.rstrip('\n') != ''}
    tok = BertTokenizerFast(vocab=vocab, do_lower_case=True)
    tok.add_special_tokens({'additional_special_tokens': ['[unused0]', '[unused1]', '[unused2]']})
    tok.backend_tokenizer.save(os.path.join(a.out, 'tokenizer.json'))
    with open(meta_path, 'w') as f:
        json.dump(meta, f)
    print(json.dumps({'out': a.out}))


if __name__ == '__main__':
    main()
