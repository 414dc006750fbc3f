"""Global row positions and dense id indices computed on the cluster, never on the driver.

Why: the local :class:`~segrec.features.interactions.Dataset` numbers users and products by their sorted string ids,
and the RFM scores need each customer's global rank. Collecting every id to the driver to number them makes
the driver, not the cluster, the limit (~800 B of Python per id: ~40 GB at 50M customers). Here a row's
position is its index inside its sorted partition (``monotonically_increasing_id``) plus the sizes of the
partitions before it: one distributed sort, and one count per partition collected.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["global_positions", "id_index"]


@contextmanager
def global_positions(frame: Any, order: Sequence[Any], keep: Sequence[str]) -> Iterator[tuple[Any, int]]:
    """``keep`` columns and ``_pos``, the 0-based position of each row in ``order`` (which must be a total
    order), and the number of rows. The sorted frame is cached inside the block (it is read twice: counts,
    then positions) and released when the block ends, so use the positions inside it."""
    from pyspark.sql import functions as F

    ordered = (frame.orderBy(*order).select(*keep, F.spark_partition_id().alias("_p"),
                                            F.monotonically_increasing_id().alias("_m")).cache())
    try:
        counts = {int(r["_p"]): (int(r["n"]), int(r["first"]))
                  for r in ordered.groupBy("_p").agg(F.count("*").alias("n"), F.min("_m").alias("first")).collect()}
        offsets, before = {}, 0
        for p in sorted(counts):
            offsets[p] = before - counts[p][1]  # position = rows before this partition + (_m - first _m)
            before += counts[p][0]
        shift = (F.element_at(F.create_map(*[F.lit(x) for p, o in offsets.items() for x in (p, o)]), F.col("_p"))
                 if offsets else F.lit(0))
        yield ordered.select(*keep, (F.col("_m") + shift).alias("_pos")), before
    finally:
        ordered.unpersist()


def id_index(values: Any, column: str, name: str) -> tuple[Any, int]:
    """Distinct ``column`` values (as text) numbered 0.. in sorted order, as the local ``IdMap.from_values``
    numbers them (Spark compares strings by UTF-8 bytes, which is code-point order, Python's), cached; and
    their number. The caller unpersists the frame."""
    from pyspark.sql import functions as F

    distinct = values.select(F.col(column).cast("string").alias(column)).where(F.col(column).isNotNull()).distinct()
    with global_positions(distinct, [F.col(column).asc()], [column]) as (positions, n):
        index = positions.select(column, F.col("_pos").cast("int").alias(name)).cache()
        index.count()  # materialised before the sorted frame it reads is released
    return index, n
