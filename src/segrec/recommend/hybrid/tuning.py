"""Choosing the blend: every signal alone first, then a coordinate search from the best of them.

Hand-set weights do not travel between shops (tuned on a seasonal gift shop, trend won; on a shop with stable
tastes it lost to segment popularity), nor between tasks (what predicts the next month does not predict a
random missing basket). So each mode's weights are searched on the validation slice
(:mod:`.validation`), and the search can only end at least as high as the best single signal, because it
starts from it: a blend is what that signal plus others gains there, or that signal alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._topk import top_k

__all__ = ["MIN_GAIN", "SIGNAL_WORDS", "SIGNED_GRID", "WEIGHT_GRID", "describe_tuning", "ranking_objective", "search_weights",
           "tune_weights", "weighted_sum"]

#: Values tried for each weight (the blend is scale-free, so relative values suffice).
WEIGHT_GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
#: For the repeat signals in buy-again mode, which may also push bought products down (when the task's
#: targets are never repeats, e.g. a random hold-out of pairs) or far up (a shop of staples).
SIGNED_GRID = (-1.0, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
MIN_GAIN = 0.005  # relative gain of the validation objective a weight change must bring to be kept
#: Each signal's top this-many products per user form the candidates the search ranks (see tune_weights).
CANDIDATES = 100


def tune_weights(signals: Mapping[str, np.ndarray], targets: sp.csr_matrix, seen: sp.csr_matrix | None,
                 grids: Mapping[str, tuple[float, ...]], *, fixed: Mapping[str, float] | None = None,
                 min_gain: float = MIN_GAIN, k: int = 10) -> tuple[dict[str, float], dict[str, Any]]:
    """Weights for ``signals`` (users x items blocks) maximising P@k + NDCG@k on ``targets``, ``seen`` masked.

    ``fixed`` weights are kept as given (the slice cannot judge them). Returns the weights and a table: each
    signal alone, the best of them, the blend's objective and the number of blends tried. Ties between single
    signals go to the first in ``signals``' order.
    """
    fixed = dict(fixed or {})
    signals, targets, seen = _candidates(signals, targets, seen, CANDIDATES)
    objective = ranking_objective(targets, seen, k)
    alone = {name: objective(block) for name, block in signals.items() if name not in fixed}
    best = max(alone, key=lambda name: alone[name])
    start = {name: fixed.get(name, 1.0 if name == best else 0.0) for name in signals}
    grids = {name: grid for name, grid in grids.items() if name not in fixed}
    weights, after, evaluations = search_weights(signals, objective, start, grids, min_gain=min_gain)
    table = {"alone": {n: round(v, 4) for n, v in alone.items()}, "best_single": best,
             "objective_single": round(alone[best], 4), "objective_blend": round(after, 4),
             "evaluations": evaluations + len(alone), **({"fixed": fixed} if fixed else {})}
    return weights, table


def _candidates(signals: Mapping[str, np.ndarray], targets: sp.csr_matrix, seen: sp.csr_matrix | None,
                size: int) -> tuple[dict[str, np.ndarray], sp.csr_matrix, sp.csr_matrix | None]:
    """The blocks restricted to each user's candidates: the union of every signal's top ``size`` unseen products.

    A blend's top 10 lies, all but always, among its parts' top 100s; ranking only those makes each of the
    search's few hundred blends several times cheaper on a large catalogue, the same thing the served model
    does with its candidate pool. Columns are (users x union width); padding columns are returned as "seen", so
    the objective masks them whatever the weights' signs.
    """
    n_items = targets.shape[1]
    if size * len(signals) >= n_items:
        return dict(signals), targets, seen
    hidden = None if seen is None else sp.csr_matrix(seen > 0).toarray()
    picks = []
    for block in signals.values():
        masked = block if hidden is None else np.where(hidden, -np.inf, block)
        picks.append(top_k(masked, size)[0])
    union = np.sort(np.concatenate(picks, axis=1), axis=1)
    union[:, 1:][union[:, 1:] == union[:, :-1]] = -1  # drop repeats, keep each item once
    width = int((union >= 0).sum(axis=1).max())
    columns = -np.sort(-union, axis=1)[:, :width]  # the items first, -1 padding last
    valid = columns >= 0
    safe = np.maximum(columns, 0)
    out = {name: np.where(valid, np.take_along_axis(block, safe, axis=1), 0.0).astype(np.float32)
           for name, block in signals.items()}
    dense = sp.csr_matrix(targets > 0).toarray()
    gathered = sp.csr_matrix(np.take_along_axis(dense, safe, axis=1) & valid)
    return out, _full_rows(gathered, targets), sp.csr_matrix(~valid)


def _full_rows(gathered: sp.csr_matrix, targets: sp.csr_matrix) -> sp.csr_matrix:
    """Targets restricted to the candidates, but with each user's number of targets kept for NDCG's ideal: the
    objective must not rise because the candidates missed a target. Misses become columns no blend reaches."""
    missing = np.diff(sp.csr_matrix(targets > 0).indptr) - np.diff(gathered.indptr)
    n, width = gathered.shape
    extra = int(missing.max()) if len(missing) else 0
    if extra <= 0:
        return gathered
    rows = np.repeat(np.arange(n), missing)
    cols = width + np.concatenate([np.arange(m) for m in missing]) if len(rows) else np.array([], np.int64)
    pad = sp.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(n, width + extra))
    return sp.csr_matrix(sp.hstack([gathered, sp.csr_matrix((n, extra), dtype=bool)]) + pad, dtype=bool)


def search_weights(
    signals: Mapping[str, np.ndarray],
    objective: Callable[[np.ndarray], float],
    start: Mapping[str, float],
    grids: Mapping[str, tuple[float, ...]],
    *,
    rounds: int = 2,
    min_gain: float = 0.0,
) -> tuple[dict[str, float], float, int]:
    """Coordinate search of blend weights maximising ``objective``.

    Each round tries every grid value of one weight at a time (``grids[name]``; a name without a grid stays
    fixed), keeping any improvement; it stops after ``rounds`` rounds or a round without one, and never sets
    every weight to zero. A change is kept only when it raises the objective by more than ``min_gain``
    (relative): on a sample of a few thousand users smaller gains are noise. Returns (weights, objective,
    evaluations).
    """
    names = list(signals)
    weights = {name: float(start.get(name, 0.0)) for name in names}
    blend = weighted_sum(signals, weights)
    best, evaluations = objective(blend), 1
    for _ in range(rounds):
        improved = False
        for name in names:
            for value in grids.get(name, ()):
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


def weighted_sum(signals: Mapping[str, np.ndarray], weights: Mapping[str, float],
                 shape: tuple[int, int] | None = None) -> np.ndarray:
    """The blend: the weighted sum of (users x items) signal blocks, float32; blocks without a weight count as 0.
    ``shape`` defaults to the blocks' own (give it when ``signals`` may be empty)."""
    out = np.zeros(shape if shape is not None else next(iter(signals.values())).shape, np.float32)
    for name, block in signals.items():
        if weights.get(name):
            out += np.float32(weights[name]) * block
    return out


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
        scores = np.array(blend, dtype=np.float32, order="C", copy=True)  # a lone signal may be a broadcast row
        if mask is not None:
            scores[mask.row, mask.col] = -np.inf
        top, _ = top_k(scores, k)
        hits = np.take_along_axis(dense, np.maximum(top, 0), axis=1) & (top >= 0)
        return float(hits.mean() + np.mean(hits @ discount / ideal))

    return objective


_PROTOCOL_WORDS = {"temporal": "the last part of the training period", "random": "a random share of each "
                   "customer's products", "last-n": "each customer's last order"}
SIGNAL_WORDS = {"cf": "LightFM", "item": "EASE", "content": "similar products", "profile": "word profile",
                "category": "category mix", "trend": "trend", "popularity": "popularity", "segment": "segment "
                "best-sellers", "peers": "demographic best-sellers", "repeat": "repeat purchases",
                "again": "own best-sellers (buy-again baseline)"}


def describe_tuning(tuning: Mapping[str, Any], mode: str = "discover", why: str | None = None) -> str:
    """One sentence saying why the model ranks the way it does in ``mode`` ("discover" or "buy_again");
    ``why`` replaces the recorded reason for the slice (e.g. the evaluation's "mirrors the random split")."""
    if not tuning.get("tuned"):
        return f"Not tuned ({tuning.get('skipped', 'tuning off')}): the default weights are used."
    validation = tuning.get("validation", {})
    where = _PROTOCOL_WORDS.get(validation.get("protocol"), "a held-out slice")
    table = tuning.get(mode) or {}
    if "best_single" not in table:
        return f"Validated on {where}; too few customers there to tune this mode: the default weights are used."
    best = SIGNAL_WORDS.get(table["best_single"], table["best_single"])
    weights = {n: w for n, w in table.get("weights", {}).items() if w}
    parts = ", ".join(f"{SIGNAL_WORDS.get(n, n)} {w:g}" for n, w in sorted(weights.items(), key=lambda x: -abs(x[1])))
    single, blend = table["objective_single"], table["objective_blend"]
    if blend > single:
        chosen = f"the blend ({parts}) scored {blend:.3f} against {single:.3f} for {best} alone"
    else:
        chosen = f"{best} alone scored {single:.3f} and no blend beat it"
    ranker = table.get("ranker")
    if ranker:
        verdict = "kept" if ranker["kept"] else "dropped"
        chosen += (f"; the learned ranker scored {ranker['objective_ranker']:.3f} against the blend's "
                   f"{ranker['objective_blend']:.3f} and was {verdict}")
    return (f"Validated on {where} ({why or validation.get('reason', '')}): {chosen} "
            "(P@10 + NDCG@10 on held-out purchases).")
