# segrec: every target creates .venv when missing and reinstalls when pyproject.toml changed (stamp file).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out/demo
SHOP ?= $(OUT)/shop.parquet

.PHONY: demo test test-all bench bench-scale lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/segrec generate --out $(SHOP) --truth $(OUT)/truth.parquet
	$(BIN)/segrec run $(SHOP) --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

# Every benchmark cheap enough for a default run (minutes, not hours: quality.py, the longest, 23 at load ~9); each writes
# benchmarks/results/<name>.json, and docs/benchmarks.md says what each figure means. quality.py's own
# default also rewrites that document's quality section: run it without --no-docs to refresh it.
# api_load.py needs wrk (apt-get install wrk) and skips itself when it is missing; pipeline.py needs
# ../shared/data/online_retail.parquet and skips itself without it. Ends with one table of the floors
# (figure, floor, now, met) of the results this run wrote (benchmarks/summary.py).
bench: $(STAMP)
	@date +%s > $(VENV)/.bench-start
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/segmentation.py --threads 1
	$(BIN)/python benchmarks/scoring.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/quality.py --no-docs
	$(BIN)/python benchmarks/api_load.py
	$(BIN)/python benchmarks/summary.py --since $$(( $$(date +%s) - $$(cat $(VENV)/.bench-start) + 5 ))

# Local engine vs Spark engine on generated shops (1M and 10M events by default, each stage up to 25 minutes):
# long, so not part of `make bench`; the Spark engine needs Java. See docs/scaling.md.
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache
