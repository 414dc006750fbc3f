"""Customer features in Spark SQL, with the definitions of :mod:`segrec.features.customers` (one row per customer).

Same numbers as the local engine: spending is ``total_spending`` (else ``price * quantity``); frequency counts
distinct orders, a line without an order id counting as one order per customer and day; recency and tenure are
whole days from the last / first purchase day to the analysis date (default: the last date in the data); the
average basket is spending / frequency; age and income are per-customer medians, engagement columns means; an
optional column missing for more than ``max_missing`` of customers is dropped (warning for demographics),
otherwise filled with the median over customers, with an indicator column for age and income.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...columns import Columns
from ...exceptions import InputError, MissingColumnError, SegrecWarning
from ...features.customers import _OPTIONAL, MISSING_INDICATORS

__all__ = ["SparkCustomerFeatures", "customer_features", "line_spending"]

C = Columns


@dataclass(frozen=True)
class SparkCustomerFeatures:
    """The feature table (a Spark DataFrame with a ``user_id`` column) and what happened to optional columns."""

    frame: Any
    analysis_date: pd.Timestamp
    dropped: dict[str, str] = field(default_factory=dict)
    imputed: dict[str, float] = field(default_factory=dict)


def line_spending(events: Any) -> Any:
    """Line revenue as a Column: ``total_spending`` when present, else ``price * quantity``; NULL counts 0."""
    from pyspark.sql import functions as F

    if C.Spending in events.columns:
        return F.coalesce(F.col(C.Spending).cast("double"), F.lit(0.0))
    if C.Price not in events.columns:
        raise MissingColumnError([C.Spending], list(events.columns))
    quantity = F.col(C.Quantity) if C.Quantity in events.columns else F.lit(1)
    return F.coalesce(F.col(C.Price).cast("double") * quantity, F.lit(0.0))


def customer_features(events: Any, *, analysis_date: object = None, max_missing: float = 0.5) -> SparkCustomerFeatures:
    """Aggregate Spark events to customers (see the module docstring for the definitions)."""
    from pyspark.sql import functions as F

    missing = [c for c in C.Required if c not in events.columns]
    if missing:
        raise MissingColumnError(missing, list(events.columns))
    last = events.agg(F.max(C.Date)).first()[0]
    if last is None:
        raise InputError("the event table is empty: there is no customer to describe")
    as_of = pd.Timestamp(last) if analysis_date is None else pd.Timestamp(analysis_date)
    day = F.to_date(F.col(C.Date))
    day_key = F.concat(F.lit("day:"), F.date_format(day, "yyyy-MM-dd"))
    order = F.coalesce(F.col(C.Order).cast("string"), day_key) if C.Order in events.columns else day_key
    as_of_day = F.lit(as_of.normalize().date())
    aggs = [F.sum(line_spending(events)).alias(C.Spending), F.count_distinct(order).alias(C.Frequency),
            F.max(day).alias("_last"), F.min(day).alias("_first")]
    optional = []
    for out, (source, how) in _OPTIONAL.items():
        if source in events.columns:
            value = F.col(source).cast("double")
            aggs.append((F.median(value) if how == "median" else F.avg(value)).alias(out))
            optional.append(out)
    frame = events.groupBy(F.col(C.User).cast("string").alias(C.User)).agg(*aggs)
    frame = frame.select(
        C.User, C.Spending, C.Frequency,
        F.datediff(as_of_day, F.col("_last")).cast("double").alias(C.Recency),
        F.datediff(as_of_day, F.col("_first")).cast("double").alias(C.Tenure),
        (F.col(C.Spending) / F.col(C.Frequency)).alias(C.AvgBasket),
        *optional,
    )
    dropped = {out: f"column {src!r} is absent from the data" for out, (src, _) in _OPTIONAL.items()
               if src not in events.columns and out in MISSING_INDICATORS}
    imputed: dict[str, float] = {}
    if optional:
        frame = frame.cache()
        stats = frame.agg(*[F.avg(F.col(c).isNull().cast("double")).alias(f"{c}__share") for c in optional],
                          *[F.median(c).alias(f"{c}__median") for c in optional]).first().asDict()
        for out in optional:
            share, fill = float(stats[f"{out}__share"]), stats[f"{out}__median"]
            if share > max_missing:
                dropped[out] = f"missing for {share:.0%} of customers (more than {max_missing:.0%})"
                frame = frame.drop(out)
                continue
            if out in MISSING_INDICATORS:
                frame = frame.withColumn(MISSING_INDICATORS[out], F.col(out).isNull())
            if share > 0:
                imputed[out] = float(fill)
                frame = frame.withColumn(out, F.coalesce(F.col(out), F.lit(float(fill))))
    order = [c for c in frame.columns if c not in optional and c not in MISSING_INDICATORS.values()]
    for out in optional:
        order += [c for c in (MISSING_INDICATORS.get(out), out) if c in frame.columns]
    frame = frame.select(*order)
    demographics = {name: reason for name, reason in dropped.items() if name in MISSING_INDICATORS}
    if demographics:
        listed = "; ".join(f"{name}: {reason}" for name, reason in demographics.items())
        warnings.warn(f"demographic feature(s) dropped ({listed}); segmenting on behaviour only",
                      SegrecWarning, stacklevel=2)
    return SparkCustomerFeatures(frame, as_of, dropped, imputed)
