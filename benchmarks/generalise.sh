#!/usr/bin/env bash
# The tiny preset on two worlds it was not tuned on (benchmarks/worlds.py: 96 px bar charts, 64 px letters), side by
# side: the 0.1 preset (48 px, 20 epochs, last step) vs the preset fitted to the data with validation-based selection.
# Prints one JSON line per (world, recipe). Usage: bash benchmarks/generalise.sh [WORKDIR] [TRAIN_IMAGES]
set -euo pipefail
WORK=${1:-generalise}
TRAIN=${2:-1500}
VITCLI=${VITCLI:-vitcli}
PY=${PYTHON:-python}
$PY "$(dirname "$0")/worlds.py" "$WORK/worlds" --train "$TRAIN" >/dev/null
for world in bars letters; do
  $VITCLI build-dataset imagefolder "$WORK/worlds/$world" --out "$WORK/$world-data" --overwrite >/dev/null 2>&1
  for recipe in fixed fitted; do
    flags=()
    [ "$recipe" = fixed ] && flags=(--set fit_to_data= --set select_checkpoint=last)
    run="$WORK/$world-$recipe"
    start=$(date +%s)
    $VITCLI train --data "$WORK/$world-data" --output "$run" --overwrite --json "${flags[@]}" >"$run.train.json" 2>/dev/null
    secs=$(( $(date +%s) - start ))
    vqa=$($VITCLI eval --model "$run" --data "$WORK/$world-data" --task vqa --json 2>/dev/null)
    cap=$($VITCLI eval --model "$run" --data "$WORK/$world-data" --task caption --json 2>/dev/null)
    $PY - "$world" "$recipe" "$secs" "$run.train.json" "$vqa" "$cap" <<'PY'
import json, sys
world, recipe, secs, train, vqa, cap = sys.argv[1:]
t = json.load(open(train))
print(json.dumps({
    "world": world, "recipe": recipe, "vqa": json.loads(vqa)["metrics"]["overall"],
    "cider": round(json.loads(cap)["metrics"]["CIDEr"], 3), "image_size": t["config"]["model"]["image_size"],
    "epochs": t["config"]["epochs"], "selected_step": t.get("selected_step"), "steps": t["global_step"],
    "train_seconds": int(secs),
}))
PY
  done
done
