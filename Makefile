# segrec: every target creates .venv when missing and reinstalls when pyproject.toml changed (stamp file).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out/demo
SHOP ?= $(OUT)/shop.parquet

.PHONY: demo test test-cluster test-all bench bench-quality bench-scale lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/segrec generate --out $(SHOP) --truth $(OUT)/truth.parquet
	$(BIN)/segrec run $(SHOP) --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not spark_cluster" -q

# segrec run --engine spark on a Spark standalone master + two workers started on 127.0.0.1 (minutes; needs Java 17)
test-cluster: $(STAMP)
	$(BIN)/python -m pytest -m spark_cluster -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

# The speed benchmarks of issue 16 and the API load test (minutes: issue 16 asks for under 15 on 2 cores); each
# writes benchmarks/results/<name>.json, and docs/benchmarks.md says what each figure means. api_load.py needs wrk
# (apt-get install wrk) and pipeline.py ../shared/data/online_retail.parquet; each skips itself without it. Ends
# with one table of the floors (figure, floor, now, met) of the results this run wrote (benchmarks/summary.py).
bench: $(STAMP)
	@date +%s > $(VENV)/.bench-start
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/segmentation.py --threads 1
	$(BIN)/python benchmarks/scoring.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/fit_time.py
	$(BIN)/python benchmarks/api_load.py
	$(BIN)/python benchmarks/hybrid_scale.py
	$(BIN)/python benchmarks/summary.py --since $$(( $$(date +%s) - $$(cat $(VENV)/.bench-start) + 5 ))

# The quality matrix (every model on both data sets and splits; the longest benchmark: 23 min at load ~9, so not
# part of `make bench`). Its default also rewrites docs/benchmarks.md's quality section: run it without --no-docs
# to refresh it.
bench-quality: $(STAMP)
	$(BIN)/python benchmarks/quality.py --no-docs

# Local engine vs Spark engine on generated shops (1M and 10M events by default, each stage up to 25 minutes):
# long, so not part of `make bench`; the Spark engine needs Java. See docs/scaling.md.
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache
