# One virtual environment serves every target. CPU torch is installed first so that the
# `torch` requirement of the package never pulls a CUDA build.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.migr-hf-installed
# Debian packages the tests and the quickstart use when present: Chromium for the Space's browser test,
# espeak-ng for spoken sample clips (tones otherwise).
SYSTEM_PACKAGES ?= chromium espeak-ng

.PHONY: install system-deps test quickstart bench clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
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
	$(BIN)/python -m pytest -n 2 tests

quickstart: $(STAMP) system-deps
	$(BIN)/migr-hf quickstart

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
