"""The recommender on Spark: ids indexed on the cluster, implicit ALS, top-k scored by the executors.

LightFM has no distributed trainer, so the Spark engine's model is ``pyspark.ml``'s implicit ALS
(``implicitPrefs=True``; confidence ``1 + alpha * weight``, weight ``log1p`` of the purchase lines of a
(customer, product) pair, the local Dataset's default ``log_count``). Stages:

1. :func:`index_events`: users and products numbered by sorted id on the cluster (:mod:`.indexing`), the
   purchase lines of each (user, product) pair aggregated; nothing proportional to the events or the users
   reaches the driver;
2. :func:`fit_als`;
3. :func:`top_k_frame`: each user's top-k, scored by the executors with the code the bundle's
   :class:`~segrec.recommend.baselines.ALSRecommender` runs on the API (:func:`top_of`: ``user_factors @
   item_factors.T`` in float32 per chunk, bought products excluded, the top-k selected as
   ``FactorScoring`` selects it), the item factors broadcast. So
   ``recommendations.parquet`` is the served model's answer, not a second model's. (A TF-IDF content blend
   used to re-rank the file only: it reached 99.9% of plain ALS's P@10 on Online Retail, 0.0793 vs 0.0794,
   and made the file disagree with the API, so it was removed.)

The executors import segrec (the scoring code), so on a cluster segrec must be installed in the Python the
executors run (``PYSPARK_PYTHON``), as pyspark itself is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ...columns import Columns
from ...exceptions import InputError
from .indexing import id_index
from .session import local_threads

__all__ = ["CLUSTER_BLOCKS", "ALSParams", "Indexed", "fit_als", "index_events", "item_popularity", "lists_csr", "top_k_frame",
           "top_of", "user_rows", "write_recommendations"]

C = Columns
#: Users scored at once by an executor: bounds its memory to CHUNK x n_items floats (the API's chunk size).
CHUNK = 1024


#: ALS's user and item blocks on a cluster: Spark's own default.
CLUSTER_BLOCKS = 10


@dataclass(frozen=True)
class ALSParams:
    """Spark ALS settings (the names of :class:`segrec.recommend.baselines.ALSRecommender`).

    ``blocks``: the user blocks and the item blocks ALS splits the factors into (``numUserBlocks`` =
    ``numItemBlocks``; each is a task of every half-iteration); None = :meth:`for_master`'s choice."""

    factors: int = 64
    regularization: float = 0.05
    alpha: float = 1.0
    iterations: int = 15
    random_state: int = 42
    blocks: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def for_master(self, master: str) -> ALSParams:
        """These settings with ``blocks`` set when None: one block per thread of a ``local[N]`` master, Spark's
        default 10 (:data:`CLUSTER_BLOCKS`) on a cluster.

        Why: 10 blocks on a 2-thread machine are 10 tasks per stage for 2 threads, every half-iteration; on
        the 300-customer test shop (local[2], load ~4 on 2 cores) a 15-iteration fit took 2.8 s with 2 blocks
        and 9.4 s with 10, as ``local_conf`` found for the shuffle partitions. Spark seeds each block's initial
        factors by the block's number, so the factors depend on ``blocks`` (not their quality: the same
        iterations from another random start); the bundle's manifest records the number used."""
        if self.blocks is not None:
            return self
        threads = local_threads(master)
        return replace(self, blocks=CLUSTER_BLOCKS if threads is None else threads)


DEFAULT_PARAMS = ALSParams()


@dataclass(frozen=True)
class Indexed:
    """Interactions on the integer indices of :class:`segrec.features.interactions.Dataset` (sorted string ids).

    ``pairs`` (uidx, iidx, lines, weight, last) and both id maps are cached; :meth:`release` frees them.
    """

    pairs: Any
    user_index: Any  # user_id, uidx
    item_index: Any  # product_id, iidx
    n_users: int
    n_items: int

    def release(self) -> None:
        for frame in (self.pairs, self.user_index, self.item_index):
            frame.unpersist()


def index_events(events: Any) -> Indexed:
    """Number the users and products on the cluster and aggregate each (user, product) pair's lines."""
    from pyspark.sql import functions as F

    user_index, n_users = id_index(events, C.User, "uidx")
    item_index, n_items = id_index(events, C.Item, "iidx")
    if n_users == 0:
        user_index.unpersist()
        item_index.unpersist()
        raise InputError("cannot train on zero events")
    pairs = (events.groupBy(F.col(C.User).cast("string").alias(C.User), F.col(C.Item).cast("string").alias(C.Item))
             .agg(F.count("*").alias("lines"), F.max(C.Date).alias("last"))
             .join(F.broadcast(item_index), C.Item).join(user_index, C.User)
             .select("uidx", "iidx", "lines", F.greatest(F.log1p("lines"), F.lit(1e-3)).alias("weight"), "last"))
    pairs = pairs.cache()
    pairs.count()  # materialised now, so callers can tell these caches from those made later (ALS's)
    return Indexed(pairs, user_index, item_index, n_users, n_items)


def fit_als(indexed: Indexed, params: ALSParams = DEFAULT_PARAMS) -> Any:
    """``pyspark.ml.recommendation.ALS`` with implicit preferences on the pair weights (``blocks`` None:
    :meth:`ALSParams.for_master` of the session's master)."""
    from pyspark.ml.recommendation import ALS

    params = params.for_master(indexed.pairs.sparkSession.sparkContext.master)
    als = ALS(rank=params.factors, regParam=params.regularization, alpha=params.alpha, maxIter=params.iterations,
              seed=params.random_state, implicitPrefs=True, userCol="uidx", itemCol="iidx", ratingCol="weight",
              coldStartStrategy="drop", nonnegative=False, numUserBlocks=params.blocks, numItemBlocks=params.blocks)
    return als.fit(indexed.pairs)


def item_popularity(indexed: Indexed) -> np.ndarray:
    """Distinct buyers per product index (a product-sized vector: the only thing collected)."""
    from pyspark.sql import functions as F

    rows = indexed.pairs.groupBy("iidx").agg(F.count("*").alias("n")).toPandas()
    out = np.zeros(indexed.n_items, np.int64)
    out[rows["iidx"].to_numpy(np.int64)] = rows["n"].to_numpy(np.int64)
    return out


def user_rows(indexed: Indexed, user_factors: Any = None) -> Any:
    """One row per user: ``uidx``, ``seen`` (bought product indices) and, with ``user_factors`` (a frame of
    ``id, features``, as ALS gives it), ``factors``: what :func:`top_k_frame` scores."""
    from pyspark.sql import functions as F

    rows = indexed.pairs.groupBy("uidx").agg(F.collect_list("iidx").alias("seen"))
    if user_factors is not None:
        rows = rows.join(user_factors.select(F.col("id").alias("uidx"), F.col("features").alias("factors")), "uidx")
    return rows


def scores_of(batch: pd.DataFrame, item_factors: np.ndarray | None, popularity: np.ndarray | None) -> np.ndarray:
    """Dense float32 scores of a batch of :func:`user_rows`: ALS's ``user_factors @ item_factors.T`` (as
    ``FactorScoring._score``) or popularity's share of buyers, the same row for everyone."""
    if item_factors is not None:
        return np.array(_factors(batch) @ item_factors.T, dtype=np.float32, copy=True)
    assert popularity is not None
    return np.tile(popularity.astype(np.float32), (len(batch), 1))


def _factors(batch: pd.DataFrame) -> np.ndarray:
    return np.vstack(batch["factors"].to_numpy()).astype(np.float32)


def mask_bought(scores: np.ndarray, seen: pd.Series) -> None:
    """Bought products score -inf (as ``segrec.recommend.base.mask_seen``), in place."""
    lengths = seen.map(len).to_numpy()
    if lengths.sum():
        scores[np.repeat(np.arange(len(seen)), lengths), np.concatenate(seen.to_numpy()).astype(np.int64)] = -np.inf


def lists_csr(lists: pd.Series, n_items: int) -> sp.csr_matrix:
    """Rows of product-index lists (``seen``, ``relevant``) as a 0/1 CSR matrix, one row per list."""
    lengths = lists.map(len).to_numpy()
    cols = np.concatenate(lists.to_numpy()).astype(np.int64) if lengths.sum() else np.zeros(0, np.int64)
    matrix = sp.csr_matrix((np.ones(len(cols), np.float32), (np.repeat(np.arange(len(lists)), lengths), cols)),
                           shape=(len(lists), n_items))
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def top_of(batch: pd.DataFrame, k: int, item_factors: np.ndarray | None, popularity: np.ndarray | None,
           filter_seen: bool) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` product indices and scores of a batch, by the code the served model runs: ALS through
    ``FactorScoring._recommend_chunk`` (:func:`~segrec.recommend._topk.top_k_of_product`, the chunk multiplied
    at once, bought products excluded), popularity as ``Recommender._recommend_chunk`` (masked, ``top_k``)."""
    from ...recommend._topk import top_k, top_k_of_product

    n_items = len(item_factors) if item_factors is not None else len(popularity)  # type: ignore[arg-type]
    if item_factors is not None:
        users = _factors(batch)
        exclude = lists_csr(batch["seen"], n_items) if filter_seen else None
        return top_k_of_product(users, item_factors, k, exclude=exclude, block_rows=max(len(users), 1))
    scores = scores_of(batch, None, popularity)
    if filter_seen:
        mask_bought(scores, batch["seen"])
    return top_k(scores, k)


def chunks(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Arrow batches cut to at most :data:`CHUNK` users."""
    for batch in batches:
        for start in range(0, len(batch), CHUNK):
            yield batch.iloc[start:start + CHUNK]


def top_k_frame(users: Any, k: int, *, item_factors: np.ndarray | None = None, popularity: np.ndarray | None = None,
                filter_seen: bool = True) -> Any:
    """Top-``k`` of every row of ``users`` (:func:`user_rows`), scored by the executors: ``uidx, rank, iidx,
    score``. ``item_factors`` (ALS) or ``popularity`` (shares of buyers) is broadcast once."""
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    shared = users.sparkSession.sparkContext.broadcast((item_factors, popularity))

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        factors, shares = shared.value
        for batch in chunks(batches):
            idx, vals = top_of(batch, k, factors, shares, filter_seen)
            keep = idx >= 0
            rows, ranks = np.nonzero(keep)
            yield pd.DataFrame({"uidx": batch["uidx"].to_numpy(np.int32)[rows], C.Rank: (ranks + 1).astype(np.int32),
                                "iidx": idx[keep].astype(np.int32), C.Score: vals[keep].astype(np.float64)})

    schema = f"uidx int, {C.Rank} int, iidx int, {C.Score} double"
    return users.mapInPandas(score, schema)


def write_recommendations(users: Any, k: int, item_factors: np.ndarray, indexed: Indexed, path: str,
                          names: Any) -> None:
    """Every user's top-``k`` (:func:`top_k_frame`) with external ids and product names (``names``: a
    product-sized frame of ``iidx`` and the name) as Parquet, written by the executors."""
    from pyspark.sql import functions as F

    top = top_k_frame(users, k, item_factors=item_factors)
    out = (top.join(indexed.user_index, "uidx").join(F.broadcast(indexed.item_index), "iidx")
           .join(F.broadcast(names), "iidx", "left"))
    out.select(C.User, C.Rank, C.Item, C.ItemName, C.Score).write.mode("overwrite").parquet(path)
