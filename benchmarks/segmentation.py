"""Segmentation at scale: 1,000,000 customers x 6 features, the whole k sweep + final fit + stability.

Target: <= 20 s on a 2-core machine. Synthetic, seeded Gaussian blobs (5 centres) so the answer is known.
Prints the time of each part and the peak RSS; writes ``benchmarks/results/segmentation.json``.

Run: ``.venv/bin/python benchmarks/segmentation.py [--customers N] [--seed S] [--threads T]``
(``--threads 1`` is faster on a machine shared with other jobs: OpenMP threads spin when cores are busy).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from segrec.segment_selection import stability, sweep_k
from segrec.segmentation import FeaturePreprocessor, Segmenter

RESULTS = Path(__file__).parent / "results" / "segmentation.json"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=None, help="limit native thread pools (default: all)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with threadpool_limits(args.threads) if args.threads else contextlib.nullcontext():
        run(args, load)


def run(args: argparse.Namespace, load: float) -> None:

    X, truth = make_blobs(args.customers, 6, centers=5, cluster_std=1.5, random_state=args.seed)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    names = list(frame.columns)
    timings: dict[str, float] = {}

    began = time.perf_counter()
    Z = FeaturePreprocessor(features=names, log_features=[]).fit(frame).transform(frame)
    timings["preprocess (fit + transform)"] = time.perf_counter() - began

    t = time.perf_counter()
    sweep = sweep_k(Z, range(2, 11), random_state=args.seed)
    timings["k sweep 2..10 (100k sample, n_init=2, silhouette on 4k)"] = time.perf_counter() - t

    t = time.perf_counter()
    model = Segmenter(n_clusters=sweep.chosen, features=names, log_features=[], n_init=5,
                      random_state=args.seed).fit(frame)
    timings[f"final fit k={sweep.chosen} (all rows, n_init=5)"] = time.perf_counter() - t

    t = time.perf_counter()
    stab = stability(frame, model, random_state=args.seed)
    timings["stability (5 seeds + 5 bootstraps on 50k, ARI on all)"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - began

    record = {
        "customers": args.customers, "features": 6, "seed": args.seed, "threads": args.threads,
        "load_average_at_start": round(load, 2),
        "chosen_k": sweep.chosen, "true_k": 5, "why": sweep.why,
        "ari_vs_truth": float(adjusted_rand_score(truth, model.labels_)),
        "stability": stab.to_dict(), "seconds": {k: round(v, 3) for k, v in timings.items()},
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    table = Table(title=f"Segmentation, {args.customers:,} customers x 6 features "
                        f"(threads {args.threads or 'all'}, load average {load:.1f} at start)")
    table.add_column("part")
    table.add_column("seconds", justify="right")
    for part, seconds in timings.items():
        table.add_row(part, f"{seconds:.2f}")
    table.add_row("peak RSS", f"{record['peak_rss_mb']:.0f} MB")
    table.add_row("chosen k / ARI vs truth / mean stability ARI",
                  f"{sweep.chosen} / {record['ari_vs_truth']:.3f} / {stab.mean:.3f}")
    Console().print(table)
    Console().print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
