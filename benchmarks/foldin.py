"""Does the fold-in help, and how far is it from a retrain? Held-out purchases, three answers per customer.

Protocol (discover mode, k=10, P@10 = hits / 10 averaged over customers): the events of a generated shop are cut
at two dates, T1 (``--fold-from``, default 80% of the period) and T2 (``--test-from``, 90%).

* the *bundle* is the hybrid fitted on the events before T1 (what the API serves);
* the *new events* are the purchases in [T1, T2) (what ``POST /v1/events`` would have received);
* the *targets* are the products a customer buys from T2 on and had not bought before T2.

For every customer with a new event and a target: the **stale** answer (the bundle as it is: known customers'
``recommend``, new customers' cold start), the **fold-in** (:class:`segrec.recommend.foldin.FoldIn` on the new
events; for new customers without a LightFM term, the default, and with one from their products' mean
embedding), and the
**retrain** (the hybrid fitted on every event before T2). Known and new customers are reported apart.

Run: ``.venv/bin/python benchmarks/foldin.py [--customers 5000 --products 1000 --seed 42]``; writes
``benchmarks/results/foldin.json``. Two hybrid fits: a few minutes on 2 cores.
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
from rich.console import Console
from rich.table import Table

from segrec.columns import Columns
from segrec.data.generate import generate_shop
from segrec.recommend import Dataset
from segrec.recommend.foldin import FoldIn, NewPurchase
from segrec.recommend.hybrid import HybridRecommender

C = Columns
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
K = 10
console = Console()


def fit(events: pd.DataFrame, seed: int) -> HybridRecommender:
    return HybridRecommender(random_state=seed).fit(Dataset.from_events(events), events=events)


def precision(answers: dict[str, list[str]], targets: dict[str, set[str]], users: list[str]) -> float:
    return float(np.mean([len(set(answers[u][:K]) & targets[u]) / K for u in users])) if users else float("nan")


def fold(engine: FoldIn, model: HybridRecommender, new: pd.DataFrame, users: list[str],
         timing: list[float] | None = None) -> dict[str, list[str]]:
    """Fold-in answers from each customer's purchases in [T1, T2) (``timing`` gets the engine's seconds)."""
    dataset = model.dataset_
    end = new[C.Date].max()
    rows = []
    for user in users:
        part = new[new[C.User] == user]
        purchases = []
        for item, group in part.groupby(C.Item):
            index = int(dataset.item_index([item])[0])
            if index >= 0:
                age = (end - group[C.Date].max()).total_seconds() / 86400.0
                purchases.append(NewPurchase(index, len(group), float(group[C.Quantity].sum()),
                                             float(group[C.Spending].sum()), age))
        rows.append((int(dataset.user_index([user])[0]), purchases))
    out = {}
    for start in range(0, len(rows), 256):
        chunk = rows[start:start + 256]
        began = time.perf_counter()
        items, _, _ = engine.recommend(engine.histories(chunk), K)
        if timing is not None:
            timing.append(time.perf_counter() - began)
        for (user, row) in zip(users[start:start + 256], items, strict=True):
            out[user] = list(dataset.items.to_external(row[row >= 0]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--fold-from", type=float, default=0.8, help="T1 as a share of the period")
    parser.add_argument("--test-from", type=float, default=0.9, help="T2 as a share of the period")
    args = parser.parse_args()
    events = generate_shop(customers=args.customers, products=args.products, seed=args.seed).events
    first, last = events[C.Date].min(), events[C.Date].max()
    t1, t2 = first + (last - first) * args.fold_from, first + (last - first) * args.test_from
    base_events, new, test = events[events[C.Date] < t1], events[(events[C.Date] >= t1) & (events[C.Date] < t2)], \
        events[events[C.Date] >= t2]
    before_t2 = events[events[C.Date] < t2]
    bought = before_t2.groupby(C.User)[C.Item].agg(set)
    targets = {u: set(g) - set(bought.get(u, ())) for u, g in test.groupby(C.User)[C.Item]}
    began = time.perf_counter()
    base = fit(base_events, args.seed)
    fit_base = time.perf_counter() - began
    began = time.perf_counter()
    retrained = fit(before_t2, args.seed)
    fit_retrain = time.perf_counter() - began
    known_ids = set(base.dataset_.users.external_ids)
    users = sorted(u for u in new[C.User].unique() if targets.get(u))
    groups = {"known": [u for u in users if u in known_ids], "new": [u for u in users if u not in known_ids]}

    stale = {}
    frame = base.recommend(groups["known"], K)
    for user, part in frame.groupby(C.User):
        stale[str(user)] = part[C.Item].tolist()
    cold = base.recommend_cold(k=K)[C.Item].tolist()
    stale.update({u: cold for u in groups["new"]})
    timing: list[float] = []
    folded = fold(FoldIn(base), base, new, users, timing)
    fold_seconds = sum(timing)
    folded_mean_cf = fold(FoldIn(base, unknown_cf="mean"), base, new, groups["new"])
    retrain = {str(u): p[C.Item].tolist() for u, p in retrained.recommend(users, K).groupby(C.User)}

    result = {"protocol": {"t1": str(t1), "t2": str(t2), "k": K, "mode": "discover", "metric": "P@10 = hits/10"},
              "fit_seconds": {"bundle": round(fit_base, 1), "retrain": round(fit_retrain, 1)},
              "fold_in_ms_per_customer_batched_256": round(1000 * fold_seconds / max(len(users), 1), 2), "groups": {}}
    table = Table(title="Fold-in vs stale vs retrain, P@10 (discover) on purchases after T2")
    for column in ("customers", "n", "stale bundle", "fold-in", "fold-in, mean-embedding LightFM term", "retrain"):
        table.add_column(column, justify="right")
    for name, members in groups.items():
        row = {"n": len(members), "stale": precision(stale, targets, members),
               "fold_in": precision(folded, targets, members), "retrain": precision(retrain, targets, members)}
        if name == "new":
            row["fold_in_mean_cf"] = precision(folded_mean_cf, targets, members)
        result["groups"][name] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        table.add_row(name, str(len(members)), f"{row['stale']:.4f}", f"{row['fold_in']:.4f}",
                      f"{row.get('fold_in_mean_cf', float('nan')):.4f}", f"{row['retrain']:.4f}")
    console.print(table)
    result["config"] = vars(args)
    result["machine"] = {"python": platform.python_version(), "platform": platform.platform()}
    result["machine"]["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "foldin.json").write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {RESULTS / 'foldin.json'}")


if __name__ == "__main__":
    main()
