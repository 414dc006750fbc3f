"""The RFM view in Spark, with the definitions of :mod:`segrec.rfm` (same score digits, same named groups).

The local rule is kept exactly: each score is the quintile of the customer's *rank* (ties broken by customer
id), ``floor((rank - 1) * 5 / n) + 1``, R reversed so the most recent customers score 5, and the group is
:data:`segrec.rfm.RFM_GRID` ``[r - 1][f - 1]``. The rank is a global position, computed without collecting
customers or sorting them in one partition: a distributed sort by (value, user id), then each row's position
inside its sorted partition plus the sizes of the partitions before it (only one count per partition is
collected). Scores can differ from the local engine's only where two customers' spending differs by
floating-point summation order (the features agree to about 1e-13), which can swap two adjacent ranks.
"""

from __future__ import annotations

from typing import Any

from ...columns import Columns
from ...rfm import RFM_GRID

__all__ = ["global_positions", "rfm_columns"]

C = Columns


def global_positions(frame: Any, value: str, *, ascending: bool = True) -> Any:
    """``user_id`` and ``_pos``: the 0-based position of each row when sorted by ``value`` (ties: user id)."""
    from pyspark.sql import functions as F

    key = F.col(value).asc() if ascending else F.col(value).desc()
    ordered = (frame.select(C.User, value).orderBy(key, F.col(C.User).asc())
               .select(C.User, F.spark_partition_id().alias("_p"), F.monotonically_increasing_id().alias("_m"))
               .cache())  # one sort, read twice: per-partition counts, then positions
    counts = {int(r["_p"]): (int(r["n"]), int(r["first"]))
              for r in ordered.groupBy("_p").agg(F.count("*").alias("n"), F.min("_m").alias("first")).collect()}
    offsets, before = {}, 0
    for p in sorted(counts):
        offsets[p] = before - counts[p][1]  # position = ids before this partition + (_m - first _m)
        before += counts[p][0]
    shift = F.element_at(F.create_map(*[F.lit(x) for p, o in offsets.items() for x in (p, o)]), F.col("_p"))
    return ordered.select(C.User, (F.col("_m") + shift).alias("_pos"))


def rfm_columns(features: Any) -> Any:
    """``user_id``, ``rfm_score`` (e.g. ``"545"``) and ``rfm_group`` of every customer of a Spark feature table
    (:func:`segrec.engines.spark.features.customer_features` output: recency, frequency, spending)."""
    from pyspark.sql import functions as F

    n = features.count()
    scores = None
    for column, value, ascending in ((C.RScore, C.Recency, False), (C.FScore, C.Frequency, True),
                                     (C.MScore, C.Spending, True)):
        pos = global_positions(features, value, ascending=ascending)
        score = pos.select(C.User, (F.floor(F.col("_pos") * 5 / n) + 1).cast("int").alias(column))
        scores = score if scores is None else scores.join(score, C.User)
    grid = F.array(*[F.array(*[F.lit(g) for g in row]) for row in RFM_GRID])
    return scores.select(
        C.User,
        F.concat(*[F.col(c).cast("string") for c in (C.RScore, C.FScore, C.MScore)]).alias(C.RFMScore),
        F.element_at(F.element_at(grid, F.col(C.RScore)), F.col(C.FScore)).alias(C.RFMGroup),
    )
