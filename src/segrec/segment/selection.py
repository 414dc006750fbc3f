"""Choosing the number of segments and checking that the segments are stable.

Why more than the elbow: the inertia curve always bends somewhere, and a bend alone says nothing about
whether the segments are separated or whether one is a handful of customers. The rule in :func:`choose_k`
combines the elbow, the silhouette and a minimum segment size, and explains its decision in words.

Everything is sampled with a seed so that a sweep over a million customers stays within seconds and a
rerun gives the same answer.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
from kneed import KneeLocator
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from threadpoolctl import threadpool_limits

from ..exceptions import InputError, UnstableSegmentationWarning
from .segmenter import Segmenter

__all__ = ["KMetrics", "KSweep", "Stability", "choose_k", "stability", "sweep_k"]

Step = Callable[[str], None]
T = TypeVar("T")
R = TypeVar("R")


def _side_by_side(work: Callable[[T], R], items: Sequence[T], n_jobs: int | None) -> Iterator[R]:
    """``map(work, items)`` in order, on ``n_jobs`` threads (None: one per core), native pools at one thread.

    Each K-Means fit runs single-threaded, so a fit's result does not depend on the machine's cores (OpenMP's
    partial sums are added in thread order) and the fits of a sweep or of a stability check, which do not
    depend on each other, run side by side instead (scikit-learn's K-Means, BLAS and numpy release the GIL).
    """
    workers = max(1, min(n_jobs or os.cpu_count() or 1, len(items)))
    with threadpool_limits(1):
        if workers == 1:
            yield from map(work, items)
            return
        with ThreadPoolExecutor(workers) as pool:
            yield from pool.map(work, items)


@dataclass(frozen=True)
class KMetrics:
    """Quality of one K-Means solution (silhouette, CH and DB computed on seeded samples)."""

    k: int
    inertia: float
    silhouette: float
    calinski_harabasz: float
    davies_bouldin: float
    min_share: float


@dataclass(frozen=True)
class KSweep:
    """All swept k, the elbow (``None`` when kneed finds none), the chosen k and why."""

    metrics: list[KMetrics]
    knee: int | None
    chosen: int
    why: str

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(m) for m in self.metrics])

    def to_dict(self) -> dict[str, object]:
        return {"chosen_k": self.chosen, "why": self.why, "knee": self.knee,
                "metrics": [asdict(m) for m in self.metrics]}


def _sample(n: int, size: int | None, rng: np.random.Generator, replace: bool = False) -> np.ndarray:
    """Sorted row positions: at most ``size`` rows without replacement, or exactly that many with it."""
    size = n if size is None else min(size, n)
    if size == n and not replace:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=replace))


def sweep_k(
    Z: np.ndarray,
    ks: Sequence[int] = range(2, 11),
    *,
    random_state: int = 42,
    n_init: int = 2,
    sample_size: int | None = 100_000,
    silhouette_sample: int = 4_000,
    min_share: float = 0.02,
    tolerance: float = 0.02,
    on_step: Step | None = None,
    n_jobs: int | None = None,
) -> KSweep:
    """Fit K-Means for each k on (a seeded sample of at most ``sample_size`` rows of) ``Z``.

    ``Z`` is the standardised matrix (:meth:`FeaturePreprocessor.transform`). Silhouette uses a seeded
    sample of ``silhouette_sample`` rows (it is quadratic); Calinski-Harabasz and Davies-Bouldin are linear
    and use the whole swept sample. The k values are fitted on ``n_jobs`` threads (None: one per core), each
    fit single-threaded, so the result does not depend on the number of cores.
    """
    ks = sorted(set(int(k) for k in ks))
    if len(ks) < 2 or ks[0] < 2:
        raise InputError(f"sweep k values {ks}: need at least two values, each >= 2")
    rng = np.random.default_rng(random_state)
    data = Z[_sample(len(Z), sample_size, rng)]
    if len(data) <= ks[-1]:
        raise InputError(f"{len(data)} customers are too few to sweep k up to {ks[-1]}")
    metrics = []

    def evaluate(k: int) -> KMetrics:
        return _evaluate(data, k, n_init=n_init, seed=random_state, silhouette_sample=silhouette_sample)

    for k, result in zip(ks, _side_by_side(evaluate, ks, n_jobs), strict=True):
        metrics.append(result)
        if on_step:
            on_step(f"k={k}")
    knee = KneeLocator(ks, [m.inertia for m in metrics], curve="convex", direction="decreasing").knee
    knee = None if knee is None else int(knee)
    chosen, why = choose_k(metrics, knee, min_share=min_share, tolerance=tolerance)
    return KSweep(metrics, knee, chosen, why)


def _evaluate(data: np.ndarray, k: int, *, n_init: int, seed: int, silhouette_sample: int) -> KMetrics:
    """Fit K-Means with ``k`` clusters on ``data`` and score the solution."""
    km = KMeans(k, n_init=n_init, random_state=seed).fit(data)
    labels = km.labels_
    return KMetrics(
        k=k,
        inertia=float(km.inertia_),
        silhouette=float(silhouette_score(data, labels, sample_size=min(silhouette_sample, len(data)),
                                          random_state=seed)),
        calinski_harabasz=float(calinski_harabasz_score(data, labels)),
        davies_bouldin=float(davies_bouldin_score(data, labels)),
        min_share=float(np.bincount(labels, minlength=k).min() / len(data)),
    )


def choose_k(
    metrics: Sequence[KMetrics], knee: int | None, *, min_share: float = 0.02, tolerance: float = 0.02
) -> tuple[int, str]:
    """Pick k by a documented rule; return it with a sentence saying why.

    Rule:

    1. candidates = the elbow of the inertia curve and its neighbours (knee - 1, knee, knee + 1) plus the
       k with the best silhouette;
    2. keep candidates whose smallest segment holds at least ``min_share`` of customers (if none, every
       swept k that does; if none, every candidate);
    3. keep those whose silhouette is within ``tolerance`` of the best kept silhouette;
    4. of these near-ties, take the one with the highest Calinski-Harabasz index (between- over
       within-cluster variance: it drops when two separated groups are merged); remaining ties go to the
       k closest to the elbow.

    The elbow proposes how many segments add explanatory value, the silhouette vetoes clearly less separated
    solutions, the size floor vetoes segments too small to act on, and Calinski-Harabasz settles near-ties.
    """
    by_k = {m.k: m for m in metrics}
    best_sil = max(metrics, key=lambda m: m.silhouette).k
    window = {knee - 1, knee, knee + 1} if knee is not None else set()
    candidates = sorted((window & by_k.keys()) | {best_sil})
    eligible = [k for k in candidates if by_k[k].min_share >= min_share]
    if not eligible:
        eligible = [k for k in by_k if by_k[k].min_share >= min_share] or candidates
    top = max(by_k[k].silhouette for k in eligible)
    near = [k for k in eligible if by_k[k].silhouette >= top - tolerance]
    anchor = knee if knee is not None else best_sil
    chosen = min(near, key=lambda k: (-by_k[k].calinski_harabasz, abs(k - anchor)))
    m = by_k[chosen]
    why = (
        f"k={chosen}: elbow of the inertia curve at k={knee}; best silhouette at k={best_sil} "
        f"({by_k[best_sil].silhouette:.3f}); candidates {candidates} (elbow +-1 and best silhouette); "
        f"kept those whose smallest segment holds >= {min_share:.0%} of customers ({eligible}) and whose "
        f"silhouette is within {tolerance} of the best of them ({near}); chose the highest Calinski-Harabasz "
        "among these (ties: closest to the elbow). "
        f"At k={chosen}: silhouette {m.silhouette:.3f}, Calinski-Harabasz {m.calinski_harabasz:.0f}, "
        f"Davies-Bouldin {m.davies_bouldin:.3f}, smallest segment {m.min_share:.1%}."
    )
    return chosen, why


@dataclass(frozen=True)
class Stability:
    """Adjusted Rand index of refitted labels against the final labels, per seed and per bootstrap."""

    seed_ari: list[float]
    bootstrap_ari: list[float]
    threshold: float

    @property
    def mean(self) -> float:
        return float(np.mean(self.seed_ari + self.bootstrap_ari))

    @property
    def stable(self) -> bool:
        return bool(min(np.mean(self.seed_ari), np.mean(self.bootstrap_ari)) >= self.threshold)

    def to_dict(self) -> dict[str, object]:
        def summary(values: list[float]) -> dict[str, object]:
            return {"mean": float(np.mean(values)), "min": float(np.min(values)), "runs": values}

        return {"seeds": summary(self.seed_ari), "bootstrap": summary(self.bootstrap_ari),
                "mean_ari": self.mean, "threshold": self.threshold, "stable": self.stable}


def stability(
    X: pd.DataFrame,
    model: Segmenter,
    *,
    n_seeds: int = 5,
    n_bootstrap: int = 5,
    sample_size: int | None = 50_000,
    random_state: int = 42,
    threshold: float = 0.8,
    on_step: Step | None = None,
    n_jobs: int | None = None,
) -> Stability:
    """Refit ``model``'s recipe with other seeds and on bootstrap resamples; compare labels on all of ``X``.

    Seed runs fit on (a seeded sample of at most ``sample_size`` rows of) ``X`` with seeds
    ``random_state + 1 ...``; bootstrap runs fit on a resample drawn with replacement. Each run predicts
    every customer and is scored with the adjusted Rand index against ``model``'s labels; the runs share
    ``n_jobs`` threads (None: one per core), each single-threaded, as in :func:`sweep_k`. Warns with
    :class:`UnstableSegmentationWarning` when the mean ARI of either kind is below ``threshold``.
    """
    if n_seeds < 1 or n_bootstrap < 1:
        raise InputError(f"stability needs n_seeds >= 1 and n_bootstrap >= 1, got {n_seeds} and {n_bootstrap}")
    with threadpool_limits(1):
        reference = model.predict(X)
    rng = np.random.default_rng(random_state)
    runs: dict[str, list[float]] = {"seed": [], "bootstrap": []}
    plan = [("seed", False)] * n_seeds + [("bootstrap", True)] * n_bootstrap
    samples = [_sample(len(X), sample_size, rng, replace) for _, replace in plan]  # drawn in order: reproducible

    def agreement(i: int) -> float:
        refit = clone(model).set_params(random_state=random_state + i + 1).fit(X.iloc[samples[i]])
        return adjusted_rand(reference, refit.predict(X))

    for i, ari in enumerate(_side_by_side(agreement, range(len(plan)), n_jobs)):
        kind = plan[i][0]
        runs[kind].append(ari)
        if on_step:
            on_step(f"{kind} {i + 1}")
    result = Stability(runs["seed"], runs["bootstrap"], threshold)
    if not result.stable:
        warnings.warn(
            f"segments are unstable: mean ARI {np.mean(result.seed_ari):.2f} across seeds and "
            f"{np.mean(result.bootstrap_ari):.2f} on bootstrap resamples (threshold {threshold}); "
            "try another k or fewer features",
            UnstableSegmentationWarning,
            stacklevel=2,
        )
    return result


def adjusted_rand(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """``sklearn.metrics.adjusted_rand_score`` for segment labels (small non-negative integers), to the bit.

    By hand because scikit-learn builds its contingency table with ``np.unique`` over every label (two sorts
    of a million labels per stability run: 133 ms of CPU against 6 ms for this bincount); the pair counts are its
    ``pair_confusion_matrix``'s, in the same int64 arithmetic, and the final formula is its own.
    """
    a, b = np.asarray(labels_a), np.asarray(labels_b)
    small = a.ndim == b.ndim == 1 and len(a) == len(b) > 0 and a.dtype.kind in "iu" and b.dtype.kind in "iu"
    if not small or min(a.min(), b.min()) < 0 or max(a.max(), b.max()) > 4096:
        return float(adjusted_rand_score(a, b))  # anything else, with scikit-learn's checks and errors
    n_a, n_b = int(a.max()) + 1, int(b.max()) + 1
    contingency = np.bincount(a.astype(np.int64) * n_b + b, minlength=n_a * n_b).reshape(n_a, n_b)
    n = np.int64(len(a))
    n_c, n_k = contingency.sum(axis=1), contingency.sum(axis=0)
    sum_squares = (contingency**2).sum()
    tp = sum_squares - n
    fp = (contingency @ n_k).sum() - sum_squares
    fn = (contingency.T @ n_c).sum() - sum_squares
    tn = n**2 - fp - fn - sum_squares
    tn, fp, fn, tp = int(tn), int(fp), int(fn), int(tp)
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
