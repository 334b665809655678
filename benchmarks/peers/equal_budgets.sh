#!/usr/bin/env bash
# Ours and RecBole's SASRec / GRU4Rec / BERT4Rec on the same ML-100K split (max length 50), each trained for the
# same wall-clock budget, then one comparison table (compare.py): NDCG@10 / HR@10 with 95% bootstrap CIs, paired
# tests over users, targets/s, peak memory. Every step is skipped when its output exists (rerun to resume).
#
#   bash benchmarks/peers/equal_budgets.sh                      # 10-minute budgets, three models
#   BUDGETS="10 30" MODELS="SASRec" bash benchmarks/peers/equal_budgets.sh
#   WORK=/tmp/peers REPORT=benchmarks/reports/peers_ml100k bash benchmarks/peers/equal_budgets.sh
#   WINDOWS=0 bash benchmarks/peers/equal_budgets.sh         # without our train_windows=all rows
# Both sides resume: a run cut short (a session's end) continues from its last complete epoch when the script is
# run again (ours: tfseqrec train --resume; RecBole's: run_recbole.py --resume); a finished one is skipped.
#   BUDGETS=40 MODELS="SASRec GRU4Rec" STEPS_PER_EPOCH=100 WINDOW_MODES="latest all random" \
#       bash benchmarks/peers/equal_budgets.sh                 # to convergence, our epochs 100 steps long
#   DATASET=ml1m BUDGETS=30 MODELS=SASRec WINDOWS=0 bash benchmarks/peers/equal_budgets.sh   # ML-1M, length 200
#   DATASET=beauty BUDGETS=60 MODELS="SASRec GRU4Rec" WINDOWS=0 bash benchmarks/peers/equal_budgets.sh  # Beauty, 50
#   OURS_EXTRA="batch_size=32" ... bash benchmarks/peers/equal_budgets.sh   # more overrides for ours (names gain
#                                                                           # _batch_size32)
#   RECBOLE_EXTRA="--batch-size 128" ...     # flags for run_recbole.py, which win over what --from-run copies from
#                                            # our first run (which carries OURS_EXTRA); names gain _bs128
#
# Ours is trained twice per model: on each user's latest max_len + 1 training items (the SASRec reference code's
# data), and with train_windows=all, where every training item is a target once, as in RecBole's one sample per
# prefix (at max length 50 on ML-100K the latest windows hold 38,762 of RecBole's 97,171 training targets).
# WINDOW_MODES lists our train_windows modes explicitly (latest, all, random; default "latest all", or "latest"
# with WINDOWS=0). STEPS_PER_EPOCH=N makes our epochs N steps long: on ML-100K a pass is only 8 (latest) to 19
# (all) steps, so validating and early-stopping every pass stops ours after ~100 steps without improvement while
# RecBole's patience counts 760-step epochs; with it our runs go to convergence too (names gain _stepsN).
#
# Needs the RecBole virtualenv (bash benchmarks/peers/setup_recbole.sh) and ../shared/data/ml-100k (DATASET=ml100k,
# the default, max length 50) or ../shared/data/ml-1m (DATASET=ml1m: the item 5-core ML-1M of the core issue at max
# length 200, where one RecBole SASRec epoch takes about 2 hours here, so a 30-minute budget stops it mid-epoch)
# or ../shared/data/amazon-beauty (DATASET=beauty: 5-core Amazon Beauty at max length 50, SASRec with
# configs/sasrec_beauty.yaml; the latest windows already hold 97% of the training targets there).
# Both sides: our committed ML-1M configs at that max length (RecBole copies their sizes, dropout, batch size and
# learning rate with --from-run), full cross-entropy, seed 42, early stopping on validation NDCG@10, evaluated with seen items NOT removed (RecBole does not remove them). The budget counts validations too.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-/tmp/peers}
REPORT=${REPORT:-$WORK/compare_budgets}
BUDGETS=${BUDGETS:-10}
MODELS=${MODELS:-SASRec GRU4Rec BERT4Rec}
WINDOWS=${WINDOWS:-1}
WINDOW_MODES=${WINDOW_MODES:-}
if [ -z "$WINDOW_MODES" ]; then WINDOW_MODES=latest; [ "$WINDOWS" = 1 ] && WINDOW_MODES="latest all"; fi
STEPS_PER_EPOCH=${STEPS_PER_EPOCH:-}
OURS_EXTRA=${OURS_EXTRA:-}
read -r -a EXTRA_ARGS <<< "$OURS_EXTRA"
RECBOLE_EXTRA=${RECBOLE_EXTRA:-}
read -r -a RECBOLE_ARGS <<< "$RECBOLE_EXTRA"
RECBOLE_SUFFIX=$(echo "$RECBOLE_EXTRA" | sed -E 's/--batch-size */_bs/; s/--learning-rate */_lr/; s/--([a-z-]+) */_\1/g; s/ //g')
EXTRA_SUFFIX=$(for a in "${EXTRA_ARGS[@]}"; do printf '_%s' "${a#model_config.}"; done | tr -d '=')
STEPS_ARGS=() STEPS_SUFFIX=""
if [ -n "$STEPS_PER_EPOCH" ]; then STEPS_ARGS=(steps_per_epoch="$STEPS_PER_EPOCH") STEPS_SUFFIX="_steps$STEPS_PER_EPOCH"; fi
OURS_PY=.venv/bin/python
RECBOLE_PY=benchmarks/peers/.venv-recbole/bin/python
DATASET=${DATASET:-ml100k}
mkdir -p "$WORK/runs"
step() { echo "== $(date +%H:%M:%S) $*"; }
[ -x "$RECBOLE_PY" ] || { echo "error: no RecBole venv; run: bash benchmarks/peers/setup_recbole.sh" >&2; exit 1; }

case "$DATASET" in
  ml100k)
    MAX_LEN=50 DATA="$WORK/data/ml100k" PREFIX=""
    RAW=../shared/data/ml-100k/original/u.data
    [ -f "$RAW" ] || { echo "error: $RAW not found (MovieLens-100K from ../shared/data)" >&2; exit 1; }
    if [ ! -f "$DATA/feature_spec.json" ]; then
      step "preprocess ML-100K -> $DATA"
      (printf 'user\titem\trating\ttimestamp\n'; cat "$RAW") > "$WORK/ml-100k.tsv"
      nice -n 15 .venv/bin/tfseqrec preprocess --input "$WORK/ml-100k.tsv" --user-col user --item-col item \
          --time-col timestamp --split leave_one_out --output-dir "$DATA" --overwrite
    fi ;;
  ml1m)
    MAX_LEN=200 DATA="$WORK/data/ml1m" PREFIX="ml1m_"
    RAW=../shared/data/ml-1m/ml-1m.seq.tsv
    [ -f "$RAW" ] || { echo "error: $RAW not found (MovieLens-1M from ../shared/data)" >&2; exit 1; }
    if [ ! -f "$DATA/feature_spec.json" ]; then
      step "preprocess ML-1M (item 5-core) -> $DATA"
      nice -n 15 .venv/bin/tfseqrec preprocess --input "$RAW" --order-col seq_pos --item-min-count 5 \
          --output-dir "$DATA" --overwrite
    fi ;;
  beauty)
    MAX_LEN=50 DATA="$WORK/data/beauty" PREFIX="beauty_"
    RAW=../shared/data/amazon-beauty/Beauty.txt
    [ -f "$RAW" ] || { echo "error: $RAW not found (Amazon Beauty from ../shared/data)" >&2; exit 1; }
    if [ ! -f "$DATA/feature_spec.json" ]; then
      step "preprocess Amazon Beauty -> $DATA"
      nice -n 15 .venv/bin/tfseqrec preprocess --input "$RAW" --output-dir "$DATA" --overwrite
    fi ;;
  *) echo "error: DATASET=$DATASET: use ml100k, ml1m or beauty" >&2; exit 1 ;;
esac
EXPORT="$WORK/recbole/${DATASET}_l${MAX_LEN}"
if [ ! -f "$EXPORT/export.json" ]; then
  step "export the split for RecBole -> $EXPORT"
  nice -n 15 "$OURS_PY" benchmarks/peers/export_split.py --data-dir "$DATA" --output "$EXPORT" --max-len "$MAX_LEN"
fi

declare -A OUR_CONFIG=([SASRec]=configs/sasrec_ml1m.yaml [GRU4Rec]=configs/gru4rec_ml1m.yaml
                       [BERT4Rec]=benchmarks/configs/bert4rec_ml1m.yaml)
[ "$DATASET" = beauty ] && OUR_CONFIG[SASRec]=configs/sasrec_beauty.yaml
# train_ours MODEL BUDGET DIR [KEY=VALUE ...]: one of our runs, unless DIR holds a finished one; an unfinished
# one (cut short) resumes from its last complete epoch (--resume; the budget then counts this invocation, as
# RecBole's --resume does)
train_ours() {
  local model=$1 budget=$2 dir=$3
  shift 3
  if [ -f "$dir/run.json" ] && grep -q '"status": "finished"' "$dir/run.json"; then return; fi
  step "ours $model $*, ${budget}-minute budget -> $dir"
  nice -n 15 .venv/bin/tfseqrec train --config "${OUR_CONFIG[$model]}" --data-dir "$DATA" \
      --output-dir "$dir" --resume model_config.max_len="$MAX_LEN" filter_seen=false time_budget_minutes="$budget" \
      epochs=10000 seed=42 verbose=2 "$@"
}

args=()
for budget in $BUDGETS; do
  for model in $MODELS; do
    lower=$(echo "$model" | tr '[:upper:]' '[:lower:]')
    theirs="$WORK/runs/${PREFIX}recbole_${model}${RECBOLE_SUFFIX}_${budget}min"
    ours=""  # the first of our runs: RecBole copies its sizes, dropout, batch size and learning rate
    for mode in $WINDOW_MODES; do
      name="${lower}$([ "$mode" = latest ] || echo "_${mode}_windows")${STEPS_SUFFIX}${EXTRA_SUFFIX}_${budget}min"
      train_ours "$model" "$budget" "$WORK/runs/${PREFIX}ours_$name" train_windows="$mode" "${STEPS_ARGS[@]}" \
          "${EXTRA_ARGS[@]}"
      args+=(--ours "$name=$WORK/runs/${PREFIX}ours_$name")
      ours=${ours:-$WORK/runs/${PREFIX}ours_$name}
    done
    if [ ! -f "$theirs/metrics.json" ]; then
      step "RecBole $model, ${budget}-minute budget -> $theirs"
      nice -n 15 "$RECBOLE_PY" benchmarks/peers/run_recbole.py --data-dir "$EXPORT" \
          --model "$model" --from-run "$ours" --epochs 10000 --patience 10 --seed 42 \
          --time-budget-minutes "$budget" --resume --output "$theirs" "${RECBOLE_ARGS[@]}"
    fi
    args+=(--recbole "recbole_${lower}${RECBOLE_SUFFIX}_${budget}min=$theirs")
  done
done
step "compare -> $REPORT"
nice -n 15 "$OURS_PY" benchmarks/peers/compare.py "${args[@]}" --output "$REPORT"
