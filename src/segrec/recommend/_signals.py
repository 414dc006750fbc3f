"""Per-item and per-user signals the hybrid blends besides its models, and the search of the blend weights.

Signals: trend and all-time popularity, popularity within the user's segment, repeat purchases, segment
favourites (for reasons). The weights are chosen on a validation slice cut from the end of the training period
(:func:`validation_split`) by a coordinate search over a small grid (:func:`search_weights`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..columns import Columns
from ._topk import top_k
from .data import Dataset

__all__ = ["Validation", "category_model", "category_scores", "demographic_groups", "popularity_prior",
           "ranking_objective", "repeat_signal", "search_weights", "segment_favourites", "segment_popularity",
           "segment_scores", "standardise", "trend_prior", "validation_split"]


def standardise(scores: np.ndarray) -> np.ndarray:
    """Row-wise z-scores, so signals on different scales can be blended with fixed weights (-inf kept)."""
    finite = np.isfinite(scores)
    safe = np.where(finite, scores, 0.0)
    n = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    mean = safe.sum(axis=1, keepdims=True) / n
    var = (np.where(finite, safe - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / n
    out = (safe - mean) / (np.sqrt(var) + 1e-9)
    return np.where(finite, out, -np.inf).astype(np.float32)


def trend_prior(dataset: Dataset, days: float) -> np.ndarray:
    """log1p of each item's distinct buyers in the last ``days`` (all-time buyers when dates are unknown).

    Retail demand is seasonal: what sold in the last weeks predicts next month better than all-time sales.
    """
    if dataset.recency_days is None:
        buyers = dataset.item_popularity()
    else:
        recent = dataset.recency_days.copy()
        recent.data = (recent.data <= days + 1.0).astype(np.float32)
        buyers = np.asarray(recent.sum(axis=0)).ravel()
    return np.log1p(buyers).astype(np.float32)


def repeat_signal(dataset: Dataset, user_idx: np.ndarray, half_life_days: float) -> sp.csr_matrix:
    """How likely each user is to re-buy what they bought: log1p(lines) decayed by time since the last one."""
    counts = dataset.purchases[user_idx].astype(np.float32)
    signal = counts.copy()
    signal.data = np.log1p(signal.data)
    if dataset.recency_days is not None:
        days = dataset.recency_days[user_idx]
        decay = days.copy()
        decay.data = np.exp2(-(days.data - 1.0) / np.float32(half_life_days)).astype(np.float32)
        signal = signal.multiply(decay).tocsr()
    return sp.csr_matrix(signal, dtype=np.float32)


def segment_favourites(dataset: Dataset, top: int = 20, min_buyers: int = 3) -> dict[str, list[int]]:
    """Per segment, the items its members buy most over the shop average (lift x buyers, ties by index)."""
    attrs = dataset.user_attributes
    if Columns.Segment not in attrs or attrs[Columns.Segment].isna().all():
        return {}
    bought = sp.csr_matrix(dataset.purchases > 0, dtype=np.float32)
    overall = np.asarray(bought.mean(axis=0)).ravel() + 1e-9
    labels = attrs[Columns.Segment].astype("string")
    out: dict[str, list[int]] = {}
    for label in sorted(labels.dropna().unique()):
        members = np.flatnonzero((labels == label).fillna(False).to_numpy())
        buyers = np.asarray(bought[members].sum(axis=0)).ravel()
        lift = buyers / len(members) / overall
        score = np.where(buyers >= min_buyers, lift * np.log1p(buyers), 0.0)
        order = np.lexsort((np.arange(len(score)), -score))[:top]
        out[str(label)] = [int(i) for i in order if score[i] > 0]
    return out


def segment_of(attributes: pd.DataFrame) -> list[str | None]:
    """Segment label of each row as text (None when unknown)."""
    if Columns.Segment not in attributes:
        return [None] * len(attributes)
    return [None if pd.isna(v) else str(v) for v in attributes[Columns.Segment]]


def segment_popularity(dataset: Dataset, codes: np.ndarray | None = None,
                       min_segment_users: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Share of buyers of each item within each segment, and each user's segment row (-1: none or too small).

    Segments are ``user_attributes["segment"]`` unless ``codes`` (one integer per user, -1 for none) is given.
    Returned as (segments x items float32, users int64); users without a usable segment are scored with the
    shop-wide share by :func:`segment_scores`.
    """
    if codes is None:
        codes = np.full(dataset.n_users, -1, np.int64)
        attrs = dataset.user_attributes
        if Columns.Segment in attrs and not attrs[Columns.Segment].isna().all():
            codes = pd.factorize(attrs[Columns.Segment].astype("string"))[0].astype(np.int64)
    codes = np.array(codes, dtype=np.int64, copy=True)
    sizes = np.bincount(codes[codes >= 0], minlength=max(int(codes.max()) + 1, 0))
    large = codes >= 0
    large[large] = sizes[codes[large]] >= min_segment_users
    codes[~large] = -1
    bought = sp.csr_matrix(dataset.purchases > 0, dtype=np.float32)
    users = np.flatnonzero(large)
    members = sp.csr_matrix((np.ones(len(users), np.float32), (codes[users], users)), shape=(len(sizes), dataset.n_users))
    counts = np.maximum(np.asarray(members.sum(axis=1)), 1.0)
    return np.asarray((members @ bought).toarray() / counts, dtype=np.float32), codes


def demographic_groups(dataset: Dataset, n_groups: int = 5, seed: int | None = 42,
                       max_missing: float = 0.5) -> np.ndarray:
    """K-Means groups of the users' numeric demographics (age, log income; standardised, missing -> mean).

    Customers of a similar age and income tend to want similar products, whatever their purchase history says:
    popularity within these groups is a prior that needs no purchases. All -1 when no numeric attribute is
    known for at least ``1 - max_missing`` of the users (e.g. Online Retail).
    """
    from sklearn.cluster import KMeans  # late: only the hybrid's fit needs it

    attrs = dataset.user_attributes
    columns = []
    for column, transform in ((Columns.Age, np.asarray), (Columns.Income, np.log1p)):
        if column in attrs:
            values = pd.to_numeric(attrs[column], errors="coerce").to_numpy(np.float64)
            if np.isnan(values).mean() <= max_missing:
                values = transform(np.clip(values, 0.0, None))
                values = (values - np.nanmean(values)) / (np.nanstd(values) + 1e-9)
                columns.append(np.nan_to_num(values))
    if not columns or dataset.n_users < 2 * n_groups:
        return np.full(dataset.n_users, -1, np.int64)
    features = np.column_stack(columns)
    return KMeans(n_groups, n_init=4, random_state=seed).fit_predict(features).astype(np.int64)


def segment_scores(table: np.ndarray, codes: np.ndarray, popularity: np.ndarray, user_idx: np.ndarray) -> np.ndarray:
    """Rows of :func:`segment_popularity`'s table for ``user_idx``; the shop-wide ``popularity`` for the rest."""
    segment = codes[user_idx]
    out = np.tile(popularity.astype(np.float32), (len(user_idx), 1))
    own = segment >= 0
    out[own] = table[segment[own]]
    return out


def popularity_prior(dataset: Dataset) -> np.ndarray:
    """log1p of each item's distinct buyers over the whole training period."""
    return np.log1p(dataset.item_popularity()).astype(np.float32)


@dataclass(frozen=True)
class Validation:
    """A training dataset without its last slice, and the products first bought in that slice (the targets)."""

    train: Dataset
    targets: sp.csr_matrix
    description: dict


def validation_split(dataset: Dataset, fraction: float, seed: int | None = None) -> Validation:
    """Hold out the last ``fraction`` of the training period (a random ``fraction`` of each user's products
    when the dataset has no dates).

    The dataset keeps one date per (user, item), the last purchase: every pair last bought in the slice leaves
    the training part (a pair bought before *and* in the slice would otherwise carry the slice's baskets into
    the history the blend is tuned on); pairs bought once in the slice are the targets (new products).
    """
    purchases = dataset.purchases
    recency = dataset.recency_days
    same_pattern = (recency is not None and recency.nnz == purchases.nnz
                    and np.array_equal(recency.indptr, purchases.indptr)
                    and np.array_equal(recency.indices, purchases.indices))
    if not same_pattern:
        return _random_validation(dataset, fraction, seed)
    span = float(recency.data.max()) if recency.nnz else 0.0
    days = max(1.0, fraction * span)
    window = recency.data <= days + 1.0
    new = window & (purchases.data <= 1)

    def pattern(mask: np.ndarray, data: np.ndarray) -> sp.csr_matrix:
        data = np.where(mask, data, 0.0).astype(np.float32)
        out = sp.csr_matrix((data, purchases.indices.copy(), purchases.indptr.copy()), shape=purchases.shape)
        out.eliminate_zeros()
        out.sort_indices()
        return out

    interactions = dataset.interactions.data if dataset.interactions.nnz == purchases.nnz else np.ones(purchases.nnz)
    train = replace(dataset, purchases=pattern(~window, purchases.data), interactions=pattern(~window, interactions),
                    recency_days=pattern(~window, recency.data - days))
    return Validation(train, pattern(new, np.ones(purchases.nnz)),
                      {"kind": "temporal", "days": round(days, 1), "targets": int(new.sum())})


def _random_validation(dataset: Dataset, fraction: float, seed: int | None) -> Validation:
    from .collaborative import _holdout  # late: the collaborative module imports LightFM

    binary = sp.csr_matrix(dataset.purchases > 0, dtype=np.float32)
    kept, held = _holdout(binary, fraction, seed)
    train = replace(dataset, purchases=dataset.purchases.multiply(kept).tocsr(),
                    interactions=dataset.interactions.multiply(kept).tocsr(), recency_days=None)
    return Validation(train, held, {"kind": "random", "fraction": fraction, "targets": int(held.nnz)})


def search_weights(
    signals: dict[str, np.ndarray],
    targets: sp.csr_matrix,
    start: dict[str, float],
    grid: tuple[float, ...],
    *,
    seen: sp.csr_matrix | None = None,
    rounds: int = 2,
    k: int = 10,
    vary: tuple[str, ...] | None = None,
    min_gain: float = 0.0,
) -> tuple[dict[str, float], float, int]:
    """Coordinate search of blend weights maximising P@k + NDCG@k on ``targets``.

    ``signals`` are (users x items) score blocks of the same users; ``seen`` (same rows) is masked out of the
    ranking. Each round tries every grid value for one weight at a time, keeping any improvement; the search
    stops after ``rounds`` rounds or a round without one. Only the weights named in ``vary`` (default: all)
    change, and never all to zero. A change is kept only when it raises the objective by more than ``min_gain``
    (relative): on a sample of ~1,000 users smaller gains are noise, and the starting weights are a sound
    default. Returns (weights, objective, evaluations).
    """
    names = list(signals)
    objective = ranking_objective(targets, seen, k)
    weights = {name: float(start.get(name, 0.0)) for name in names}
    blend = sum(weights[n] * signals[n] for n in names)
    best, evaluations = objective(blend), 1
    for _ in range(rounds):
        improved = False
        for name in names if vary is None else vary:
            for value in grid:
                if value == weights[name] or (not value and not any(v for n, v in weights.items() if n != name)):
                    continue
                candidate = blend + np.float32(value - weights[name]) * signals[name]
                score = objective(candidate)
                evaluations += 1
                if score > best * (1.0 + min_gain) + 1e-9:
                    best, blend, weights[name], improved = score, candidate, value, True
        if not improved:
            break
    return weights, best, evaluations


def ranking_objective(targets: sp.csr_matrix, seen: sp.csr_matrix | None = None,
                      k: int = 10) -> Callable[[np.ndarray], float]:
    """P@k + NDCG@k (binary gains) of a (users x items) score block against ``targets``, ``seen`` masked out.

    Every row of ``targets`` must hold at least one target.
    """
    relevant = sp.csr_matrix(targets > 0)
    mask = None if seen is None else sp.csr_matrix(seen).tocoo()
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)[np.minimum(np.diff(relevant.indptr), k) - 1]
    dense = relevant.toarray()

    def objective(blend: np.ndarray) -> float:
        scores = blend.copy()
        if mask is not None:
            scores[mask.row, mask.col] = -np.inf
        top, _ = top_k(scores, k)
        hits = np.take_along_axis(dense, np.maximum(top, 0), axis=1) & (top >= 0)
        return float(hits.mean() + np.mean(hits @ discount / ideal))

    return objective


def category_model(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each item's category code, its share of its category's buyers, and the shop-wide category shares.

    With :func:`category_scores` this is a two-step model of a fresh purchase: which category (the user's own
    mix, smoothed towards the shop's) then which product in it (its share of the category's buyers).
    """
    codes = pd.factorize(dataset.catalogue[Columns.Category].astype(str))[0].astype(np.int64)
    buyers = dataset.item_popularity().astype(np.float64) + 0.1
    per_category = np.bincount(codes, weights=buyers)
    share = (buyers / per_category[codes]).astype(np.float32)
    return codes, share, (per_category / per_category.sum()).astype(np.float32)


def category_scores(dataset: Dataset, user_idx: np.ndarray, codes: np.ndarray, share: np.ndarray,
                    prior: np.ndarray, prior_weight: float = 2.0) -> np.ndarray:
    """P(category | user) x P(item | category): the user's distinct products per category plus
    ``prior_weight`` pseudo-purchases spread as the shop's categories, times the item's share in its category."""
    history = sp.csr_matrix(dataset.purchases[user_idx] > 0, dtype=np.float32)
    onehot = sp.csr_matrix((np.ones(len(codes), np.float32), (np.arange(len(codes)), codes)), shape=(len(codes), len(prior)))
    counts = (history @ onehot).toarray() + prior_weight * prior[None, :]
    mix = counts / counts.sum(axis=1, keepdims=True)
    return (mix[:, codes] * share[None, :]).astype(np.float32)
