"""One row of behavioural and demographic features per customer, built from the canonical event frame.

Why a separate step: segmentation, RFM and profiles all read the same per-customer numbers, and an analyst
must be able to check them by hand. Every choice that changes a number is explicit:

* recency is counted back from a fixed ``analysis_date`` (default: the last date in the data), so a rerun
  on the same file gives the same table;
* frequency counts distinct orders; a line without an order id counts as one order per customer and day;
* a demographic or engagement column that is mostly missing is dropped with a warning; otherwise missing
  values are filled with the median, listed in ``CustomerFeatures.imputed`` and, for age and income,
  flagged in an indicator column (``age_missing``). Nothing is imputed or dropped silently.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..columns import Columns
from ..exceptions import InputError, MissingColumnError, SegrecWarning

__all__ = [
    "MISSING_INDICATORS", "CustomerFeatures", "build_customer_features", "customer_features", "line_spending",
]

#: Indicator column written next to an imputed demographic.
MISSING_INDICATORS = {Columns.Age: Columns.AgeMissing, Columns.Income: Columns.IncomeMissing}

#: Optional per-customer features: output column -> (event column, how it is aggregated).
_OPTIONAL = {
    Columns.Age: (Columns.Age, "median"),
    Columns.Income: (Columns.Income, "median"),
    Columns.Clicks: (Columns.Clicks, "mean"),
    Columns.TimeSpent: (Columns.TimeSpent, "mean"),
    Columns.Engagement: (Columns.Engagement, "mean"),
    Columns.AbandonRate: (Columns.AbandonedCart, "mean"),
}


@dataclass(frozen=True)
class CustomerFeatures:
    """The feature table plus what happened to each optional column (for reports)."""

    frame: pd.DataFrame
    analysis_date: pd.Timestamp
    dropped: dict[str, str] = field(default_factory=dict)
    imputed: dict[str, float] = field(default_factory=dict)


def customer_features(events: pd.DataFrame, *, analysis_date: object = None, max_missing: float = 0.5) -> pd.DataFrame:
    """Return one row per customer (index ``user_id``); see :func:`build_customer_features`.

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "b"], "product_id": ["p", "q", "p"],
    ...     "purchase_date": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-03"]),
    ...     "total_spending": [10.0, 5.0, 2.0]})
    >>> customer_features(ev)[["total_spending", "frequency", "recency_days"]].reset_index()
      user_id  total_spending  frequency  recency_days
    0       a            15.0          2           0.0
    1       b             2.0          1           0.0
    """
    return build_customer_features(events, analysis_date=analysis_date, max_missing=max_missing).frame


def build_customer_features(
    events: pd.DataFrame, *, analysis_date: object = None, max_missing: float = 0.5
) -> CustomerFeatures:
    """Aggregate events to customers: spending, frequency, recency, tenure, basket, demographics, engagement.

    Parameters
    ----------
    events : canonical event frame (see :mod:`segrec.columns`); ``total_spending`` is computed from
        ``price * quantity`` when absent.
    analysis_date : recency and tenure are days before this date (default: last purchase date in the data).
    max_missing : an optional column missing for more than this share of customers is dropped (warning);
        below it, missing values get the median and an indicator column (demographics only).
    """
    missing = [c for c in Columns.Required if c not in events.columns]
    if missing:
        raise MissingColumnError(missing, list(events.columns))
    if events.empty:
        raise InputError("the event table is empty: there is no customer to describe")
    dates = pd.to_datetime(events[Columns.Date])
    as_of = dates.max() if analysis_date is None else pd.Timestamp(analysis_date)
    day = dates.dt.normalize()
    users = events[Columns.User].astype("string")
    spend = line_spending(events)

    order_key = day.dt.strftime("%Y-%m-%d")
    if Columns.Order in events.columns:
        order_key = events[Columns.Order].astype("string").fillna("day:" + order_key)
    base = pd.DataFrame({Columns.User: users, "spend": spend, "order": order_key, "day": day})
    grouped = base.groupby(Columns.User, sort=True)
    frame = pd.DataFrame({
        Columns.Spending: grouped["spend"].sum(),
        Columns.Frequency: grouped["order"].nunique(),
        Columns.Recency: (as_of.normalize() - grouped["day"].max()).dt.days.astype("float64"),
        Columns.Tenure: (as_of.normalize() - grouped["day"].min()).dt.days.astype("float64"),
    })
    frame[Columns.AvgBasket] = frame[Columns.Spending] / frame[Columns.Frequency]
    frame.index.name = Columns.User

    dropped: dict[str, str] = {}
    imputed: dict[str, float] = {}
    for out, (source, how) in _OPTIONAL.items():
        if source not in events.columns:
            if out in MISSING_INDICATORS:
                dropped[out] = f"column {source!r} is absent from the data"
            continue
        values = pd.to_numeric(events[source].astype("Float64"), errors="coerce").astype("float64")
        per_user = values.groupby(users).agg(how).reindex(frame.index)
        _add_optional(frame, out, per_user, max_missing, dropped, imputed)
    demographics = {name: reason for name, reason in dropped.items() if name in MISSING_INDICATORS}
    if demographics:  # engagement is optional ("where present"); its drops are only recorded
        listed = "; ".join(f"{name}: {reason}" for name, reason in demographics.items())
        warnings.warn(f"demographic feature(s) dropped ({listed}); segmenting on behaviour only",
                      SegrecWarning, stacklevel=2)
    return CustomerFeatures(frame, as_of, dropped, imputed)


def line_spending(events: pd.DataFrame) -> pd.Series:
    """Line revenue: ``total_spending`` when given, else ``price * quantity`` (quantity defaults to 1)."""
    if Columns.Spending in events.columns:
        return pd.to_numeric(events[Columns.Spending]).astype("float64").fillna(0.0)
    if Columns.Price not in events.columns:
        raise MissingColumnError([Columns.Spending], list(events.columns))
    quantity = events[Columns.Quantity] if Columns.Quantity in events.columns else 1
    return (pd.to_numeric(events[Columns.Price]) * quantity).astype("float64").fillna(0.0)


def _add_optional(
    frame: pd.DataFrame,
    name: str,
    values: pd.Series,
    max_missing: float,
    dropped: dict[str, str],
    imputed: dict[str, float],
) -> None:
    """Keep, impute (+ indicator) or drop one optional column, recording the decision."""
    share = float(values.isna().mean())
    if share > max_missing:
        dropped[name] = f"missing for {share:.0%} of customers (more than {max_missing:.0%})"
        return
    if share > 0:
        fill = float(np.nanmedian(values.to_numpy()))
        imputed[name] = fill  # reported by run_segmentation; demographics also get an indicator column
        if name in MISSING_INDICATORS:
            frame[MISSING_INDICATORS[name]] = values.isna().to_numpy()
        values = values.fillna(fill)
    elif name in MISSING_INDICATORS:
        frame[MISSING_INDICATORS[name]] = np.zeros(len(frame), dtype=bool)
    frame[name] = values
