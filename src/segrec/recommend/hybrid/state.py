"""The hybrid's pickle-free state: a JSON config (parameters, weights, tuning table, ranker feature names) and
numpy arrays (the parts' arrays prefixed ``cf__`` / ``content__``, the priors, the item-item matrix)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ...features.interactions import Dataset
from ..collaborative import LightFMRecommender
from ..content import ContentRecommender
from ..priors import HALF_LIFE_DAYS, recency_weights
from .ranker import LinearRanker
from .signals import SIGNALS

if TYPE_CHECKING:
    from .model import HybridRecommender

__all__ = ["load_state", "model_state"]

_DENSE = ("trend", "popularity", "segment_popularity", "category_share", "category_prior", "peer_popularity")
_CODES = ("user_segment", "item_category", "user_peers")
_SPARSE = ("item_item", "again")


def model_state(model: HybridRecommender, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    cf_config, cf_arrays = model.cf_.get_state()
    ct_config, ct_arrays = model.content_.get_state()
    config = {
        "class": type(model).__name__,
        "params": params,
        "parts": {"cf": cf_config, "content": ct_config},
        "favourites": model.favourites_,
        "weights": model.weights_,
        "weights_again": model.weights_again_,
        "tuning": model.tuning_,
        "ranker": None if model.ranker_ is None else list(model.ranker_.names),
    }
    arrays = {f"cf__{n}": a for n, a in cf_arrays.items()} | {f"content__{n}": a for n, a in ct_arrays.items()}
    for name in _DENSE + _CODES:
        arrays[name] = getattr(model, f"{name}_")
    for name in _SPARSE:
        matrix = getattr(model, f"{name}_")
        arrays |= {f"{name}_data": matrix.data, f"{name}_indices": matrix.indices, f"{name}_indptr": matrix.indptr}
    if model.ranker_ is not None:
        arrays["ranker_coef"] = model.ranker_.coef
    return config, arrays


def load_state(model: HybridRecommender, config: dict[str, Any], arrays: dict[str, np.ndarray],
               dataset: Dataset) -> HybridRecommender:
    """Fill ``model`` (built from ``config["params"]``) with the fitted state."""
    parts = config["parts"]
    model.cf_ = LightFMRecommender.from_state(parts["cf"], _prefixed(arrays, "cf__"), dataset)
    model.content_ = ContentRecommender.from_state(parts["content"], _prefixed(arrays, "content__"), dataset)
    for name in _DENSE:
        setattr(model, f"{name}_", np.asarray(arrays[name], dtype=np.float32))
    for name in _CODES:
        setattr(model, f"{name}_", np.asarray(arrays[name], dtype=np.int64))
    n, shape = dataset.n_items, (dataset.n_users, dataset.n_items)
    model.item_item_ = _sparse(arrays, "item_item", (n, n))
    # bundles written before buy-again was tuned: the recency-weighted lines approximated from the dataset
    model.again_ = (_sparse(arrays, "again", shape) if "again_data" in arrays
                    else recency_weights(dataset, HALF_LIFE_DAYS))
    model.weights_ = {str(name): float(value) for name, value in config["weights"].items()}
    model.weights_again_ = {str(name): float(value) for name, value in config.get(
        "weights_again", {**{n: model.weights_.get(n, 0.0) for n in SIGNALS}, "repeat": 2.0, "again": 0.0}).items()}
    model.tuning_ = config.get("tuning", {})
    names = config.get("ranker")
    model.ranker_ = None if names is None else LinearRanker(
        tuple(str(n) for n in names), np.asarray(arrays["ranker_coef"], dtype=np.float64))
    model.favourites_ = {str(s): [int(i) for i in v] for s, v in config["favourites"].items()}
    model.dataset_ = dataset
    return model


def _sparse(arrays: dict[str, np.ndarray], name: str, shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix((arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]), shape=shape)


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}
