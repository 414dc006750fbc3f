"""A Spark-trained ALS as the same pickle-free bundle the local engine writes, so ``segrec serve`` serves it.

The model is an :class:`segrec.recommend.baselines.ALSRecommender` (registered as ``als``) whose
``user_factors_`` / ``item_factors_`` are Spark's factors, on a :class:`~segrec.recommend.data.Dataset` built
from Spark aggregates (one row per (user, product) pair, the catalogue and the per-user attributes are
collected; the raw events never are). Its scores equal Spark's ``userFactors . itemFactors``, and the registry,
the bundle format and the API need no change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ...bundle import save_bundle
from ...columns import Columns
from ...recommend.baselines import ALSRecommender
from ...recommend.data import CATALOGUE_COLUMNS, USER_ATTRIBUTES, Dataset, complete_user_attributes
from .recommend import DEFAULT_PARAMS, ALSParams, Indexed

__all__ = ["als_recommender", "build_dataset", "export_bundle"]

C = Columns


def build_dataset(events: Any, indexed: Indexed, segments: pd.Series | None = None) -> Dataset:
    """The local Dataset (weighting ``log_count``) from Spark aggregates, on the indices of ``indexed``."""
    from pyspark.sql import functions as F

    last_ts = indexed.pairs.agg(F.max("last")).first()[0]  # the cached pairs hold each pair's last date
    age = (F.unix_timestamp(F.lit(last_ts).cast("timestamp")) - F.unix_timestamp("last")) / 86400.0 + 1.0
    pairs = indexed.pairs.select("uidx", "iidx", "lines", "weight", age.alias("age")).toPandas()
    shape = (len(indexed.users), len(indexed.items))
    rows, cols = pairs["uidx"].to_numpy(np.int64), pairs["iidx"].to_numpy(np.int64)

    def csr(values: np.ndarray) -> sp.csr_matrix:
        matrix = sp.csr_matrix((values.astype(np.float32), (rows, cols)), shape=shape)
        matrix.sort_indices()
        return matrix

    return Dataset(users=indexed.users, items=indexed.items, interactions=csr(pairs["weight"].to_numpy()),
                   purchases=csr(pairs["lines"].to_numpy()), catalogue=_catalogue(events, indexed),
                   user_attributes=_user_attributes(events, indexed, segments), weighting="log_count",
                   recency_days=csr(pairs["age"].to_numpy()))


def _catalogue(events: Any, indexed: Indexed) -> pd.DataFrame:
    """Most frequent name/category/description (ties: smallest text) and median price per product."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    item = F.col(C.Item).cast("string").alias(C.Item)
    out = pd.DataFrame({C.Item: indexed.items.external_ids.astype(str)})
    for column in (C.ItemName, C.Category, C.Description):
        if column not in events.columns:
            continue
        counts = events.where(F.col(column).isNotNull()).groupBy(item, F.col(column).cast("string").alias("v")).count()
        best = Window.partitionBy(C.Item).orderBy(F.desc("count"), "v")
        mode = counts.withColumn("_r", F.row_number().over(best)).where("_r = 1").select(C.Item, "v").toPandas()
        out[column] = out[C.Item].map(mode.set_index(C.Item)["v"])
    if C.Price in events.columns:
        price = events.groupBy(item).agg(F.median(F.col(C.Price).cast("double")).alias("p")).toPandas()
        out[C.Price] = out[C.Item].map(price.set_index(C.Item)["p"]).astype("float64")
    else:
        out[C.Price] = np.nan
    out[C.ItemName] = out[C.ItemName].fillna(out[C.Item]).astype(str) if C.ItemName in out else out[C.Item]
    out[C.Category] = out.get(C.Category, pd.Series(index=out.index, dtype=object)).fillna("unknown").astype(str)
    out[C.Description] = out.get(C.Description, pd.Series(index=out.index, dtype=object)).fillna("").astype(str)
    return out[list(CATALOGUE_COLUMNS)]


def _user_attributes(events: Any, indexed: Indexed, segments: pd.Series | None) -> pd.DataFrame:
    """Last known (non-null, by purchase date) age, gender, location, income of each user."""
    from pyspark.sql import functions as F

    present = [c for c in USER_ATTRIBUTES if c in events.columns]
    attrs = pd.DataFrame(index=pd.Index(indexed.users.external_ids.astype(str), name=C.User))
    if present:
        last = events.groupBy(F.col(C.User).cast("string").alias(C.User)).agg(
            *[F.max_by(F.col(c), F.when(F.col(c).isNotNull(), F.col(C.Date))).alias(c) for c in present])
        attrs = attrs.join(last.toPandas().set_index(C.User))
    return complete_user_attributes(attrs, segments)


def als_recommender(model: Any, indexed: Indexed, dataset: Dataset, params: ALSParams = DEFAULT_PARAMS) -> ALSRecommender:
    """An :class:`ALSRecommender` holding the factors of a fitted Spark ``ALSModel``."""
    rec = ALSRecommender(factors=params.factors, regularization=params.regularization, alpha=params.alpha,
                         iterations=params.iterations, random_state=params.random_state)
    rec.user_factors_ = _factors(model.userFactors, len(indexed.users), params.factors)
    rec.item_factors_ = _factors(model.itemFactors, len(indexed.items), params.factors)
    rec.dataset_ = dataset
    return rec


def _factors(frame: Any, n: int, rank: int) -> np.ndarray:
    rows = frame.toPandas()
    out = np.zeros((n, rank), np.float32)
    if len(rows):
        out[rows["id"].to_numpy(np.int64)] = np.vstack(rows["features"].to_numpy()).astype(np.float32)
    return out


def export_bundle(path: str | os.PathLike[str], model: Any, indexed: Indexed, events: Any, *,
                  params: ALSParams = DEFAULT_PARAMS, segments: pd.DataFrame | None = None, segmenter: Any = None,
                  profiles: pd.DataFrame | None = None, evaluation: Mapping[str, Any] | None = None,
                  extra: Mapping[str, Any] | None = None) -> tuple[Path, ALSRecommender]:
    """Write the bundle of a Spark ALS model at ``path``; return its path and the local model."""
    from ...recommend.training import segment_labels

    dataset = build_dataset(events, indexed, segment_labels(segments))
    rec = als_recommender(model, indexed, dataset, params)
    manifest_params = {"engine": "spark", "trainer": "pyspark.ml.recommendation.ALS(implicitPrefs=True)",
                       "als": params.to_dict(), **dict(extra or {})}
    out = save_bundle(path, recommender=rec, segmenter=segmenter, segments=segments, profiles=profiles,
                      evaluation=evaluation, params=manifest_params)
    return out, rec
