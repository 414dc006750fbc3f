"""The hybrid's learned second stage: a logistic regression that re-ranks the blend's candidate pool.

The coordinate search gives every user the same weights. The ranker lets them depend on the user and adds
what a weighted sum of per-item scores cannot express. Its features for a (user, candidate) pair:

* ``z:<signal>``: the signal's per-user z-score (as blended);
* ``zh:<signal>``: the same times log1p(the user's number of distinct products), so a long history can lean on
  the personal signals and a short one on the priors;
* ``log:<signal>``: the log of the raw value of the multiplicative signals (:data:`LOG_SIGNALS`: category mix x
  share in category, share of the segment's buyers);
* ``word:<term>``: the user's log-lift of each word shared across the catalogue (content profile) when the
  candidate has it: the mean lift of :meth:`~segrec.recommend.ContentRecommender.profile_scores` with a weight
  of its own per word, so words that carry a taste (a product line) count and filler words do not.

The model is linear in these, so scoring needs no feature matrix: a weighted sum of dense signal blocks with
per-user weights plus ``lifts @ (coef * words).T``. Its state is the feature names (JSON) and one coefficient
per name (the standardisation folded in), so bundles stay pickle-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .tuning import ranking_objective

__all__ = ["LOG_SIGNALS", "LinearRanker", "RankerInputs", "choose_ranker", "feature_names", "fit_ranker", "sample_pool"]

#: Signals whose raw values are products of probabilities: their logs are features too.
LOG_SIGNALS = ("category", "segment")
LOG_FLOOR = 1e-6
NEGATIVES = 40  # non-target candidates sampled per user for training (all targets in the pool are kept)
C = 0.01  # inverse L2 strength of the logistic regression (features standardised)


@dataclass(frozen=True)
class RankerInputs:
    """What the ranker reads for a chunk of users: z-scored and raw signals (users x items), log1p of each
    user's history length, their word lifts (users x words) and the catalogue's word matrix (items x words)."""

    z: dict[str, np.ndarray]
    raw: dict[str, np.ndarray]
    history: np.ndarray
    lifts: np.ndarray
    words: sp.csr_matrix
    terms: list[str]

    def take(self, rows: np.ndarray) -> RankerInputs:
        """The inputs of some rows of the chunk."""
        return RankerInputs({n: b[rows] for n, b in self.z.items()}, {n: b[rows] for n, b in self.raw.items()},
                            self.history[rows], self.lifts[rows], self.words, self.terms)


def feature_names(inputs: RankerInputs) -> list[str]:
    return ([f"z:{n}" for n in inputs.z] + [f"zh:{n}" for n in inputs.z]
            + [f"log:{n}" for n in LOG_SIGNALS if n in inputs.raw] + [f"word:{t}" for t in inputs.terms])


def _log(raw: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(raw, LOG_FLOOR)).astype(np.float32)


def _rows(inputs: RankerInputs, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The feature matrix of the (row in chunk, item) pairs, in :func:`feature_names` order (float32)."""
    h = inputs.history[users]
    columns = [block[users, items] for block in inputs.z.values()]
    columns += [block[users, items] * h for block in inputs.z.values()]
    columns += [_log(inputs.raw[n][users, items]) for n in LOG_SIGNALS if n in inputs.raw]
    out = np.column_stack(columns).astype(np.float32)
    if inputs.terms:
        words = inputs.words[items].toarray() * inputs.lifts[users]
        out = np.hstack([out, words.astype(np.float32)])
    return out


def sample_pool(pool: np.ndarray, targets: sp.csr_matrix, seed: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training pairs from each user's pool: every target and up to :data:`NEGATIVES` random others (seeded).

    Returns (row, item, label). Sampling the negatives at one rate only moves the intercept, which ranking ignores.
    """
    rng = np.random.default_rng(seed)
    n, width = pool.shape
    label = np.asarray(targets[np.repeat(np.arange(n), width), pool.ravel()]).reshape(n, width) > 0
    label &= pool >= 0
    keep = label | ((rng.random((n, width)) < NEGATIVES / max(width, 1)) & (pool >= 0))
    rows, cols = np.nonzero(keep)
    return rows, pool[rows, cols], label[rows, cols]


@dataclass(frozen=True)
class LinearRanker:
    """Coefficients of the features named in ``names`` on their raw scale (standardisation folded in)."""

    names: tuple[str, ...]
    coef: np.ndarray

    def score(self, inputs: RankerInputs, pool: np.ndarray | None = None, *, gathered: bool = False) -> np.ndarray:
        """Ranker score of each row's ``pool`` items (users x pool width; a -1 slot scores as item 0), or of every
        item without ``pool`` (users x items), float32, higher is better.

        Only the blend's candidate pool is ever ranked, so scoring it alone spares the per-item work (a log and
        nine multiply-adds per cell) on every other product: 200 of 10,000 at the benchmark's scale. With
        ``gathered``, the blocks of ``inputs.z`` and ``inputs.raw`` already hold the pool's cells only (users x
        pool width, as :meth:`.scaled.Scaled.at` makes them), so no z-scored block of every product is needed.
        """
        weights = dict(zip(self.names, self.coef.astype(np.float32), strict=True))
        n, n_items = inputs.history.shape[0], inputs.words.shape[0]
        cells = None if pool is None else np.maximum(pool, 0)

        def at(block: np.ndarray) -> np.ndarray:
            return block if cells is None or gathered else np.take_along_axis(block, cells, axis=1)

        out = np.zeros((n, n_items) if cells is None else cells.shape, np.float32)
        for name, block in inputs.z.items():
            per_user = weights.get(f"z:{name}", 0.0) + weights.get(f"zh:{name}", 0.0) * inputs.history
            out += per_user[:, None].astype(np.float32) * at(block)
        for name in LOG_SIGNALS:
            if weights.get(f"log:{name}") and name in inputs.raw:
                out += weights[f"log:{name}"] * _log(at(inputs.raw[name]))
        if inputs.terms:
            coef = np.array([weights.get(f"word:{t}", 0.0) for t in inputs.terms], np.float32)
            lifts = inputs.lifts * coef[None, :]
            if cells is None:
                out += np.asarray(inputs.words @ lifts.T).T.astype(np.float32)
            else:  # each candidate's words times its user's lifts, summed per (user, candidate)
                words = inputs.words[cells.ravel()]
                cell = np.repeat(np.arange(words.shape[0]), np.diff(words.indptr))
                values = words.data * lifts[cell // cells.shape[1], words.indices]
                out += np.bincount(cell, values, minlength=words.shape[0]).astype(np.float32).reshape(cells.shape)
        return out


def fit_ranker(inputs: RankerInputs, rows: np.ndarray, items: np.ndarray, labels: np.ndarray) -> LinearRanker:
    """L2 logistic regression of ``labels`` on the features of the (row, item) pairs; coefficients unscaled."""
    from sklearn.linear_model import LogisticRegression  # late: only fitting needs it

    x = _rows(inputs, rows, items)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-6, scale, np.inf)  # constant features (a skipped part) get no weight
    model = LogisticRegression(C=C, max_iter=1000).fit((x - mean) / scale, labels)
    return LinearRanker(tuple(feature_names(inputs)), (model.coef_[0] / scale).astype(np.float64))


def pool_only(values: np.ndarray, pool: np.ndarray, n_items: int) -> np.ndarray:
    """(users x items) scores: ``values`` (users x pool width) at each row's ``pool`` items (-1: empty slot),
    -inf elsewhere."""
    out = np.full((len(pool), n_items), -np.inf, np.float32)
    rows = np.repeat(np.arange(len(pool)), pool.shape[1])
    ok = pool.ravel() >= 0
    out[rows[ok], pool.ravel()[ok]] = values.ravel()[ok]
    return out


def choose_ranker(inputs: RankerInputs, blend: np.ndarray, pool: np.ndarray, targets: sp.csr_matrix,
                  seen: sp.csr_matrix, seed: int | None) -> tuple[LinearRanker | None, dict[str, Any]]:
    """Fit the ranker on the validation users' pools; keep it only if it beats the blend on them.

    Cross-fitted on two seeded halves of the users (each half ranked by a ranker fitted on the other), the
    ranker must raise the objective (P@10 + NDCG@10, discover) of all the users' pools above the blend's; it
    is then refitted on all of them. No margin is asked for: the ranker's objective is out of sample, the
    blend's is the one its weights were searched on, so the comparison already leans towards the blend.
    """
    rng = np.random.default_rng(seed)
    n = len(blend)
    half = np.zeros(n, bool)
    half[rng.permutation(n)[: n // 2]] = True

    def fit(rows: np.ndarray) -> LinearRanker:
        r, items, labels = sample_pool(pool[rows], targets[rows], seed)
        return fit_ranker(inputs.take(rows), r, items, labels)

    crossed = np.empty(pool.shape, np.float32)
    for fitted_on in (half, ~half):
        held = np.flatnonzero(~fitted_on)
        crossed[held] = fit(np.flatnonzero(fitted_on)).score(inputs.take(held), pool[held])
    objective = ranking_objective(targets, seen)
    n_items = blend.shape[1]
    plain = objective(pool_only(np.take_along_axis(blend, np.maximum(pool, 0), axis=1), pool, n_items))
    learned = objective(pool_only(crossed, pool, n_items))
    kept = learned > plain
    report = {"objective_blend": round(plain, 4), "objective_ranker": round(learned, 4), "kept": bool(kept),
              "features": len(feature_names(inputs))}
    return (fit(np.arange(n)) if kept else None), report
