# Two commands: `make demo` (or `make run` for the dashboard) and `make test`.
# Each sets up .venv first (CPU torch where there is no GPU); re-running is cheap.
PY := .venv/bin/python
RUN_DIR ?= runs/demo-$(shell date -u +%Y%m%d-%H%M%S)

.PHONY: setup demo run test lint format bench clean

setup:
	@bash scripts/setup-venv.sh

demo: setup
	$(PY) -m finetune_core train --config assets/demo/run.yaml --output-dir $(RUN_DIR)

run: setup
	FINETUNE_OPEN_BROWSER=1 $(PY) app.py

test: setup
	@bash scripts/browser-deps.sh
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

# Benchmarks (bench/*.py; tables on stdout, JSON in bench/results/): `make bench`, or
# `make bench BENCH_ARGS=--quick` for a short pass (a minute or two each).
BENCH_ARGS ?=
bench: setup
	$(PY) bench/overhead.py $(BENCH_ARGS)
	$(PY) bench/frozen.py $(BENCH_ARGS)
	$(PY) bench/memory.py $(BENCH_ARGS)
	$(PY) bench/responsiveness.py $(BENCH_ARGS)
	$(PY) bench/load.py $(BENCH_ARGS)
	$(PY) bench/longtail.py $(BENCH_ARGS)
	$(PY) bench/quality.py $(BENCH_ARGS)
	$(PY) bench/warm.py $(BENCH_ARGS)
	$(PY) bench/partial_cost.py $(BENCH_ARGS)
	$(PY) bench/real.py $(BENCH_ARGS)

clean:
	rm -rf .venv runs .pytest_cache
