#!/usr/bin/env python3
"""PyTorch peer of bench/cross.ts: the cross-encoder (BLINK's CrossEncoderModule with add_linear:
HF transformers BertModel, pooled output -> dropout 0.1 -> Linear(hidden, 1)) on B mentions x k
candidate pairs laid out as the original's modify() / to_bert_input() make them, with the same
padding rule as bench/cross.ts (context row b real for ctx_len tokens when b is even, half of them
when odd; candidate j real for cand_len - 1 tokens when j is even, half when odd).

Phases: score (eval mode, no_grad: the scores [B, k]) and train (train mode: scores, mean
cross-entropy against position 0, backward, clip_grad_norm_ 1.0, AdamW step). Prints one JSON line
with the median ms of each. Written for this repo.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel


def pairs(B, k, ctx_len, cand_len, vocab):
    g = torch.Generator().manual_seed(3)
    seq = ctx_len + cand_len - 1
    ids = torch.zeros(B * k, seq, dtype=torch.long)
    for b in range(B):
        c = ctx_len if b % 2 == 0 else ctx_len // 2
        ctx = torch.randint(1, vocab, (c,), generator=g)
        for j in range(k):
            r = b * k + j
            ids[r, :c] = ctx
            n = cand_len - 1 if j % 2 == 0 else (cand_len - 1) // 2
            ids[r, ctx_len:ctx_len + n] = torch.randint(1, vocab, (n,), generator=g)
    types = torch.zeros_like(ids)
    types[:, ctx_len:] = (ids[:, ctx_len:] > 0).long()
    return ids, types, (ids != 0).long()


def median_ms(fn, iters, warmup=1):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    for a in ['vocab', 'hidden', 'layers', 'heads', 'intermediate', 'ctx', 'cand', 'batch', 'k']:
        ap.add_argument('--' + a, type=int, required=True)
    ap.add_argument('--iters', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                     intermediate_size=a.intermediate, max_position_embeddings=512)
    bert = BertModel(cfg, add_pooling_layer=True)
    linear = torch.nn.Linear(a.hidden, 1)
    drop = torch.nn.Dropout(0.1)
    params = list(bert.parameters()) + list(linear.parameters())
    opt = torch.optim.AdamW(params, lr=1e-5)
    ids, types, mask = pairs(a.batch, a.k, a.ctx, a.cand, a.vocab)
    labels = torch.zeros(a.batch, dtype=torch.long)

    def scores():
        out = bert(input_ids=ids, token_type_ids=types, attention_mask=mask)
        return linear(drop(out.pooler_output)).squeeze(-1).view(-1, a.k)

    def score():
        bert.eval(), drop.eval()
        with torch.no_grad():
            scores()

    def train():
        bert.train(), drop.train()
        loss = F.cross_entropy(scores(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad()

    res = {'scoreMs': median_ms(score, a.iters), 'trainMs': median_ms(train, a.iters), 'torch': torch.__version__,
           'attention': bert.config._attn_implementation}
    print(json.dumps(res))


if __name__ == '__main__':
    main()
