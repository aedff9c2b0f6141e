#!/usr/bin/env bash
# A real pretrained LLM learns to see and keeps its language: SmolLM2-135M-Instruct (GGUF) + a small ViT tower,
# taught the synthetic shapes world in two stages, then scored on the held-out test split (VQA accuracy, CIDEr)
# and on text only against the base LM (perplexity on our own prose, exact match on 30 facts).
#   1. align:    vision tower + projector train, the LM is frozen (its text abilities cannot change here)
#   2. instruct: LoRA adapters on the LM's attention and MLP (small learning rate), tower and projector keep
#                training; the adapters are merged on export, so the run is a plain LLaVA checkpoint
# Usage: bash examples/real_llm.sh [WORKDIR] [SmolLM2-135M-Instruct.Q4_1.gguf]
#        (set VITCLI="python -m vitcli" to run from a checkout; SCENES, ALIGN_EPOCHS, INSTRUCT_EPOCHS to resize)
# Defaults are the measured point in the README (400 scenes, align 1 epoch, instruct 0.2 epoch): VQA stays far below
# the tiny preset's, because the random tower must be learned through a 30-layer LM at ~0.3-0.8 samples/s.
# The tower is random at the start: 48 px scenes read as 3x3 patches of 16 px (one token per grid cell of the
# world), and the rows of one image train packed into one sample (the image is encoded once per 5 answers).
set -euo pipefail
WORK=${1:-real_llm}
GGUF=${2:-.test-cache/SmolLM2-135M-Instruct.Q4_1.gguf}
VITCLI=${VITCLI:-vitcli}
SCENES=${SCENES:-400}
ALIGN_EPOCHS=${ALIGN_EPOCHS:-1}
INSTRUCT_EPOCHS=${INSTRUCT_EPOCHS:-0.2}
HERE=$(cd "$(dirname "$0")" && pwd)
SHAPE=(--set model.image_size=48 --set model.patch_size=16 --set pack_turns=5)
start=$(date +%s)

$VITCLI build-dataset synthetic --out "$WORK/data" --num-train "$SCENES" --overwrite

echo "== 1. align: tower + projector, LM frozen =="
$VITCLI train --llm "$GGUF" --data "$WORK/data" --output "$WORK/align" --stage align --unfreeze-vision \
  --epochs "$ALIGN_EPOCHS" --learning-rate 1e-3 "${SHAPE[@]}" --overwrite
# The align run's config.json still carries the GGUF's quantization_config (the weights in it are plain dequantized
# fp32), and the Trainer refuses to fine-tune a model whose config says GGUF-quantized: drop the stale marker.
python - "$WORK/align/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config.pop("quantization_config", None)
config.get("text_config", {}).pop("quantization_config", None)
json.dump(config, open(path, "w"), indent=2)
PY
echo "== 2. instruct: LoRA on the LM (attention + MLP), tower and projector keep training =="
$VITCLI train --model "$WORK/align" --data "$WORK/data" --output "$WORK/instruct" --stage instruct --unfreeze-vision \
  --lora --lora-r 16 --lora-alpha 32 --set lora_target_modules=q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj \
  --epochs "$INSTRUCT_EPOCHS" --learning-rate 2e-4 --set projector_learning_rate=1e-3 --set vision_learning_rate=1e-3 \
  "${SHAPE[@]}" --overwrite

echo "== VQA accuracy on the test split =="
$VITCLI eval --model "$WORK/instruct" --data "$WORK/data" --split test --task vqa --max-new-tokens 8
echo "== Caption metrics on the test split =="
$VITCLI eval --model "$WORK/instruct" --data "$WORK/data" --split test --task caption
echo "== Text retention against the base LM (perplexity on held-out prose, exact match on facts) =="
$VITCLI eval --task text --model "$WORK/instruct" --base "$GGUF" \
  --text-file "$HERE/retention/heldout.txt" --qa-file "$HERE/retention/facts.jsonl"
echo "real_llm finished in $(( $(date +%s) - start )) s"
