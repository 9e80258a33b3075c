#!/usr/bin/env bash
# The bi-encoder pipeline on real data: NCBI disease (PubTator + MEDIC) from ../shared, a tiny
# BERT trained from scratch with the bert-base-uncased vocabulary, recall on test/seen/unseen.
# Usage: bash scripts/ncbi-pipeline.sh [OUT]   (default runs/ncbi; needs `npm ci` first)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/data
if [ ! -d "$shared/ncbi-disease" ]; then echo "skipped: $shared/ncbi-disease is absent" >&2; exit 0; fi
out=${1:-runs/ncbi}
cli="node dist/src/cli/main.js"
ncbi=$shared/ncbi-disease
vocab=$shared/vocab/bert-base-uncased-vocab.txt
len=32
common=(--device cpu --max_context_length $len --max_cand_length $len --vocab "$vocab")

$cli import-pubtator --train "$ncbi/NCBItrainset_corpus.txt" --val "$ncbi/NCBIdevelopset_corpus.txt" \
  --test "$ncbi/NCBItestset_corpus.txt" --dictionary "$ncbi/medic_06Jul2012.txt" --out "$out/arboel" > "$out.import.log" 2>&1 || { cat "$out.import.log"; exit 1; }
$cli prepare --data-dir "$out/arboel" --out "$out/processed" --silent > /dev/null
dict=$out/arboel/documents/all_documents.json

echo "== untrained"
$cli eval-biencoder --data_path "$out/processed" --entity_dict_path "$dict" --output_path "$out/eval-untrained" \
  --bert_model tiny --mode test,test_seen,test_unseen --eval_batch_size 64 --encode_batch_size 64 --silent "${common[@]}" 2>/dev/null
echo "== train (in-batch, 8 epochs)"
$cli train-biencoder --data_path "$out/processed" --entity_dict_path "$dict" --output_path "$out/biencoder" --bert_model tiny \
  --train_batch_size 32 --eval_batch_size 64 --learning_rate 5e-4 --num_train_epochs 8 --type_optimization all --dropout 0 \
  --print_interval 100000 --silent "${common[@]}"
echo "== trained"
$cli eval-biencoder --data_path "$out/processed" --entity_dict_path "$dict" --output_path "$out/eval-trained" \
  --path_to_model "$out/biencoder" --mode test,test_seen,test_unseen --eval_batch_size 64 --encode_batch_size 64 --silent "${common[@]}" 2>/dev/null
