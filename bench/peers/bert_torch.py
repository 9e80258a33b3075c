#!/usr/bin/env python3
"""PyTorch peer of bench/bert.ts: HF transformers BertModel (eager attention) on CPU, or on the GPU
with --device cuda (--precision bf16: torch.autocast bf16 around the forward and the loss;
synchronised after every step; device memory as torch.cuda.max_memory_allocated).
--precision bf16 on the CPU: torch.autocast('cpu', dtype=torch.bfloat16) with sdpa attention (the
issue's CPU bf16 peer: oneDNN bf16 GEMMs, as a PyTorch user would run it).

One (size, phase) per process so peak RSS (ru_maxrss) belongs to that measurement alone:
  bert_torch.py --size base --phase train --threads 2 --iters 5
prints one JSON object. With --sizes a,b,c it runs every size and phase in child processes of
its own and prints {"results": [...]}.

encode: one BertModel in eval mode under torch.inference_mode(), last-layer [CLS] vectors.
train:  the BLINK bi-encoder step: a context and a candidate BertModel (same initial weights),
        [CLS] embeddings, B x B dot-product scores, cross-entropy against the diagonal,
        backward, clip_grad_norm_(1.0), AdamW (lr 3e-5, eps 1e-6, weight decay 0.01).
Inputs: random ids with the last quarter of every sequence padding (id 0, mask 0).
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

SIZES = {
    'tiny': dict(vocab=8000, hidden=128, layers=2, heads=2, inter=512, seq=64, batch=32),
    'small': dict(vocab=30522, hidden=256, layers=4, heads=4, inter=1024, seq=128, batch=16),
    'base': dict(vocab=30522, hidden=768, layers=12, heads=12, inter=3072, seq=128, batch=8),
}


def rss_now_mib():
    import os
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def inputs(torch, s, seed):
    g = torch.Generator().manual_seed(seed)
    B, T = s['batch'], s['seq']
    real = T - T // 4
    ids = torch.zeros(B, T, dtype=torch.long)
    ids[:, :real] = torch.randint(1, s['vocab'], (B, real), generator=g)
    mask = torch.zeros(B, T, dtype=torch.long)
    mask[:, :real] = 1
    return ids, mask


def run_one(size, phase, threads, iters, min_time, device='cpu', precision='f32'):
    import torch
    import transformers
    from transformers import BertConfig, BertModel

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    s = SIZES[size]
    # CPU bf16 with sdpa (the peer); every other row keeps eager attention, as its results were measured.
    attn = 'sdpa' if precision == 'bf16' and device == 'cpu' else 'eager'
    cfg = BertConfig(vocab_size=s['vocab'], hidden_size=s['hidden'], num_hidden_layers=s['layers'],
                     num_attention_heads=s['heads'], intermediate_size=s['inter'], max_position_embeddings=512,
                     attn_implementation=attn)
    ids, mask = inputs(torch, s, 1)
    ids, mask = ids.to(device), mask.to(device)
    B = s['batch']
    gpu = device == 'cuda'
    import contextlib
    amp = (lambda: torch.autocast(device, dtype=torch.bfloat16)) if precision == 'bf16' else contextlib.nullcontext

    def sync():
        if gpu:
            torch.cuda.synchronize()

    if phase == 'encode':
        model = BertModel(cfg).eval().to(device)

        def step():
            with torch.inference_mode(), amp():
                out = model(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0, :]
            sync()
            return out
        seqs = B
    else:
        ctx = BertModel(cfg).train().to(device)
        cand = BertModel(cfg).train().to(device)
        cand.load_state_dict(ctx.state_dict())
        params = list(ctx.parameters()) + list(cand.parameters())
        opt = torch.optim.AdamW(params, lr=3e-5, eps=1e-6, weight_decay=0.01)
        ids2, mask2 = (t.to(device) for t in inputs(torch, s, 2))
        target = torch.arange(B, device=device)

        def step():
            opt.zero_grad(set_to_none=True)
            with amp():
                c = ctx(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0, :]
                e = cand(input_ids=ids2, attention_mask=mask2).last_hidden_state[:, 0, :]
                loss = torch.nn.functional.cross_entropy(c @ e.t(), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sync()
            return loss
        seqs = 2 * B  # a context and a candidate sequence per pair

    warm = 1 if size == 'base' else 2
    for _ in range(warm):
        step()
    times = []
    t_start = time.perf_counter()
    while len(times) < iters or (time.perf_counter() - t_start < min_time and len(times) < 200):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {
        'size': size, 'phase': phase, 'threads': threads, 'iters': len(times),
        'msPerIter': med * 1e3, 'seqPerSec': seqs / med,
        'peakRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'baseRssMiB': base_rss, 'rssAfterMiB': rss_now_mib(),
        'torch': torch.__version__, 'transformers': transformers.__version__,
        'torchThreads': torch.get_num_threads(), 'attention': attn, 'precision': precision,
        **({'deviceMiB': torch.cuda.max_memory_allocated() / 2**20, 'gpu': torch.cuda.get_device_name()}
           if gpu else {}),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--size', choices=list(SIZES))
    ap.add_argument('--sizes', default='tiny,small,base')
    ap.add_argument('--phase', choices=['encode', 'train'])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--iters', type=int, default=5)
    ap.add_argument('--min-time', type=float, default=2.0)
    ap.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    ap.add_argument('--precision', choices=['f32', 'bf16'], default='f32')
    a = ap.parse_args()
    if a.size and a.phase:
        print(json.dumps(run_one(a.size, a.phase, a.threads, a.iters, a.min_time, a.device, a.precision)))
        return
    results = []
    for size in a.sizes.split(','):
        for phase in ['encode', 'train']:
            out = subprocess.run([sys.executable, __file__, '--size', size, '--phase', phase, '--threads', str(a.threads),
                                  '--iters', str(a.iters), '--min-time', str(a.min_time), '--device', a.device,
                                  '--precision', a.precision], check=True, capture_output=True, text=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(json.dumps({'results': results}))


if __name__ == '__main__':
    main()
