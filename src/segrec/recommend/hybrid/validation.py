"""The hybrid's internal validation: a held-out slice of its own training data, drawn the way it will be judged.

Everything the hybrid chooses at fit time (the blend weights of each mode, the learned ranker) is chosen on this
slice, so the slice must look like the task. Tuned on "the last weeks" and judged on a random hold-out, a
blend learns trend and loses to plain EASE; tuned on a random hold-out and judged on the next purchases, it
misses the season. ``protocol`` therefore follows the evaluation (``segrec evaluate`` passes its split) and,
for a model that will be deployed (``segrec train``/``run``: the next purchases), defaults to ``temporal``
unless the dates cannot carry it (no dates, too few distinct dates, a slice with too few customers): then a
per-user random hold-out, with a warning that says why. The holdouts are those of
:mod:`segrec.recommend.holdout`, so validation and evaluation are drawn by the same code.

With the training ``events`` the slice is cut at the event level (each purchase line on its own side); with a
:class:`~segrec.recommend.data.Dataset` alone (one date per pair) the temporal and random cuts are
approximated on pairs and buy-again targets are the new pairs only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ...columns import Columns
from ...exceptions import InputError, SegrecWarning
from ...features.interactions import Dataset
from ..holdout import PROTOCOLS, last_orders_mask, random_pairs_mask, temporal_mask

__all__ = ["VALIDATIONS", "Validation", "make_validation"]

#: Values of the hybrid's ``validation`` parameter: ``auto`` picks temporal when the dates can carry it.
VALIDATIONS = ("auto", *PROTOCOLS)
MIN_DISTINCT_DATES = 10  # fewer distinct purchase days than this: a temporal slice says nothing about time
MIN_USERS = 30  # fewer customers with a target in the slice than this: the slice is too small to tune on


@dataclass(frozen=True)
class Validation:
    """The training data without the slice (same indices as the whole) and what the slice holds.

    ``new``: pairs first bought in the slice (discover targets); ``all``: every pair bought in the slice
    (buy-again targets, repeats included); ``events``: the events before the slice (None without events).
    """

    train: Dataset
    new: sp.csr_matrix
    all: sp.csr_matrix
    events: pd.DataFrame | None
    description: dict[str, Any]


def make_validation(dataset: Dataset, events: pd.DataFrame | None, protocol: str, fraction: float,
                    seed: int | None) -> Validation:
    """Cut the validation slice by ``protocol`` (one of :data:`VALIDATIONS`); see the module notes."""
    if protocol not in VALIDATIONS:
        raise InputError(f"unknown validation {protocol!r}; choose one of {', '.join(VALIDATIONS)}")
    chosen, reason = _choose(dataset, events, protocol)
    validation = _cut(dataset, events, chosen, fraction, seed)
    users = _users_with_targets(validation)
    if protocol == "auto" and chosen == "temporal" and users < MIN_USERS:
        reason = f"the last {fraction:.0%} of the training period gives only {users} customers to validate on"
        chosen = "random"
        validation = _cut(dataset, events, chosen, fraction, seed)
    if protocol == "auto" and chosen != "temporal":
        warnings.warn(f"hybrid validation: a per-user random hold-out instead of the last period, because {reason}",
                      SegrecWarning, stacklevel=4)
    description = {**validation.description, "protocol": chosen, "asked": protocol, "reason": reason}
    return replace(validation, description=description)


def _choose(dataset: Dataset, events: pd.DataFrame | None, protocol: str) -> tuple[str, str]:
    """The protocol to use and why (``auto``: temporal when the dates can carry it)."""
    if protocol != "auto":
        return protocol, "asked for" if protocol != "temporal" or _dates(dataset, events) is not None else (
            "asked for (no dates: the slice is cut by pairs' last purchase)")
    dates = _dates(dataset, events)
    if dates is None:
        return "random", "the purchases carry no dates"
    distinct = int(dates.nunique())
    if distinct < MIN_DISTINCT_DATES:
        return "random", f"the purchases fall on only {distinct} distinct day(s)"
    return "temporal", "the default for a deployed model, which predicts the next purchases"


def _dates(dataset: Dataset, events: pd.DataFrame | None) -> pd.Series | None:
    """Purchase days (normalised), or None when there are none."""
    if events is not None:
        if Columns.Date not in events or events[Columns.Date].isna().all():
            return None
        return pd.to_datetime(events[Columns.Date]).dt.normalize()
    if dataset.recency_days is None or dataset.recency_days.nnz == 0:
        return None
    return pd.Series(np.floor(dataset.recency_days.data))


def _cut(dataset: Dataset, events: pd.DataFrame | None, protocol: str, fraction: float,
         seed: int | None) -> Validation:
    if events is None or (protocol != "random" and _dates(dataset, events) is None):
        return _cut_pairs(dataset, protocol, fraction, seed)
    events = events.reset_index(drop=True)
    if protocol == "temporal":
        dates = pd.to_datetime(events[Columns.Date])
        start, end = dates.min(), dates.max()
        cutoff = end - (end - start) * fraction
        held = temporal_mask(events, cutoff)
        detail = {"cutoff": str(cutoff.date()), "days": round((end - cutoff).total_seconds() / 86400.0, 1)}
    elif protocol == "random":
        held, detail = random_pairs_mask(events, fraction, seed), {"fraction": fraction}
    else:
        held, detail = last_orders_mask(events, 1), {"orders": 1}
    before = events[~held]
    if before.empty:
        raise InputError("the validation slice would take every training event")
    train = Dataset.from_events(before, like=dataset)
    slice_ = _pairs(dataset, events[held])
    known = sp.csr_matrix(train.purchases > 0, dtype=np.float32)
    new = (slice_ - slice_.multiply(known)).tocsr()
    new.eliminate_zeros()
    return Validation(train, new, slice_, before, {**detail, "targets_new": int(new.nnz), "targets_all": int(slice_.nnz)})


def _pairs(dataset: Dataset, events: pd.DataFrame) -> sp.csr_matrix:
    """Binary (user, product) matrix of ``events`` on ``dataset``'s indices."""
    rows = dataset.user_index(events[Columns.User].to_numpy())
    cols = dataset.item_index(events[Columns.Item].to_numpy())
    ok = (rows >= 0) & (cols >= 0)
    out = sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (rows[ok], cols[ok])),
                        shape=(dataset.n_users, dataset.n_items))
    out.sum_duplicates()
    out.data[:] = 1.0
    return out


def _cut_pairs(dataset: Dataset, protocol: str, fraction: float, seed: int | None) -> Validation:
    """Without events: temporal from each pair's last purchase, random (and last-n) by pairs."""
    purchases, recency = dataset.purchases, dataset.recency_days
    if protocol == "temporal" and recency is not None and recency.nnz == purchases.nnz and np.array_equal(
            recency.indices, purchases.indices):
        span = float(recency.data.max()) if recency.nnz else 0.0
        days = max(1.0, fraction * span)
        window = recency.data <= days + 1.0
        # a pair last bought in the slice leaves the history (its earlier lines' dates are unknown), and is a
        # target only when it was bought once (new)
        new = window & (purchases.data <= 1)
        train = replace(dataset, purchases=_pattern(purchases, ~window, purchases.data),
                        interactions=_pattern(purchases, ~window, _interactions(dataset)),
                        recency_days=_pattern(purchases, ~window, recency.data - days))
        targets = _pattern(purchases, new, np.ones(purchases.nnz))
        return Validation(train, targets, targets, None, {"days": round(days, 1), "targets_new": int(new.sum()),
                                                          "targets_all": int(new.sum()), "pairs_only": True})
    from ..collaborative import _holdout  # late: the collaborative module imports LightFM

    binary = sp.csr_matrix(purchases > 0, dtype=np.float32)
    kept, held = _holdout(binary, fraction, seed)
    train = replace(dataset, purchases=dataset.purchases.multiply(kept).tocsr(),
                    interactions=dataset.interactions.multiply(kept).tocsr(), recency_days=None)
    return Validation(train, held, held, None, {"fraction": fraction, "targets_new": int(held.nnz),
                                                "targets_all": int(held.nnz), "pairs_only": True})


def _interactions(dataset: Dataset) -> np.ndarray:
    if dataset.interactions.nnz == dataset.purchases.nnz:
        return dataset.interactions.data
    return np.ones(dataset.purchases.nnz)


def _pattern(like: sp.csr_matrix, mask: np.ndarray, data: np.ndarray) -> sp.csr_matrix:
    out = sp.csr_matrix((np.where(mask, data, 0.0).astype(np.float32), like.indices.copy(), like.indptr.copy()),
                        shape=like.shape)
    out.eliminate_zeros()
    out.sort_indices()
    return out


def _users_with_targets(validation: Validation) -> int:
    has_history = np.diff(validation.train.purchases.indptr) > 0
    return int((has_history & (np.diff(validation.new.indptr) > 0)).sum())
