#!/usr/bin/env bash
# A real pretrained LLM learns to see and keeps its language: SmolLM2-135M-Instruct (GGUF) + the ImageNet
# EfficientNet-Lite0 tower, taught the synthetic shapes world in two stages, then scored on the held-out test split
# (VQA accuracy, CIDEr) and on text only against the base LM (perplexity on our own prose, exact match on 30 facts).
#   1. align:    the projector trains; the LM and the tower are frozen (the LM's text abilities cannot change here,
#                and a tower trained at batch 4 collapsed to features every image shares: see the README)
#   2. instruct: LoRA adapters on the LM's attention and MLP (small learning rate), the projector keeps training;
#                the adapters are merged on export, so the run is a plain LLaVA checkpoint
# Usage: bash examples/real_llm.sh [WORKDIR] [SmolLM2-135M-Instruct.Q4_1.gguf]
#        (set VITCLI="python -m vitcli" to run from a checkout; SCENES, ALIGN_EPOCHS, INSTRUCT_EPOCHS to resize)
# Images are read at 96 px, so the tower's stride-32 feature maps are 3x3: one image token per cell of the world's
# grid. The tokens come from stage 6 (layer -4, 192 channels), which keeps the colour that the ImageNet head's 1280
# channels (layer -1) mostly discard (benchmarks/tower_probe.py).
# The rows of one image train packed into one sample (the image is encoded once per 5 answers). Measured figures,
# and the benchmark that reproduces them (benchmarks/real_llm.py), are in the README.
set -euo pipefail
WORK=${1:-real_llm}
GGUF=${2:-.test-cache/SmolLM2-135M-Instruct.Q4_1.gguf}
VITCLI=${VITCLI:-vitcli}
SCENES=${SCENES:-400}
ALIGN_EPOCHS=${ALIGN_EPOCHS:-1.5}
INSTRUCT_EPOCHS=${INSTRUCT_EPOCHS:-1.5}
HERE=$(cd "$(dirname "$0")" && pwd)
PACK=(--set pack_turns=5)
start=$(date +%s)

$VITCLI build-dataset synthetic --out "$WORK/data" --num-train "$SCENES" --overwrite

echo "== 1. align: projector only, LM and tower frozen =="
$VITCLI train --llm "$GGUF" --vision efficientnet-lite0 --data "$WORK/data" --output "$WORK/align" --stage align \
  --epochs "$ALIGN_EPOCHS" --learning-rate 1e-3 --set model.vision_image_size=96 --set model.vision_feature_layer=-4 \
  "${PACK[@]}" --overwrite
echo "== 2. instruct: LoRA on the LM (attention + MLP), the projector keeps training =="
$VITCLI train --model "$WORK/align" --data "$WORK/data" --output "$WORK/instruct" --stage instruct \
  --lora --lora-r 16 --lora-alpha 32 --set lora_target_modules=q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj \
  --epochs "$INSTRUCT_EPOCHS" --learning-rate 2e-4 --set projector_learning_rate=1e-3 \
  "${PACK[@]}" --overwrite  # the 96 px size and the layer travel in the align run's processor and config

echo "== VQA accuracy on the test split =="
$VITCLI eval --model "$WORK/instruct" --data "$WORK/data" --split test --task vqa --max-new-tokens 8
echo "== Caption metrics on the test split =="
$VITCLI eval --model "$WORK/instruct" --data "$WORK/data" --split test --task caption
echo "== Text retention against the base LM (perplexity on held-out prose, exact match on facts) =="
$VITCLI eval --task text --model "$WORK/instruct" --base "$GGUF" \
  --text-file "$HERE/retention/heldout.txt" --qa-file "$HERE/retention/facts.jsonl"
echo "real_llm finished in $(( $(date +%s) - start )) s"
