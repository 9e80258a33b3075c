#!/usr/bin/env python3
"""PyTorch peer of bench/gan.ts: one BioFEG GAN training step (critic_iters critic steps + one
generator step) with HF transformers BertModel as the description encoder E.

--variant original: train_gan.py's step as the original runs it: the frozen bi-encoder's context
  BERT encodes the mentions at every critic step and in the generator step; E runs twice per
  critic step (the condition, then again inside generate()) and twice in the generator step,
  with autograd recording; the Wasserstein terms see a detached condition, the gradient penalty
  (create_graph=True) the live one, so E's backward runs (its gradient is zero); AdamW over D + E.
--variant lean: the same algorithm as ours: real features precomputed, E once per critic step and
  once in the generator step without autograd, E's update = its weight decay only.
The optimiser is torch.optim.AdamW (foreach), faster than the original's per-parameter loop.
--device cuda: everything on the GPU, sdpa attention, the phases timed with torch.cuda.synchronize;
  --autocast-bf16 runs the step under torch.autocast('cuda', bfloat16). Reports peak device memory.
Prints one JSON line: ms per step and the cost split. Written for this repo.
"""
import argparse
import contextlib
import json
import time

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel


class Mlp(torch.nn.Module):
    def __init__(self, n_in, hidden, n_out):
        super().__init__()
        self.fc1 = torch.nn.Linear(n_in, hidden)
        self.fc2 = torch.nn.Linear(hidden, n_out)

    def forward(self, a, b):
        return self.fc2(F.leaky_relu(self.fc1(torch.cat([a, b], dim=-1)), 0.2))


def penalty(d, real, fake, cond, lam=10.0):
    alpha = torch.rand(real.size(0), 1, device=real.device).expand(real.size())
    x = (alpha * real + (1 - alpha) * fake).detach().requires_grad_(True)
    out = d(x, cond).squeeze(-1)
    (g,) = torch.autograd.grad(out, x, grad_outputs=torch.ones_like(out), create_graph=True, retain_graph=True)
    return ((g.norm(2, dim=1) - 1) ** 2).mean() * lam


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vocab', type=int, required=True)
    ap.add_argument('--hidden', type=int, required=True)
    ap.add_argument('--layers', type=int, required=True)
    ap.add_argument('--heads', type=int, required=True)
    ap.add_argument('--intermediate', type=int, required=True)
    ap.add_argument('--seq', type=int, required=True)
    ap.add_argument('--batch', type=int, required=True)
    ap.add_argument('--critic-iters', type=int, default=5)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--variant', choices=['original', 'lean'], default='original')
    ap.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    ap.add_argument('--autocast-bf16', action='store_true')
    a = ap.parse_args()
    dev = torch.device(a.device)
    on_gpu = a.device == 'cuda'
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                     intermediate_size=a.intermediate, max_position_embeddings=512,
                     attn_implementation='sdpa' if on_gpu else 'eager')
    E = BertModel(cfg, add_pooling_layer=False).train().to(dev)
    ctx = BertModel(cfg, add_pooling_layer=False).eval().to(dev)
    for p in ctx.parameters():
        p.requires_grad_(False)
    h, B, T = a.hidden, a.batch, a.seq
    G, D = Mlp(2 * h, h, h).to(dev), Mlp(2 * h, h, 1).to(dev)
    ids = torch.randint(1, a.vocab, (B, T), device=dev)
    mask = torch.ones(B, T, dtype=torch.long, device=dev)
    mask[B // 2:, T // 2:] = 0
    e_train = [p for n, p in E.named_parameters() if n.startswith('encoder.layer')]  # all_encoder_layers
    no_decay = lambda n: any(s in n for s in ('bias', 'gamma', 'beta'))  # noqa: E731
    groups = lambda named: [  # noqa: E731
        {'params': [p for n, p in named if not no_decay(n)], 'weight_decay': 0.01},
        {'params': [p for n, p in named if no_decay(n)], 'weight_decay': 0.0}]
    e_named = [(n, p) for n, p in E.named_parameters() if n.startswith('encoder.layer')]
    opt_d = torch.optim.AdamW(groups(list(D.named_parameters())) + (groups(e_named) if a.variant == 'original' else []), lr=5e-5, foreach=True)
    opt_g = torch.optim.AdamW(groups(list(G.named_parameters())), lr=5e-5, foreach=True)
    e_decay = [p for n, p in e_named if not no_decay(n)]
    real_pre = torch.relu(torch.randn(B, h, device=dev))
    split = {'encoder': 0.0, 'critic': 0.0, 'penalty': 0.0, 'generator': 0.0}

    def enc(grad=True):
        with torch.set_grad_enabled(grad):
            return E(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]

    def frozen():
        with torch.no_grad():
            return ctx(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]

    def step(record):
        t = [time.perf_counter()]

        def lap(k):
            if record:
                sync()
            n = time.perf_counter()
            if record:
                split[k] += n - t[0]
            t[0] = n

        for _ in range(a.critic_iters):
            for p in D.parameters():
                p.requires_grad_(True)
            if a.variant == 'original':
                real = frozen()
                opt_d.zero_grad()
                ent = enc()
                ent_v = ent.detach()
                lap('encoder')
                (-D(real, ent_v).mean()).backward()  # a float32 seed would not match bf16 under autocast
                lap('critic')
                ent2 = enc().detach()
                lap('encoder')
                fake = torch.relu(G(torch.randn(B, h, device=dev), ent2))
                lap('generator')
                D(fake.detach(), ent_v).mean().backward()
                lap('critic')
                penalty(D, real, fake.detach(), ent).backward()
                lap('penalty')
                opt_d.step()
                lap('critic')
            else:
                opt_d.zero_grad()
                ent = enc(grad=False)
                lap('encoder')
                fake = torch.relu(G(torch.randn(B, h, device=dev), ent))
                lap('generator')
                loss = D(fake, ent).mean() - D(real_pre, ent).mean()
                loss.backward()
                lap('critic')
                penalty(D, real_pre, fake, ent).backward()
                lap('penalty')
                opt_d.step()
                with torch.no_grad():
                    torch._foreach_mul_(e_decay, 1 - 5e-5 * 0.01)
                lap('critic')
        for p in D.parameters():
            p.requires_grad_(False)
        if a.variant == 'original':
            real = frozen()
            opt_g.zero_grad()
            ent_v = enc().detach()
            ent2 = enc().detach()
        else:
            real = real_pre
            opt_g.zero_grad()
            ent_v = ent2 = enc(grad=False)
        lap('encoder')
        fake = torch.relu(G(torch.randn(B, h, device=dev), ent2))
        F.mse_loss(fake, real)
        (-D(fake, ent_v).mean()).backward()
        opt_g.step()
        lap('generator')

    amp = torch.autocast('cuda', dtype=torch.bfloat16) if a.autocast_bf16 else contextlib.nullcontext()
    with amp:
        step(False)
        sync()
        # Steps/s without the split's per-phase synchronisations, then the split (as bench/gan.ts).
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step(not on_gpu)
        sync()
        ms = (time.perf_counter() - t0) * 1000 / a.steps
        if on_gpu:
            for _ in range(a.steps):
                step(True)
    out = {'variant': a.variant, 'msPerStep': ms, 'stepsPerSec': 1000 / ms,
           'splitMs': {k: v * 1000 / a.steps for k, v in split.items()},
           'torch': torch.__version__, 'threads': torch.get_num_threads(), 'device': a.device,
           'autocastBf16': a.autocast_bf16}
    if on_gpu:
        out['deviceMiB'] = torch.cuda.max_memory_allocated() / 2 ** 20
    print(json.dumps(out))


if __name__ == '__main__':
    main()
