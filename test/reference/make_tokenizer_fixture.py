#!/usr/bin/env python3
"""Writes test/fixtures/tokenizer/: Hugging Face BertTokenizer ids that test/tokenize.test.ts
compares our WordPiece tokenizer against.

Reference: HF's pure-Python BertTokenizer (transformers < 5: `BertTokenizer`; transformers >= 5
renamed it `BertTokenizerLegacy`, and `BertTokenizer` became the Rust-backed one), built from
../shared/data/vocab/bert-base-uncased-vocab.txt, with BLINK's markers [unused0] [unused1]
[unused2] added as special tokens (BLINK's `add_special_tokens`). The Rust-backed tokenizer is
run too, and its disagreements with the Python one are only counted, as information.

Outputs (small; no corpus text is stored):
  ncbi-uncased.tsv  one line per NCBI-disease document, per corpus file in order:
                    pmid, then sha1(ids)[:12] of the title, of every abstract sentence, of every
                    mention text. ids = input_ids with [CLS]/[SEP], joined by ','.
                    Sentences: the abstract split by SENTENCE_SPLIT below (the test repeats it).
  cases.json        hand-written hard cases with full ids, for uncased, cased, and
                    lower-case-without-accent-stripping settings; they run without ../shared.

Run from the repository root:  python3 test/reference/make_tokenizer_fixture.py
Needs: pip install transformers (no torch).
"""
import hashlib
import json
import os
import re
import sys

import transformers

try:  # transformers >= 5
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy as PyBertTokenizer
except ImportError:  # transformers 4.x: BertTokenizer is the Python one
    from transformers import BertTokenizer as PyBertTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, '..', 'shared', 'data')
VOCAB = os.path.join(SHARED, 'vocab', 'bert-base-uncased-vocab.txt')
NCBI_FILES = ['NCBItrainset_corpus.txt', 'NCBIdevelopset_corpus.txt', 'NCBItestset_corpus.txt']
OUT = os.path.join(ROOT, 'test', 'fixtures', 'tokenizer')
MARKERS = ['[unused0]', '[unused1]', '[unused2]']

# Sentence split of an abstract: after . ! or ? followed by whitespace and an upper-case letter,
# digit or opening bracket. Same pattern, same semantics, in JavaScript (the corpus is ASCII).
SENTENCE_SPLIT = r'(?<=[.!?])\s+(?=[A-Z0-9(\[])'


def py_tokenizer(lower, strip_accents=None):
    tok = PyBertTokenizer(vocab_file=VOCAB, do_lower_case=lower, strip_accents=strip_accents)
    tok.add_special_tokens({'additional_special_tokens': MARKERS})
    return tok


def rust_tokenizer(lower, strip_accents=None):
    try:
        from transformers import BertTokenizer as Fast
        if Fast is PyBertTokenizer:
            from transformers import BertTokenizerFast as Fast
        try:
            tok = Fast(vocab=VOCAB, do_lower_case=lower, strip_accents=strip_accents)
        except TypeError:
            tok = Fast(vocab_file=VOCAB, do_lower_case=lower, strip_accents=strip_accents)
        tok.add_special_tokens({'additional_special_tokens': MARKERS})
        return tok
    except Exception as e:  # information only
        print('rust tokenizer unavailable:', e, file=sys.stderr)
        return None


def ids_hash(ids):
    return hashlib.sha1(','.join(map(str, ids)).encode()).hexdigest()[:12]


def read_pubtator(path):
    """[(pmid, title, abstract, [mention text, ...])] in file order."""
    docs = []
    cur = None
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.rstrip('\n')
            if not line:
                cur = None
                continue
            m = re.match(r'^(\d+)\|([ta])\|(.*)$', line)
            if m:
                if cur is None or cur[0] != m.group(1):
                    cur = [m.group(1), '', '', []]
                    docs.append(cur)
                cur[1 if m.group(2) == 't' else 2] = m.group(3)
                continue
            cols = line.split('\t')
            if cur is not None and len(cols) >= 6 and cols[0] == cur[0]:
                cur[3].append(cols[3])
    return docs


def hard_cases():
    c = [
        '', ' ', '   ', '\t\n', 'a', 'A', '.', '...', "'", '"',
        # accents
        'Café', 'CAFÉ', 'naïve', "Sjögren's syndrome", "Ménière's disease", 'Behçet disease',
        'Guillain–Barré syndrome', 'Cafe\u0301 decomposed', 'A\u0308rger', 'ÉCOLE', 'İstanbul', 'Straße',
        'Æsir Ørsted Łódź', 'Ångström', '\u212Bngstr\u00F6m angstrom sign', '\u212Aelvin', 'ǅ titlecase',
        'ﬁnal ligature', 'résumé RÉSUMÉ', 'façade', 'São Paulo', 'Dvořák', 'Škoda', 'naïveté',
        # hyphens and dashes
        'beta-catenin', 'X\u2010linked', 'non\u2011small cell', '3\u20135 days', 'disease\u2014like',
        '\u2212 minus sign', 'x\uFE63y', '\uFF0Dfullwidth', 'a--b', '-', 'anti-TNF-alpha', 'well-known',
        'self\u00ADhyphen soft', 'pre-\nmature',
        # Greek and symbols
        'α-synuclein', 'β2-microglobulin', 'TNF-α', 'γδ T cells', 'ΑΣ ΟΔΟΣ', 'Σ', 'ΟΔΟΣ.', 'NF-κB',
        '5 µg micro sign', '5 μg greek mu', 'Ω ohm', 'Δ9-THC', 'ε4 allele', 'IL-1β', 'λ phage',
        'π-π stacking', 'ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ', 'αβγδεζηθικλμνξοπρστυφχψω',
        # numbers and units
        '3.5 mg/kg', '10^-6 M', '1,000 patients', '25%', '37°C', '37 °C', '5 µM', '1.2×10⁻³',
        '½ dose', 'm²', 'p<0.05', 'p ≤ 0.05', '≥ 18 years', '± 2.3', '1e-5', '0.001', '123456789',
        '1st 2nd 3rd 4th', '46,XY', 't(9;22)(q34;q11)', 'c.1234G>A', 'p.Arg123His', '5\'-UTR',
        '3\u2032-end', '2 × 2', '~50%', '100 mmHg', '10 mL/min/1.73 m2', '37.5±0.5',
        # parentheses, brackets
        '(APC)', 'adenomatous polyposis coli (APC)', '[3H]thymidine', '{x}', '<br>', '((nested))',
        '[', ']', '[]', '[ ]', 'a[b]c',
        # apostrophes and quotes
        "Alzheimer's disease", 'Parkinson’s disease', "don't", "'quoted'", '‘single’', '“double”',
        "``tex''", 'ʼmodifier apostrophe', "patients'", "O'Brien",
        # long words
        'a' * 100, 'a' * 101, 'é' * 101, 'b' * 150 + ' tail', 'x-' * 60,
        'pneumonoultramicroscopicsilicovolcanoconiosis', 'supercalifragilistic' * 6,
        '1' * 120, 'antidisestablishmentarianism ' * 4,
        # markers and specials
        '[unused0] breast cancer [unused1]', '[unused0]x[unused1]', '[UNUSED0] foo', '[Unused1]',
        '[unused3]', '[unused00]', '[[unused0]]', '[ unused0 ]', '[CLS]', '[SEP] [PAD] [MASK] [UNK]',
        '[cls]', 'title [unused2] description', '[ÚNUSED0] accent', 'x[UNUSED0]', '[UNUSED0]x',
        '[CLS][UNUSED0]', '[unused0][unused1][unused2]', 'Breast Cancer [unused2] A malignant tumour.',
        '[unused1]', '[MASK]ed', '[UNK] token', '[unused0] ΑΣ [unused1]',
        # whitespace and control characters
        'a\u00A0b', 'a\u200Bb', '\uFEFFbom', 'a\x00b', 'a\uFFFDb', 'tab\tsep', 'line\nbreak',
        'a\u2028b', 'a\u3000b', 'a\u0378b unassigned', 'a\uE000b private use', 'a\x07b bell',
        'a\r\nb', '  lead and trail  ', 'a\u2009b thin space', 'a\u202Fb',
        # scripts
        '😀 emoji', 'x😀y', '𠀀 astral cjk', 'a𠀀b', '中文字符', 'abc中文def', 'ひらがな', 'カタカナ',
        '한국어', 'العربية', 'עברית', 'ภาษาไทย', 'हिन्दी', 'Привет мир', 'ПРИВЕТ',
        '\uF900 compat ideograph', '\U0002F800 compat supplement',
        # math and misc symbols
        '∑ √ ∞ → • … © ® ™ § ¶', 'C→T', 'a/b', 'a\\b', 'a|b', 'a_b', 'a@b.com', '#hashtag', '$100',
        '&amp;', '*', '+', '=', '^', '`', '~', 'ＡＢＣ', '１２３', '¿Qué?', '¡Hola!', '«guillemets»',
        # biomedical phrases
        'CD4+ T-cells', 'HbA1c', 'Na+/K+-ATPase', 'BRCA1/2', 'e.g. i.e., et al.', 'U.S.A.',
        'Type 2 diabetes mellitus (T2DM)', 'von Willebrand disease', 'X-linked adrenoleukodystrophy',
        'ataxia-telangiectasia', 'G6PD deficiency', 'Wiskott-Aldrich syndrome', 'HLA-B*27',
        'myotonic dystrophy type 1 (DM1)', 'C9orf72', 'APOE ε4', 'Charcot–Marie–Tooth disease',
        'hereditary non-polyposis colorectal cancer (HNPCC)', 'Hodgkin\'s lymphoma', 'Ewing’s sarcoma',
    ]
    # Upper-cased variants of a few, to exercise lower-casing.
    c += [s.upper() for s in ['naïve', 'γδ t cells', 'straße', 'ﬁnal', 'İstanbul', 'ǆ']]
    seen = set()
    out = []
    for s in c:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def write_hf_tokenizer_json(subset):
    """hf-subset/tokenizer.json: HF `tokenizers` (Rust) writes the bert-base-uncased pipeline (as
    transformers' BertConverter builds it) over the vocabulary subset, so the loader is tested on
    a file HF itself wrote, without ../shared."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    tok = Tokenizer(models.WordPiece(vocab=subset, unk_token='[UNK]', max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single='[CLS]:0 $A:0 [SEP]:0', pair='[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1',
        special_tokens=[('[CLS]', subset['[CLS]']), ('[SEP]', subset['[SEP]'])])
    tok.decoder = decoders.WordPiece(prefix='##')
    tok.add_special_tokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'])
    d = os.path.join(OUT, 'hf-subset')
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, 'tokenizer.json'), pretty=False)


def main():
    if not os.path.exists(VOCAB):
        sys.exit(f'missing {VOCAB}')
    with open(VOCAB, 'rb') as f:
        vocab_sha = hashlib.sha256(f.read()).hexdigest()
    uncased = py_tokenizer(True)
    fast = rust_tokenizer(True)
    os.makedirs(OUT, exist_ok=True)

    fast_diff = []

    def ids_of(text):
        ids = uncased(text)['input_ids']
        if fast is not None:
            fids = fast(text)['input_ids']
            if fids != ids:
                fast_diff.append(text)
        return ids

    lines = [
        '# HF BertTokenizer (Python) ids of NCBI-disease, see test/reference/make_tokenizer_fixture.py',
        f'# transformers {transformers.__version__}; vocab sha256 {vocab_sha}; markers {" ".join(MARKERS)} as special tokens',
        f'# split {SENTENCE_SPLIT}',
        '# file <name> | pmid <TAB> title-hash <TAB> sentence-hashes (space) <TAB> mention-hashes (space)',
    ]
    n_units = 0
    for name in NCBI_FILES:
        path = os.path.join(SHARED, 'ncbi-disease', name)
        lines.append(f'file {name}')
        for pmid, title, abstract, mentions in read_pubtator(path):
            for s in [title, abstract, *mentions]:
                if not s.isascii():
                    sys.exit(f'{name} {pmid}: non-ASCII text; the test assumes ASCII offsets')
            sents = [s for s in re.split(SENTENCE_SPLIT, abstract) if s]
            th = ids_hash(ids_of(title))
            sh = ' '.join(ids_hash(ids_of(s)) for s in sents)
            mh = ' '.join(ids_hash(ids_of(m)) for m in mentions)
            n_units += 1 + len(sents) + len(mentions)
            lines.append(f'{pmid}\t{th}\t{sh}\t{mh}')
    with open(os.path.join(OUT, 'ncbi-uncased.tsv'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')

    settings = {
        'uncased': (True, None),
        'cased': (False, None),
        'lower_keep_accents': (True, False),
    }
    cases = hard_cases()
    table = {}
    for key, (lower, strip) in settings.items():
        tok = uncased if key == 'uncased' else py_tokenizer(lower, strip)
        table[key] = [tok(s)['input_ids'] for s in cases]
    # The vocabulary entries WordPiece can ever look up for these texts (every substring of every
    # basic-tokenised word, bare or with ##) plus the specials: with exactly these, greedy
    # longest-match gives the same pieces as with the full vocabulary, so the cases run without
    # ../shared.
    subset = {t: uncased.vocab[t] for t in ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', *MARKERS]}
    for key, (lower, strip) in settings.items():
        basic = (uncased if key == 'uncased' else py_tokenizer(lower, strip)).basic_tokenizer
        for s in cases:
            for w in basic.tokenize(s):
                for i in range(len(w)):
                    for j in range(i + 1, len(w) + 1):
                        for piece in (w[i:j], '##' + w[i:j]):
                            if piece in uncased.vocab:
                                subset[piece] = uncased.vocab[piece]
    write_hf_tokenizer_json(subset)
    fast_cases = 0
    if fast is not None:
        fast_cases = sum(1 for s, ids in zip(cases, table['uncased']) if fast(s)['input_ids'] != ids)
    doc = {
        'about': 'HF BertTokenizer (Python) input_ids; see test/reference/make_tokenizer_fixture.py',
        'transformers': transformers.__version__,
        'vocab_sha256': vocab_sha,
        'markers_as_special_tokens': MARKERS,
        'settings': {k: {'do_lower_case': v[0], 'strip_accents': v[1]} for k, v in settings.items()},
        'rust_fast_tokenizer_disagreements': {'ncbi_units': len(fast_diff), 'hard_cases': fast_cases},
        'vocab_subset': dict(sorted(subset.items(), key=lambda kv: kv[1])),
        'cases': [{'text': s, **{k: table[k][i] for k in settings}} for i, s in enumerate(cases)],
    }
    with open(os.path.join(OUT, 'cases.json'), 'w', encoding='utf-8') as f:
        # One case a line, so a regenerated fixture diffs readably.
        head = {k: v for k, v in doc.items() if k not in ('cases', 'vocab_subset')}
        f.write(json.dumps(head, ensure_ascii=True, indent=1)[:-2] + ',\n')
        f.write(' "vocab_subset": ' + json.dumps(doc['vocab_subset'], ensure_ascii=True, separators=(',', ':')) + ',\n')
        f.write(' "cases": [\n')
        f.write(',\n'.join(json.dumps(c, ensure_ascii=True, separators=(',', ':')) for c in doc['cases']))
        f.write('\n ]\n}\n')
    print(f'{n_units} NCBI units, {len(cases)} hard cases; rust-fast disagreements: '
          f'{len(fast_diff)} NCBI, {fast_cases} hard cases')


if __name__ == '__main__':
    main()
