# fractalvid: `make dataset` (set-up + the tiny data set on the CPU), `make test`, `make bench`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TESTSTAMP := $(VENV)/.installed-test
OUT    ?= data/tiny
ARGS   ?=

.PHONY: install dataset test lint bench bench-read bench-store bench-gpu test-gpu clean

# The core install (what `make dataset` needs); tests add their extras (torch CPU, wids,
# datasets, duckdb) on top.
$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $(STAMP)

$(TESTSTAMP): $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(TESTSTAMP)

install: $(STAMP)

dataset: $(STAMP)
	$(BIN)/fractalvid generate --preset tiny --out $(OUT) $(ARGS)

lint: $(TESTSTAMP)
	$(BIN)/ruff check .

# The second run repeats the GPU tests against the CUDA kernel compiled for the CPU
# (tests/cuda_on_cpu): the kernel's logic and the GPU path's host code, where no GPU is.
test: lint
	$(BIN)/pytest -q
	FRACTALVID_EMULATE_GPU=1 $(BIN)/pytest -q tests/test_gpu.py

test-gpu: $(TESTSTAMP)
	$(BIN)/python -c 'import cupy' 2>/dev/null || $(BIN)/pip install --quiet -e '.[gpu]'
	$(BIN)/pytest -q tests/test_gpu.py

bench: $(STAMP)
	$(BIN)/python bench/bench.py $(ARGS)

# Reading: decoders and codecs per core, and a torch DataLoader (torch from the test extra).
bench-read: $(TESTSTAMP)
	$(BIN)/python bench/bench_read.py $(ARGS)

# Object storage: upload and read MB/s against a local S3 server (moto, from the test extra).
bench-store: $(TESTSTAMP)
	$(BIN)/python bench/bench_store.py $(ARGS)

# GPU targets: need an NVIDIA GPU.
# CuPy comes from the gpu extra (cupy-cuda12x) unless the venv already imports one (cuda13x).
bench-gpu: $(TESTSTAMP)
	$(BIN)/python -c 'import cupy' 2>/dev/null || $(BIN)/pip install --quiet -e '.[gpu]'
	$(BIN)/python bench/bench_gpu.py $(ARGS)

clean:
	rm -rf $(VENV) data build *.egg-info
