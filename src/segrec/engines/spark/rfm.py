"""The RFM view in Spark, with the definitions of :mod:`segrec.features.rfm` (same score digits, same named groups).

The local rule is kept exactly: each score is the quintile of the customer's *rank* (ties broken by customer
id), ``floor((rank - 1) * 5 / n) + 1``, R reversed so the most recent customers score 5, and the group is
:data:`segrec.features.rfm.RFM_GRID` ``[r - 1][f - 1]``. The rank is a global position, computed without collecting
customers or sorting them in one partition: a distributed sort by (value, user id), then each row's position
inside its sorted partition plus the sizes of the partitions before it (only one count per partition is
collected). Scores can differ from the local engine's only where two customers' spending differs by
floating-point summation order (the features agree to about 1e-13), which can swap two adjacent ranks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from ...columns import Columns
from ...features.rfm import RFM_GRID
from .indexing import global_positions

__all__ = ["rfm_columns"]

C = Columns


@contextmanager
def rfm_columns(features: Any) -> Iterator[Any]:
    """``user_id``, ``rfm_score`` (e.g. ``"545"``) and ``rfm_group`` of every customer of a Spark feature table
    (:func:`segrec.engines.spark.features.customer_features` output: recency, frequency, spending). Use the
    frame inside the block: the three sorted tables behind it are cached until the block ends."""
    from pyspark.sql import functions as F

    scores = None
    with ExitStack() as stack:
        for column, value, ascending in ((C.RScore, C.Recency, False), (C.FScore, C.Frequency, True),
                                         (C.MScore, C.Spending, True)):
            key = F.col(value).asc() if ascending else F.col(value).desc()
            pos, n = stack.enter_context(global_positions(features, [key, F.col(C.User).asc()], [C.User]))
            score = pos.select(C.User, (F.floor(F.col("_pos") * 5 / n) + 1).cast("int").alias(column))
            scores = score if scores is None else scores.join(score, C.User)
        grid = F.array(*[F.array(*[F.lit(g) for g in row]) for row in RFM_GRID])
        yield scores.select(
            C.User,
            F.concat(*[F.col(c).cast("string") for c in (C.RScore, C.FScore, C.MScore)]).alias(C.RFMScore),
            F.element_at(F.element_at(grid, F.col(C.RScore)), F.col(C.FScore)).alias(C.RFMGroup),
        )
