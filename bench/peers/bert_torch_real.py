#!/usr/bin/env python3
"""PyTorch peer of bench/bert-real.ts (issue 21): HF transformers BertModel with sdpa attention at
the original's real shapes, under torch.autocast bf16 with --precision bf16, eager or
torch.compile'd (--mode compile; --compile-backend eager only checks the path, tests use it).
One shape and mode per process; prints one JSON object.
  bert_torch_real.py --shape train64 --mode compile --device cuda --precision bf16 --iters 10

train64/train128: the BLINK bi-encoder step (a context and a candidate BertModel from the same
  weights, [CLS] vectors, B x B scores, cross-entropy against the diagonal, backward,
  clip_grad_norm_(1.0), AdamW lr 1e-5 eps 1e-6 weight decay 0.01).
hard: 4 mentions x 64 candidates: scores[b] = c_b . E_b^T, cross-entropy against position 0.
encode256: one BertModel in eval mode under torch.inference_mode(), last-layer [CLS].
Inputs: random ids with the last quarter of every row padding (id 0, mask 0). --smoke: a tiny
BERT at tiny shapes (same table as bench/bert-real-shapes.ts).
"""
import argparse
import contextlib
import json
import statistics
import time

SHAPES = {
    'train64': dict(kind='train', batch=64, seq=128),
    'train128': dict(kind='train', batch=128, seq=128),
    'hard': dict(kind='hard', batch=4, k=64, seq=128),
    'encode256': dict(kind='encode', batch=256, seq=128),
}
SMOKE = {
    'train64': dict(kind='train', batch=4, seq=16),
    'train128': dict(kind='train', batch=8, seq=16),
    'hard': dict(kind='hard', batch=2, k=4, seq=16),
    'encode256': dict(kind='encode', batch=8, seq=16),
}
BASE = dict(vocab=30522, hidden=768, layers=12, heads=12, inter=3072)
TINY = dict(vocab=1000, hidden=128, layers=2, heads=2, inter=512)


def inputs(torch, rows, seq, vocab, seed, device):
    g = torch.Generator().manual_seed(seed)
    real = seq - seq // 4
    ids = torch.zeros(rows, seq, dtype=torch.long)
    ids[:, :real] = torch.randint(1, vocab, (rows, real), generator=g)
    return ids.to(device), (ids != 0).long().to(device)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--shape', choices=list(SHAPES), required=True)
    ap.add_argument('--mode', choices=['eager', 'compile'], default='eager')
    ap.add_argument('--compile-backend', default='inductor')
    ap.add_argument('--device', choices=['cpu', 'cuda'], default='cuda')
    ap.add_argument('--precision', choices=['f32', 'bf16'], default='bf16')
    ap.add_argument('--iters', type=int, default=10)
    ap.add_argument('--min-time', type=float, default=2.0)
    ap.add_argument('--smoke', action='store_true')
    a = ap.parse_args()

    import torch
    import transformers
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    s = (SMOKE if a.smoke else SHAPES)[a.shape]
    m = TINY if a.smoke else BASE
    cfg = BertConfig(vocab_size=m['vocab'], hidden_size=m['hidden'], num_hidden_layers=m['layers'],
                     num_attention_heads=m['heads'], intermediate_size=m['inter'], max_position_embeddings=512,
                     attn_implementation='sdpa')
    dev = a.device
    gpu = dev == 'cuda'
    amp = (lambda: torch.autocast(dev, dtype=torch.bfloat16)) if a.precision == 'bf16' else contextlib.nullcontext
    wrap = (lambda mod: torch.compile(mod, backend=a.compile_backend)) if a.mode == 'compile' else (lambda mod: mod)

    def sync():
        if gpu:
            torch.cuda.synchronize()

    B, T, V = s['batch'], s['seq'], m['vocab']
    if s['kind'] == 'encode':
        model = BertModel(cfg).eval().to(dev)
        run = wrap(model)
        ids, mask = inputs(torch, B, T, V, 1, dev)

        def step():
            with torch.inference_mode(), amp():
                out = run(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0, :]
            out.float().cpu()
        seqs = B
    else:
        ctx = BertModel(cfg).train().to(dev)
        cand = BertModel(cfg).train().to(dev)
        cand.load_state_dict(ctx.state_dict())
        params = list(ctx.parameters()) + list(cand.parameters())
        opt = torch.optim.AdamW(params, lr=1e-5, eps=1e-6, weight_decay=0.01)
        run_ctx, run_cand = wrap(ctx), wrap(cand)
        k = s.get('k', 0)
        ids, mask = inputs(torch, B, T, V, 1, dev)
        ids2, mask2 = inputs(torch, B * k if s['kind'] == 'hard' else B, T, V, 2, dev)
        target = torch.zeros(B, dtype=torch.long, device=dev) if s['kind'] == 'hard' else torch.arange(B, device=dev)

        def step():
            opt.zero_grad(set_to_none=True)
            with amp():
                c = run_ctx(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0, :]
                e = run_cand(input_ids=ids2, attention_mask=mask2).last_hidden_state[:, 0, :]
                if s['kind'] == 'hard':
                    scores = torch.bmm(c.unsqueeze(1), e.view(B, k, -1).transpose(1, 2)).squeeze(1)
                else:
                    scores = c @ e.t()
                loss = torch.nn.functional.cross_entropy(scores.float(), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            loss.item()
        seqs = B + B * k if s['kind'] == 'hard' else 2 * B

    t0 = time.perf_counter()
    for _ in range(2 if a.mode == 'compile' else 1):  # compile: the first calls trace and compile
        step()
        sync()
    compile_s = time.perf_counter() - t0
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    times = []
    start = time.perf_counter()
    while len(times) < a.iters or (time.perf_counter() - start < a.min_time and len(times) < 500):
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(json.dumps({
        'side': f'torch-{a.mode}', 'shape': a.shape, 'iters': len(times), 'msPerIter': med * 1e3, 'seqPerSec': seqs / med,
        'compileSeconds': compile_s if a.mode == 'compile' else None, 'torch': torch.__version__,
        'transformers': transformers.__version__, 'attention': 'sdpa', 'precision': a.precision,
        **({'compileBackend': a.compile_backend} if a.mode == 'compile' else {}),
        **({'deviceMiB': torch.cuda.max_memory_allocated() / 2**20, 'gpu': torch.cuda.get_device_name()} if gpu else {}),
    }))


if __name__ == '__main__':
    main()
