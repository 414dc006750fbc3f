"""Section 2 of the report: the customer segments (profiles, how k was chosen, stability, figures, RFM view)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..columns import Columns
from ..run_dir import SEGMENTATION_FIGURES, RunFiles
from .format import finite
from .labels import feature_label
from .reader import RunDir

__all__ = ["FIGURES", "PROFILE_COLUMNS", "segmentation_section"]

C = Columns

#: Segmentation figures written by :func:`segrec.engines.local.segment.write_outputs`, and what to take from them.
FIGURES = {
    "k_selection": (SEGMENTATION_FIGURES["k_selection"], "How many segments",
                    "Top: each extra segment explains less of the differences between customers; the bend "
                    "(elbow) is where adding segments stops paying off. Bottom: higher means customers sit "
                    "closer to their own segment than to the next one. The circled k is the one we kept."),
    "projection": (SEGMENTATION_FIGURES["projection"], "The segments on one map",
                   "Each dot is a customer, placed so that similar customers are close together. Clear "
                   "colour blocks mean the segments are really different groups of people."),
    "heatmap": (SEGMENTATION_FIGURES["heatmap"], "What makes each segment different",
                "Each cell compares the segment with the average customer: 1.00 is average, red is above "
                "average, blue is below. Read down a segment's column to see its character."),
    "sizes": (SEGMENTATION_FIGURES["sizes"], "Who brings the revenue",
              "A segment whose revenue bar is longer than its customer bar is worth more than an average "
              "customer: protect it. The reverse is where there is room to grow."),
}
#: Profile columns shown in the segment table: (feature, label, format).
PROFILE_COLUMNS = tuple((f, feature_label(f), fmt) for f, fmt in (
    (C.Spending, "money"), (C.Frequency, "num"), (C.Recency, "num"), (C.AvgBasket, "money"), (C.Age, "num"),
    (C.Income, "money")))


def segmentation_section(run: RunDir) -> dict[str, Any]:
    """Segment profiles, the choice of k, stability, the figures and the RFM view (or what is missing)."""
    report = run.json(RunFiles.Segmentation)
    if report is None:
        why = run.skipped("segment")
        return {"available": False, "missing": f"Segmentation was skipped: {why}" if why else
                "This run has no segmentation (segmentation.json)."}
    segments = run.parquet(RunFiles.Segments)
    profiles = report.get("profiles") or []
    rfm_of = _main_rfm_group(segments)
    shown = [(f, label, fmt) for f, label, fmt in PROFILE_COLUMNS
             if any(finite(p.get(f"median_{f}")) for p in profiles)]
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


def _main_rfm_group(segments: pd.DataFrame | None) -> dict[int, str]:
    if segments is None or C.RFMGroup not in segments:
        return {}
    modes = segments.groupby(C.Segment)[C.RFMGroup].agg(lambda s: s.value_counts().index[0])
    return {int(k): str(v) for k, v in modes.items()}


#: Upper bounds (share of the fullest cell) of the RFM grid's five shades; the shades and their text colours are
#: chosen so every cell keeps a 4.5:1 contrast (a continuous scale has a middle band where neither black nor white
#: text does).
RFM_LEVELS = (0.1, 0.3, 0.55, 0.8)


def _level(share: float) -> int:
    return sum(share >= bound for bound in RFM_LEVELS)


def _rfm(segments: pd.DataFrame | None) -> dict[str, Any] | None:
    """The R x F grid of customer counts and the named groups (customers, share, revenue share)."""
    if segments is None or C.RFMScore not in segments or C.RFMGroup not in segments:
        return None
    score = segments[C.RFMScore].astype(str)
    r, f = score.str[0].astype(int), score.str[1].astype(int)
    counts = pd.crosstab(r, f).reindex(index=range(5, 0, -1), columns=range(1, 6), fill_value=0)
    peak = max(int(counts.to_numpy().max()), 1)
    grid = [{"r": int(ri), "cells": [{"count": int(v), "level": _level(v / peak)} for v in row]}
            for ri, row in zip(counts.index, counts.to_numpy(), strict=True)]
    spend = segments[C.Spending] if C.Spending in segments else pd.Series(0.0, index=segments.index)
    groups = (pd.DataFrame({"group": segments[C.RFMGroup].astype(str), "spend": spend})
              .groupby("group")["spend"].agg(["size", "sum"]).sort_values("sum", ascending=False))
    total, revenue = groups["size"].sum(), groups["sum"].sum()
    return {"grid": grid, "groups": [
        {"name": name, "customers": int(row["size"]), "share": row["size"] / total,
         "revenue_share": row["sum"] / revenue if revenue else None} for name, row in groups.iterrows()]}
