"""Build test/fixtures/data/blink-inputs.json: BLINK model inputs computed by the ORIGINAL
functions get_context_representation / get_candidate_representation with Hugging Face's
BertTokenizer on bert-base-uncased's vocabulary.

The original functions are not copied here: pass the path of the original
blink/biencoder/data_process.py (BLINK / suixuhui/BioFEG); this script extracts the two function
definitions from it with `ast` and runs them.

    pip install transformers
    python3 test/reference/make_blink_inputs_fixture.py ORIGINAL_data_process.py \
        ../shared/data/vocab/bert-base-uncased-vocab.txt > test/fixtures/data/blink-inputs.json
"""
import ast
import json
import sys

from transformers import BertTokenizer

original_path, vocab_path = sys.argv[1], sys.argv[2]
tree = ast.parse(open(original_path, encoding="utf-8").read())
wanted = {"get_context_representation", "get_candidate_representation"}
module = ast.Module(body=[n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted], type_ignores=[])
# BLINK's blink/common/params.py tags.
env = {"ENT_START_TAG": "[unused0]", "ENT_END_TAG": "[unused1]", "ENT_TITLE_TAG": "[unused2]"}
exec(compile(module, original_path, "exec"), env)
ctx_fn, cand_fn = env["get_context_representation"], env["get_candidate_representation"]

tok = BertTokenizer(vocab_path, do_lower_case=True)

words = "the patient developed severe chronic obstructive pulmonary disease after years of smoking".split()
long_left = " ".join(words * 2)
long_right = " ".join(reversed(words * 2))
eleven = "acute on chronic kidney failure with renal tubular acidosis type"  # 11 pieces: left_quota 0 at max 16
twelve = eleven + " iv"

context_cases = [
    # name, mention, left, right, max
    ("typical", "pulmonary disease", "The patient developed severe chronic obstructive", "after years of smoking.", 16),
    ("both sides truncated", "asthma", long_left, long_right, 16),
    ("empty contexts", "Sjögren syndrome", "", "", 16),
    ("empty left, long right", "asthma", "", long_right, 16),
    ("long left, empty right", "asthma", long_left, "", 16),
    ("short left, spare moves right", "asthma", "mild", long_right, 16),
    ("short right, spare moves left", "asthma", long_left, "here.", 16),
    ("empty mention", "", long_left, long_right, 16),
    ("left_quota 0, empty left", eleven, "", long_right, 16),
    ("left_quota 0, left gets the right spare", eleven, long_left, "", 16),
    ("left_quota 0, left[-0:] overflows", eleven, long_left, "x", 16),
    ("left_quota 0, long right, left[-0:] overflows", eleven, long_left, long_right, 16),
    ("mention longer than the window", twelve + " " + twelve, "left", "right", 16),
    ("unicode and punctuation", "TNF-α", "Héllo, naïve café (IL-6)—", "😀 blockade; “quoted” text", 16),
    ("default length", "pulmonary disease", long_left * 4, long_right * 4, 128),
]

cand_cases = [
    # name, text, title, max
    ("title and text", "A chronic disease of the airways with wheezing.", "Asthma", 16),
    ("text truncated", " ".join(words * 3), "Chronic obstructive pulmonary disease", 16),
    ("no title", "A chronic disease of the airways.", None, 16),
    ("empty text", "", "Migraine", 16),
    ("empty title", "Raised blood pressure.", "", 16),
    ("title longer than window", "ignored", twelve + " " + twelve, 16),
    ("unicode", "Named after Henrik Sjögren; TNF-α “quotes”.", "Sjögren syndrome", 16),
    ("default length", " ".join(words * 12), "COPD", 128),
]

def strip_pad(ids):
    n = len(ids)
    while n > 0 and ids[n - 1] == 0:
        n -= 1
    return ids[:n]

out = {"vocab": "bert-base-uncased-vocab.txt", "lowercase": True, "context": [], "candidate": []}
for name, mention, left, right, max_len in context_cases:
    sample = {"mention": mention, "context_left": left, "context_right": right}
    rec = {"name": name, "mention": mention, "left": left, "right": right, "max": max_len}
    try:
        r = ctx_fn(sample, tok, max_len)
        rec.update(tokens=r["tokens"], ids=strip_pad(r["ids"]))
    except AssertionError:
        rec["error"] = "AssertionError"
    out["context"].append(rec)
for name, text, title, max_len in cand_cases:
    r = cand_fn(text, tok, max_len, title)
    out["candidate"].append({"name": name, "text": text, "title": title, "max": max_len, "tokens": r["tokens"], "ids": strip_pad(r["ids"])})

json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")
