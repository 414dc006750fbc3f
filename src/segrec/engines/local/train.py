"""Fit the hybrid on an event frame and write the model and everyone's recommendations (used by the CLI and
by the end-to-end pipeline)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..._atomic import atomic_path
from ...bundle import save_bundle
from ...columns import Columns
from ...exceptions import InputError
from ...features.interactions import Dataset
from ...recommend.base import Recommender
from ...recommend.hybrid import HybridRecommender
from ...run_dir import RunFiles

__all__ = ["segment_labels", "train_recommender", "write_recommendations"]

#: Customers recommended per step of :func:`write_recommendations`: the hybrid's signals and reasons hold a few
#: dense (customers x products) blocks per step, ~1 GB at 10k products.
WRITE_CHUNK = 4096


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
    bundle_dir: str = RunFiles.Model,
    segmenter: Any = None,
    profiles: pd.DataFrame | None = None,
    evaluation: Mapping[str, Any] | None = None,
    validation: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    params: Mapping[str, Any] | None = None,
) -> HybridRecommender:
    """Fit a :class:`HybridRecommender` on ``events``; write ``out_dir/<bundle_dir>/`` (a bundle) and
    ``out_dir/recommendations.parquet`` (top-``k`` discover-mode recommendations of every customer).

    ``segmenter``, ``profiles`` and ``evaluation`` go into the bundle as they are, so that the API can assign
    new customers to segments and show the held-out figures of the model it serves. ``validation`` is how the
    hybrid draws its tuning slice (``auto``: the last period unless the dates cannot carry it). ``params`` are
    added to the manifest's (e.g. ``events``: the event-store mark the API folds in from)."""
    out = Path(out_dir)
    began = time.perf_counter()
    dataset = Dataset.from_events(events, segments=segment_labels(segments))
    model = HybridRecommender(random_state=seed, validation=validation)
    model.epoch_callback = epoch_callback
    model.fit(dataset, events=events)
    fit_seconds = time.perf_counter() - began
    save_bundle(out / bundle_dir, recommender=model, segmenter=segmenter, segments=segments, profiles=profiles,
                evaluation=evaluation, params={"seed": seed, "k": k, "fit_seconds": round(fit_seconds, 2),
                                               **(params or {})})
    write_recommendations(model, out / RunFiles.Recommendations, k, progress=progress)
    return model


def write_recommendations(model: Recommender, path: str | Path, k: int = 10, *, chunk_size: int = WRITE_CHUNK,
                          progress: Callable[[int, int], None] | None = None) -> int:
    """Every customer's top-``k`` discover recommendations (with reasons, for the hybrid) as one Parquet file,
    written chunk by chunk so memory stays bounded whatever the number of customers; atomically.

    ``progress(done, total)`` is called after each chunk. Returns the number of rows written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = model.dataset_.users.external_ids
    rows = 0
    with atomic_path(path) as tmp:
        writer = None
        try:
            for start in range(0, max(len(ids), 1), chunk_size):
                frame = model.recommend(ids[start : start + chunk_size], k=k)
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
                rows += len(frame)
                if progress is not None:
                    progress(min(start + chunk_size, len(ids)), len(ids))
        finally:
            if writer is not None:
                writer.close()
    return rows
