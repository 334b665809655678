#!/usr/bin/env bash
# Why bce / gbce get a logit offset (LossConfig.logit_offset): SASRec on MovieLens-100K (length 50, the gSASRec
# preset's sizes) trained for a few minutes per variant with many sampled negatives, with the offset off (0.0)
# and at its default log(beta / S), then the best validation NDCG@10 of each run. Without the offset, BCE with
# 32 or 256 negatives and gBCE with 256 stall near popularity ranking; with it they learn like BCE with 1.
#
#   bash benchmarks/logit_offset.sh                        # 4 minutes per variant, 7 variants
#   MINUTES=10 WORK=/tmp/logit_offset bash benchmarks/logit_offset.sh
#
# Needs ../shared/data/ml-100k (preprocessed into $WORK/data like benchmarks/peers/equal_budgets.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/logit_offset}
MINUTES=${MINUTES:-4}
RAW=../shared/data/ml-100k/original/u.data
DATA="$WORK/data/ml100k"
[ -f "$RAW" ] || { echo "error: $RAW not found (MovieLens-100K from ../shared/data)" >&2; exit 1; }
mkdir -p "$WORK/runs"
if [ ! -f "$DATA/feature_spec.json" ]; then
  (printf 'user\titem\trating\ttimestamp\n'; cat "$RAW") > "$WORK/ml-100k.tsv"
  .venv/bin/tfseqrec preprocess --input "$WORK/ml-100k.tsv" --user-col user --item-col item --time-col timestamp \
      --split leave_one_out --output-dir "$DATA" --overwrite
fi
# name: overrides of benchmarks/configs/gsasrec_ml1m.yaml (gBCE, 256 uniform negatives, t 0.75, d 64)
VARIANTS=(
  "bce_1neg model_config.loss.name=bce model_config.loss.num_negatives=1"
  "bce_32neg_no_offset model_config.loss.name=bce model_config.loss.num_negatives=32 model_config.loss.logit_offset=0.0"
  "bce_32neg model_config.loss.name=bce model_config.loss.num_negatives=32"
  "bce_256neg_no_offset model_config.loss.name=bce model_config.loss.logit_offset=0.0"
  "bce_256neg model_config.loss.name=bce"
  "gbce_256neg_no_offset model_config.loss.logit_offset=0.0"
  "gbce_256neg"
)
for variant in "${VARIANTS[@]}"; do
  read -r name overrides <<< "$variant"
  run="$WORK/runs/$name"
  if [ -f "$run/run.json" ] && grep -q '"status": "finished"' "$run/run.json"; then continue; fi
  echo "== $(date +%H:%M:%S) $name (${MINUTES} min)"
  # shellcheck disable=SC2086
  .venv/bin/tfseqrec train --config benchmarks/configs/gsasrec_ml1m.yaml --data-dir "$DATA" --output-dir "$run" \
      model_config.max_len=50 model_config.loss.negatives_per=batch steps_per_epoch=null epochs=1000 \
      validate_every=2 patience=20 time_budget_minutes="$MINUTES" verbose=0 $overrides
done
.venv/bin/python - "$WORK/runs" <<'PY'
import json, pathlib, sys
print("| variant | best validation NDCG@10 | epoch | test NDCG@10 | logit offset |")
print("|---|---|---|---|---|")
for run in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    summary = json.loads((run / "run.json").read_text())
    loss = summary["model_config"]["loss"]
    offset = "default" if loss.get("logit_offset") is None else loss["logit_offset"]
    print(f"| {run.name} | {summary['best_valid_NDCG@10']:.4f} | {summary['best_epoch']} | "
          f"{summary['test_metrics']['NDCG@10']:.4f} | {offset} |")
PY
