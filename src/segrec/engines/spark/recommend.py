"""The recommender on Spark: ALS candidates, TF-IDF content neighbours, and a hybrid re-rank per user.

LightFM has no distributed trainer, so the Spark engine's collaborative part is ``pyspark.ml``'s implicit ALS
(``implicitPrefs=True``; confidence ``1 + alpha * weight``, weight ``log1p`` of the purchase lines of a
(customer, product) pair, the local Dataset's default ``log_count``). Stages, as in the local hybrid:

1. **candidates**: each user's top ``candidates`` products by ALS score (Spark's blocked
   ``recommendForAllUsers`` / ``recommendForUserSubset``), minus what the user already bought (discover mode);
2. **content**: product text (name, category, description) through ``RegexTokenizer`` -> ``HashingTF`` ->
   ``IDF`` -> L2 ``Normalizer``; the cosine of two products is the dot product of their normalised vectors,
   computed as a distributed join on shared terms (an inverted index; terms in more than ``max_df`` of the
   catalogue are skipped, their IDF weight is small) and cut to each product's ``neighbours`` best with a
   window ``row_number``;
3. **blend**: per user, ``(1 - w) * ALS score / user's best ALS score + w * mean content similarity of the
   candidate to the user's purchases``; top ``k`` by a window ``row_number``. ``w = 0`` is plain ALS.

Results are Spark DataFrames (``uidx, iidx, score, rank``); :func:`write_recommendations` writes Parquet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ...columns import Columns
from ...exceptions import InputError
from ...recommend.data import IdMap

__all__ = ["ALSParams", "Indexed", "fit_als", "index_events", "item_neighbours", "recommend",
           "write_recommendations"]

C = Columns


@dataclass(frozen=True)
class ALSParams:
    """Spark ALS settings (names of :class:`segrec.recommend.baselines.ALSRecommender` where they exist)."""

    factors: int = 64
    regularization: float = 0.05
    alpha: float = 1.0
    iterations: int = 15
    random_state: int = 42
    candidates: int = 100
    content_weight: float = 0.0
    neighbours: int = 20
    max_df: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_PARAMS = ALSParams()


@dataclass(frozen=True)
class Indexed:
    """Interactions on integer indices that match :class:`segrec.recommend.data.Dataset` (sorted string ids)."""

    pairs: Any  # uidx, iidx, lines, weight, last
    users: IdMap
    items: IdMap
    user_index: Any  # user_id, uidx
    item_index: Any  # product_id, iidx


def index_events(spark: Any, events: Any) -> Indexed:
    """Collect the distinct ids (the bundle needs them anyway), index them as the local Dataset does, and
    aggregate the purchase lines of each (user, product) pair in Spark."""
    from pyspark.sql import functions as F

    user_ids = [r[0] for r in events.select(F.col(C.User).cast("string")).distinct().collect()]
    item_ids = [r[0] for r in events.select(F.col(C.Item).cast("string")).distinct().collect()]
    if not user_ids:
        raise InputError("cannot train on zero events")
    users, items = IdMap.from_values(user_ids), IdMap.from_values(item_ids)
    user_index = spark.createDataFrame(pd.DataFrame({C.User: users.external_ids.astype(str),
                                                     "uidx": np.arange(len(users), dtype=np.int32)}))
    item_index = spark.createDataFrame(pd.DataFrame({C.Item: items.external_ids.astype(str),
                                                     "iidx": np.arange(len(items), dtype=np.int32)}))
    pairs = (events.groupBy(F.col(C.User).cast("string").alias(C.User), F.col(C.Item).cast("string").alias(C.Item))
             .agg(F.count("*").alias("lines"), F.max(C.Date).alias("last"))
             .join(F.broadcast(item_index), C.Item).join(user_index, C.User)
             .select("uidx", "iidx", "lines", F.greatest(F.log1p("lines"), F.lit(1e-3)).alias("weight"), "last"))
    return Indexed(pairs.cache(), users, items, user_index, item_index)


def fit_als(indexed: Indexed, params: ALSParams = ALSParams()) -> Any:
    """``pyspark.ml.recommendation.ALS`` with implicit preferences on the pair weights."""
    from pyspark.ml.recommendation import ALS

    als = ALS(rank=params.factors, regParam=params.regularization, alpha=params.alpha, maxIter=params.iterations,
              seed=params.random_state, implicitPrefs=True, userCol="uidx", itemCol="iidx", ratingCol="weight",
              coldStartStrategy="drop", nonnegative=False)
    return als.fit(indexed.pairs)


def item_neighbours(events: Any, indexed: Indexed, params: ALSParams = ALSParams()) -> Any:
    """Each product's ``neighbours`` most similar products by TF-IDF cosine: ``iidx, nidx, sim``."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import IDF, HashingTF, Normalizer, RegexTokenizer, StopWordsRemover
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    parts = [F.coalesce(F.col(c).cast("string"), F.lit("")) for c in (C.ItemName, C.Category, C.Description)
             if c in events.columns]
    text = (events.groupBy(F.col(C.Item).cast("string").alias(C.Item))
            .agg(F.max(F.concat_ws(" ", *parts)).alias("text")).join(F.broadcast(indexed.item_index), C.Item))
    pipeline = Pipeline(stages=[
        RegexTokenizer(inputCol="text", outputCol="tokens", pattern="[^\\p{L}\\p{N}]+", minTokenLength=2),
        StopWordsRemover(inputCol="tokens", outputCol="words"),
        HashingTF(inputCol="words", outputCol="tf", numFeatures=1 << 18),
        IDF(inputCol="tf", outputCol="tfidf"),
        Normalizer(inputCol="tfidf", outputCol="vec", p=2.0),
    ])
    vectors = pipeline.fit(text).transform(text)
    entry = T.ArrayType(T.StructType([T.StructField("t", T.IntegerType()), T.StructField("w", T.DoubleType())]))
    explode = F.udf(lambda v: [(int(i), float(x)) for i, x in zip(v.indices, v.values, strict=True)], entry)
    terms = vectors.select("iidx", F.explode(explode("vec")).alias("e")).select("iidx", "e.t", "e.w")
    n_items = max(len(indexed.items), 1)
    common = terms.groupBy("t").count().where(F.col("count") > max(2, params.max_df * n_items)).select("t")
    terms = terms.join(F.broadcast(common), "t", "left_anti").cache()
    other = terms.select(F.col("iidx").alias("nidx"), "t", F.col("w").alias("w2"))
    sims = (terms.join(other, "t").where(F.col("iidx") != F.col("nidx"))
            .groupBy("iidx", "nidx").agg(F.sum(F.col("w") * F.col("w2")).alias("sim")))
    best = Window.partitionBy("iidx").orderBy(F.desc("sim"), "nidx")
    return (sims.withColumn("_r", F.row_number().over(best)).where(F.col("_r") <= params.neighbours)
            .drop("_r"))


def recommend(model: Any, indexed: Indexed, k: int = 10, params: ALSParams = ALSParams(), *,
              users: Any = None, neighbours: Any = None, filter_seen: bool = True) -> Any:
    """Top-``k`` per user (all users, or the ``uidx`` column of ``users``): ``uidx, iidx, score, rank``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    pool = max(params.candidates, k)
    raw = model.recommendForAllUsers(pool) if users is None else model.recommendForUserSubset(users, pool)
    cands = raw.select("uidx", F.explode("recommendations").alias("r")).select(
        "uidx", F.col("r.iidx").alias("iidx"), F.col("r.rating").alias("cf"))
    if filter_seen:
        cands = cands.join(indexed.pairs.select("uidx", "iidx"), ["uidx", "iidx"], "left_anti")
    best_cf = F.max("cf").over(Window.partitionBy("uidx"))
    cands = cands.withColumn("cf", F.when(best_cf > 0, F.col("cf") / best_cf).otherwise(F.col("cf")))
    w = float(params.content_weight)
    if w > 0 and neighbours is not None:
        history = indexed.pairs.select("uidx", F.col("iidx").alias("h"))
        n_hist = history.groupBy("uidx").agg(F.count("*").alias("n_hist"))
        content = (history.join(neighbours.withColumnRenamed("iidx", "h").withColumnRenamed("nidx", "iidx"), "h")
                   .groupBy("uidx", "iidx").agg(F.sum("sim").alias("content")))
        cands = (cands.join(content, ["uidx", "iidx"], "left").join(n_hist, "uidx", "left")
                 .withColumn("score", (1 - w) * F.col("cf")
                             + w * F.coalesce(F.col("content") / F.col("n_hist"), F.lit(0.0))))
    else:
        cands = cands.withColumn("score", F.col("cf"))
    order = Window.partitionBy("uidx").orderBy(F.desc("score"), "iidx")
    return (cands.withColumn(C.Rank, F.row_number().over(order)).where(F.col(C.Rank) <= k)
            .select("uidx", "iidx", F.col("score").alias(C.Score), C.Rank))


def top_k_matrix(recs: Any, user_idx: np.ndarray, k: int) -> np.ndarray:
    """Collected recommendations as an (n_users, k) item-index matrix in ``user_idx`` order (-1 padding)."""
    frame = recs.select("uidx", "iidx", C.Rank).toPandas()
    out = np.full((len(user_idx), k), -1, np.int64)
    position = pd.Series(np.arange(len(user_idx)), index=user_idx)
    rows = position.reindex(frame["uidx"].to_numpy()).to_numpy()
    keep = ~np.isnan(rows)
    out[rows[keep].astype(np.int64), frame[C.Rank].to_numpy()[keep] - 1] = frame["iidx"].to_numpy()[keep]
    return out


def write_recommendations(recs: Any, indexed: Indexed, path: str, names: pd.DataFrame | None = None) -> None:
    """Recommendations with external ids (and product names from ``names``: product id, name) as Parquet."""
    from pyspark.sql import functions as F

    out = recs.join(indexed.user_index, "uidx").join(F.broadcast(indexed.item_index), "iidx")
    if names is not None:
        table = recs.sparkSession.createDataFrame(names[[C.Item, C.ItemName]].astype(str))
        out = out.join(F.broadcast(table), C.Item, "left")
    columns = [c for c in (C.User, C.Rank, C.Item, C.ItemName, C.Score) if c in out.columns]
    out.select(*columns).write.mode("overwrite").parquet(path)
