"""End-to-end segmentation: events in, segments + report + model + plots out.

:func:`run_segmentation` is what ``segrec segment`` runs and what the ``segrec run`` pipeline calls. Steps:
customer features -> k sweep (:func:`~segrec.segment.selection.sweep_k`; ``k`` overrides the choice but
the sweep is still reported) -> final :class:`~segrec.segment.segmenter.Segmenter` -> stability
(:func:`~segrec.segment.selection.stability`) -> RFM view -> profiles and names. With ``out_dir`` it writes,
each file atomically:

* ``segments.parquet`` / ``segments.csv``: user_id, segment, segment_name, rfm_score, rfm_group, features;
* ``segmentation.json``: chosen k and why, every k's metrics, stability, profiles, features used/dropped;
* ``segmenter/``: the fitted model (JSON + npz, no pickle; ``Segmenter.load`` assigns new customers);
* ``k_selection.png``, ``projection.png``, ``profile_heatmap.png``, ``sizes_revenue.png``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import Progress

from ..._atomic import atomic_path, atomic_write_text
from ..._json import to_jsonable
from ...columns import Columns
from ...exceptions import InputError, TooFewCustomersError
from ...features.customers import CustomerFeatures, build_customer_features
from ...features.rfm import rfm_table
from ...run_dir import RunFiles
from ...segment.profiles import relative_means, segment_profiles
from ...segment.segmenter import DEFAULT_FEATURES, FeaturePreprocessor, Segmenter
from ...segment.selection import KSweep, Stability, stability, sweep_k

__all__ = ["SegmentationResult", "run_segmentation"]

C = Columns


@dataclass(frozen=True)
class SegmentationResult:
    """Everything a segmentation run produced (``report`` is what ``segmentation.json`` holds)."""

    segments: pd.DataFrame
    profiles: pd.DataFrame
    sweep: KSweep
    stability: Stability
    model: Segmenter
    features: CustomerFeatures
    report: dict[str, object]


def run_segmentation(
    events: pd.DataFrame,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    k: int | None = None,
    seed: int = 42,
    features: Sequence[str] | None = None,
    ks: Sequence[int] = range(2, 11),
    analysis_date: object = None,
    n_init: int = 10,
    progress: bool = False,
) -> SegmentationResult:
    """Segment the customers of ``events`` and, when ``out_dir`` is given, write all outputs there."""
    built = build_customer_features(events, analysis_date=analysis_date)
    X = built.frame
    swept = sorted(set(ks))
    if len(swept) >= 2 and len(X) <= swept[1]:  # fewer than two k values to compare
        raise TooFewCustomersError(len(X), swept[1] + 1, swept[:2])
    ks = [c for c in ks if c < len(X)]
    if k is not None and not 1 <= k <= len(X):
        raise InputError(f"--k {k} is not between 1 and the number of customers ({len(X)})")
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("segmenting", total=len(ks) + 10)

        def step(what: str) -> None:
            bar.update(task, advance=1, description=what)

        pre = FeaturePreprocessor(features=features).fit(X)
        sweep = sweep_k(pre.transform(X), ks, random_state=seed, on_step=step)
        chosen = sweep.chosen if k is None else k
        model = Segmenter(n_clusters=chosen, features=features, n_init=n_init, random_state=seed).fit(X)
        stab = stability(X, model, random_state=seed, on_step=step)
    labels = model.labels_
    profiles = segment_profiles(X, labels, events)
    segments = _segment_table(X, labels, profiles)
    why = sweep.why if k is None else f"k={k} set by the caller (--k); the rule alone says: {sweep.why}"
    report = {
        "n_customers": len(X),
        "analysis_date": built.analysis_date.isoformat(),
        "chosen_k": chosen,
        "why": why,
        "k_sweep": sweep.to_dict(),
        "stability": stab.to_dict(),
        "features_used": model.features_,
        "features_dropped": {**_unused(X, features), **built.dropped},
        "imputed_with_median": built.imputed,
        "profiles": profiles.reset_index().to_dict("records"),
    }
    result = SegmentationResult(segments, profiles, sweep, stab, model, built, to_jsonable(report))
    if out_dir is not None:
        write_outputs(result, Path(out_dir), seed=seed)
    return result


def _unused(X: pd.DataFrame, features: Sequence[str] | None) -> dict[str, str]:
    if features is not None:
        return {}
    return {f: "not in the customer table" for f in DEFAULT_FEATURES if f not in X.columns}


def _segment_table(X: pd.DataFrame, labels: np.ndarray, profiles: pd.DataFrame) -> pd.DataFrame:
    rfm = rfm_table(X)
    table = pd.DataFrame({C.Segment: labels}, index=X.index)
    table[C.SegmentName] = profiles[C.SegmentName].reindex(labels).to_numpy()
    table = table.join(rfm[[C.RFMScore, C.RFMGroup]]).join(X)
    return table.reset_index()


def write_outputs(result: SegmentationResult, out: Path, *, seed: int = 42) -> None:
    """Write tables, report, model and plots of ``result`` into ``out`` (created)."""
    from ...report import plots  # matplotlib is imported only when figures are written

    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / RunFiles.Segments) as tmp:
        result.segments.to_parquet(tmp, index=False)
    with atomic_path(out / RunFiles.SegmentsCsv) as tmp:
        result.segments.to_csv(tmp, index=False)
    atomic_write_text(out / RunFiles.Segmentation, json.dumps(result.report, indent=2, ensure_ascii=False))
    result.model.save(out / RunFiles.Segmenter)

    X, labels = result.features.frame, result.model.labels_
    heat = [c for c in plots.HEATMAP_FEATURES if c in X.columns]
    plots.write_segmentation_figures(out, result.sweep, result.model.transform(X), labels,
                                     relative_means(X, labels, heat), result.profiles, seed=seed)

