# Two commands on a fresh machine: `make quickstart` (set up, then train and evaluate the quickstart model) and
# `make test` (set up, then run the test suite). Both create or reuse .venv; TORCH picks the torch build.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install test test-slow lint quickstart

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow tests/modeling/test_acceptance_smollm2.py tests/training/test_resume.py

lint: install
	$(VENV)/bin/ruff check vitcli tests benchmarks
	$(VENV)/bin/ruff format --check vitcli tests benchmarks

quickstart: install
	PATH="$(abspath $(VENV))/bin:$$PATH" bash examples/quickstart.sh
