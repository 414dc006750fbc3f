"""Beyond-accuracy metrics: catalogue coverage, intra-list diversity and novelty.

A model can win on precision by recommending the same twenty best sellers to everyone; these metrics say
whether it does. Inputs are the (n_users, k) top-k arrays of :meth:`Recommender.recommend_idx` (padding
-1 is ignored).

>>> import numpy as np
>>> float(catalogue_coverage(np.array([[0, 1], [1, -1]]), n_items=4))
0.5
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from ..columns import Columns
from ..recommend.content import product_text

__all__ = ["catalogue_coverage", "intra_list_diversity", "item_text_vectors", "novelty"]


def catalogue_coverage(top_items: np.ndarray, n_items: int) -> float:
    """Share of the catalogue recommended to at least one user."""
    valid = top_items[top_items >= 0]
    return float(len(np.unique(valid)) / n_items) if n_items else 0.0


def item_text_vectors(catalogue: pd.DataFrame) -> sp.csr_matrix:
    """L2-normalised TF-IDF rows of each product's name, category and description (rows follow item index).

    Only real text counts: the placeholders ingestion fills in for a shop that gave none (a name equal to the
    product id, category "unknown", an empty description; see :func:`~segrec.recommend.content.product_text`)
    say nothing about a product, so such a product gets a zero row, which :func:`intra_list_diversity` leaves out.
    Counting them as text made every product of a shop without metadata "unknown", i.e. identical: diversity 0.
    """
    named = catalogue
    if Columns.ItemName in catalogue and Columns.Item in catalogue:
        name = catalogue[Columns.ItemName].astype("string")
        named = catalogue.assign(**{Columns.ItemName: name.mask(name == catalogue[Columns.Item].astype("string"), "")})
    text = product_text(named)
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, token_pattern=r"(?u)\b[a-zA-Z]{2,}\b")
    try:
        return sp.csr_matrix(vectorizer.fit_transform(text), dtype=np.float64)
    except ValueError:  # no usable word at all
        return sp.csr_matrix((len(catalogue), 1), dtype=np.float64)


def intra_list_diversity(top_items: np.ndarray, item_vectors: sp.csr_matrix) -> np.ndarray:
    """Per user ``1 - mean pairwise cosine similarity`` of the listed items that have text (a non-zero row).

    NaN, i.e. undefined rather than 0 or 1, for a list with fewer than two such items: without text nothing
    says whether two products are alike. Uses ``sum_{i != j} v_i . v_j = |sum_i v_i|^2 - sum_i |v_i|^2``,
    so no k x k matrix is formed: the cost is one sparse product over all lists.
    """
    top_items = np.asarray(top_items, dtype=np.int64)
    n_users, k = top_items.shape
    has_text = np.diff(item_vectors.tocsr().indptr) > 0
    valid = (top_items >= 0) & has_text[np.where(top_items >= 0, top_items, 0)]
    rows = np.repeat(np.arange(n_users), k)[valid.ravel()]
    picked = item_vectors[top_items[valid]]
    summer = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(n_users, len(rows)))
    sums = summer @ picked
    sum_sq = np.asarray(sums.multiply(sums).sum(axis=1)).ravel()
    self_sq = np.bincount(rows, weights=np.asarray(picked.multiply(picked).sum(axis=1)).ravel(), minlength=n_users)
    m = valid.sum(axis=1).astype(np.float64)
    pairs = m * (m - 1)
    mean_sim = np.divide(sum_sq - self_sq, pairs, out=np.full(n_users, np.nan), where=pairs > 0)
    return 1.0 - np.clip(mean_sim, 0.0, 1.0)


def novelty(top_items: np.ndarray, popularity: np.ndarray, n_users: int) -> np.ndarray:
    """Per user mean self-information ``-log2(buyers / users)`` of the listed items, in bits (NaN if empty).

    A best seller bought by half the customers carries 1 bit; a product bought by one customer in 4,000
    carries 12. Higher means less obvious recommendations.
    """
    top_items = np.asarray(top_items, dtype=np.int64)
    valid = top_items >= 0
    share = np.maximum(np.asarray(popularity, dtype=np.float64), 1.0) / max(n_users, 1)
    info = np.where(valid, -np.log2(share[np.where(valid, top_items, 0)]), 0.0)
    count = valid.sum(axis=1)
    return np.divide(info.sum(axis=1), count, out=np.full(len(count), np.nan), where=count > 0)
