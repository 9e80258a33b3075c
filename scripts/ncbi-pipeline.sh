#!/usr/bin/env bash
# The bi-encoder pipeline on real data: NCBI disease (PubTator + MEDIC) from ../shared, a tiny
# BERT trained from scratch with the bert-base-uncased vocabulary, recall on test/seen/unseen;
# then the cross-encoder (a tiny BERT from scratch too) reranking the trained bi-encoder's top 16.
# Usage: bash scripts/ncbi-pipeline.sh [OUT]   (default runs/ncbi; needs `npm ci` first)
# CROSS_ONLY=1 reuses OUT's bi-encoder (OUT/biencoder) and runs the cross-encoder stages only;
# PRECISION_ONLY=1 reuses it and runs the trained evaluation in f32 and in bf16 only.
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

dict=$out/arboel/documents/all_documents.json

# The trained bi-encoder's recall in f32, then in bf16 (bf16 mixed-precision BERT and a bf16 entity
# pool: what `Linker.load(..., { precision: 'bf16' })` and a bf16 index serve), on CPUs with
# AVX512_BF16; elsewhere the CLI's refusal is printed instead.
eval_trained() {
  echo "== trained"
  $cli eval-biencoder --data_path "$out/processed" --entity_dict_path "$dict" --output_path "$out/eval-trained" \
    --path_to_model "$out/biencoder" --mode test,test_seen,test_unseen --eval_batch_size 64 --encode_batch_size 64 --silent "${common[@]}" 2>/dev/null
  echo "== trained, bf16 (BERT in bf16 mixed precision, bf16 entity pool)"
  $cli eval-biencoder --data_path "$out/processed" --entity_dict_path "$dict" --output_path "$out/eval-trained-bf16" \
    --path_to_model "$out/biencoder" --mode test,test_seen,test_unseen --eval_batch_size 64 --encode_batch_size 64 --silent \
    --precision bf16 --pool-dtype bf16 "${common[@]}" 2> "$out.bf16.log" || echo "bf16 not run: $(tail -1 "$out.bf16.log")"
}
if [ "${PRECISION_ONLY:-0}" = 1 ]; then eval_trained; exit 0; fi

if [ "${CROSS_ONLY:-0}" != 1 ]; then
$cli import-pubtator --train "$ncbi/NCBItrainset_corpus.txt" --val "$ncbi/NCBIdevelopset_corpus.txt" \
  --test "$ncbi/NCBItestset_corpus.txt" --dictionary "$ncbi/medic_06Jul2012.txt" --out "$out/arboel" > "$out.import.log" 2>&1 || { cat "$out.import.log"; exit 1; }
$cli prepare --data-dir "$out/arboel" --out "$out/processed" --silent > /dev/null

echo "== untrained"
$cli eval-biencoder --data_path "$out/processed" --entity_dict_path "$dict" --output_path "$out/eval-untrained" \
  --bert_model tiny --mode test,test_seen,test_unseen --eval_batch_size 64 --encode_batch_size 64 --silent "${common[@]}" 2>/dev/null
echo "== train (in-batch, 8 epochs)"
$cli train-biencoder --data_path "$out/processed" --entity_dict_path "$dict" --output_path "$out/biencoder" --bert_model tiny \
  --train_batch_size 32 --eval_batch_size 64 --learning_rate 5e-4 --num_train_epochs 8 --type_optimization all --dropout 0 \
  --print_interval 100000 --silent "${common[@]}"
eval_trained
fi

# The cross-encoder: the stages `biofeg pipeline` runs with "crossencoder": true (cross-candidates,
# crossencoder, eval-crossencoder), on the trained bi-encoder. Scaled like the rest of this run:
# top 16 candidates (not 64), tiny BERT from scratch, 2 epochs, batch 16, lr 5e-4, no dropout;
# max_context_length 32 (the bi-encoder's window) puts the segment boundary at the candidate.
k=16
echo "== cross-encoder candidates (trained bi-encoder, top $k)"
$cli eval-biencoder --data_path "$out/processed" --entity_dict_path "$dict" --output_path "$out/cross-candidates" \
  --path_to_model "$out/biencoder" --mode train,valid,test,test_seen,test_unseen --top_k $k --save_topk_result \
  --eval_batch_size 64 --encode_batch_size 64 --silent "${common[@]}" > /dev/null 2> "$out.cross-candidates.log" || { cat "$out.cross-candidates.log"; exit 1; }
echo "== cross-encoder (tiny, 2 epochs, top $k)"
$cli train-cross --data_path "$out/cross-candidates/top${k}_candidates" --output_path "$out/crossencoder" --bert_model tiny --add_linear \
  --vocab "$vocab" --device cpu --max_context_length $len --max_seq_length $((2 * len)) --train_batch_size 16 \
  --eval_batch_size 32 --learning_rate 5e-4 --num_train_epochs 2 --type_optimization all --dropout 0 \
  --print_interval 100000 --silent
echo "== cross-encoder reranking (norm: of the mentions whose gold is among the top $k; unnorm: of all; bi: its first candidate)"
$cli eval-cross --data_path "$out/cross-candidates/top${k}_candidates" --path_to_model "$out/crossencoder" \
  --output_path "$out/eval-cross" --add_linear --mode test,test_seen,test_unseen --eval_batch_size 32 --device cpu --silent 2> "$out.eval-cross.log" || { cat "$out.eval-cross.log"; exit 1; }
