"""Per-item and per-user signals the hybrid blends besides its models: trend, repeat and segment favourites."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..columns import Columns
from .data import Dataset

__all__ = ["repeat_signal", "segment_favourites", "standardise", "trend_prior"]


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
