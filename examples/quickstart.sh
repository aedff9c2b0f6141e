#!/usr/bin/env bash
# From nothing to a trained and evaluated vision-language model, offline, on a laptop CPU:
# build the synthetic shapes world, train the tiny LLaVA on it, score it on the held-out test split, caption images.
# Usage: bash examples/quickstart.sh [WORKDIR]      (set VITCLI="python -m vitcli" to run from a checkout)
set -euo pipefail
WORK=${1:-quickstart}
VITCLI=${VITCLI:-vitcli}
start=$(date +%s)

$VITCLI build-dataset synthetic --out "$WORK/data" --overwrite
$VITCLI train --data "$WORK/data" --output "$WORK/run" --preset tiny --overwrite

echo "== VQA accuracy on the test split =="
$VITCLI eval --model "$WORK/run" --data "$WORK/data" --split test --task vqa
echo "== Caption metrics on the test split =="
$VITCLI eval --model "$WORK/run" --data "$WORK/data" --split test --task caption

echo "== Captions for three test images =="
python - "$WORK" <<'PY'
import sys
from vitcli.data.build import load_built_dataset  # resolves the rows' image refs (images are stored once)
work = sys.argv[1]
test = load_built_dataset(f"{work}/data")["test"]
for i in range(3):
    test[i * 5]["images"][0].save(f"{work}/test-{i}.png")
PY
$VITCLI caption --model "$WORK/run" "$WORK"/test-*.png
# questions use the short-answer instruction the model was trained with (LLaVA-1.5's VQA suffix)
$VITCLI caption --model "$WORK/run" "$WORK/test-0.png" \
  --prompt "How many shapes are there? Answer the question using a single word or phrase."
echo "quickstart finished in $(( $(date +%s) - start )) s"
