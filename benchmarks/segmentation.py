"""Segmentation at scale: 1,000,000 customers x 6 features, the whole k sweep + final fit + stability.

Floor (issue 16): <= 10 s on a 2-core machine, with the same chosen k and ARI figures. Synthetic, seeded
Gaussian blobs (5 centres) so the answer is known. Prints the wall and CPU seconds of each part and the peak
RSS; writes ``benchmarks/results/segmentation.json``. ``--same-as FILE`` compares the chosen k, the reason and
every ARI with another run's JSON (e.g. one of an older checkout: the script also runs with
``PYTHONPATH=<old checkout>/src``, where sweep_k and stability have no n_jobs) and fails on any difference.

Run: ``.venv/bin/python benchmarks/segmentation.py [--customers N] [--seed S] [--threads T] [--jobs J]``
(``--threads 1`` limits native pools, which matters for the final fit: OpenMP threads spin when cores are
busy; ``--jobs`` is the number of K-Means fits of the sweep and the stability check run side by side).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from segrec.segment.segmenter import FeaturePreprocessor, Segmenter
from segrec.segment.selection import stability, sweep_k

RESULTS = Path(__file__).parent / "results" / "segmentation.json"
FLOOR_SECONDS = 10.0
SAME = ("chosen_k", "why", "ari_vs_truth", "stability")  # what must not change when the code gets faster


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=None, help="limit native thread pools (default: all)")
    parser.add_argument("--jobs", type=int, default=None, help="fits side by side (default: one per core)")
    parser.add_argument("--same-as", type=Path, help="another run's JSON whose k and ARI figures must be equal")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with threadpool_limits(args.threads) if args.threads else contextlib.nullcontext():
        run(args, load)


def run(args: argparse.Namespace, load: float) -> None:

    X, truth = make_blobs(args.customers, 6, centers=5, cluster_std=1.5, random_state=args.seed)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    names = list(frame.columns)
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    jobs = {"n_jobs": args.jobs} if "n_jobs" in inspect.signature(sweep_k).parameters else {}

    def timed(part: str, fn):
        wall, used = time.perf_counter(), time.process_time()
        out = fn()
        timings[part], cpu[part] = time.perf_counter() - wall, time.process_time() - used
        return out

    Z = timed("preprocess (fit + transform)",
              lambda: FeaturePreprocessor(features=names, log_features=[]).fit(frame).transform(frame))
    sweep = timed("k sweep 2..10 (100k sample, n_init=2, silhouette on 4k)",
                  lambda: sweep_k(Z, range(2, 11), random_state=args.seed, **jobs))
    model = timed("final fit (all rows, n_init=5)",
                  lambda: Segmenter(n_clusters=sweep.chosen, features=names, log_features=[], n_init=5,
                                    random_state=args.seed).fit(frame))
    stab = timed("stability (5 seeds + 5 bootstraps on 50k, ARI on all)",
                 lambda: stability(frame, model, random_state=args.seed, **jobs))
    timings["total"], cpu["total"] = sum(timings.values()), sum(cpu.values())

    record = {
        "customers": args.customers, "features": 6, "seed": args.seed, "threads": args.threads,
        "jobs": args.jobs if jobs else "n/a (checkout without n_jobs)",
        "load_average_at_start": round(load, 2), "load_average_at_end": round(os.getloadavg()[0], 2),
        "chosen_k": sweep.chosen, "true_k": 5, "why": sweep.why,
        "ari_vs_truth": float(adjusted_rand_score(truth, model.labels_)),
        "stability": stab.to_dict(), "seconds": {k: round(v, 3) for k, v in timings.items()},
        "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()}, "floor_seconds": FLOOR_SECONDS,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "floors": [{"figure": f"segmentation, {args.customers:,} customers", "floor": f"<= {FLOOR_SECONDS:g} s",
                    "now": f"{timings['total']:.2f} s ({cpu['total']:.2f} CPU s)",
                    "met": timings["total"] <= FLOOR_SECONDS, "load": round(load, 1)}],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    table = Table(title=f"Segmentation, {args.customers:,} customers x 6 features (threads "
                        f"{args.threads or 'all'}, jobs {(args.jobs or 'one per core') if jobs else 'n/a'}, load average {load:.1f} "
                        f"-> {record['load_average_at_end']:.1f})")
    table.add_column("part")
    table.add_column("wall s", justify="right")
    table.add_column("CPU s", justify="right")
    for part, seconds in timings.items():
        table.add_row(part, f"{seconds:.2f}", f"{cpu[part]:.2f}")
    table.add_row("peak RSS", f"{record['peak_rss_mb']:.0f} MB", "")
    table.add_row("chosen k / ARI vs truth / mean stability ARI",
                  f"{sweep.chosen} / {record['ari_vs_truth']:.3f} / {stab.mean:.3f}", "")
    Console(width=max(Console().width, 110)).print(table)
    Console().print(f"wrote {args.out}")
    if args.same_as:
        other = json.loads(args.same_as.read_text(encoding="utf-8"))
        differ = [key for key in SAME if other[key] != record[key]]
        print(f"same chosen k, reason and ARI figures (to the bit) as {args.same_as}: {not differ}")
        record["floors"].append({"figure": f"same k and ARI figures as {args.same_as.name}", "floor": "to the bit",
                                 "now": "identical" if not differ else f"differ: {differ}", "met": not differ,
                                 "load": round(load, 1)})
        args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if differ:
            sys.exit(f"differs from {args.same_as} in {differ}")


if __name__ == "__main__":
    main()
