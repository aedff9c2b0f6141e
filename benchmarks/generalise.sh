#!/usr/bin/env bash
# The tiny preset on two worlds it was not tuned on (benchmarks/worlds.py: 96 px bar charts, 64 px letters), side by
# side: the 0.1 preset (48 px, 20 epochs, last step), the preset fitted to the data with validation-based selection
# (image size, epochs), and that plus the regularisation chosen from the data (dropout, weight decay, image shifts).
# Prints one JSON line per (world, recipe). Usage: bash benchmarks/generalise.sh [WORKDIR] [TRAIN_IMAGES]
# (RECIPES="fitted regularised" to run some; SEEDS="0 1" to repeat with other seeds)
set -euo pipefail
WORK=${1:-generalise}
TRAIN=${2:-1500}
VITCLI=${VITCLI:-vitcli}
PY=${PYTHON:-python}
$PY "$(dirname "$0")/worlds.py" "$WORK/worlds" --train "$TRAIN" >/dev/null
REGULARISED=model.image_size,epochs,model.dropout,weight_decay,augment_images
for world in bars letters; do
  $VITCLI build-dataset imagefolder "$WORK/worlds/$world" --out "$WORK/$world-data" --overwrite >/dev/null 2>&1
  for seed in ${SEEDS:-0}; do
  for recipe in ${RECIPES:-fixed fitted regularised}; do
    flags=(--seed "$seed")
    [ "$recipe" = fixed ] && flags+=(--set fit_to_data= --set select_checkpoint=last)
    [ "$recipe" = fitted ] && flags+=(--set fit_to_data=model.image_size,epochs)
    [ "$recipe" = regularised ] && flags+=(--set fit_to_data=$REGULARISED)
    run="$WORK/$world-$recipe-$seed"
    start=$(date +%s)
    $VITCLI train --data "$WORK/$world-data" --output "$run" --overwrite --json "${flags[@]}" >"$run.train.json" 2>/dev/null
    secs=$(( $(date +%s) - start ))
    vqa=$($VITCLI eval --model "$run" --data "$WORK/$world-data" --task vqa --json 2>/dev/null)
    cap=$($VITCLI eval --model "$run" --data "$WORK/$world-data" --task caption --json 2>/dev/null)
    $PY - "$world" "$recipe" "$seed" "$secs" "$run.train.json" "$vqa" "$cap" <<'PY'
import json, sys
world, recipe, seed, secs, train, vqa, cap = sys.argv[1:]
t = json.load(open(train))
c = t["config"]
print(json.dumps({
    "world": world, "recipe": recipe, "seed": int(seed), "vqa": json.loads(vqa)["metrics"]["overall"],
    "cider": round(json.loads(cap)["metrics"]["CIDEr"], 3), "image_size": t["config"]["model"]["image_size"],
    "epochs": c["epochs"], "dropout": c["model"]["dropout"], "weight_decay": c["weight_decay"],
    "augment_images": c["augment_images"], "selected_step": t.get("selected_step"), "steps": t["global_step"],
    "train_seconds": int(secs),
}))
PY
  done
  done
done
