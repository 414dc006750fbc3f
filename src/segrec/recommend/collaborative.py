"""LightFM WARP with side features, early stopping, and numpy scoring.

Why the extra machinery around ``lightfm.LightFM``:

- scoring multiplies the final user and item representations (biases folded in as two extra columns) with
  numpy in float32: ~10x faster than ``predict`` over all pairs (see shared NOTES);
- LightFM has no early stopping, so 10% of each user's products are held out, the model is trained epoch by
  epoch with ``fit_partial`` and the epoch with the best held-out precision@10 is kept (then, by default, the
  model is refitted on everything for that many epochs);
- the learned arrays are exported as plain numpy (``get_state``): no pickle, and cold-start users are scored
  from the side-feature embeddings alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from copy import deepcopy
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from lightfm import LightFM
from sklearn.preprocessing import normalize

from .._params import Rule, is_int
from ..columns import Columns
from ..exceptions import InputError
from ..features.interactions import Dataset
from ._topk import reused_score_blocks, top_k_of_product
from .base import Recommender
from .side_features import FeatureEncoder, item_encoder, lightfm_features, user_encoder

__all__ = ["FactorScoring", "LightFMRecommender"]

#: Called after each epoch with (epoch number, held-out precision@10 or None).
EpochCallback = Callable[[int, float | None], None]

_ARRAYS = ("user_factors_", "item_factors_", "user_side_embeddings_", "user_side_biases_")


class FactorScoring:
    """Scoring of factor models: ``user_factors_ @ item_factors_.T`` (float32, biases folded into the factors).

    Recommendations select each chunk's top-k as the product is made (:func:`~segrec.recommend._topk.top_k_of_product`),
    with the same rankings as masking and ranking the full scores: 2.5-3x less CPU on benchmarks/scoring.py.
    """

    user_factors_: np.ndarray
    item_factors_: np.ndarray
    dataset_: Dataset

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return self.user_factors_[user_idx] @ self.item_factors_.T

    def _recommend_chunk(self, user_idx: np.ndarray, k: int, filter_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        if self.user_factors_.dtype != np.float32 or self.item_factors_.dtype != np.float32:
            return super()._recommend_chunk(user_idx, k, filter_seen)  # type: ignore[misc]
        # the chunk multiplied at once, as _score(user_idx) does, so that BLAS rounds every score the same way
        exclude = self.dataset_.purchases[user_idx] if filter_seen else None
        return top_k_of_product(self.user_factors_[user_idx], self.item_factors_, k, exclude=exclude,
                                block_rows=max(len(user_idx), 1))


class LightFMRecommender(FactorScoring, Recommender):
    """Matrix factorisation with LightFM (WARP by default), identity + side features for users and items.

    Parameters
    ----------
    no_components, loss, learning_rate, item_alpha, user_alpha, max_sampled :
        Passed to ``lightfm.LightFM`` (a prototype is built once; ``fit`` trains a copy).
    epochs : int
        Maximum number of epochs (the early-stopping budget).
    use_user_features, use_item_features : bool
        Add side features (segment, demographics bands; category, price band) to the identity features. Item
        features are used only when the catalogue has categories: price bands alone make every product share
        its identity feature with a fifth of the catalogue, which on Online Retail (no categories) cost P@10
        0.052 against 0.059 without them (and 2 s instead of 1.3 s per epoch); on the generated shop category
        and price bands lift P@10 from 0.095 to 0.105.
    use_weights : bool
        Pass ``dataset.interactions`` as WARP sample weights (else every purchase counts 1).
    early_stopping : bool
        Hold out ``validation_fraction`` of each user's products; stop after ``patience`` epochs without
        improvement of precision@10 and keep the best epoch.
    refit : bool
        After early stopping, refit on all interactions for the best number of epochs.
    num_threads : int or None
        LightFM's threads. With more than one thread its Hogwild updates make results vary between runs even
        with ``random_state``, so None means one thread when ``random_state`` is set (the same seed gives the
        same model and rankings) and all cores otherwise. ``benchmarks/quality.py`` fits the Online Retail
        hybrid in 18-26 s so (depending on the machine's load), against 17.7-24.1 s with two threads before.
    """

    _parameter_rules: ClassVar[dict[str, Rule]] = {"epochs": is_int(1), "no_components": is_int(1)}
    fit_releases_gil: ClassVar[bool] = True  # LightFM's fit_partial runs without the GIL

    def __init__(
        self,
        *,
        no_components: int = 64,
        loss: str = "warp",
        learning_rate: float = 0.05,
        item_alpha: float = 1e-6,
        user_alpha: float = 1e-6,
        max_sampled: int = 20,
        epochs: int = 30,
        use_user_features: bool = True,
        use_item_features: bool = True,
        use_weights: bool = True,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 3,
        refit: bool = False,
        num_threads: int | None = None,
        random_state: int | None = 42,
    ) -> None:
        self.no_components = no_components
        self.loss = loss
        self.learning_rate = learning_rate
        self.item_alpha = item_alpha
        self.user_alpha = user_alpha
        self.max_sampled = max_sampled
        self.epochs = epochs
        self.use_user_features = use_user_features
        self.use_item_features = use_item_features
        self.use_weights = use_weights
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.refit = refit
        self.num_threads = num_threads
        self.random_state = random_state

    epoch_callback: EpochCallback | None = None  # not a parameter: set by the CLI for progress bars

    # ------------------------------------------------------------------------------------------ fitting
    def _prototype(self) -> LightFM:
        return LightFM(
            no_components=self.no_components, loss=self.loss, learning_rate=self.learning_rate,
            item_alpha=self.item_alpha, user_alpha=self.user_alpha, max_sampled=self.max_sampled,
            random_state=self.random_state,
        )

    def _fit(self, dataset: Dataset) -> None:
        self.user_encoder_ = user_encoder().fit(dataset.user_attributes) if self.use_user_features else None
        self.item_encoder_ = item_encoder().fit(dataset.catalogue) if self.use_item_features else None
        if self.item_encoder_ is not None and Columns.Category not in self.item_encoder_.levels_:
            self.item_encoder_ = None  # price bands alone tie unrelated products together (see the docstring)
        user_features, item_features, binary, weights = self._inputs(dataset)
        epochs = self.epochs
        self.best_epoch_, self.validation_curve_ = epochs, []
        if self.early_stopping:
            epochs = self._early_stop(binary, weights, user_features, item_features)
        if not self.early_stopping or self.refit:
            self.model_ = self._train(binary, weights, user_features, item_features, epochs)
        self._export(self.model_, user_features, item_features, dataset.n_users)

    def fit_more(self, dataset: Dataset, epochs: int) -> Self:
        """Continue training on ``dataset`` for ``epochs`` more epochs (warm start; no early stopping).

        ``dataset`` must have the users, items and attributes of the one the model was fitted on, typically
        the same data with more interactions: the hybrid fits its parts without a validation slice to tune its
        blend, then brings the model up to date on everything at the cost of a few epochs, not a second fit.
        """
        self.check_fitted()
        if not hasattr(self, "model_"):
            raise InputError("fit_more needs a model fitted in this session (a loaded state has no LightFM model)")
        if (dataset.n_users, dataset.n_items) != (self.dataset_.n_users, self.dataset_.n_items):
            raise InputError("fit_more needs a dataset with the same users and items as the one fitted on")
        user_features, item_features, binary, weights = self._inputs(dataset)
        for _ in range(epochs):
            self._fit_epoch(self.model_, binary, weights, user_features, item_features)
        self._export(self.model_, user_features, item_features, dataset.n_users)
        self.dataset_ = dataset
        return self

    def _inputs(self, dataset: Dataset) -> tuple[sp.csr_matrix | None, sp.csr_matrix | None, sp.csr_matrix,
                                                  sp.csr_matrix]:
        """User and item feature matrices (fitted encoders), binary interactions and the sample weights."""
        user_features = self._features(self.user_encoder_, dataset.user_attributes)
        item_features = self._features(self.item_encoder_, dataset.catalogue)
        binary = sp.csr_matrix(dataset.purchases > 0, dtype=np.float32)
        weights = sp.csr_matrix(dataset.interactions, dtype=np.float32) if self.use_weights else binary
        return user_features, item_features, binary, weights

    @staticmethod
    def _features(encoder: FeatureEncoder | None, frame: pd.DataFrame) -> sp.csr_matrix | None:
        if encoder is None or encoder.n_features_ == 0:
            return None
        return lightfm_features(encoder.transform(frame))

    def _train(self, binary: sp.csr_matrix, weights: sp.csr_matrix, uf: Any, itf: Any, epochs: int) -> LightFM:
        model = deepcopy(self._prototype())  # RecTools pattern: the prototype's parameters stay untouched
        for epoch in range(epochs):
            self._fit_epoch(model, binary, weights, uf, itf)
            if self.epoch_callback is not None:
                self.epoch_callback(epoch + 1, None)
        return model

    def _fit_epoch(self, model: LightFM, binary: sp.csr_matrix, weights: sp.csr_matrix, uf: Any, itf: Any) -> None:
        # interactions and weights share one sparsity pattern in the same (sorted CSR) order, as WARP requires
        model.fit_partial(binary.tocoo(), user_features=uf, item_features=itf, sample_weight=weights.tocoo(),
                          epochs=1, num_threads=self._threads())

    def _threads(self) -> int:
        if self.num_threads:
            return self.num_threads
        return 1 if self.random_state is not None else os.cpu_count() or 1

    def _early_stop(self, binary: sp.csr_matrix, weights: sp.csr_matrix, uf: Any, itf: Any) -> int:
        """Train on 90% of each user's products, track precision@10 on the rest, keep the best epoch."""
        fit_part, held = _holdout(binary, self.validation_fraction, self.random_state)
        fit_weights = weights.multiply(fit_part).tocsr()
        model = deepcopy(self._prototype())
        best, best_params, stale = -1.0, None, 0
        precision = _HeldOutPrecision(fit_part, held)
        with reused_score_blocks():  # one scores block for every epoch's check
            for epoch in range(1, self.epochs + 1):
                self._fit_epoch(model, fit_part, fit_weights, uf, itf)
                score = precision(model, uf, itf)
                self.validation_curve_.append(score)
                if self.epoch_callback is not None:
                    self.epoch_callback(epoch, score)
                if score > best:
                    best, best_params, stale, self.best_epoch_ = score, _params(model), 0, epoch
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        for name, value in (best_params or {}).items():
            setattr(model, name, value)
        self.model_ = model
        return self.best_epoch_

    def _export(self, model: LightFM, uf: Any, itf: Any, n_users: int) -> None:
        """Fold biases into the factors: score = [u, b_u, 1] . [i, 1, b_i]."""
        ub, ue = model.get_user_representations(uf)
        ib, ie = model.get_item_representations(itf)
        ones_u, ones_i = np.ones((len(ub), 1), np.float32), np.ones((len(ib), 1), np.float32)
        self.user_factors_ = np.hstack([ue, ub[:, None], ones_u]).astype(np.float32)
        self.item_factors_ = np.hstack([ie, ones_i, ib[:, None]]).astype(np.float32)
        if uf is not None:  # rows after the identity block are the side features
            self.user_side_embeddings_ = model.user_embeddings[n_users:].astype(np.float32)
            self.user_side_biases_ = model.user_biases[n_users:].astype(np.float32)
        else:
            self.user_side_embeddings_ = np.zeros((0, self.no_components), np.float32)
            self.user_side_biases_ = np.zeros(0, np.float32)

    # ------------------------------------------------------------------------------------------ scoring
    def cold_user_factors(self, attributes: pd.DataFrame) -> np.ndarray | None:
        """Factor rows for new users from their side features alone; None when nothing is encodable."""
        self.check_fitted()
        if self.user_encoder_ is None or len(self.user_side_biases_) == 0:
            return None
        side = normalize(self.user_encoder_.transform(attributes), norm="l1")
        if side.nnz == 0:
            return None
        emb, bias = side @ self.user_side_embeddings_, side @ self.user_side_biases_
        return np.hstack([emb, bias[:, None], np.ones((len(bias), 1))]).astype(np.float32)

    # -------------------------------------------------------------------------------------------- state
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self.check_fitted()
        config = {
            "class": type(self).__name__, "params": self.get_params(),
            "user_encoder": self.user_encoder_.get_state() if self.user_encoder_ else None,
            "item_encoder": self.item_encoder_.get_state() if self.item_encoder_ else None,
            "best_epoch": self.best_epoch_,
        }
        return config, {name: np.asarray(getattr(self, name)) for name in _ARRAYS}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray], dataset: Dataset) -> Self:
        if config.get("class") != cls.__name__:
            raise TypeError(f"state of a {config.get('class')!r} cannot be loaded into {cls.__name__}")
        model = cls(**config["params"])
        for name in _ARRAYS:
            setattr(model, name, np.asarray(arrays[name], dtype=np.float32))
        model.user_encoder_ = FeatureEncoder.from_state(config["user_encoder"]) if config["user_encoder"] else None
        model.item_encoder_ = FeatureEncoder.from_state(config["item_encoder"]) if config["item_encoder"] else None
        model.best_epoch_, model.validation_curve_ = config.get("best_epoch"), []
        model.dataset_ = dataset
        return model


def _holdout(binary: sp.csr_matrix, fraction: float, seed: int | None) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Split each user's products: ``fraction`` (at least one, never all) held out, the rest kept."""
    rng = np.random.default_rng(seed)
    coo = binary.tocoo()
    key = rng.random(coo.nnz)
    order = np.lexsort((key, coo.row))
    sizes = np.diff(binary.indptr)
    starts = np.repeat(binary.indptr[:-1], sizes)
    rank = np.empty(coo.nnz, np.int64)
    rank[order] = np.arange(coo.nnz) - starts
    n_held = np.where(sizes >= 2, np.maximum(1, np.round(sizes * fraction)), 0).astype(np.int64)
    held_mask = rank < np.repeat(n_held, sizes)
    shape = binary.shape

    def part(mask: np.ndarray) -> sp.csr_matrix:
        out = sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=shape, dtype=np.float32)
        out.sort_indices()
        return out

    return part(~held_mask), part(held_mask)


class _HeldOutPrecision:
    """Held-out precision@10 of a model in training, epoch after epoch (numpy: LightFM's own metric is ~100x
    slower). What does not change between epochs is made once (the users, at most ``max_users``; their seen
    products; their held-out ones as a boolean table), and each epoch's top 10 is picked as the scores are made
    (:func:`top_k_of_product`, all users in one product as ``ue @ ie.T + ib`` would be, so the same values):
    on Online Retail the check took 0.14 s an epoch, mostly fresh 30 MB score tables and their padding; 0.07 s now."""

    def __init__(self, seen: sp.csr_matrix, held: sp.csr_matrix, max_users: int = 2000) -> None:
        users = np.flatnonzero(np.diff(held.indptr) > 0)
        self.users = users[:: max(1, len(users) // max_users)]
        self.seen = seen[self.users]
        self.held = held[self.users].toarray() > 0

    def __call__(self, model: LightFM, uf: Any, itf: Any) -> float:
        _, ue = model.get_user_representations(uf)  # the user bias does not change a user's ranking
        ib, ie = model.get_item_representations(itf)
        top, _ = top_k_of_product(ue[self.users], ie, 10, exclude=self.seen, block_rows=max(len(self.users), 1),
                                  bias=ib)
        hits = np.take_along_axis(self.held, np.maximum(top, 0), axis=1) & (top >= 0)
        return float(hits.sum() / (10 * len(self.users)))


def _params(model: LightFM) -> dict[str, np.ndarray]:
    """The arrays that define a LightFM model's predictions and further training (copied)."""
    names = [name for name in vars(model) if name.startswith(("item_", "user_")) and
             isinstance(getattr(model, name), np.ndarray)]
    return {name: getattr(model, name).copy() for name in names}
