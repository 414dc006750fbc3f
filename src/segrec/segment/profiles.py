"""Segment profiles an analyst can read: sizes, revenue, feature means/medians in original units, top
categories, and a name plus a suggested action from transparent rules.

Naming rules compare a segment's **median** of a feature with the **population median** (a ratio; a
population median of 0 counts as 1 so the ratio stays finite). The first rule that matches names the
segment; a rule that needs a feature the data lacks (e.g. age in Online Retail) never matches. Rules, in
order (see :data:`RULES`):

1. *Affluent big spenders*: income >= 1.5x and spending >= 1.5x.
2. *High-value loyal*: spending >= 1.5x and frequency >= 1.5x and recency <= 1x.
3. *At risk: big spenders gone quiet*: spending >= 1.5x and recency > 1.5x.
4. *New / promising*: tenure <= 0.5x and recency <= 1x (recent first purchase, came back or just arrived).
5. *Young engaged*: age <= 0.8x and engagement (clicks, time spent or engagement score) >= 1.2x, or, with
   no engagement data, frequency >= 1x.
6. *Big-basket occasional*: average basket >= 1.5x and frequency <= 1x.
7. *Gone quiet*: recency >= 2x.
8. *Budget occasional*: spending <= 0.75x and frequency <= 1x.
9. *Frequent regulars*: frequency >= 1.5x.
10. *Affluent prospects*: income >= 1.3x.
11. *Core customers*: everything else.

Duplicate names get a suffix " (2)", " (3)" in segment order, so names are unique.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..columns import Columns
from ..features.customers import line_spending

__all__ = ["RULES", "NamingRule", "name_segments", "relative_means", "segment_profiles"]

C = Columns
_ENGAGEMENT = (C.Clicks, C.TimeSpent, C.Engagement)
Ratios = Mapping[str, float]


@dataclass(frozen=True)
class NamingRule:
    """A segment name, its suggested action, the condition in words and as code."""

    name: str
    action: str
    condition: str
    test: Callable[[Ratios], bool]


def _has(r: Ratios, *cols: str) -> bool:
    return all(c in r for c in cols)


def _young_engaged(r: Ratios) -> bool:
    engaged = [r[c] >= 1.2 for c in _ENGAGEMENT if c in r]
    return _has(r, C.Age) and r[C.Age] <= 0.8 and (any(engaged) if engaged else r[C.Frequency] >= 1.0)


RULES: tuple[NamingRule, ...] = (
    NamingRule("Affluent big spenders", "Premium range and personal service; upsell higher-end items.",
               "income >= 1.5x and spending >= 1.5x the population median",
               lambda r: _has(r, C.Income) and r[C.Income] >= 1.5 and r[C.Spending] >= 1.5),
    NamingRule("High-value loyal", "Retain and reward: VIP perks and early access; no blanket discounts.",
               "spending >= 1.5x and frequency >= 1.5x and recency <= 1x the population median",
               lambda r: r[C.Spending] >= 1.5 and r[C.Frequency] >= 1.5 and r.get(C.Recency, 0) <= 1.0),
    NamingRule("At risk: big spenders gone quiet",
               "Win back now: personal outreach and an offer on their favourite categories.",
               "spending >= 1.5x and recency > 1.5x the population median",
               lambda r: r[C.Spending] >= 1.5 and r.get(C.Recency, 0) > 1.5),
    NamingRule("New / promising", "Nurture: onboarding series and a second-purchase incentive.",
               "tenure <= 0.5x and recency <= 1x the population median",
               lambda r: _has(r, C.Tenure, C.Recency) and r[C.Tenure] <= 0.5 and r[C.Recency] <= 1.0),
    NamingRule("Young engaged", "Engage on mobile and social; recommend trending and new items.",
               "age <= 0.8x and engagement >= 1.2x (or frequency >= 1x without engagement data)",
               _young_engaged),
    NamingRule("Big-basket occasional", "Upsell premium items and remind them at their usual interval.",
               "average basket >= 1.5x and frequency <= 1x the population median",
               lambda r: r[C.AvgBasket] >= 1.5 and r[C.Frequency] <= 1.0),
    NamingRule("Gone quiet", "Low-cost reactivation e-mail; stop paid retargeting if there is no response.",
               "recency >= 2x the population median", lambda r: r.get(C.Recency, 0) >= 2.0),
    NamingRule("Budget occasional", "Bundles and free-shipping thresholds to lift the basket value.",
               "spending <= 0.75x and frequency <= 1x the population median",
               lambda r: r[C.Spending] <= 0.75 and r[C.Frequency] <= 1.0),
    NamingRule("Frequent regulars", "Cross-sell and loyalty points to grow each basket.",
               "frequency >= 1.5x the population median", lambda r: r[C.Frequency] >= 1.5),
    NamingRule("Affluent prospects", "Show premium recommendations: they can afford more than they buy.",
               "income >= 1.3x the population median", lambda r: _has(r, C.Income) and r[C.Income] >= 1.3),
    NamingRule("Core customers", "Keep engaged with personalised recommendations.", "no other rule matched",
               lambda r: True),
)


def _ratios(segment: pd.Series, population: pd.Series) -> dict[str, float]:
    pop = population.where(population != 0, 1.0)
    return {str(k): float(v) for k, v in (segment / pop).items() if np.isfinite(v)}


def name_segments(features: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Name, action and matched rule of each segment (index = segment id), names made unique."""
    numeric = features.select_dtypes("number")
    return name_from_medians(numeric.groupby(np.asarray(labels)).median(), numeric.median())


def name_from_medians(medians: pd.DataFrame, population: pd.Series) -> pd.DataFrame:
    """:func:`name_segments` from per-segment medians (index = segment id) and the population's medians, so an
    engine that aggregates elsewhere (Spark) names segments by the very same rules."""
    rows, seen = [], {}
    for segment, med in medians.iterrows():
        ratios = _ratios(med, population)
        rule = next(rule for rule in RULES if rule.test(ratios))
        seen[rule.name] = seen.get(rule.name, 0) + 1
        name = rule.name if seen[rule.name] == 1 else f"{rule.name} ({seen[rule.name]})"
        rows.append({C.Segment: segment, C.SegmentName: name, C.Action: rule.action, "rule": rule.condition})
    return pd.DataFrame(rows).set_index(C.Segment)


def relative_means(features: pd.DataFrame, labels: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """Segment mean / population mean of each column (1.0 = average), for the heat-map."""
    data = features[columns].astype("float64")
    pop = data.mean().replace(0, np.nan)
    return (data.groupby(np.asarray(labels)).mean() / pop).fillna(1.0)


def segment_profiles(
    features: pd.DataFrame, labels: np.ndarray, events: pd.DataFrame | None = None, *, top_n: int = 3
) -> pd.DataFrame:
    """One row per segment: name, action, size/share, revenue/share, mean_* and median_* of each feature
    (original units), and the top categories by revenue (top products when the data has no categories).
    """
    labels = np.asarray(labels)
    numeric = features.select_dtypes(include=["number", "bool"]).astype("float64")
    grouped = numeric.groupby(labels)
    size = grouped.size()
    revenue = grouped[C.Spending].sum()
    table = pd.DataFrame({
        C.Size: size, C.Share: size / size.sum(), C.Revenue: revenue, C.RevenueShare: revenue / revenue.sum(),
    })
    table = name_segments(features, labels).join(table)
    table = table.join(grouped.mean().add_prefix("mean_")).join(grouped.median().add_prefix("median_"))
    if events is not None:
        table[C.TopCategories] = top_categories(events, pd.Series(labels, index=features.index), top_n)
    table.index.name = C.Segment
    return table


def top_categories(events: pd.DataFrame, segment_of: pd.Series, top_n: int = 3) -> pd.Series:
    """"name (share of segment revenue)" of the ``top_n`` categories (or products) of each segment."""
    by = C.Category
    if by not in events.columns or events[by].astype("string").fillna("unknown").eq("unknown").all():
        by = C.ItemName if C.ItemName in events.columns else C.Item
    frame = pd.DataFrame({
        C.Segment: events[C.User].astype("string").map(segment_of.set_axis(segment_of.index.astype("string"))),
        by: events[by].astype("string"), "spend": line_spending(events),
    }).dropna(subset=[C.Segment])
    totals = frame.groupby([C.Segment, by])["spend"].sum()
    out = {}
    for segment, part in totals.groupby(level=0):
        share = (part / part.sum()).droplevel(0).sort_values(ascending=False, kind="stable").head(top_n)
        out[int(segment)] = "; ".join(f"{name} ({value:.0%})" for name, value in share.items())
    return pd.Series(out, dtype="string")
