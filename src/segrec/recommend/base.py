"""The recommender contract: public methods validate and map ids, subclasses do the maths.

Every model (the hybrid, its parts, and the baselines it is measured against) fits on a
:class:`~segrec.features.interactions.Dataset` and exposes the same three calls, so evaluation, the bundle and the
API treat them alike:

- ``score(user_idx, filter_seen=False)``: a dense (n, n_items) float32 matrix, higher is better (used for
  ranking, AUC and MRR); with ``filter_seen=True`` its order over the products a user has not bought is the
  discover ranking (before any diversity re-ranking), which differs from buy-again's only for models with a
  discover-only stage (the hybrid's learned ranker);
- ``recommend_idx(user_idx, k, filter_seen=True)``: top-k item indices and scores, padded with -1 / -inf;
- ``recommend(user_ids, k, filter_seen=True)``: the same as a DataFrame of external ids.

``filter_seen=True`` is the "discover" mode (products the user already bought are never recommended);
``False`` is "buy again" mode, where repeat purchases compete with new products.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from .._params import Rule, check_params
from ..columns import Columns
from ..exceptions import InputError, NotFittedError
from ..features.interactions import Dataset
from ._topk import keep_score_blocks, reused_score_blocks, top_k

# Rows scored at once: bounds memory to chunk x n_items floats per thread (1024 x 10k x 4 B = 40 MB); 1024
# measured faster than 2048 for 100k x 10k top-10 with two threads.
DEFAULT_CHUNK = 1024


class Recommender(BaseEstimator, ABC):
    """Base class of segrec's recommenders (scikit-learn parameter handling, template methods).

    Subclasses declare their parameter rules as data (``_parameter_rules``: name -> rule of
    :mod:`segrec._params`), checked by :meth:`fit` before any work. What a model can do beyond the three calls
    is a capability flag, read by the API and the CLI instead of probing for methods:

    - ``recommends_cold_users``: ``recommend_cold(k=...)`` answers a customer the model has never seen;
    - ``finds_similar_products``: ``similar_products(product_id, k)`` ("customers also liked").

    The flags follow from the methods a class defines (set once, when the class is created), so a model cannot
    claim a capability it lacks. One hint is declared instead: ``fit_releases_gil``, true when most of
    :meth:`fit` runs outside Python's interpreter lock (LightFM's epochs), so an evaluation may fit the model on
    a thread beside others.
    """

    _parameter_rules: ClassVar[Mapping[str, Rule]] = {}
    recommends_cold_users: ClassVar[bool] = False
    finds_similar_products: ClassVar[bool] = False
    fit_releases_gil: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.recommends_cold_users = callable(getattr(cls, "recommend_cold", None))
        cls.finds_similar_products = callable(getattr(cls, "similar_products", None))

    def fit(self, dataset: Dataset) -> Self:
        """Check the parameters, learn from ``dataset``; returns ``self``."""
        check_params(self.get_params(deep=False), self._parameter_rules, type(self).__name__)
        if not isinstance(dataset, Dataset):
            raise InputError(f"{type(self).__name__}.fit expects a segrec Dataset, got {type(dataset).__name__}")
        self._fit(dataset)
        self.dataset_ = dataset
        return self

    @abstractmethod
    def _fit(self, dataset: Dataset) -> None: ...

    @abstractmethod
    def _score(self, user_idx: np.ndarray) -> np.ndarray: ...

    def _score_discover(self, user_idx: np.ndarray) -> np.ndarray:
        """Scores ranking the unbought items as discover mode does; models with a discover-only stage override."""
        return self._score(user_idx)

    def check_fitted(self) -> None:
        if not hasattr(self, "dataset_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(dataset) first")

    def score(self, user_idx: np.ndarray, *, filter_seen: bool = False) -> np.ndarray:
        """Scores of every item for the users at ``user_idx`` (dense float32).

        ``filter_seen`` picks the mode the scores rank for, as in :meth:`recommend_idx`; bought items are not
        masked either way (discover mode leaves them out of the ranking, so their scores are not used there).
        """
        self.check_fitted()
        user_idx = self._valid_idx(user_idx)
        scores = self._score_discover(user_idx) if filter_seen else self._score(user_idx)
        return np.asarray(scores, dtype=np.float32)

    def recommend_idx(
        self,
        user_idx: np.ndarray,
        k: int = 10,
        *,
        filter_seen: bool = True,
        chunk_size: int = DEFAULT_CHUNK,
        n_jobs: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item indices and scores per user, scored in chunks (bounded memory) on ``n_jobs`` threads
        (None: every core); models' ``_recommend_chunk`` must only read shared state."""
        self.check_fitted()
        user_idx = self._valid_idx(user_idx)
        return self._ranked(user_idx, k, lambda chunk: self._recommend_chunk(chunk, k, filter_seen),
                            (np.int64, np.float32), chunk_size, n_jobs)

    @staticmethod
    def _ranked(user_idx: np.ndarray, k: int, rank: Callable[[np.ndarray], tuple[np.ndarray, ...]],
                dtypes: tuple[type, ...], chunk_size: int = DEFAULT_CHUNK,
                n_jobs: int | None = None) -> tuple[np.ndarray, ...]:
        """``rank`` applied to chunks of ``user_idx`` (see :func:`map_chunks`); its (chunk x ``k``) outputs, of
        ``dtypes``, stacked for every user."""
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        out = tuple(np.empty((len(user_idx), k), dtype) for dtype in dtypes)

        def run(rows: slice) -> None:
            for block, part in zip(out, rank(user_idx[rows]), strict=True):
                block[rows] = part

        map_chunks(len(user_idx), chunk_size, n_jobs, run)
        return out

    def _recommend_chunk(self, user_idx: np.ndarray, k: int, filter_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        """Default ranking: full scores, seen items masked, top-k. Re-rankers override this."""
        # C order: a copy keeps the layout of its source, and a broadcast row (popularity) would come out in
        # Fortran order, where ranking along each row is several times slower
        scores = np.array(self._score(user_idx), dtype=np.float32, order="C", copy=True)
        if filter_seen:
            mask_seen(scores, self.dataset_, user_idx)
        return top_k(scores, k)

    def recommend(
        self,
        user_ids: Iterable[object],
        k: int = 10,
        *,
        filter_seen: bool = True,
        on_unknown: Literal["raise", "skip"] = "raise",
    ) -> pd.DataFrame:
        """Recommendations as a DataFrame (user_id, rank, product_id, score); rank starts at 1."""
        ids, idx = self._known_users(user_ids, on_unknown)
        items, scores = self.recommend_idx(idx, k, filter_seen=filter_seen)
        return recommendations_frame(self.dataset_, ids, items, scores)

    def _known_users(self, user_ids: Iterable[object], on_unknown: str) -> tuple[np.ndarray, np.ndarray]:
        """The ids as text and their indices; unknown ids raise, or are dropped with ``on_unknown="skip"``."""
        self.check_fitted()
        ids = np.asarray(list(user_ids), dtype=object).astype(str)
        idx = self.dataset_.user_index(ids)
        unknown = idx < 0
        if unknown.any():
            if on_unknown == "raise":
                raise InputError(f"unknown user id(s): {', '.join(ids[unknown][:5])}"
                                 f"{' ...' if unknown.sum() > 5 else ''}")
            ids, idx = ids[~unknown], idx[~unknown]
        return ids, idx

    def _valid_idx(self, user_idx: np.ndarray) -> np.ndarray:
        user_idx = np.asarray(user_idx, dtype=np.int64).ravel()
        if len(user_idx) and (user_idx.min() < 0 or user_idx.max() >= self.dataset_.n_users):
            raise InputError(f"user indices must lie in [0, {self.dataset_.n_users}); map ids with dataset.user_index")
        return user_idx


def map_chunks(n: int, chunk_size: int, n_jobs: int | None, run: Callable[[slice], None]) -> None:
    """Call ``run`` on consecutive row slices of ``chunk_size`` rows, on ``n_jobs`` threads (None: every core)."""
    starts = range(0, n, chunk_size)
    chunks = [slice(start, min(start + chunk_size, n)) for start in starts]
    workers = min(n_jobs or os.cpu_count() or 1, len(chunks))
    # factor models' chunks reuse one scores block per thread for the whole job (see reused_score_blocks)
    if workers <= 1:
        with reused_score_blocks():
            for rows in chunks:
                run(rows)
        return
    # chunks in threads (numpy's matmul and argpartition release the GIL); one BLAS thread each so the workers
    # do not oversubscribe the cores
    with threadpool_limits(1, "blas"), ThreadPoolExecutor(workers, initializer=keep_score_blocks) as pool:
        list(pool.map(run, chunks))


def take_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``matrix[rows]``, or ``matrix`` itself when ``rows`` is every row in order: the fold-in scores a dataset
    made of its own few customers, and scipy's row indexing costs ~140 us a call even for one row, several calls
    a customer. The result may be ``matrix``: callers must not change it in place."""
    n = matrix.shape[0]
    if isinstance(rows, np.ndarray) and rows.ndim == 1 and len(rows) == n and n and rows[0] == 0 \
            and rows[-1] == n - 1 and np.array_equal(rows, np.arange(n)):
        return matrix
    return matrix[rows]  # anything else (a slice, a list, a subset) as scipy indexes it


def mask_seen(scores: np.ndarray, dataset: Dataset, user_idx: np.ndarray) -> None:
    """Set the scores of items each user already bought to -inf, in place."""
    seen = take_rows(dataset.purchases, user_idx).tocoo()
    scores[seen.row, seen.col] = -np.inf


def recommendations_frame(dataset: Dataset, user_ids: np.ndarray, items: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Long frame from top-k arrays, dropping padding (-1)."""
    k = items.shape[1] if items.ndim == 2 else 0
    valid = items >= 0
    rows, ranks = np.nonzero(valid)
    return pd.DataFrame(
        {
            Columns.User: np.asarray(user_ids, dtype=object)[rows],
            Columns.Rank: (ranks + 1).astype(np.int64),
            Columns.Item: dataset.items.to_external(items[valid]) if k else np.array([], dtype=object),
            Columns.Score: scores[valid].astype(np.float64),
        }
    )
