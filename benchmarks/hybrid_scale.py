"""The served hybrid at scale: fit it on a generated shop and write every customer's recommendations.

Issue 16 asks for a shop of 100,000 customers x 10,000 products x 12 months: the fit in <= 5 minutes and
``recommendations.parquet`` (top-10, the served model, reasons included) in <= 60 s after it, peak memory
<= 6 GB. This script measures exactly that path (``HybridRecommender.fit`` with the events, as ``segrec train``
does, then :func:`segrec.engines.local.train.write_recommendations`), with a progress bar, and records wall and
CPU seconds, the peak RSS after each stage and the host's load (the machine is shared: say what it was doing).
Like ``segrec train``, it keeps freed memory for reuse (``--default-allocator``: glibc's defaults).

Run: ``.venv/bin/python benchmarks/hybrid_scale.py [--customers 100000] [--products 10000] [--months 12]``;
writes ``benchmarks/results/hybrid_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from segrec.cli._memory import keep_freed_memory
from segrec.data.generate import generate_shop
from segrec.engines.local.train import write_recommendations
from segrec.recommend import Dataset, HybridRecommender

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "hybrid_scale.json"
console = Console(width=140)


def stage(name: str, fn, results: dict) -> object:
    """Run ``fn`` as a named stage; the peak RSS is the process's so far (ru_maxrss), the stages run in order.

    CPU seconds are also split into user and system (the kernel's page zero-filling and mapping is a third of
    the recommendations' CPU), and the load average is taken before and after the stage."""
    wall, cpu, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_SELF)
    value = fn()
    after = resource.getrusage(resource.RUSAGE_SELF)
    results[name] = {"wall_seconds": round(time.perf_counter() - wall, 1), "cpu_seconds": round(time.process_time() - cpu, 1),
                     "user_seconds": round(after.ru_utime - before.ru_utime, 1),
                     "system_seconds": round(after.ru_stime - before.ru_stime, 1),
                     "peak_rss_gb": round(after.ru_maxrss / 2**20, 2),
                     "load_before": round(load, 1), "load_average": round(os.getloadavg()[0], 1)}
    console.print(f"{name}: {results[name]}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)  # after every stage: a run stopped midway keeps what it measured
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's malloc as it is (segrec train keeps freed memory for reuse; so does this)")
    args = parser.parse_args()
    if not args.default_allocator:
        keep_freed_memory()  # as the segrec CLI does for its batch commands
    results: dict = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "cpus": os.cpu_count(),
                     "shop": vars(args)}
    shop = stage("generate", lambda: generate_shop(customers=args.customers, products=args.products,
                                                   months=args.months, seed=args.seed), results)
    events = shop.events
    results["events"] = len(events)
    dataset = stage("dataset", lambda: Dataset.from_events(events), results)
    model = stage("fit", lambda: HybridRecommender(random_state=args.seed).fit(dataset, events=events), results)
    results["tuning"] = model.tuning_
    with tempfile.TemporaryDirectory() as tmp, Progress(
            TextColumn("recommendations"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
            TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("", total=dataset.n_users)
        path = Path(tmp) / "recommendations.parquet"
        rows = stage("recommend_all", lambda: write_recommendations(
            model, path, 10, progress=lambda done, total: bar.update(task, completed=done)), results)
        results["rows"] = rows
        results["file_mb"] = round(path.stat().st_size / 2**20, 1)
    results["max_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    fit, recs = results["fit"], results["recommend_all"]
    results["floors"] = [  # issue 16, item 2 (read by benchmarks/summary.py)
        {"figure": f"hybrid fit, {args.customers:,} x {args.products:,}", "floor": "<= 300 s",
         "now": f"{fit['wall_seconds']} s ({fit['cpu_seconds']} CPU s)", "met": fit["wall_seconds"] <= 300,
         "load": fit["load_average"]},
        {"figure": "every customer's recommendations after the fit", "floor": "<= 60 s",
         "now": f"{recs['wall_seconds']} s ({recs['cpu_seconds']} CPU s)", "met": recs["wall_seconds"] <= 60,
         "load": recs["load_average"]},
        {"figure": "hybrid at scale, peak memory", "floor": "<= 6 GB", "now": f"{results['max_rss_gb']} GB",
         "met": results["max_rss_gb"] <= 6, "load": recs["load_average"]},
    ]
    table = Table("stage", "wall s", "CPU s", "of which system", "peak RSS GB", "load before -> after",
                  title=f"hybrid at {args.customers:,} x {args.products:,}")
    for name in ("generate", "dataset", "fit", "recommend_all"):
        r = results[name]
        table.add_row(name, f"{r['wall_seconds']:.1f}", f"{r['cpu_seconds']:.1f}", f"{r['system_seconds']:.1f}",
                      f"{r['peak_rss_gb']:.2f}", f"{r['load_before']:.1f} -> {r['load_average']:.1f}")
    console.print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
