#!/usr/bin/env python3
"""Writes the cross-encoder fixtures under test/fixtures/cross/.

inputs.json: the cross-encoder's pair inputs built by the ORIGINAL functions, token for token:
  get_context_representation / get_candidate_representation (blink/biencoder/data_process.py) give
  the bi-encoder windows, as the .t7 candidate files of eval_biencoder hold them; modify()
  (BioFEG/blink/crossencoder/train_cross.py) joins each context with its candidates (the
  candidate's [CLS] dropped, cut to max_seq_length, never padded); to_bert_input()
  (blink/crossencoder/crossencoder.py) gives the segment ids and the mask.
val.t7: a torch.save of such a candidate file ({context_vecs, candidate_vecs, labels}, int64),
  as nn_prediction.get_topk_predictions saves it.
model/: a tiny random HF BertModel scoring the pairs as CrossEncoderRanker does with add_linear
  (BertEncoder: the pooled output -> dropout -> Linear(hidden, 1); scores viewed [mentions, k];
  cross-entropy against the gold's position), in float64, eval mode (no dropout): the pair
  inputs, the loss, the scores and the gradient of every parameter. (Without add_linear the
  original's [CLS] vectors [pairs, hidden] cannot be viewed as [mentions, k] scores: it fails.)

The original functions are not copied here: pass the folder of an original checkout
(suixuhui/BioFEG); the script extracts the function definitions with `ast` and runs them.
BertEncoder's forward is restated below with keyword arguments, because pytorch_transformers'
BertModel took (input_ids, token_type_ids, attention_mask) positionally and transformers' takes
(input_ids, attention_mask, token_type_ids).

    python3 test/reference/make_cross_fixture.py ORIGINAL_CHECKOUT data/default/vocab.txt
Needs torch and transformers (CPU). The tests read the committed output only.
"""
import ast
import json
import os
import sys

import numpy as np
import torch
from transformers import BertConfig, BertModel, BertTokenizer

CONFIG_KEYS = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
               "max_position_embeddings", "type_vocab_size", "layer_norm_eps"]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "cross")


def extract(path, names, env):
    tree = ast.parse(open(path, encoding="utf-8").read())
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    found = {n.name for n in body}
    if found != set(names):
        sys.exit(f"{path}: missing {set(names) - found}")
    exec(compile(ast.Module(body=body, type_ignores=[]), path, "exec"), env)


def main():
    orig, vocab_path = sys.argv[1], sys.argv[2]
    # BLINK's blink/common/params.py tags.
    env = {"ENT_START_TAG": "[unused0]", "ENT_END_TAG": "[unused1]", "ENT_TITLE_TAG": "[unused2]", "torch": torch}
    extract(os.path.join(orig, "blink/biencoder/data_process.py"), ["get_context_representation", "get_candidate_representation"], env)
    extract(os.path.join(orig, "BioFEG/blink/crossencoder/train_cross.py"), ["modify"], env)
    extract(os.path.join(orig, "blink/crossencoder/crossencoder.py"), ["to_bert_input"], env)
    ctx_fn, cand_fn = env["get_context_representation"], env["get_candidate_representation"]
    modify, to_bert_input = env["modify"], env["to_bert_input"]

    tok = BertTokenizer(vocab_path, do_lower_case=True)
    ctx_len, cand_len, k = 16, 12, 3
    mentions = [
        ("asthma", "the patient has mild", "since childhood and uses an inhaler daily"),
        ("pulmonary disease", "", ""),  # short: most of the window is padding
        ("chronic obstructive pulmonary disease", "years of smoking led to severe " * 3, "with frequent exacerbations " * 3),
    ]
    entities = [
        ("Asthma", "A chronic disease of the airways with wheezing."),
        ("Bronchitis", ""),
        ("Chronic obstructive pulmonary disease", "A progressive lung disease with airflow limitation that is not fully reversible " * 2),
        ("Emphysema", "Enlarged air spaces."),
        ("Migraine", "A headache disorder."),
    ]
    nns = [[0, 1, 3], [3, 2, 4], [4, 2, 0]]
    labels = [0, 1, 1]  # position of the gold among each mention's candidates

    ctx = [ctx_fn({"mention": m, "context_left": l, "context_right": r}, tok, ctx_len)["ids"] for m, l, r in mentions]
    ent = [cand_fn(text, tok, cand_len, title)["ids"] for title, text in entities]
    context_vecs = torch.LongTensor(ctx)
    candidate_vecs = torch.LongTensor([[ent[e] for e in nn] for nn in nns])
    label_vecs = torch.LongTensor(labels)

    cases = []
    # (max_seq_length, max_context_length): the pair unchanged; cut inside the candidate; the
    # segment position before the context's end (its padding stays type 0, its last tokens turn 1);
    # a segment position of 0 (no type 1 at all); a longer max_seq_length (no padding added).
    for max_seq, seg_pos in [(ctx_len + cand_len - 1, ctx_len), (20, ctx_len), (ctx_len + cand_len - 1, 6), (24, 0), (64, ctx_len)]:
        pairs = modify(context_vecs, candidate_vecs, max_seq)
        flat = pairs.view(-1, pairs.size(-1))
        ids, seg, mask = to_bert_input(flat, 0, seg_pos)
        cases.append({
            "max_seq_length": max_seq,
            "max_context_length": seg_pos,
            "seq": int(pairs.size(-1)),
            "ids": ids.flatten().tolist(),
            "segment_ids": seg.flatten().tolist(),
            "mask": mask.long().flatten().tolist(),
        })

    os.makedirs(OUT, exist_ok=True)
    inputs = {
        "generator": "test/reference/make_cross_fixture.py",
        "vocab": "data/default/vocab.txt",
        "lowercase": True,
        "max_context_length": ctx_len,
        "max_cand_length": cand_len,
        "k": k,
        "mentions": [{"mention": m, "context_left": l, "context_right": r} for m, l, r in mentions],
        "entities": [{"title": t, "text": x} for t, x in entities],
        "nns": nns,
        "labels": labels,
        "context_vecs": context_vecs.flatten().tolist(),
        "candidate_vecs": candidate_vecs.flatten().tolist(),
        "cases": cases,
    }
    with open(os.path.join(OUT, "inputs.json"), "w") as f:
        json.dump(inputs, f, indent=None, separators=(",", ":"))
        f.write("\n")
    torch.save({"context_vecs": context_vecs, "candidate_vecs": candidate_vecs, "labels": label_vecs}, os.path.join(OUT, "val.t7"))

    model_fixture(os.path.join(OUT, "model"), modify, to_bert_input, context_vecs, candidate_vecs, label_vecs)


def model_fixture(out_dir, modify, to_bert_input, context_vecs, candidate_vecs, labels):
    torch.manual_seed(20261203)
    cfg = BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=32, type_vocab_size=2, layer_norm_eps=1e-12, hidden_act="gelu",
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, attn_implementation="eager",
    )
    bert = BertModel(cfg, add_pooling_layer=True).double().eval()
    linear = torch.nn.Linear(cfg.hidden_size, 1).double()
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for name, p in list(bert.named_parameters()) + [("additional_linear." + n, p) for n, p in linear.named_parameters()]:
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            elif "embeddings" in name:
                p.copy_(0.6 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            else:
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / np.sqrt(p.shape[1]))
            p.copy_(p.float().double())

    # The real vocabulary's ids folded into a 64-id one (0 stays padding), so the fixture stays small.
    fold = lambda t: torch.where(t > 0, 1 + (t - 1) % (cfg.vocab_size - 1), t)
    max_seq, seg_pos = 27, 16
    pairs = modify(fold(context_vecs), fold(candidate_vecs), max_seq)
    k = pairs.size(1)
    ids, seg, mask = to_bert_input(pairs.view(-1, pairs.size(-1)), 0, seg_pos)

    def scores():
        out = bert(input_ids=ids, token_type_ids=seg, attention_mask=mask.long())
        # BertEncoder with add_linear: dropout (off in eval) then additional_linear on the pooled output.
        return linear(out.pooler_output).squeeze(-1).view(-1, k)

    index = {
        "generator": "test/reference/make_cross_fixture.py",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "config": {key: cfg.to_dict()[key] for key in CONFIG_KEYS},
        "max_seq_length": max_seq,
        "max_context_length": seg_pos,
        "mentions": int(pairs.size(0)),
        "k": int(k),
        "seq": int(pairs.size(-1)),
        "labels": labels.tolist(),
        "ids": ids.flatten().tolist(),
        "segment_ids": seg.flatten().tolist(),
        "mask": mask.long().flatten().tolist(),
        "tensors": [],
    }
    tensors = [("param/" + n, p) for n, p in bert.named_parameters()]
    tensors += [("param/additional_linear." + n, p) for n, p in linear.named_parameters()]
    s = scores()
    loss = torch.nn.functional.cross_entropy(s, labels, reduction="mean")
    loss.backward()
    index["loss"] = loss.item()
    tensors.append(("out/scores", s.detach()))
    for n, p in bert.named_parameters():
        tensors.append(("grad/" + n, p.grad if p.grad is not None else torch.zeros_like(p)))
    for n, p in linear.named_parameters():
        tensors.append(("grad/additional_linear." + n, p.grad))

    os.makedirs(out_dir, exist_ok=True)
    off = 0
    blobs = []
    for name, t in tensors:
        a = t.detach().cpu().numpy().astype("<f4").ravel()
        index["tensors"].append({"name": name, "shape": list(t.shape), "offset": off})
        off += a.size
        blobs.append(a)
    np.concatenate(blobs).tofile(os.path.join(out_dir, "data.bin"))
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
