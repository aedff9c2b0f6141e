#!/usr/bin/env bash
# The prepared GPU check (issue 13): run from a fresh copy of the repo on a machine with one CUDA GPU, in <= 8 minutes
# on an H200. Prints one JSON line per figure on stdout (jq-friendly); progress and logs go to stderr.
#
#   bash benchmarks/gpu_check.sh            # everything
#   bash benchmarks/gpu_check.sh --tiny     # CPU dry run of the same flow at tiny sizes (figures mean nothing)
#
# Figures: setup, train_bf16 (step time, samples/s, MFU), memory_vs_estimate, qlora_4bit, caption_batched_vs_single,
# device_index, vllm (skipped unless vllm imports), pytest_gpu (tests/inference/test_cuda.py). Each runs under its own
# time limit, so one that fails or hangs reports {"figure": ..., "error": ...} and the rest still run.
# Python: $PYTHON if set, else .venv (made as the Makefile makes it when absent: torch from $TORCH, or the torch already
# importable by python3 through --system-site-packages when no index is reachable).
set -uo pipefail
cd "$(dirname "$0")/.."
TINY=""
[ "${1:-}" = "--tiny" ] && TINY="--tiny"
WORK=${WORK:-$(mktemp -d /tmp/vitcli_gpu_check.XXXX)}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)

emit() { printf '{"figure": "%s", %s}\n' "$1" "$2"; }

python_env() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  if [ -x .venv/bin/python ] && .venv/bin/python -c "import torch, transformers, peft" 2>/dev/null; then
    echo .venv/bin/python; return
  fi
  if python3 -c "import torch" 2>/dev/null; then  # a machine image with torch: reuse it, add what is missing
    python3 -m venv --system-site-packages .venv >&2
  else
    python3 -m venv .venv >&2 && .venv/bin/pip install -q ${TORCH:-torch==2.14.1 torchvision==0.29.1} >&2
  fi
  .venv/bin/pip install -q -e ".[dev,quant]" >&2 || .venv/bin/pip install -q -e . >&2
  echo .venv/bin/python
}

PY=$(python_env)
emit environment "\"python\": \"$PY\", \"seconds\": $(( $(date +%s) - START )), \"versions\": $($PY - <<'EOF'
import importlib.metadata as m, json
names = ("torch", "transformers", "accelerate", "peft", "bitsandbytes", "vllm", "flash-attn")
out = {}
for n in names:
    try:
        out[n] = m.version(n)
    except m.PackageNotFoundError:
        out[n] = None
import torch
out["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
print(json.dumps(out))
EOF
)"

figure() {  # figure NAME LIMIT_S
  local t0=$(date +%s)
  timeout "$2" "$PY" benchmarks/gpu_check.py "$1" "$WORK" $TINY
  local rc=$?
  [ $rc -eq 124 ] && emit "$1" "\"error\": \"timed out after $2 s\""
  echo "[gpu_check] $1: rc $rc, $(( $(date +%s) - t0 )) s, $(( $(date +%s) - START )) s in all" >&2
}

figure setup 60   # limits add up to 480 s with the tests: the 8-minute budget holds even if every figure hangs
figure train 120
figure qlora 100
figure caption 60
figure device 45
figure vllm 45

if [ -z "$TINY" ]; then
  t0=$(date +%s)
  timeout 50 "$PY" -m pytest -q -m gpu tests/inference/test_cuda.py -p no:cacheprovider > "$WORK/pytest_gpu.log" 2>&1
  rc=$?
  summary=$(tail -1 "$WORK/pytest_gpu.log" | tr -d '"=' | sed 's/^ *//')
  emit pytest_gpu "\"rc\": $rc, \"summary\": \"$summary\", \"seconds\": $(( $(date +%s) - t0 ))"
fi
echo "[gpu_check] done in $(( $(date +%s) - START )) s; work folder $WORK" >&2
