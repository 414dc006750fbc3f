"""Scale benchmark: local engine vs Spark engine (local[2]) on generated shops of 1M, 10M and 30M events.

For each size and engine, per stage (features, segmentation at a fixed k, recommender fit): wall time and
peak memory (local: the process' peak RSS growth, measured in a fresh subprocess per stage; Spark: driver RSS
plus the JVM's peak heap, read from the JVM). Writes ``benchmarks/results/scale.json`` and prints a table.

    .venv/bin/python benchmarks/scale.py --sizes 1000000 10000000 [--engines local spark]

``generate_shop`` scales customers, products and months with the target; the events are generated once per
size into ``benchmarks/results/.cache/`` (Parquet) and every stage reads them from there.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / "results" / ".cache"
EVENTS_PER_CUSTOMER = 20  # measured on generate_shop(months=12): ~20 lines per customer


def shop_path(events: int) -> Path:
    path = CACHE / f"shop_{events}.parquet"
    if not path.exists():
        from segrec.datasets import generate_shop

        CACHE.mkdir(parents=True, exist_ok=True)
        customers = max(events // EVENTS_PER_CUSTOMER, 1000)
        shop = generate_shop(customers=customers, products=min(20_000, max(1000, customers // 50)), months=12)
        shop.events.to_parquet(path, index=False)
    return path


def run_stage(engine: str, stage: str, path: Path) -> dict[str, float]:
    """One stage in a fresh process, so peak memory is the stage's own."""
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import scale; scale._stage({engine!r}, {stage!r}, {str(path)!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _stage(engine: str, stage: str, path: str) -> None:
    import pandas as pd

    events = pd.read_parquet(path)
    began = time.perf_counter()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if engine == "local":
        from segrec.features import customer_features
        from segrec.recommend.baselines import ALSRecommender
        from segrec.recommend.data import Dataset
        from segrec.segmentation import Segmenter

        began = time.perf_counter()
        X = customer_features(events)
        if stage == "segmentation":
            Segmenter(n_clusters=5, random_state=42).fit(X)
        if stage == "recommender":
            ALSRecommender().fit(Dataset.from_events(events))
        jvm = 0.0
    else:
        from segrec.engines import get_engine
        from segrec.engines.spark.recommend import fit_als, index_events
        from segrec.engines.spark.segmentation import fit_segments, preprocess

        eng = get_engine("spark", master="local[2]", conf={"spark.driver.memory": "16g", "spark.ui.enabled": "false"})
        sdf = eng.spark.read.parquet(path)
        began = time.perf_counter()
        features = eng.features(sdf).frame.cache()
        features.count()
        if stage == "segmentation":
            fit_segments(preprocess(features), 5)
        if stage == "recommender":
            fit_als(index_events(eng.spark, sdf))
        runtime = eng.spark.sparkContext._jvm.java.lang.Runtime.getRuntime()
        jvm = (runtime.totalMemory() - runtime.freeMemory()) / 2**20
    seconds = time.perf_counter() - began
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024 + jvm
    print(json.dumps({"seconds": round(seconds, 2), "peak_mib": round(peak, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", default=["local", "spark"])
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    results = []
    for size in args.sizes:
        path = shop_path(size)
        for engine in args.engines:
            for stage in ("features", "segmentation", "recommender"):
                row = {"events": size, "engine": engine, "stage": stage, **run_stage(engine, stage, path)}
                results.append(row)
                print(row, flush=True)
    table = Table(title="segrec scale benchmark (2 cores, 24 GiB, shared)")
    for column in ("events", "engine", "stage", "seconds", "peak MiB"):
        table.add_column(column, justify="right")
    for row in results:
        table.add_row(f"{row['events']:,}", row["engine"], row["stage"], str(row.get("seconds", row.get("error"))),
                      str(row.get("peak_mib", "-")))
    Console().print(table)
    out = HERE / "results" / "scale.json"
    out.write_text(json.dumps({"machine": "2 cores, 24 GiB, shared", "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
