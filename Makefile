# fractalvid: `make dataset` (set-up + the tiny data set on the CPU), `make test`, `make bench`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= data/tiny
ARGS   ?=

.PHONY: install dataset test lint bench bench-gpu test-gpu clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

dataset: $(STAMP)
	$(BIN)/fractalvid generate --preset tiny --out $(OUT) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest -q

test-gpu: $(STAMP)
	$(BIN)/pytest -q -m gpu

bench: $(STAMP)
	$(BIN)/python bench/bench.py $(ARGS)

clean:
	rm -rf $(VENV) data build *.egg-info
