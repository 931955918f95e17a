# The two commands of the README:
#   make run    set up, train the default self-attention tagger on UD English-EWT, tag a sentence
#   make test   set up, run the test suite (what .ci/run calls)
# Setup is a virtual environment in .venv; constraints.txt pins every dependency, torch==2.13.0 included.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN    ?= runs/en_ewt-transformer
SENTENCE ?= I saw a saw .
TRAIN_ARGS ?=

# Read the treebanks from ../shared/treebanks when it exists (offline machines, CI); else download.
SHARED := $(abspath ../shared/treebanks)
ifeq ($(origin TAGGER_TREEBANK_MIRROR), undefined)
  ifneq ($(wildcard $(SHARED)),)
    export TAGGER_TREEBANK_MIRROR := $(SHARED)
  endif
endif

.PHONY: setup run test lint benchmark clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: setup
	$(BIN)/tagger train --config configs/en_ewt_transformer.yaml --output-dir $(RUN) $(TRAIN_ARGS)
	echo "$(SENTENCE)" | $(BIN)/tagger predict --model $(RUN)/model.safetensors --input-format tokens --output-format tsv

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check tagger tests scripts
	$(BIN)/ruff format --check tagger tests scripts

benchmark: setup
	$(BIN)/python scripts/benchmark_accuracy.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
