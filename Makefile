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
# api_load.py needs wrk (apt-get install wrk) and skips itself when it is missing.
bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/segmentation.py
	$(BIN)/python benchmarks/scoring.py
	$(BIN)/python benchmarks/quality.py --no-docs
	$(BIN)/python benchmarks/api_load.py

# Local engine vs Spark engine on generated shops (1M and 10M events by default, each stage up to 25 minutes):
# long, so not part of `make bench`; the Spark engine needs Java. See docs/scaling.md.
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache
