"""The classic RFM view: recency, frequency and monetary quintile scores and the usual named groups.

Why next to K-Means: marketers already know RFM groups; showing both lets an analyst map the learned
segments onto a vocabulary they trust.

Scores are 1-5 quintiles of the *rank* (ties broken by customer id order), so they exist even when a
column has few distinct values (most customers buy once) - ``qcut`` on raw values would fail there.
R is reversed: the most recent customers score 5.

Groups use the standard R x F grid (M is shown in the score but, as usual, does not change the group):

====  =================  ==================  ==================  =================  ===============
R\\F   1                  2                   3                   4                  5
====  =================  ==================  ==================  =================  ===============
5     New Customers      Potential Loyalists Potential Loyalists Champions          Champions
4     Promising          Potential Loyalists Potential Loyalists Loyal Customers    Loyal Customers
3     About to Sleep     About to Sleep      Need Attention      Loyal Customers    Loyal Customers
2     Hibernating        Hibernating         At Risk             At Risk            Can't Lose Them
1     Lost               Hibernating         At Risk             At Risk            Can't Lose Them
====  =================  ==================  ==================  =================  ===============

("Lost" is the R=1, F=1 corner of the usual "Hibernating" block.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..columns import Columns

__all__ = ["RFM_GRID", "quintile_scores", "rfm_groups", "rfm_table"]

#: RFM_GRID[r - 1][f - 1] is the group of a customer with recency score r and frequency score f.
RFM_GRID = (
    ("Lost", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"),
    ("Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"),
    ("About to Sleep", "About to Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"),
    ("Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers", "Loyal Customers"),
    ("New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"),
)


def quintile_scores(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """Scores 1-5 from the rank of each value (ties broken by position), as equal-sized as possible.

    >>> quintile_scores(pd.Series([1, 1, 1, 1, 1, 2, 9, 9, 9, 9])).tolist()
    [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    """
    ranks = values.rank(method="first", ascending=higher_is_better).to_numpy()
    scores = np.floor((ranks - 1) * 5 / len(values)).astype("int64") + 1
    return pd.Series(scores, index=values.index, dtype="int64")


def rfm_groups(r: pd.Series, f: pd.Series) -> pd.Series:
    """Named group of each customer from the R x F grid above."""
    grid = np.array(RFM_GRID, dtype=object)
    return pd.Series(grid[r.to_numpy() - 1, f.to_numpy() - 1], index=r.index, dtype="string")


def rfm_table(features: pd.DataFrame) -> pd.DataFrame:
    """R, F, M scores, the ``rfm_score`` string (e.g. ``"545"``) and the group, per customer.

    ``features`` is :func:`segrec.features.customers.customer_features` output (recency, frequency, spending).
    """
    ordered = features.sort_index()
    out = pd.DataFrame(index=ordered.index)
    out[Columns.RScore] = quintile_scores(ordered[Columns.Recency], higher_is_better=False)
    out[Columns.FScore] = quintile_scores(ordered[Columns.Frequency])
    out[Columns.MScore] = quintile_scores(ordered[Columns.Spending])
    out[Columns.RFMScore] = (
        out[Columns.RScore].astype("string") + out[Columns.FScore].astype("string")
        + out[Columns.MScore].astype("string")
    )
    out[Columns.RFMGroup] = rfm_groups(out[Columns.RScore], out[Columns.FScore])
    return out.reindex(features.index)
