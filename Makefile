# Every target bootstraps itself: a tools venv holding uv, then the project venv from uv.lock.
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: demo test lint typecheck check bench docs clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) uv.lock pyproject.toml hatch_build.py $(wildcard src/trace_harness/*.c src/trace_harness/*.h)
	$(UV) sync --frozen --quiet --compile-bytecode
	touch $@

## Run the whole loop (report -> plan -> issues) on the bundled sample evidence, with the local forge.
demo: .venv/.synced
	rm -rf .trace-harness-demo
	.venv/bin/trace-harness run --state-dir .trace-harness-demo --evidence examples/evidence
	@echo; echo "== second run: nothing new to file =="; echo
	.venv/bin/trace-harness run --state-dir .trace-harness-demo --evidence examples/evidence

## Run the test suite (lint and type checks included).
test: .venv/.synced
	.venv/bin/ruff check src tests bench
	.venv/bin/mypy
	.venv/bin/pytest -n 2

lint: .venv/.synced
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench

typecheck: .venv/.synced
	.venv/bin/mypy

## Benchmarks (figures in bench/README.md): ingest and manifest throughput and memory, API cost, cluster quality, redaction.
bench: .venv/.synced
	.venv/bin/python bench/ingest.py --runs 5 --scale 10
	.venv/bin/python bench/ingest_actions.py --runs 5 --scale 10
	.venv/bin/python bench/manifest.py --runs 3
	.venv/bin/python bench/api_cost.py
	.venv/bin/python bench/cluster_quality.py bench/corpus/logs bench/corpus/truth.json
	.venv/bin/python bench/redaction_coverage.py

clean:
	rm -rf .venv .tools .trace-harness .trace-harness-demo .pytest_cache .mypy_cache .ruff_cache
