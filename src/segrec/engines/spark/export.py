"""A Spark-trained ALS as the same pickle-free bundle the local engine writes, so ``segrec serve`` serves it.

The model is an :class:`segrec.recommend.baselines.ALSRecommender` (registered as ``als``) whose
``user_factors_`` / ``item_factors_`` are Spark's factors, on a :class:`~segrec.features.interactions.Dataset` with
the local engine's indices. What the bundle holds (ids, factors, the (user, product) pair matrices, the
catalogue, the per-user attributes) is written by the executors as Parquet into a staging directory beside
the bundle and read by the driver with pyarrow: the driver holds the bundle's content once, as arrays,
and no Spark action collects it (a ``spark.driver.maxResultSize`` far below the bundle's size is enough; the
tests run with 1 MiB). The raw events never reach the driver. ``--out`` must therefore be a directory that
the driver and every executor see (a local disk for ``local[*]`` and a one-machine cluster; NFS or the like
for a real cluster), as it already must for ``segments.parquet`` and ``recommendations.parquet``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import scipy.sparse as sp

from ...bundle import save_bundle
from ...columns import Columns
from ...features.interactions import (
    CATALOGUE_COLUMNS,
    USER_ATTRIBUTES,
    Dataset,
    IdMap,
    complete_user_attributes,
)
from ...recommend.baselines import ALSRecommender
from .recommend import DEFAULT_PARAMS, ALSParams, Indexed

__all__ = ["ID_MAPS", "catalogue_frame", "complete_catalogue", "export_bundle", "staged_parts", "write_id_maps"]

C = Columns
#: The id maps beside the bundle (Parquet directories, written by the executors): external id -> index.
ID_MAPS = {"users": (C.User, "uidx"), "products": (C.Item, "iidx")}


def write_id_maps(indexed: Indexed, directory: Path) -> dict[str, Path]:
    """``directory/users.parquet`` (user_id, uidx) and ``products.parquet`` (product_id, iidx)."""
    paths = {name: directory / f"{name}.parquet" for name in ID_MAPS}
    indexed.user_index.write.mode("overwrite").parquet(str(paths["users"]))
    indexed.item_index.write.mode("overwrite").parquet(str(paths["products"]))
    return paths


@contextmanager
def staged_parts(bundle: Path, model: Any, indexed: Indexed, events: Any) -> Iterator[Path]:
    """The bundle's content as Parquet in ``.<bundle>.parts/`` (removed when the block ends): pairs, user and
    item factors, catalogue and user attributes."""
    from pyspark.sql import functions as F

    parts = bundle.parent / f".{bundle.name}.parts"
    shutil.rmtree(parts, ignore_errors=True)
    try:
        last_ts = indexed.pairs.agg(F.max("last")).first()[0]
        age = (F.unix_timestamp(F.lit(last_ts).cast("timestamp")) - F.unix_timestamp("last")) / 86400.0 + 1.0
        indexed.pairs.select("uidx", "iidx", "lines", "weight", age.alias("age")).write.parquet(str(parts / "pairs"))
        model.userFactors.write.parquet(str(parts / "user_factors"))
        model.itemFactors.write.parquet(str(parts / "item_factors"))
        catalogue_frame(events, indexed).write.parquet(str(parts / "catalogue"))
        _user_attributes(events, indexed).write.parquet(str(parts / "user_attributes"))
        yield parts
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def catalogue_frame(events: Any, indexed: Indexed) -> Any:
    """Per product index: most frequent name/category/description (ties: smallest text), median price."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    item = F.col(C.Item).cast("string").alias(C.Item)
    table = indexed.item_index
    for column in (C.ItemName, C.Category, C.Description):
        if column not in events.columns:
            continue
        counts = events.where(F.col(column).isNotNull()).groupBy(item, F.col(column).cast("string").alias(column)).count()
        best = Window.partitionBy(C.Item).orderBy(F.desc("count"), column)
        table = table.join(counts.withColumn("_r", F.row_number().over(best)).where("_r = 1").select(C.Item, column),
                           C.Item, "left")
    if C.Price in events.columns:
        table = table.join(events.groupBy(item).agg(F.median(F.col(C.Price).cast("double")).alias(C.Price)), C.Item,
                           "left")
    return table


def complete_catalogue(catalogue: pd.DataFrame, items: IdMap) -> pd.DataFrame:
    """The bundle's catalogue from :func:`catalogue_frame` rows in index order: a missing name is the id, a
    missing category ``unknown``, a missing description empty (the local Dataset's defaults)."""
    out = pd.DataFrame({C.Item: items.external_ids.astype(str)})
    for column, fill in ((C.ItemName, None), (C.Category, "unknown"), (C.Description, "")):
        values = catalogue[column].to_numpy(dtype=object) if column in catalogue else np.full(len(out), None)
        out[column] = pd.Series(values).fillna(out[C.Item] if fill is None else fill).astype(str)
    out[C.Price] = (catalogue[C.Price].to_numpy(dtype="float64") if C.Price in catalogue
                    else np.full(len(out), np.nan))
    return out[list(CATALOGUE_COLUMNS)]


def _user_attributes(events: Any, indexed: Indexed) -> Any:
    """Per user index: the last known (non-null, by purchase date) age, gender, location, income."""
    from pyspark.sql import functions as F

    present = [c for c in USER_ATTRIBUTES if c in events.columns]
    if not present:
        return indexed.user_index.select("uidx")
    last = events.groupBy(F.col(C.User).cast("string").alias(C.User)).agg(
        *[F.max_by(F.col(c), F.when(F.col(c).isNotNull(), F.col(C.Date))).alias(c) for c in present])
    return indexed.user_index.join(last, C.User).select("uidx", *present)


def _read(path: Path, index: str, n: int) -> pd.DataFrame:
    """A staged Parquet directory as pandas, one row per index 0..n-1 in order (pyarrow, no Spark action)."""
    frame = pq.read_table(path).to_pandas()
    return frame.set_index(index).reindex(pd.RangeIndex(n))


def _ids(path: Path, column: str, index: str, n: int) -> IdMap:
    return IdMap(_read(path, index, n)[column].astype(str).to_numpy(dtype=object))


def _factors(path: Path, n: int, rank: int) -> np.ndarray:
    frame = pq.read_table(path).to_pandas()
    out = np.zeros((n, rank), np.float32)
    if len(frame):
        out[frame["id"].to_numpy(np.int64)] = np.vstack(frame["features"].to_numpy()).astype(np.float32)
    return out


def read_dataset(parts: Path, id_maps: Mapping[str, Path], indexed: Indexed,
                 segments: pd.Series | None = None) -> Dataset:
    """The local Dataset (weighting ``log_count``) from the staged parts and the id maps."""
    users = _ids(id_maps["users"], C.User, "uidx", indexed.n_users)
    items = _ids(id_maps["products"], C.Item, "iidx", indexed.n_items)
    pairs = pq.read_table(parts / "pairs").to_pandas()
    shape = (indexed.n_users, indexed.n_items)
    rows, cols = pairs["uidx"].to_numpy(np.int64), pairs["iidx"].to_numpy(np.int64)

    def csr(values: np.ndarray) -> sp.csr_matrix:
        matrix = sp.csr_matrix((values.astype(np.float32), (rows, cols)), shape=shape)
        matrix.sort_indices()
        return matrix

    catalogue = complete_catalogue(_read(parts / "catalogue", "iidx", indexed.n_items), items)
    attrs = _read(parts / "user_attributes", "uidx", indexed.n_users)
    attrs.index = pd.Index(users.external_ids.astype(str), name=C.User)
    return Dataset(users=users, items=items, interactions=csr(pairs["weight"].to_numpy()),
                   purchases=csr(pairs["lines"].to_numpy()),
                   catalogue=catalogue,
                   user_attributes=complete_user_attributes(attrs, segments), weighting="log_count",
                   recency_days=csr(pairs["age"].to_numpy()))


def export_bundle(path: str | os.PathLike[str], parts: Path, id_maps: Mapping[str, Path], indexed: Indexed, *,
                  params: ALSParams = DEFAULT_PARAMS, segments: pd.DataFrame | None = None, segmenter: Any = None,
                  profiles: pd.DataFrame | None = None, evaluation: Mapping[str, Any] | None = None,
                  extra: Mapping[str, Any] | None = None) -> tuple[Path, ALSRecommender]:
    """Write the bundle of the staged Spark ALS at ``path``; return its path and the local model."""
    from ..local.train import segment_labels

    dataset = read_dataset(parts, id_maps, indexed, segment_labels(segments))
    rec = ALSRecommender(factors=params.factors, regularization=params.regularization, alpha=params.alpha,
                         iterations=params.iterations, random_state=params.random_state)
    rec.user_factors_ = _factors(parts / "user_factors", indexed.n_users, params.factors)
    rec.item_factors_ = _factors(parts / "item_factors", indexed.n_items, params.factors)
    rec.dataset_ = dataset
    manifest_params = {"engine": "spark", "trainer": "pyspark.ml.recommendation.ALS(implicitPrefs=True)",
                       "als": params.to_dict(), "id_maps": {k: str(v) for k, v in id_maps.items()},
                       **dict(extra or {})}
    out = save_bundle(path, recommender=rec, segmenter=segmenter, segments=segments, profiles=profiles,
                      evaluation=evaluation, params=manifest_params)
    return out, rec
