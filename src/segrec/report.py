"""The run report: one self-contained HTML page that a manager can open, read in five minutes and forward.

:func:`build_report` reads what ``segrec run`` wrote into a directory and renders ``report.html`` there:
headline numbers, the data, the segments, the recommender against its baselines, example recommendations
and how to reproduce the run. Plots are embedded as base64 PNGs and the CSS is inline, so the file opens from
``file://`` or an e-mail attachment with nothing else. Every input is optional: a section whose input is
missing says so instead of failing (a run without evaluation, data without demographics).

Inputs (all in the run directory): ``validation.json``, ``segmentation.json``, ``segments.parquet``, the
segmentation PNGs, ``evaluation.json``, ``recommendations.parquet`` and ``bundle/manifest.json``.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from collections.abc import Mapping
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from . import __version__
from .columns import Columns
from .exceptions import InputError
from .segmentation import atomic_path

__all__ = ["REPORT_NAME", "build_report", "report_context"]

C = Columns
REPORT_NAME = "report.html"
EXAMPLES_PER_SEGMENT = 3
EXAMPLE_ITEMS = 5
BASELINE = "popularity"

#: Segmentation figures written by :func:`segrec.pipeline_segment.write_outputs`, and what to take from them.
FIGURES = {
    "k_selection": ("k_selection.png", "How many segments",
                    "Left: each extra segment explains less of the differences between customers; the bend "
                    "(elbow) is where adding segments stops paying off. Right: higher means customers sit "
                    "closer to their own segment than to the next one. The circled k is the one we kept."),
    "projection": ("projection.png", "The segments on one map",
                   "Each dot is a customer, placed so that similar customers are close together. Clear "
                   "colour blocks mean the segments are really different groups of people."),
    "heatmap": ("profile_heatmap.png", "What makes each segment different",
                "Each cell compares the segment with the average customer: 1.00 is average, red is above "
                "average, blue is below. Read across a row to see a segment's character."),
    "sizes": ("sizes_revenue.png", "Who brings the revenue",
              "A segment whose revenue bar is longer than its customer bar is worth more than an average "
              "customer: protect it. The reverse is where there is room to grow."),
}
#: Profile columns shown in the segment table: (feature, label, format).
PROFILE_COLUMNS = (
    (C.Spending, "Spend", "money"), (C.Frequency, "Orders", "num"), (C.Recency, "Days since last order", "num"),
    (C.AvgBasket, "Basket", "money"), (C.Age, "Age", "num"), (C.Income, "Income", "money"),
)
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
    "hybrid": "LightFM candidates, scored with product text, re-ranked for the customer's segment",
}


# ------------------------------------------------------------------------------------------------ public
def build_report(out_dir: str | os.PathLike[str], *, path: str | os.PathLike[str] | None = None) -> Path:
    """Render the report of the run in ``out_dir`` to ``path`` (default ``out_dir/report.html``), atomically."""
    out = Path(out_dir)
    if not out.is_dir():
        raise InputError(f"no run directory at {out}; run `segrec run SOURCE --out {out}` first")
    html = render(report_context(out))
    target = Path(path) if path is not None else out / REPORT_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        Path(tmp).write_text(html, encoding="utf-8")
    return target


def report_context(out: Path) -> dict[str, Any]:
    """Everything the template shows, from the files in ``out`` (each section says when its input is missing)."""
    run = _Run(out)
    data = _data_section(run)
    segmentation = _segmentation_section(run)
    recommender = _recommender_section(run)
    context = {
        "title": f"segrec report: {out.resolve().name}",
        "data": data,
        "segmentation": segmentation,
        "recommender": recommender,
        "examples": _examples_section(run),
        "reproduce": _reproduce_section(run),
    }
    context["headline"] = _headline(data, segmentation, recommender)
    context["takeaways"] = _takeaways(data, segmentation, recommender)
    return context


def render(context: Mapping[str, Any]) -> str:
    """The HTML text of the report (Jinja2, autoescaped)."""
    env = Environment(loader=PackageLoader("segrec", "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_num, money=_money, pct=_pct, metric=_metric)
    return env.get_template("report.html.j2").render(**context)


# ------------------------------------------------------------------------------------------------ inputs
class _Run:
    """Lazy, forgiving access to a run directory: a missing or unreadable file reads as ``None``."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def json(self, name: str) -> dict[str, Any] | None:
        try:
            value = json.loads((self.out / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def parquet(self, name: str) -> pd.DataFrame | None:
        try:
            return pd.read_parquet(self.out / name)
        except (OSError, ValueError, ImportError):
            return None

    def png(self, name: str) -> str | None:
        try:
            return _data_uri((self.out / name).read_bytes())
        except OSError:
            return None


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ---------------------------------------------------------------------------------------------- sections
def _data_section(run: _Run) -> dict[str, Any]:
    report = run.json("validation.json")
    if report is None:
        return {"available": False, "missing": "This run has no ingestion report (validation.json), so the "
                                               "counts of rows read and rejected are not shown."}
    read = report.get("rows_read") or 0
    rejected = report.get("rows_rejected") or 0
    missing = [c for c in report.get("columns_missing", []) if c in (C.Age, C.Gender, C.Location, C.Income)]
    return {
        "available": True, "source": report.get("source"), "format": report.get("format"),
        "rows_read": read, "rows_accepted": report.get("rows_accepted"), "rows_rejected": rejected,
        "rejected_share": rejected / read if read else 0.0,
        "rejected_by_reason": sorted((report.get("rejected_by_reason") or {}).items(), key=lambda kv: -kv[1]),
        "date_min": (report.get("date_min") or "")[:10], "date_max": (report.get("date_max") or "")[:10],
        "days": _days(report.get("date_min"), report.get("date_max")),
        "customers": report.get("n_users"), "products": report.get("n_products"),
        "missing_demographics": missing, "notes": report.get("notes") or [],
    }


def _segmentation_section(run: _Run) -> dict[str, Any]:
    report = run.json("segmentation.json")
    if report is None:
        return {"available": False, "missing": "This run has no segmentation (segmentation.json)."}
    segments = run.parquet("segments.parquet")
    profiles = report.get("profiles") or []
    rfm_of = _main_rfm_group(segments)
    shown = [(f, label, fmt) for f, label, fmt in PROFILE_COLUMNS
             if any(_finite(p.get(f"median_{f}")) for p in profiles)]
    rows = [{
        "segment": p.get(C.Segment), "name": p.get(C.SegmentName), "action": p.get(C.Action),
        "rule": p.get("rule"), "size": p.get(C.Size), "share": p.get(C.Share), "revenue": p.get(C.Revenue),
        "revenue_share": p.get(C.RevenueShare), "top_categories": p.get(C.TopCategories),
        "values": [(p.get(f"median_{f}"), fmt) for f, _, fmt in shown], "rfm_group": rfm_of.get(p.get(C.Segment)),
    } for p in profiles]
    stab = report.get("stability") or {}
    used = report.get("features_used") or []
    labels = {f: label.lower() for f, label, _ in PROFILE_COLUMNS}
    return {
        "available": True, "k": report.get("chosen_k"), "why": report.get("why"), "customers": report.get("n_customers"),
        "features_used": [labels.get(f, f.replace("_", " ")) for f in used],
        "imputed": report.get("imputed_with_median") or {},
        "no_demographics": not any(f in used for f in (C.Age, C.Income)),
        "stability": stab.get("mean_ari"), "stable": stab.get("stable"),
        "profile_labels": [label for _, label, _ in shown], "profiles": rows,
        "revenue": sum(p.get(C.Revenue) or 0.0 for p in profiles),
        "figures": {key: {"title": title, "caption": caption, "src": run.png(name)}
                    for key, (name, title, caption) in FIGURES.items()},
        "rfm": _rfm(segments),
    }


def _days(first: str | None, last: str | None) -> int | None:
    try:
        return (pd.Timestamp(last) - pd.Timestamp(first)).days + 1 if first and last else None
    except ValueError:
        return None


def _main_rfm_group(segments: pd.DataFrame | None) -> dict[int, str]:
    if segments is None or C.RFMGroup not in segments:
        return {}
    modes = segments.groupby(C.Segment)[C.RFMGroup].agg(lambda s: s.value_counts().index[0])
    return {int(k): str(v) for k, v in modes.items()}


def _rfm(segments: pd.DataFrame | None) -> dict[str, Any] | None:
    """The R x F grid of customer counts and the named groups (customers, share, revenue share)."""
    if segments is None or C.RFMScore not in segments or C.RFMGroup not in segments:
        return None
    score = segments[C.RFMScore].astype(str)
    r, f = score.str[0].astype(int), score.str[1].astype(int)
    counts = pd.crosstab(r, f).reindex(index=range(5, 0, -1), columns=range(1, 6), fill_value=0)
    peak = max(int(counts.to_numpy().max()), 1)
    grid = [{"r": int(ri), "cells": [{"count": int(v), "alpha": round(0.08 + 0.8 * v / peak, 2)} for v in row]}
            for ri, row in zip(counts.index, counts.to_numpy(), strict=True)]
    spend = segments[C.Spending] if C.Spending in segments else pd.Series(0.0, index=segments.index)
    groups = (pd.DataFrame({"group": segments[C.RFMGroup].astype(str), "spend": spend})
              .groupby("group")["spend"].agg(["size", "sum"]).sort_values("sum", ascending=False))
    total, revenue = groups["size"].sum(), groups["sum"].sum()
    return {"grid": grid, "groups": [
        {"name": name, "customers": int(row["size"]), "share": row["size"] / total,
         "revenue_share": row["sum"] / revenue if revenue else None} for name, row in groups.iterrows()]}


def _recommender_section(run: _Run) -> dict[str, Any]:
    report = run.json("evaluation.json")
    if report is None or not report.get("models"):
        return {"available": False, "missing": "This run was not evaluated (no evaluation.json), so there is no "
                                               "comparison with the baselines. Run `segrec evaluate` to add it."}
    from .plots.recommend import plot_model_comparison

    k = int(report.get("k", 10))
    served = report.get("default_model")
    models = report["models"]
    by_name = {m["name"]: m for m in models}
    best = max(models, key=lambda m: _score(m, f"precision@{k}"))
    chart = io.BytesIO()
    plot_model_comparison(models, k, highlight=served).savefig(chart, format="png", dpi=90)
    names = [f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"map@{k}", f"hit_rate@{k}", "mrr", "auc",
             "coverage", "diversity", "novelty"]
    top = {n: max((m["metrics"].get(n) for m in models if _finite(m["metrics"].get(n))), default=None) for n in names}
    return {
        "available": True, "k": k, "mode": report.get("mode"), "split": report.get("split") or {},
        "split_summary": _split_summary(report.get("split") or {}),
        "served": served, "served_model": by_name.get(served), "best": best["name"],
        "baseline_model": by_name.get(BASELINE),
        "metric_names": names, "top": top, "chart": _data_uri(chart.getvalue()),
        "models": [{**m, "description": MODEL_DESCRIPTIONS.get(m["name"], "")} for m in models],
        "lift": _lift(by_name.get(served), by_name.get(BASELINE), k),
        "best_lift": _lift(best, by_name.get(BASELINE), k),
    }


def _lift(model: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None, k: int) -> dict[str, Any] | None:
    """Relative gain of ``model`` over ``baseline`` on precision@k and NDCG@k (None when not comparable)."""
    if model is None or baseline is None or model is baseline:
        return None
    out = {"model": model["name"]}
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
        parts.append(f"{_num(split['train_rows'])} training rows, {_num(split['test_rows'])} test rows")
    evaluated = split.get("evaluated_users")
    if isinstance(evaluated, Mapping) and evaluated:
        parts.append(" and ".join(f"{_num(n)} customers judged in {mode} mode" for mode, n in evaluated.items()))
    if split.get("dropped_cold_rows"):
        parts.append(f"{_num(split['dropped_cold_rows'])} test rows of customers or products unseen in training "
                     "were left out (new customers are served by the cold-start path)")
    return "; ".join(parts) + "."


def _score(model: Mapping[str, Any], metric: str) -> float:
    value = (model.get("metrics") or {}).get(metric)
    return float(value) if _finite(value) else -math.inf


def _examples_section(run: _Run) -> dict[str, Any]:
    recs = run.parquet("recommendations.parquet")
    segments = run.parquet("segments.parquet")
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
    if C.Frequency in row and _finite(row[C.Frequency]):
        out.append(f"{int(row[C.Frequency])} order{'s' if int(row[C.Frequency]) != 1 else ''}")
    if C.Spending in row and _finite(row[C.Spending]):
        out.append(f"spent {_money(row[C.Spending])}")
    if C.Recency in row and _finite(row[C.Recency]):
        out.append(f"last order {int(row[C.Recency])} days ago")
    return out


def _reproduce_section(run: _Run) -> dict[str, Any]:
    data = run.json("validation.json") or {}
    evaluation = run.json("evaluation.json") or {}
    manifest = run.json("bundle/manifest.json") or {}
    source = data.get("source")
    versions = evaluation.get("versions") or {}
    if not versions:
        from .evaluation.runner import package_versions

        versions = package_versions()
    params = manifest.get("params") or {}
    command = f"segrec run {source if source and not source.startswith('<') else 'SOURCE'} --out {run.out}"
    return {
        "command": command, "versions": versions, "report_version": __version__,
        "bundle": {"created_at": manifest.get("created_at"), "data_fingerprint": manifest.get("data_fingerprint"),
                   "segrec_version": manifest.get("segrec_version"), "model": (manifest.get("model") or {}).get("class"),
                   "params": params} if manifest else None,
        "data_hashes": {k: v for k, v in (evaluation.get("data") or {}).items() if k.endswith("sha256")},
    }


# -------------------------------------------------------------------------------------- headline, summary
def _headline(data: dict[str, Any], seg: dict[str, Any], rec: dict[str, Any]) -> list[dict[str, str]]:
    customers = data.get("customers") if data["available"] else seg.get("customers")
    cards = [{"label": "Customers", "value": _num(customers),
              "note": f"{data['date_min']} to {data['date_max']}" if data["available"] else ""}]
    if seg["available"]:
        cards.append({"label": "Revenue", "value": _money(seg["revenue"]), "note": "in the shop's currency"})
        cards.append({"label": "Segments", "value": _num(seg["k"]),
                      "note": "stable across reruns" if seg.get("stable") else "check stability below"})
    lift = rec.get("best_lift") if rec["available"] else None
    if lift:
        cards.append({"label": "Recommendation lift", "value": _signed_pct(lift["precision"]),
                      "note": f"{lift['model']}{' (served)' if lift['model'] == rec['served'] else ''} vs a "
                              f"best-sellers list, precision@{rec['k']}"})
    return cards


def _takeaways(data: dict[str, Any], seg: dict[str, Any], rec: dict[str, Any]) -> list[str]:
    out = []
    if seg["available"] and seg["profiles"]:
        top = max(seg["profiles"], key=lambda p: p["revenue_share"] or 0)
        out.append(f"“{top['name']}” are {_pct(top['share'])} of customers but bring {_pct(top['revenue_share'])} "
                   f"of revenue. Suggested: {top['action']}")
    lift = rec.get("lift") if rec["available"] else None
    if lift:
        direction = "more" if lift["precision"] >= 0 else "fewer"
        out.append(f"The served recommender ({lift['model']}) puts {_pct(abs(lift['precision']))} {direction} "
                   f"products customers actually bought next in its top {rec['k']} than a best-sellers list.")
    if data["available"] and data["rows_rejected"]:
        reason = data["rejected_by_reason"][0][0] if data["rejected_by_reason"] else "various reasons"
        out.append(f"{_num(data['rows_rejected'])} of {_num(data['rows_read'])} rows "
                   f"({_pct(data['rejected_share'])}) were set aside while checking the data, mostly: {reason}.")
    return out


# ------------------------------------------------------------------------------------------------ format
def _finite(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool | np.bool_) and math.isfinite(value)


def _num(value: Any, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if _finite(value) else "n/a"


def _money(value: Any) -> str:
    return _num(value, 2 if _finite(value) and abs(value) < 1000 else 0)


def _pct(value: Any) -> str:
    return f"{value:.1%}" if _finite(value) else "n/a"


def _signed_pct(value: Any) -> str:
    return f"{value:+.0%}" if _finite(value) else "n/a"


def _metric(value: Any) -> str:
    return f"{value:.3f}" if _finite(value) else "n/a"
