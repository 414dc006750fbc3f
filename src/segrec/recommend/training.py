"""Fit the hybrid on an event frame and write the model and everyone's recommendations (used by the CLI and
by the end-to-end pipeline)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .._atomic import atomic_path
from ..bundle import save_bundle
from ..columns import Columns
from ..exceptions import InputError
from .data import Dataset
from .hybrid import HybridRecommender

__all__ = ["MODEL_DIR", "RECOMMENDATIONS_FILE", "segment_labels", "train_recommender"]

MODEL_DIR = "model"
RECOMMENDATIONS_FILE = "recommendations.parquet"


def segment_labels(segments: pd.DataFrame | pd.Series | None) -> pd.Series | None:
    """user_id -> segment label, preferring the human-readable segment name when the frame has one."""
    if segments is None:
        return None
    if isinstance(segments, pd.Series):
        return segments
    if Columns.User not in segments:
        raise InputError(f"segments need a {Columns.User!r} column; found {list(segments.columns)}")
    column = Columns.SegmentName if Columns.SegmentName in segments else Columns.Segment
    if column not in segments:
        raise InputError(f"segments need a {Columns.Segment!r} or {Columns.SegmentName!r} column")
    return pd.Series(segments[column].astype(str).to_numpy(), index=segments[Columns.User].astype(str))


def train_recommender(
    events: pd.DataFrame,
    out_dir: str | Path,
    *,
    segments: pd.DataFrame | pd.Series | None = None,
    seed: int = 42,
    k: int = 10,
    epoch_callback: Callable[[int, float | None], None] | None = None,
    bundle_dir: str = MODEL_DIR,
    segmenter: Any = None,
    profiles: pd.DataFrame | None = None,
    evaluation: Mapping[str, Any] | None = None,
    validation: str = "auto",
) -> HybridRecommender:
    """Fit a :class:`HybridRecommender` on ``events``; write ``out_dir/<bundle_dir>/`` (a bundle) and
    ``out_dir/recommendations.parquet`` (top-``k`` discover-mode recommendations of every customer).

    ``segmenter``, ``profiles`` and ``evaluation`` go into the bundle as they are, so that the API can assign
    new customers to segments and show the held-out figures of the model it serves. ``validation`` is how the
    hybrid draws its tuning slice (``auto``: the last period unless the dates cannot carry it)."""
    out = Path(out_dir)
    began = time.perf_counter()
    dataset = Dataset.from_events(events, segments=segment_labels(segments))
    model = HybridRecommender(random_state=seed, validation=validation)
    model.epoch_callback = epoch_callback
    model.fit(dataset, events=events)
    fit_seconds = time.perf_counter() - began
    recs = model.recommend(dataset.users.external_ids, k=k)
    save_bundle(out / bundle_dir, recommender=model, segmenter=segmenter, segments=segments, profiles=profiles,
                evaluation=evaluation, params={"seed": seed, "k": k, "fit_seconds": round(fit_seconds, 2)})
    with atomic_path(out / RECOMMENDATIONS_FILE) as tmp:
        recs.to_parquet(tmp, index=False)
    return model
