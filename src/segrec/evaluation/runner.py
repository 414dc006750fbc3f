"""Train every model on the same split and score them with the same metrics.

The protocol (stated once, used by the CLI, ``segrec run`` and the benchmarks):

- models fit on the training events (a :class:`~segrec.features.interactions.Dataset`, default weighting);
- **discover** mode: products a user bought in training are excluded from the ranking *and* from that
  user's test items (a repeat purchase is not a discovery); **buy-again** mode: nothing is excluded;
- metrics are averaged over users with at least one test item (see :mod:`.metrics` for the definitions);
- ``in_sample=True`` also reproduces the original project's protocol: precision@5 and AUC on the
  *training* interactions, nothing excluded. It measures fit, not future performance, and is labelled so.
"""

from __future__ import annotations

import hashlib
import inspect
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..columns import Columns
from ..exceptions import InputError
from ..features.interactions import Dataset
from ..modes import DISCOVER, MODES
from ..recommend.base import DEFAULT_CHUNK, Recommender
from ..recommend.holdout import PROTOCOLS, infer_protocol
from ..recommend.registry import model_config, model_from_config, models_for_mode
from .beyond import catalogue_coverage, intra_list_diversity, item_text_vectors, novelty
from .metrics import auc_from_ranks, positive_ranks, reciprocal_rank_from_ranks, topk_metrics

__all__ = ["EvaluationResult", "ModelResult", "evaluate", "evaluate_modes", "events_fingerprint", "fit_segments",
           "metric_names"]

DEFAULT_MODEL = "hybrid"
IN_SAMPLE_K = 5
ModelSpec = str | dict[str, Any]
Callback = Callable[[str, str], None]


@dataclass
class ModelResult:
    """One model's figures on one split and mode."""

    name: str
    params: dict[str, Any]
    metrics: dict[str, float | None]  # None: undefined (e.g. diversity when every list has one item)
    fit_seconds: float
    score_seconds: float
    in_sample: dict[str, float | None] | None = None
    tuning: dict[str, Any] | None = None  # what a self-tuning model chose on its own validation slice, and why


@dataclass
class EvaluationResult:
    """All models on one split and mode; :meth:`to_dict` is the documented JSON shape."""

    split: dict[str, Any]
    k: int
    mode: str
    models: list[ModelResult]
    default_model: str = DEFAULT_MODEL
    data: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {"split": self.split, "default_model": self.default_model, "k": self.k, "mode": self.mode,
               "models": [_drop_none(asdict(m)) for m in self.models], "data": self.data, "versions": self.versions}
        return out


@dataclass
class _Truth:
    """What one mode judges against: test items per evaluated user, and what is excluded from ranking."""

    users: np.ndarray
    relevant: sp.csr_matrix
    exclude: sp.csr_matrix | None


def evaluate(
    train_events: pd.DataFrame,
    test_events: pd.DataFrame,
    models: Sequence[ModelSpec] | None = None,
    k: int = 10,
    mode: str = DISCOVER,
    segments: pd.Series | None = None,
    **options: Any,
) -> EvaluationResult:
    """Fit each model on ``train_events`` and score it on ``test_events`` in one mode.

    ``models`` are registry names or ``{"name", "params"}`` configs; by default every available model that
    applies to ``mode`` (``segment_popularity`` only when ``segments``, user id -> segment, is given).
    ``options``: ``split_description``, ``in_sample``, ``callback``, ``validation`` (see :func:`evaluate_modes`).
    """
    return evaluate_modes(train_events, test_events, models, k, (mode,), segments, **options)[mode]


def evaluate_modes(
    train_events: pd.DataFrame,
    test_events: pd.DataFrame,
    models: Sequence[ModelSpec] | None = None,
    k: int = 10,
    modes: Sequence[str] = MODES,
    segments: pd.Series | None = None,
    *,
    split_description: dict[str, Any] | None = None,
    in_sample: bool = False,
    callback: Callback | None = None,
    validation: str | None = None,
) -> dict[str, EvaluationResult]:
    """Like :func:`evaluate` for several modes, fitting each model once (a fit does not depend on the mode).

    ``callback(stage, model_name)`` is called with stage ``"fit"``, ``"score"`` and ``"done"`` (for progress bars).
    Models that tune themselves on a validation slice (a ``validation`` parameter left at ``"auto"``) draw it
    the way this evaluation's test set was drawn: ``validation`` when given, else the protocol of
    ``split_description["method"]`` (two files: inferred from their dates, see
    :func:`~segrec.recommend.holdout.infer_protocol`), recorded in the result's ``split["validation"]``.
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    for mode in modes:
        models_for_mode(mode)  # validates the mode
    plan = _plan(models, modes, segments is not None)
    protocol = _protocol(split_description or {}, train_events, test_events, validation)
    dataset = Dataset.from_events(train_events, segments=segments)
    truths = {mode: _truth(dataset, test_events, mode) for mode in modes}
    if all(len(t.users) == 0 for t in truths.values()):
        raise InputError("no test user has a test product that can be evaluated; check the split")
    vectors = item_text_vectors(dataset.catalogue)
    notify = callback or (lambda stage, name: None)
    built = []
    for spec, spec_modes in plan:
        model = model_from_config(spec)
        if model.get_params().get("validation") == "auto" and protocol["protocol"] is not None:
            model.set_params(validation=protocol["protocol"])
        built.append((model, spec_modes))
    # Models whose fit runs outside the interpreter lock (LightFM's epochs) are fitted on a side thread while
    # the others are fitted and scored here: seeded LightFM trains on one thread, so its results are the same,
    # and on Online Retail its two fits were half of the evaluation's time. Results keep the plan's order.
    done: dict[int, list[tuple[str, ModelResult]]] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segrec-eval-fit") as side:
        aside = {i: side.submit(_fit, model, dataset, train_events)
                 for i, (model, _) in enumerate(built) if model.fit_releases_gil and len(built) > 1}
        for i in [i for i in range(len(built)) if i not in aside] + list(aside):
            model, spec_modes = built[i]
            name = model_config(model)["name"]
            notify("fit", name)
            fit_seconds = aside[i].result() if i in aside else _fit(model, dataset, train_events)
            notify("score", name)
            extra = _in_sample(model, dataset) if in_sample else None
            done[i] = []
            for mode in spec_modes:
                metrics, seconds = _score(model, truths[mode], k, dataset, vectors)
                done[i].append((mode, ModelResult(name, model.get_params(), metrics, fit_seconds, seconds, extra,
                                                  getattr(model, "tuning_", None))))
            notify("done", name)
    results: dict[str, list[ModelResult]] = {mode: [] for mode in modes}
    for i in sorted(done):
        for mode, result in done[i]:
            results[mode].append(result)
    description = {**(split_description or {}), "evaluated_users": {m: len(t.users) for m, t in truths.items()},
                   "validation": protocol}
    data = {"train_sha256": events_fingerprint(train_events), "test_sha256": events_fingerprint(test_events),
            "n_users": dataset.n_users, "n_products": dataset.n_items, "weighting": dataset.weighting}
    versions = package_versions()
    return {mode: EvaluationResult(description, k, mode, results[mode], data=data, versions=versions)
            for mode in modes}


def _protocol(split: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame, asked: str | None) -> dict[str, Any]:
    """How self-tuning models should draw their validation slice to mirror this evaluation, and why."""
    if asked is not None:
        return {"protocol": asked, "reason": "asked for"}
    method = split.get("method")
    if method in PROTOCOLS:
        return {"protocol": method, "reason": f"mirrors the {method} split"}
    if method == "explicit":
        protocol, reason = infer_protocol(train, test)
        return {"protocol": protocol, "reason": f"inferred from the files: {reason}"}
    return {"protocol": None, "reason": "no split method given: each model's own default"}


def _plan(models: Sequence[ModelSpec] | None, modes: Sequence[str], has_segments: bool) -> list[tuple[ModelSpec, list[str]]]:
    """Which models to fit and in which modes to score each one."""
    if models is not None:
        if not models:
            raise InputError("no model to evaluate")
        return [(spec, list(modes)) for spec in models]
    plan: dict[str, list[str]] = {}
    for mode in modes:
        for name in models_for_mode(mode):
            if name != "segment_popularity" or has_segments:
                plan.setdefault(name, []).append(mode)
    return list(plan.items())


def _truth(dataset: Dataset, test_events: pd.DataFrame, mode: str) -> _Truth:
    rows = dataset.user_index(test_events[Columns.User].to_numpy())
    cols = dataset.item_index(test_events[Columns.Item].to_numpy())
    known = (rows >= 0) & (cols >= 0)
    shape = (dataset.n_users, dataset.n_items)
    test = sp.csr_matrix((np.ones(int(known.sum()), np.float32), (rows[known], cols[known])), shape=shape)
    test.sum_duplicates()
    test.data[:] = 1.0
    exclude = None
    if mode == DISCOVER:
        exclude = (dataset.purchases > 0).astype(np.float32).tocsr()
        test = (test - test.multiply(exclude)).tocsr()
        test.eliminate_zeros()
    users = np.flatnonzero(np.diff(test.indptr))
    return _Truth(users, test[users], None if exclude is None else exclude[users])


def _fit(model: Recommender, dataset: Dataset, train_events: pd.DataFrame) -> float:
    start = time.perf_counter()
    if "events" in inspect.signature(model.fit).parameters:
        model.fit(dataset, events=train_events)  # e.g. buy-again's recency weights need dates
    else:
        model.fit(dataset)
    return time.perf_counter() - start


def _score(model: Recommender, truth: _Truth, k: int, dataset: Dataset,
           vectors: sp.csr_matrix) -> tuple[dict[str, float | None], float]:
    start = time.perf_counter()
    top, _ = model.recommend_idx(truth.users, k, filter_seen=truth.exclude is not None)
    ranks = _ranks(model, truth.users, truth.relevant, truth.exclude)
    seconds = time.perf_counter() - start
    n_excluded = None if truth.exclude is None else np.diff(truth.exclude.indptr)
    per_user = {
        **topk_metrics(top, truth.relevant),
        "mrr": reciprocal_rank_from_ranks(ranks),
        "auc": auc_from_ranks(ranks, n_excluded),
        "diversity": intra_list_diversity(top, vectors),
        "novelty": novelty(top, dataset.item_popularity(), dataset.n_users),
    }
    metrics = {name: _mean(values) for name, values in per_user.items()}
    metrics["coverage"] = catalogue_coverage(top, dataset.n_items)
    return {name: metrics[name] for name in metric_names(k)}, seconds


def metric_names(k: int) -> list[str]:
    """Metric keys in display order."""
    return [f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"map@{k}", f"hit_rate@{k}", "mrr", "auc", "coverage",
            "diversity", "novelty"]


def _ranks(model: Recommender, users: np.ndarray, relevant: sp.csr_matrix, exclude: sp.csr_matrix | None) -> sp.csr_matrix:
    """LightFM-style ranks of every test item, scoring users in chunks to bound memory; scores of the mode that
    ``exclude`` implies (discover when given), so AUC and MRR describe the ranking that is recommended."""
    blocks = []
    for start in range(0, len(users), DEFAULT_CHUNK):
        stop = start + DEFAULT_CHUNK
        scores = model.score(users[start:stop], filter_seen=exclude is not None)
        blocks.append(positive_ranks(scores, relevant[start:stop], None if exclude is None else exclude[start:stop]))
    return sp.vstack(blocks, format="csr") if blocks else relevant.copy()


def _in_sample(model: Recommender, dataset: Dataset) -> dict[str, float | None]:
    """The original protocol: precision@5 and AUC on the training interactions, nothing excluded."""
    users = np.arange(dataset.n_users)
    relevant = (dataset.purchases > 0).astype(np.float32).tocsr()
    top, _ = model.recommend_idx(users, IN_SAMPLE_K, filter_seen=False)
    precision = topk_metrics(top, relevant)[f"precision@{IN_SAMPLE_K}"]
    auc = auc_from_ranks(_ranks(model, users, relevant, None))
    return {f"precision@{IN_SAMPLE_K}": _mean(precision), "auc": _mean(auc)}


def fit_segments(events: pd.DataFrame, n_clusters: int = 5, seed: int = 42) -> pd.Series:
    """K-Means segments of the training customers (user id -> segment), for segment popularity and the hybrid.

    Fitted on training events only, so the segment of a customer leaks nothing from the test period.
    """
    from ..features.customers import customer_features
    from ..segment.segmenter import Segmenter

    features = customer_features(events)
    labels = Segmenter(n_clusters=n_clusters, random_state=seed).fit(features).labels_
    return pd.Series(labels, index=features.index.astype(str), name=Columns.Segment)


def _mean(values: np.ndarray) -> float | None:
    """Mean over the users where the metric is defined; None (JSON null) when it is defined for nobody."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if len(values) and not np.isnan(values).all() else None


def events_fingerprint(events: pd.DataFrame) -> str:
    """sha256 of the sorted (user, product, date) triples: the same purchases give the same hash, in any order."""
    cols = [c for c in (Columns.User, Columns.Item, Columns.Date) if c in events]
    frame = events[cols].astype(str).sort_values(cols, kind="stable")
    return hashlib.sha256(frame.to_csv(index=False, header=True).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the packages that change the figures."""
    out = {"python": platform.python_version()}
    for dist in ("segrec", "numpy", "scipy", "pandas", "scikit-learn", "rectools-lightfm", "implicit"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
