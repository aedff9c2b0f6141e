#!/usr/bin/env bash
# Prove the lower bounds pyproject.toml declares: a second venv pinned to constraints/lowest.txt runs a smoke
# selection that touches every dependency (data, adapter, generation, LoRA, resume, the CLI, one family per prompt
# style). The versions and why each bound is what it is: constraints/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${LOWEST_VENV:-.venv-lowest}
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
"$venv/bin/pip" install -q -c constraints/lowest.txt -e ".[dev]"
"$venv/bin/python" -m pip list 2>/dev/null | grep -E "^(transformers|tokenizers|datasets|peft|accelerate) "
HF_HUB_OFFLINE=1 "$venv/bin/python" -m pytest -q -x -p no:cacheprovider tests/data tests/modeling/test_adapter.py \
  tests/modeling/test_freeze.py tests/inference/test_generate.py tests/training/test_loss_falls.py \
  tests/training/test_resume.py tests/cli/test_cli.py tests/zoo/test_matrix.py \
  -k "data or test_adapter or test_freeze or test_generate or test_loss or test_resume or test_cli or vitcli-llava or qwen2_vl or paligemma or blip2 or vision-encoder"
