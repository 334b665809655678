#!/usr/bin/env bash
# Ours and RecBole's SASRec / GRU4Rec / BERT4Rec on the same ML-100K split (max length 50), each trained for the
# same wall-clock budget, then one comparison table (compare.py): NDCG@10 / HR@10 with 95% bootstrap CIs, paired
# tests over users, targets/s, peak memory. Every step is skipped when its output exists (rerun to resume).
#
#   bash benchmarks/peers/equal_budgets.sh                      # 10-minute budgets, three models
#   BUDGETS="10 30" MODELS="SASRec" bash benchmarks/peers/equal_budgets.sh
#   WORK=/tmp/peers REPORT=benchmarks/reports/peers_ml100k bash benchmarks/peers/equal_budgets.sh
#   WINDOWS=0 bash benchmarks/peers/equal_budgets.sh         # without our train_windows=all rows
#
# Ours is trained twice per model: on each user's latest max_len + 1 training items (the SASRec reference code's
# data), and with train_windows=all, where every training item is a target once, as in RecBole's one sample per
# prefix (at max length 50 on ML-100K the latest windows hold 38,762 of RecBole's 97,171 training targets).
#
# Needs the RecBole virtualenv (bash benchmarks/peers/setup_recbole.sh) and ../shared/data/ml-100k.
# Both sides: our committed ML-1M configs at max length 50 (RecBole copies their sizes, dropout, batch size and
# learning rate with --from-run), full cross-entropy, seed 42, early stopping on validation NDCG@10, evaluated with seen items NOT removed (RecBole does not remove them). The budget counts validations too.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-/tmp/peers}
REPORT=${REPORT:-$WORK/compare_budgets}
BUDGETS=${BUDGETS:-10}
MODELS=${MODELS:-SASRec GRU4Rec BERT4Rec}
WINDOWS=${WINDOWS:-1}
OURS_PY=.venv/bin/python
RECBOLE_PY=benchmarks/peers/.venv-recbole/bin/python
RAW=../shared/data/ml-100k/original/u.data
[ -x "$RECBOLE_PY" ] || { echo "error: no RecBole venv; run: bash benchmarks/peers/setup_recbole.sh" >&2; exit 1; }
[ -f "$RAW" ] || { echo "error: $RAW not found (MovieLens-100K from ../shared/data)" >&2; exit 1; }
mkdir -p "$WORK/runs"

step() { echo "== $(date +%H:%M:%S) $*"; }

if [ ! -f "$WORK/data/ml100k/feature_spec.json" ]; then
  step "preprocess ML-100K -> $WORK/data/ml100k"
  (printf 'user\titem\trating\ttimestamp\n'; cat "$RAW") > "$WORK/ml-100k.tsv"
  nice -n 15 .venv/bin/tfseqrec preprocess --input "$WORK/ml-100k.tsv" --user-col user --item-col item \
      --time-col timestamp --split leave_one_out --output-dir "$WORK/data/ml100k" --overwrite
fi
if [ ! -f "$WORK/recbole/ml100k_l50/export.json" ]; then
  step "export the split for RecBole -> $WORK/recbole/ml100k_l50"
  nice -n 15 "$OURS_PY" benchmarks/peers/export_split.py --data-dir "$WORK/data/ml100k" \
      --output "$WORK/recbole/ml100k_l50" --max-len 50
fi

declare -A OUR_CONFIG=([SASRec]=configs/sasrec_ml1m_ce.yaml [GRU4Rec]=configs/gru4rec_ml1m.yaml
                       [BERT4Rec]=configs/bert4rec_ml1m.yaml)
# train_ours MODEL BUDGET DIR [KEY=VALUE ...]: one of our runs, unless DIR holds a finished one
train_ours() {
  local model=$1 budget=$2 dir=$3
  shift 3
  if [ -f "$dir/run.json" ] && grep -q '"status": "finished"' "$dir/run.json"; then return; fi
  step "ours $model $*, ${budget}-minute budget -> $dir"
  rm -rf "$dir"
  nice -n 15 .venv/bin/tfseqrec train --config "${OUR_CONFIG[$model]}" --data-dir "$WORK/data/ml100k" \
      --output-dir "$dir" model_config.max_len=50 filter_seen=false time_budget_minutes="$budget" \
      epochs=10000 seed=42 verbose=2 "$@"
}

args=()
for budget in $BUDGETS; do
  for model in $MODELS; do
    lower=$(echo "$model" | tr '[:upper:]' '[:lower:]')
    ours="$WORK/runs/ours_${lower}_${budget}min"
    theirs="$WORK/runs/recbole_${model}_${budget}min"
    train_ours "$model" "$budget" "$ours"
    if [ "$WINDOWS" = 1 ]; then
      train_ours "$model" "$budget" "$WORK/runs/ours_${lower}_all_windows_${budget}min" train_windows=all
      args+=(--ours "${lower}_all_windows_${budget}min=$WORK/runs/ours_${lower}_all_windows_${budget}min")
    fi
    if [ ! -f "$theirs/metrics.json" ]; then
      step "RecBole $model, ${budget}-minute budget -> $theirs"
      nice -n 15 "$RECBOLE_PY" benchmarks/peers/run_recbole.py --data-dir "$WORK/recbole/ml100k_l50" \
          --model "$model" --from-run "$ours" --epochs 10000 --patience 10 --seed 42 \
          --time-budget-minutes "$budget" --output "$theirs"
    fi
    args+=(--ours "${lower}_${budget}min=$ours" --recbole "recbole_${lower}_${budget}min=$theirs")
  done
done
step "compare -> $REPORT"
nice -n 15 "$OURS_PY" benchmarks/peers/compare.py "${args[@]}" --output "$REPORT"
