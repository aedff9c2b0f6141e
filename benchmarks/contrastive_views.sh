#!/bin/bash
# --contrastive views on the tiny world: the quickstart's run (tiny preset, fitted and selected on validation) with and
# without the seed's NT-Xent (weight 0.1, two augmented views per image), scored with `vitcli eval` (held-out VQA
# accuracy and CIDEr). One line per (seed, loss).
# Usage: bash benchmarks/contrastive_views.sh [WORK_DIR] [SEED...]   (defaults: bench-contrastive, seed 0)
# Sizes: TRAIN=2000 VAL=100 TEST=200 scenes (the quickstart's); the first README table used TRAIN=120 VAL=20 TEST=50
# EPOCHS=10. WEIGHT=0.1 is the NT-Xent weight; MODES="plain views" picks the runs (one at a time on a busy machine).
set -euo pipefail
WORK=${1:-bench-contrastive}; shift || true
SEEDS=${*:-0}
V=${VITCLI:-vitcli}
EPOCH_FLAG=(); [ -n "${EPOCHS:-}" ] && EPOCH_FLAG=(--epochs "$EPOCHS")
mkdir -p "$WORK"
[ -d "$WORK/data" ] || $V build-dataset synthetic --out "$WORK/data" --num-train "${TRAIN:-2000}" \
  --num-val "${VAL:-100}" --num-test "${TEST:-200}"
for seed in $SEEDS; do
  for mode in ${MODES:-plain views}; do
    extra=(); [ "$mode" = views ] && extra=(--contrastive views --contrastive-weight "${WEIGHT:-0.1}")
    run="$WORK/run_${mode}_s$seed"
    $V train --data "$WORK/data" --output "$run" --preset tiny "${EPOCH_FLAG[@]}" --seed "$seed" --overwrite --json \
      "${extra[@]}" > "$run.train.json"
    vqa=$($V eval --model "$run" --data "$WORK/data" --split test --task vqa --json | tail -1)
    cap=$($V eval --model "$run" --data "$WORK/data" --split test --task caption --json | tail -1)
    python3 - "$mode" "$seed" "$vqa" "$cap" "$run.train.json" <<'PY'
import json, sys
mode, seed, vqa, cap, train = sys.argv[1:]
t = json.loads(open(train).read().strip().splitlines()[-1])
print(json.dumps({"loss": mode, "seed": int(seed), "vqa": json.loads(vqa)["metrics"]["overall"],
                  "cider": round(json.loads(cap)["metrics"]["CIDEr"], 3), "train_seconds": round(t["seconds"]),
                  "steps": t["global_step"], "selected_step": t.get("selected_step")}))
PY
  done
done
