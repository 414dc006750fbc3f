"""Baselines every model must beat before it earns its complexity.

- :class:`PopularityRecommender`: the best sellers (distinct buyers), the same list for everyone;
- :class:`SegmentPopularityRecommender`: best sellers within the user's segment, global ones otherwise;
- :class:`BuyAgainRecommender`: the user's own purchases, recency-weighted (for "buy again" mode);
- :class:`LightFMOriginalRecommender`: LightFM WARP with the original project's settings, no side features;
- :class:`ALSRecommender`: implicit's alternating least squares;
- :class:`EASERecommender`: the closed-form item-item model of Steck (2019), "Embarrassingly Shallow
  Autoencoders", which is hard to beat on purchase data.

Each follows the :class:`~segrec.recommend.base.Recommender` contract and the pickle-free
``get_state()`` / ``from_state()`` protocol.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from .._params import Rule, is_int, is_real, optional
from ..features.interactions import Dataset
from ._item_item import ease_dense
from ._state import ArrayStateMixin
from .base import Recommender
from .collaborative import FactorScoring, LightFMRecommender
from .priors import HALF_LIFE_DAYS, recency_weights, segment_popularity

__all__ = [
    "ALSRecommender",
    "BuyAgainRecommender",
    "EASERecommender",
    "LightFMOriginalRecommender",
    "PopularityRecommender",
    "SegmentPopularityRecommender",
]


def _binary(dataset: Dataset) -> sp.csr_matrix:
    """Who bought what, as 0/1 float32 (the purchases' pattern)."""
    x = dataset.purchases.copy().astype(np.float32)
    x.data[:] = 1.0
    return x


def _share_of_buyers(x: sp.csr_matrix) -> np.ndarray:
    return (np.asarray(x.sum(axis=0)).ravel() / max(x.shape[0], 1)).astype(np.float32)


class PopularityRecommender(ArrayStateMixin, Recommender):
    """Rank products by their share of distinct buyers; ties go to the lower item index."""

    _state_arrays: ClassVar[tuple[str, ...]] = ("popularity_",)

    def _fit(self, dataset: Dataset) -> None:
        self.popularity_ = _share_of_buyers(_binary(dataset))

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(user_idx), len(self.popularity_)))


class SegmentPopularityRecommender(ArrayStateMixin, Recommender):
    """Best sellers among the customers of the user's segment (``user_attributes["segment"]``).

    Users without a segment, or in a segment of fewer than ``min_segment_users`` customers, get the global
    ranking; global popularity also breaks ties within a segment.
    """

    _state_arrays: ClassVar[tuple[str, ...]] = ("popularity_", "segment_popularity_", "user_segment_")

    _parameter_rules: ClassVar[dict[str, Rule]] = {"min_segment_users": is_int(1)}

    def __init__(self, *, min_segment_users: int = 20) -> None:
        self.min_segment_users = min_segment_users

    def _fit(self, dataset: Dataset) -> None:
        self.popularity_ = _share_of_buyers(_binary(dataset))
        self.segment_popularity_, self.user_segment_ = segment_popularity(dataset, min_segment_users=self.min_segment_users)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        tie_break = 1e-4 * self.popularity_
        segment = self.user_segment_[user_idx]
        scores = np.tile(self.popularity_, (len(user_idx), 1))
        own = segment >= 0
        scores[own] = self.segment_popularity_[segment[own]] + tie_break
        return scores


class BuyAgainRecommender(Recommender):
    """The user's own products first (recency-weighted purchase count), then global best sellers.

    Each purchase line weighs ``0.5 ** (age_days / half_life_days)``, its age measured from the last training
    purchase, when ``fit`` receives the training ``events``; otherwise every line weighs 1 (the Dataset holds
    counts, not dates). A bought product scores ``1 + weight``, above any product never bought (scored by its
    share of buyers, in [0, 1]), so a list is topped up with best sellers when a user has few products.
    Meant for "buy again" mode: with bought products filtered out it is plain popularity.
    """

    _parameter_rules: ClassVar[dict[str, Rule]] = {"half_life_days": is_real(0, closed="neither")}

    def __init__(self, *, half_life_days: float = HALF_LIFE_DAYS) -> None:
        self.half_life_days = half_life_days

    def fit(self, dataset: Dataset, *, events: pd.DataFrame | None = None) -> Self:
        super().fit(dataset)
        if events is not None:
            self.weights_ = recency_weights(dataset, self.half_life_days, events)
        return self

    def _fit(self, dataset: Dataset) -> None:
        self.popularity_ = _share_of_buyers(_binary(dataset))
        self.weights_ = dataset.purchases.astype(np.float32).tocsr()

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        scores = np.tile(self.popularity_, (len(user_idx), 1))
        own = self.weights_[user_idx].tocoo()
        scores[own.row, own.col] = 1.0 + own.data
        return scores

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self.check_fitted()
        w = self.weights_
        arrays = {"popularity_": self.popularity_, "weights_data": w.data, "weights_indices": w.indices,
                  "weights_indptr": w.indptr}
        return {"class": type(self).__name__, "params": self.get_params()}, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray], dataset: Dataset) -> Self:
        if config.get("class") != cls.__name__:
            raise TypeError(f"state of a {config.get('class')!r} cannot be loaded into {cls.__name__}")
        model = cls(**config.get("params", {}))
        model.popularity_ = np.asarray(arrays["popularity_"])
        model.weights_ = sp.csr_matrix(
            (arrays["weights_data"], arrays["weights_indices"], arrays["weights_indptr"]),
            shape=(dataset.n_users, dataset.n_items),
        )
        model.dataset_ = dataset
        return model


class _FactorRecommender(FactorScoring, ArrayStateMixin, Recommender):
    """Scores are ``user_factors_ @ item_factors_.T`` (biases folded into the factors)."""

    _state_arrays: ClassVar[tuple[str, ...]] = ("user_factors_", "item_factors_")


class LightFMOriginalRecommender(LightFMRecommender):
    """LightFM as the original project ran it: WARP, 10 components, 30 epochs, seed 42, no side features.

    A fixed configuration of :class:`~segrec.recommend.collaborative.LightFMRecommender`: LightFM's own
    defaults otherwise (no regularisation, ``max_sampled=10``), who-bought-what without weights, no early
    stopping. Kept as a baseline so that the tuned model's gain is measured, not assumed;
    ``num_threads=1`` makes the fit reproducible for a seed.
    """

    def __init__(self, *, no_components: int = 10, epochs: int = 30, loss: str = "warp", learning_rate: float = 0.05,
                 random_state: int = 42, num_threads: int = 1) -> None:
        super().__init__(no_components=no_components, epochs=epochs, loss=loss, learning_rate=learning_rate,
                         item_alpha=0.0, user_alpha=0.0, max_sampled=10, use_user_features=False,
                         use_item_features=False, use_weights=False, early_stopping=False,
                         num_threads=num_threads, random_state=random_state)


class ALSRecommender(_FactorRecommender):
    """implicit's ALS on the dataset's weighted interactions (confidence ``1 + alpha * weight``).

    Defaults chosen on a validation cut inside Online Retail's training period (2011-10-01): alpha in
    {1, 5, 10, 20, 40} gave P@10 0.073, 0.072, 0.069, 0.064, 0.056; regularization 0.05 beat 0.1.

    BLAS is held to one thread during the fit: implicit runs its own threads and warns when OpenBLAS does too.
    """

    _parameter_rules: ClassVar[dict[str, Rule]] = {
        "factors": is_int(1), "regularization": is_real(0), "alpha": is_real(0, closed="neither"),
        "iterations": is_int(1), "random_state": optional(is_int(0)), "num_threads": is_int(0)}

    def __init__(self, *, factors: int = 64, regularization: float = 0.05, alpha: float = 1.0, iterations: int = 15,
                 random_state: int = 42, num_threads: int = 0) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, dataset: Dataset) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        with threadpool_limits(1, "blas"):  # implicit checks the BLAS threads when the model is created
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                            alpha=self.alpha, iterations=self.iterations,
                                            random_state=self.random_state, num_threads=self.num_threads)
            model.fit(dataset.interactions.tocsr(), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)


class EASERecommender(ArrayStateMixin, Recommender):
    """EASE: ``B = I - P / diag(P)`` with ``P = (X^T X + regularization * I)^-1``, diagonal of B zero.

    Closed form, one fit, no epochs. ``X`` is who-bought-what (binary). ``B`` is a dense
    (n_items, n_items) float32 matrix: 55 MB for Online Retail's 3.7k products, ~0.9 GB at 15k products
    (twice that at peak while inverting), which is about where this model stops being practical here.
    """

    _state_arrays: ClassVar[tuple[str, ...]] = ("item_weights_",)

    _parameter_rules: ClassVar[dict[str, Rule]] = {"regularization": is_real(0, closed="neither")}

    def __init__(self, *, regularization: float = 300.0) -> None:
        self.regularization = regularization

    def _fit(self, dataset: Dataset) -> None:
        self.item_weights_ = ease_dense(_binary(dataset), self.regularization)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        x = self.dataset_.purchases[user_idx].astype(np.float32)
        x.data[:] = 1.0
        return np.asarray(x @ self.item_weights_, dtype=np.float32)
