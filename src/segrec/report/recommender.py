"""Sections 3 and 4 of the report: the recommender against its baselines, and example recommendations."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..columns import Columns
from ..modes import DISCOVER, mode_key
from ..run_dir import RunFiles
from .format import finite, money, num
from .labels import metric_label, model_label
from .reader import RunDir, data_uri

__all__ = ["BASELINE", "EXAMPLES_PER_SEGMENT", "EXAMPLE_ITEMS", "MODEL_DESCRIPTIONS", "examples_section",
           "recommender_section"]

C = Columns
EXAMPLES_PER_SEGMENT = 3
EXAMPLE_ITEMS = 5
BASELINE = "popularity"
#: What each registered model does, in plain words.
MODEL_DESCRIPTIONS = {
    "popularity": "the most-bought products, the same list for everyone",
    "segment_popularity": "the most-bought products of the customer's segment",
    "buy_again": "the customer's own past purchases, most recent first",
    "lightfm_original": "LightFM as the original project set it up",
    "als": "matrix factorisation of who bought what (implicit ALS)",
    "ease": "item-to-item linear model (EASE)",
    "content": "products whose descriptions resemble past purchases",
    "lightfm": "LightFM with product and customer features",
    "hybrid": "a blend of the models above and trend/segment signals, tuned on held-out purchases of its own "
              "training data, re-ranked by a learned ranker when that helps",
}


def recommender_section(run: RunDir) -> dict[str, Any]:
    """Every model's held-out metrics, the chart, the split in words and the lift over the best-sellers list."""
    report = run.json(RunFiles.Evaluation)
    if report is None or not report.get("models"):
        if run.skipped("evaluate"):
            return {"available": False, "missing": f"The evaluation was skipped: {run.skipped('evaluate')}"}
        return {"available": False, "missing": "This run was not evaluated (no evaluation.json), so there is no "
                                               "comparison with the baselines. To add it, run `segrec evaluate "
                                               f"SOURCE --json {run.out / RunFiles.Evaluation}`, then `segrec report "
                                               f"{run.out}`."}
    from .plots import DPI
    from .plots.recommend import plot_model_comparison

    k = int(report.get("k", 10))
    served = report.get("default_model")
    models = report["models"]
    by_name = {m["name"]: m for m in models}
    best = max(models, key=lambda m: _score(m, f"precision@{k}"))
    chart = io.BytesIO()
    plot_model_comparison(models, k, highlight=served).savefig(chart, format="png", dpi=DPI)
    names = [f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"map@{k}", f"hit_rate@{k}", "mrr", "auc",
             "coverage", "diversity", "novelty"]
    others = [m for m in models if m["name"] not in (served, BASELINE)]  # the best-sellers lift is said already
    strongest = max(others, key=lambda m: _score(m, f"precision@{k}")) if others else None
    top = {n: max((m["metrics"].get(n) for m in models if finite(m["metrics"].get(n))), default=None) for n in names}
    return {
        "available": True, "k": k, "mode": report.get("mode"), "split": report.get("split") or {},
        "split_summary": _split_summary(report.get("split") or {}),
        "served": served, "served_model": by_name.get(served), "best": best["name"],
        "baseline_model": by_name.get(BASELINE),
        "metric_names": names, "metric_labels": {n: metric_label(n) for n in names}, "top": top,
        "chart": data_uri(chart.getvalue()), "served_label": model_label(served) if served else None,
        "models": [{**m, "label": model_label(m["name"]), "description": MODEL_DESCRIPTIONS.get(m["name"], "")}
                   for m in models],
        "lift": _lift(by_name.get(served), by_name.get(BASELINE), k),
        "best_lift": _lift(best, by_name.get(BASELINE), k),
        # the honest comparison: the served model against the best of everything else measured in the same run
        "strongest": _lift(by_name.get(served), strongest, k),
        "why": _why(run, by_name.get(served), report),
    }


def _why(run: RunDir, served: Mapping[str, Any] | None, report: Mapping[str, Any]) -> str | None:
    """Why the served model ranks as it does, in one sentence: the deployed bundle's own tuning table when the
    run saved one (the model people get), else that of the evaluated model."""
    from ..recommend.hybrid.tuning import describe_tuning  # late: the report reads files, not models

    config = ((run.json(f"{RunFiles.Bundle}/{RunFiles.Manifest}") or {}).get("model") or {}).get("config") or {}
    tuning = config.get("tuning") or (served or {}).get("tuning")
    if not tuning:
        return None
    return describe_tuning(tuning, mode_key(report.get("mode") or DISCOVER))


def _lift(model: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None, k: int) -> dict[str, Any] | None:
    """Relative gain of ``model`` over ``baseline`` on precision@k and NDCG@k (None when not comparable)."""
    if model is None or baseline is None or model is baseline:
        return None
    out = {"model": model["name"], "label": model_label(model["name"]), "against": model_label(baseline["name"])}
    for metric in (f"precision@{k}", f"ndcg@{k}"):
        mine, base = _score(model, metric), _score(baseline, metric)
        out[metric.split("@")[0]] = mine / base - 1 if base > 0 and math.isfinite(mine) else None
    return out if out["precision"] is not None else None


def _split_summary(split: Mapping[str, Any]) -> str:
    """The split in one plain sentence (the full description is listed under it)."""
    method = split.get("method")
    if method == "temporal" and split.get("cutoff"):
        first = f"Trained on purchases before {str(split['cutoff'])[:10]}, tested on the purchases after it"
    elif method == "random":
        first = f"Trained on a random {1 - float(split.get('test_fraction', 0.2)):.0%} of each customer's products, tested on the rest"
    elif method:
        first = f"Split: {method}"
    else:
        return ""
    parts = [first]
    if "train_rows" in split and "test_rows" in split:
        parts.append(f"{num(split['train_rows'])} training rows, {num(split['test_rows'])} test rows")
    evaluated = split.get("evaluated_users")
    if isinstance(evaluated, Mapping) and evaluated:
        parts.append(" and ".join(f"{num(n)} customers judged in {mode} mode" for mode, n in evaluated.items()))
    if split.get("dropped_cold_rows"):
        parts.append(f"{num(split['dropped_cold_rows'])} test rows of customers or products unseen in training "
                     "were left out (new customers are served by the cold-start path)")
    return "; ".join(parts) + "."


def _score(model: Mapping[str, Any], metric: str) -> float:
    value = (model.get("metrics") or {}).get(metric)
    return float(value) if finite(value) else -math.inf


def examples_section(run: RunDir) -> dict[str, Any]:
    """The top recommendations of a few customers of each segment, with what they bought and spent."""
    recs = run.parquet(RunFiles.Recommendations)
    segments = run.parquet(RunFiles.Segments)
    if recs is None or recs.empty:
        return {"available": False, "missing": "This run saved no recommendations (recommendations.parquet)."}
    recs = recs.assign(**{C.User: recs[C.User].astype(str)})
    if C.ItemName not in recs:
        recs[C.ItemName] = recs[C.Item].astype(str)
    if segments is None:
        groups = [(None, None, sorted(recs[C.User].unique())[:EXAMPLES_PER_SEGMENT])]
        facts = pd.DataFrame()
    else:
        facts = segments.assign(**{C.User: segments[C.User].astype(str)}).set_index(C.User)
        facts = facts[facts.index.isin(set(recs[C.User]))].sort_index()
        groups = [(int(seg), part[C.SegmentName].iloc[0] if C.SegmentName in part else None,
                   list(part.index[:EXAMPLES_PER_SEGMENT])) for seg, part in facts.groupby(C.Segment)]
    chosen = {u for _, _, users in groups for u in users}
    top = recs[recs[C.User].isin(chosen) & (recs[C.Rank] <= EXAMPLE_ITEMS)].sort_values([C.User, C.Rank])
    by_user = {u: part.to_dict("records") for u, part in top.groupby(C.User)}
    return {"available": True, "per_segment": EXAMPLES_PER_SEGMENT, "n_items": EXAMPLE_ITEMS, "segments": [
        {"segment": seg, "name": name, "customers": [
            {"user_id": u, "items": by_user.get(u, []), "facts": _customer_facts(facts, u)} for u in users]}
        for seg, name, users in groups]}


def _customer_facts(facts: pd.DataFrame, user: str) -> list[str]:
    if facts.empty or user not in facts.index:
        return []
    row = facts.loc[user]
    out = []
    if C.Frequency in row and finite(row[C.Frequency]):
        out.append(f"{int(row[C.Frequency])} order{'s' if int(row[C.Frequency]) != 1 else ''}")
    if C.Spending in row and finite(row[C.Spending]):
        out.append(f"spent {money(row[C.Spending])}")
    if C.Recency in row and finite(row[C.Recency]):
        out.append(f"last order {int(row[C.Recency])} days ago")
    return out
