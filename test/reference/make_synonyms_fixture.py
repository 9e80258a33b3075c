#!/usr/bin/env python3
"""Reference values for SapBERT's loss (test/train/synonym-step.test.ts), made with the real
pytorch_metric_learning (2.x) as cambridgeltl/sapbert src/metric_learning.py uses it:

    miner = miners.TripletMarginMiner(margin=0.2, type_of_triplets="all")
    loss  = losses.MultiSimilarityLoss(alpha=1, beta=60, base=0.5)
    emb   = cat([cls_left, cls_right]); labels = cat([y, y])
    value = loss(emb, labels, miner(emb, labels))

Per case: the raw (not normalised) embeddings [M, H] as float32 values, the labels, the number of
triplets mined, the loss and d(loss)/d(embeddings) by autograd (the miner's choice is a constant,
as in PyTorch). Computed in float64 from float32-representable inputs. Every triplet's
d(a, n) - d(a, p) is kept at least 1e-4 away from the margin, so float32 rounding cannot flip
the miner. Cases: two ordinary batches (a concept in two pairs of one batch included), two
triplets mined (the fewest that count), exactly one and none mined (pytorch_metric_learning then returns 0 and no gradient).

Writes test/fixtures/synonyms/ms-loss.json. Run: python3 test/reference/make_synonyms_fixture.py
"""
import json
import os

import torch
from pytorch_metric_learning import losses, miners

MARGIN = 0.2
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "synonyms")


def triplet_margins(emb, labels):
    """d(a, n) - d(a, p) of every (anchor, positive, negative) triplet, normalised Euclidean."""
    x = torch.nn.functional.normalize(emb, dim=1)
    d = torch.cdist(x, x)
    out = []
    m = len(labels)
    for a in range(m):
        for p in range(m):
            if p == a or labels[p] != labels[a]:
                continue
            for n in range(m):
                if labels[n] != labels[a]:
                    out.append(float(d[a, n] - d[a, p]))
    return out


def case(name, emb, labels):
    emb = emb.float().double().requires_grad_(True)
    lab = torch.tensor(labels)
    margins = triplet_margins(emb.detach(), labels)
    if any(abs(v - MARGIN) < 1e-4 for v in margins):
        return None
    miner = miners.TripletMarginMiner(margin=MARGIN, type_of_triplets="all")
    loss_fn = losses.MultiSimilarityLoss(alpha=1, beta=60, base=0.5)
    mined = miner(emb, lab)
    value = loss_fn(emb, lab, mined)
    value.backward()
    grad = emb.grad if emb.grad is not None else torch.zeros_like(emb)
    return {
        "name": name,
        "M": emb.shape[0],
        "H": emb.shape[1],
        "labels": labels,
        "triplets": int(len(mined[0])),
        "emb": emb.detach().flatten().tolist(),
        "loss": float(value.detach()),
        "grad": grad.flatten().tolist(),
    }


def clustered(gen, labels, h, spread):
    """Points near a centre per label (names of one concept close), norms between 0.5 and 3."""
    centres = {l: torch.randn(h, generator=gen, dtype=torch.float64) for l in set(labels)}
    rows = [centres[l] + spread * torch.randn(h, generator=gen, dtype=torch.float64) for l in labels]
    scale = 0.5 + 2.5 * torch.rand(len(labels), 1, generator=gen, dtype=torch.float64)
    return torch.stack(rows) * scale


def search(name, labels, h, spread, want=None, seed=0):
    for s in range(seed, seed + 10000):
        gen = torch.Generator().manual_seed(s)
        c = case(name, clustered(gen, labels, h, spread), labels)
        if c is None:
            continue
        if want is not None and c["triplets"] != want:
            continue
        if want is None and c["triplets"] < 4:
            continue
        c["seed"] = s
        return c
    raise SystemExit(f"{name}: no seed found")


def main():
    # Pairs (left; right) of a batch: labels [y; y]; concept 0 is in two pairs of the first batch.
    y1 = [0, 1, 2, 0, 3, 4]
    y2 = [0, 1, 2, 3, 4, 5, 6, 7, 2, 8]
    cases = [
        search("batch", y1 + y1, 8, 0.9),
        search("batch-wide", y2 + y2, 12, 1.2),
        search("two-triplets", [0, 1, 0, 1], 6, 0.5, want=2),
        search("one-triplet", [0, 1, 0, 1], 6, 0.5, want=1),
        search("no-triplet", [0, 1, 0, 1], 6, 0.1, want=0),
    ]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "ms-loss.json"), "w") as f:
        json.dump({"margin": MARGIN, "alpha": 1, "beta": 60, "base": 0.5, "cases": cases}, f)
        f.write("\n")
    for c in cases:
        print(c["name"], "M", c["M"], "triplets", c["triplets"], "loss", c["loss"], "seed", c["seed"])


if __name__ == "__main__":
    main()
