"""Batch top-10 scoring: 100,000 users x 10,000 products, 64 factors + biases, through Recommender.recommend_idx.

Prints the achieved GFLOP/s of the scoring matmuls next to the machine's float32 matmul GFLOP/s (a 4096^3
``np.matmul``) and writes ``benchmarks/results/scoring.json``. Target: <= 15 s end to end (scores, seen-item
masking, argpartition top-k).

    .venv/bin/python benchmarks/scoring.py [--users 100000] [--items 10000] [--factors 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from segrec.recommend.base import Recommender
from segrec.recommend.data import Dataset, IdMap

OUT = Path(__file__).parent / "results" / "scoring.json"


class RandomFactors(Recommender):
    """Scores ``[u, b_u, 1] . [i, 1, b_i]`` exactly as LightFMRecommender does, from random factors."""

    def __init__(self, *, factors: int = 64, seed: int = 0) -> None:
        self.factors = factors
        self.seed = seed

    def _fit(self, dataset: Dataset) -> None:
        rng = np.random.default_rng(self.seed)
        d = self.factors + 2
        self.user_factors_ = rng.standard_normal((dataset.n_users, d), dtype=np.float32)
        self.item_factors_ = rng.standard_normal((dataset.n_items, d), dtype=np.float32)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return self.user_factors_[user_idx] @ self.item_factors_.T


def synthetic_dataset(n_users: int, n_items: int, per_user: int = 20, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_users), per_user)
    cols = rng.integers(0, n_items, len(rows))
    counts = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    counts.sum_duplicates()
    counts.sort_indices()
    ids = lambda prefix, n: np.array([f"{prefix}{i:06d}" for i in range(n)], dtype=object)  # noqa: E731
    return Dataset(
        users=IdMap(ids("U", n_users)), items=IdMap(ids("P", n_items)), interactions=counts, purchases=counts,
        catalogue=pd.DataFrame({"product_id": ids("P", n_items)}), user_attributes=pd.DataFrame(index=range(n_users)),
    )


def matmul_gflops(n: int = 4096, repeats: int = 3) -> float:
    a = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    np.matmul(a, a)  # warm-up
    best = min(_timed(lambda: np.matmul(a, a)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    dataset = synthetic_dataset(args.users, args.items)
    model = RandomFactors(factors=args.factors).fit(dataset)
    users = np.arange(args.users)
    total = _timed(lambda: model.recommend_idx(users, args.k))
    matmul_only = _timed(lambda: [model._score(users[s : s + 2048]) for s in range(0, args.users, 2048)])
    flops = 2.0 * args.users * args.items * (args.factors + 2)
    peak = matmul_gflops()
    result = {
        "users": args.users, "items": args.items, "factors": args.factors, "k": args.k,
        "seconds_total": round(total, 3), "seconds_scoring_matmul": round(matmul_only, 3),
        "scoring_gflops": round(flops / matmul_only / 1e9, 2), "machine_matmul_gflops_4096": round(peak, 2),
        "target_seconds": 15.0, "meets_target": total <= 15.0,
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
        "numpy": np.__version__, "load_average": list(os.getloadavg()),
    }
    print(f"top-{args.k} for {args.users:,} users x {args.items:,} items: {total:.2f} s "
          f"(target 15 s; scoring matmuls {matmul_only:.2f} s = {result['scoring_gflops']} GFLOP/s; "
          f"machine float32 matmul {peak:.1f} GFLOP/s)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
