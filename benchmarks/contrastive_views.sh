#!/bin/bash
# --contrastive views on the tiny world: the same tiny-preset run with and without the seed's NT-Xent (weight 0.1),
# scored with `vitcli eval` (held-out VQA accuracy and CIDEr). Shrunk from the quickstart so a pair fits a shared
# 2-core machine: 120 train scenes (quickstart 2000), 50 test scenes (200), 10 epochs (20).
# Usage: bash benchmarks/contrastive_views.sh [WORK_DIR] [SEED...]   (defaults: bench-contrastive, seeds 0 1)
set -euo pipefail
WORK=${1:-bench-contrastive}; shift || true
SEEDS=${*:-0 1}
V=${VITCLI:-vitcli}
mkdir -p "$WORK"
[ -d "$WORK/data" ] || $V build-dataset synthetic --out "$WORK/data" --num-train 120 --num-val 20 --num-test 50
for seed in $SEEDS; do
  for mode in plain views; do
    extra=(); [ "$mode" = views ] && extra=(--contrastive views --contrastive-weight 0.1)
    run="$WORK/run_${mode}_s$seed"
    $V train --data "$WORK/data" --output "$run" --preset tiny --epochs 10 --seed "$seed" --overwrite --json \
      "${extra[@]}" > "$run.train.json"
    vqa=$($V eval --model "$run" --data "$WORK/data" --split test --task vqa --json | tail -1)
    cap=$($V eval --model "$run" --data "$WORK/data" --split test --task caption --json | tail -1)
    python3 - "$mode" "$seed" "$vqa" "$cap" "$run.train.json" <<'PY'
import json, sys
mode, seed, vqa, cap, train = sys.argv[1:]
t = json.loads(open(train).read().strip().splitlines()[-1])
print(f"{mode}\tseed {seed}\tVQA {json.loads(vqa)['metrics']['overall']:.2f}\t"
      f"CIDEr {json.loads(cap)['metrics']['CIDEr']:.3f}\ttrain {t['seconds']:.0f} s")
PY
  done
done
