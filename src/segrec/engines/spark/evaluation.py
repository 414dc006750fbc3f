"""Held-out evaluation on Spark: the local protocol and metrics, computed by the executors.

The same protocol as :mod:`segrec.evaluation.runner` in discover mode: a temporal split (default cut-off: the
first day of the data's last two calendar months, :func:`segrec.evaluation.splits.default_cutoff`), test rows
of users or products unseen in training dropped and counted, each user's training purchases excluded from
the ranking and from the test items, metrics averaged over users with a test item. Two models, fitted on the
training events on Spark: ALS (what the engine serves) and popularity (share of distinct buyers, ties to the
lower index, as :class:`~segrec.recommend.baselines.PopularityRecommender`). Each executor scores its users in
chunks and computes their per-user metrics with :mod:`segrec.evaluation.metrics` and
:mod:`segrec.evaluation.beyond` (product-sized inputs are broadcast); the driver only receives the averages.
The result has the shape of :meth:`segrec.evaluation.runner.EvaluationResult.to_dict` (``evaluation.json``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ...columns import Columns
from ...evaluation.runner import EvaluationResult, ModelResult, metric_names, package_versions
from ...exceptions import InputError
from ...modes import DISCOVER
from .export import catalogue_frame, complete_catalogue
from .recommend import (
    DEFAULT_PARAMS,
    ALSParams,
    Indexed,
    chunks,
    fit_als,
    index_events,
    item_popularity,
    lists_csr,
    scores_of,
    top_of,
    user_rows,
)
from .session import persistent_rdds, release_rdds

__all__ = ["default_cutoff", "evaluate", "evaluate_split"]

C = Columns
MODELS = ("als", "popularity")


def default_cutoff(events: Any, months: int = 2) -> pd.Timestamp:
    """:func:`segrec.evaluation.splits.default_cutoff` of a Spark frame (one aggregation)."""
    from pyspark.sql import functions as F

    last = events.agg(F.max(C.Date)).first()[0]
    if last is None:
        raise InputError("no events to evaluate on")
    return (pd.Timestamp(last).to_period("M") - (months - 1)).to_timestamp()


def evaluate(events: Any, k: int = 10, *, cutoff: str | pd.Timestamp | None = None,
             params: ALSParams = DEFAULT_PARAMS) -> dict[str, Any]:
    """Spark ALS and Spark popularity on the temporal split of ``events``: ``evaluation.json``'s content."""
    from pyspark.sql import functions as F

    cut = default_cutoff(events) if cutoff is None else pd.Timestamp(cutoff)
    train = events.where(F.col(C.Date) < F.lit(cut.to_pydatetime()))
    test = events.where(F.col(C.Date) >= F.lit(cut.to_pydatetime()))
    return evaluate_split(train, test, k, {"method": "temporal", "cutoff": str(cut.date())}, params=params).to_dict()


def evaluate_split(train: Any, test: Any, k: int = 10, description: dict[str, Any] | None = None, *,
                   params: ALSParams = DEFAULT_PARAMS) -> EvaluationResult:
    """Spark ALS and Spark popularity fitted on ``train``, judged on ``test`` (Spark frames)."""
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    keep = persistent_rdds(train.sparkSession)
    params = params.for_master(train.sparkSession.sparkContext.master)  # the blocks used, in evaluation.json
    indexed = index_events(train)
    truth = None
    try:
        split, truth = _split(train, test, indexed, description or {})
        if split["evaluated_users"][DISCOVER] == 0:
            raise InputError("no test user has a test product that can be evaluated; check the split")
        catalogue = complete_catalogue(catalogue_frame(train, indexed).toPandas().set_index("iidx")
                                       .reindex(pd.RangeIndex(indexed.n_items)), _items(indexed))
        popularity = item_popularity(indexed)
        models = []
        for name in MODELS:
            began = time.perf_counter()
            if name == "als":
                model = fit_als(indexed, params)
                factors = model.itemFactors.toPandas()  # product-sized
                item_factors = np.zeros((indexed.n_items, params.factors), np.float32)
                item_factors[factors["id"].to_numpy(np.int64)] = np.vstack(factors["features"].to_numpy())
                users, shares, model_params = truth.join(user_rows(indexed, model.userFactors).drop("seen"), "uidx"), \
                    None, params.to_dict()
            else:
                item_factors, users, model_params = None, truth, {}
                shares = (popularity.astype(np.float32) / max(indexed.n_users, 1)).astype(np.float32)
            fit_seconds = time.perf_counter() - began
            began = time.perf_counter()
            metrics = _metrics(users, k, item_factors, shares, popularity, catalogue, indexed)
            models.append(ModelResult(name, {"engine": "spark", **model_params}, metrics, round(fit_seconds, 3),
                                      round(time.perf_counter() - began, 3)))
    finally:
        if truth is not None:
            truth.unpersist()
        indexed.release()
        release_rdds(train.sparkSession, keep)  # ALS's cached factors
    data = {"engine": "spark", "n_users": indexed.n_users, "n_products": indexed.n_items, "weighting": "log_count"}
    import pyspark

    versions = {**package_versions(), "pyspark": pyspark.__version__}
    return EvaluationResult(split, k, DISCOVER, models, default_model="als", data=data, versions=versions)


def _items(indexed: Indexed) -> Any:
    from ...features.interactions import IdMap

    ids = indexed.item_index.toPandas().set_index("iidx").reindex(pd.RangeIndex(indexed.n_items))[C.Item]
    return IdMap(ids.astype(str).to_numpy(dtype=object))


def _split(train: Any, test: Any, indexed: Indexed, description: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The split's description (as :func:`segrec.evaluation.splits._finish` counts it) and the judged users:
    ``uidx, seen, relevant`` (test products not bought in training), cached."""
    from pyspark.sql import functions as F

    ids = test.select(F.col(C.User).cast("string").alias(C.User), F.col(C.Item).cast("string").alias(C.Item))
    flagged = ids.join(indexed.user_index, C.User, "left").join(F.broadcast(indexed.item_index), C.Item, "left")
    warm = F.col("uidx").isNotNull() & F.col("iidx").isNotNull()
    bought = indexed.pairs.select("uidx", "iidx", F.lit(True).alias("_bought"))
    row = (flagged.join(bought, ["uidx", "iidx"], "left")
           .agg(F.count("*").alias("rows"), F.count_if(warm).alias("warm"),
                F.count_if(F.col("uidx").isNull()).alias("cold_user"),
                F.count_if(F.col("uidx").isNotNull() & F.col("iidx").isNull()).alias("cold_product"),
                F.count_distinct(F.when(warm, F.col("uidx"))).alias("users"),
                F.count_distinct(F.when(warm, F.col("iidx"))).alias("products"),
                F.count_if(warm & F.col("_bought").isNotNull()).alias("repeat")).first())
    train_rows = train.count()
    relevant = (flagged.where(warm).select("uidx", "iidx").distinct()
                .join(indexed.pairs.select("uidx", "iidx"), ["uidx", "iidx"], "left_anti")
                .groupBy("uidx").agg(F.collect_list("iidx").alias("relevant")))
    truth = relevant.join(user_rows(indexed), "uidx").cache()
    split = {**description, "engine": "spark", "train_rows": train_rows,
             "test_rows": row["warm"], "train_users": indexed.n_users, "train_products": indexed.n_items,
             "test_users": row["users"], "test_products": row["products"], "dropped_cold_rows": row["rows"] - row["warm"],
             "dropped_cold_user_rows": row["cold_user"], "dropped_cold_product_rows": row["cold_product"],
             "test_repeat_rows": row["repeat"], "evaluated_users": {DISCOVER: truth.count()}}
    return split, truth


def _metrics(users: Any, k: int, item_factors: np.ndarray | None, shares: np.ndarray | None, popularity: np.ndarray,
             catalogue: pd.DataFrame, indexed: Indexed) -> dict[str, float | None]:
    """Per-user metrics in the executors, averaged (undefined values skipped, as ``runner._mean``)."""
    from pyspark.sql import functions as F

    from ...evaluation.beyond import intra_list_diversity, item_text_vectors, novelty
    from ...evaluation.metrics import auc_from_ranks, positive_ranks, reciprocal_rank_from_ranks, topk_metrics

    names = metric_names(k)
    per_user = [n for n in names if n != "coverage"]
    n_users, n_items = indexed.n_users, indexed.n_items
    shared = users.sparkSession.sparkContext.broadcast((item_factors, shares, popularity,
                                                        item_text_vectors(catalogue)))

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        factors, share, buyers, vectors = shared.value
        for batch in chunks(batches):
            scores = scores_of(batch, factors, share)
            relevant, exclude = lists_csr(batch["relevant"], n_items), lists_csr(batch["seen"], n_items)
            top = top_of(batch, k, factors, share, filter_seen=True)[0]  # as the served model ranks
            ranks = positive_ranks(scores, relevant, exclude)
            values = {**topk_metrics(top, relevant), "mrr": reciprocal_rank_from_ranks(ranks),
                      "auc": auc_from_ranks(ranks, np.diff(exclude.indptr)),
                      "diversity": intra_list_diversity(top, vectors), "novelty": novelty(top, buyers, n_users)}
            out = pd.DataFrame({n: np.asarray(values[n], dtype=np.float64) for n in per_user})
            out["top"] = list(top.astype(np.int32))
            yield out

    schema = ", ".join(f"`{n}` double" for n in per_user) + ", top array<int>"
    scored = users.mapInPandas(score, schema).cache()
    try:
        row = scored.agg(*[F.avg(F.col(f"`{n}`")).alias(n) for n in per_user]).first().asDict()
        listed = scored.select(F.explode("top").alias("i")).where("i >= 0").distinct().count()
    finally:
        scored.unpersist()
        shared.unpersist()
    row["coverage"] = listed / n_items if n_items else 0.0  # beyond.catalogue_coverage, over every list
    return {n: None if row[n] is None else float(row[n]) for n in names}
