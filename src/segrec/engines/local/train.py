"""Fit the hybrid on an event frame and write the model and everyone's recommendations (used by the CLI and
by the end-to-end pipeline)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..._atomic import atomic_path
from ...bundle import save_bundle
from ...columns import Columns
from ...exceptions import InputError
from ...features.interactions import Dataset
from ...recommend.base import DEFAULT_CHUNK, Recommender
from ...recommend.hybrid import HybridRecommender
from ...run_dir import RunFiles

__all__ = ["segment_labels", "train_recommender", "write_recommendations"]

#: Customers recommended per step of :func:`write_recommendations`: the hybrid's signals and reasons hold a few
#: dense (customers x products) blocks per step, ~1 GB at 10k products.
WRITE_CHUNK = 4096
#: Threads :func:`write_recommendations` recommends on (as many as ``recommend`` uses on two cores).
WRITE_THREADS = 2


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
                          progress: Callable[[int, int], None] | None = None, threads: int = WRITE_THREADS) -> int:
    """Every customer's top-``k`` discover recommendations (with reasons, for the hybrid) as one Parquet file,
    written chunk by chunk so memory stays bounded whatever the number of customers; atomically.

    Chunks are recommended on ``threads`` threads (see :func:`_recommended`) and written in order: the same file
    as one chunk at a time. ``progress(done, total)`` is called after each chunk. Returns the number of rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = model.dataset_.users.external_ids
    rows = 0
    with atomic_path(path) as tmp:
        writer = None
        try:
            for stop, frame in _recommended(model, ids, k, chunk_size, threads):
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
                rows += len(frame)
                if progress is not None:
                    progress(stop, len(ids))
        finally:
            if writer is not None:
                writer.close()
    return rows


def _recommended(model: Recommender, ids: np.ndarray, k: int, chunk_size: int,
                 threads: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Each chunk's recommendations in order, with the index its chunk ends at.

    ``recommend`` scores a chunk's ``DEFAULT_CHUNK``-customer pieces on two threads, then makes its reasons and
    table in single-threaded Python while those threads wait. Here the pieces themselves are recommended on
    ``threads`` threads, reasons and tables included, so one piece's Python runs beside another's numpy and
    scipy (which release the GIL), with as many threads as before. The pieces are the ones ``recommend`` would
    have cut and their products run on one BLAS thread, as in ``recommend``'s own threads (OpenBLAS rounds a
    product on two threads differently): the same rows. A last chunk of at most ``DEFAULT_CHUNK`` customers,
    which ``recommend`` would score alone with every BLAS thread, runs so afterwards.
    """
    starts = list(range(0, max(len(ids), 1), chunk_size))
    together = [s for s in starts if threads > 1 and len(ids[s : s + chunk_size]) > DEFAULT_CHUNK]
    if together:
        queue = iter(together)
        with threadpool_limits(1, "blas"), ThreadPoolExecutor(threads, thread_name_prefix="segrec-write") as pool:
            pending: deque[tuple[int, list[Future[pd.DataFrame]]]] = deque()

            def submit() -> None:
                start = next(queue, None)
                if start is not None:
                    stop = min(start + chunk_size, len(ids))
                    pending.append((stop, [pool.submit(model.recommend, ids[piece : min(piece + DEFAULT_CHUNK, stop)], k=k)
                                           for piece in range(start, stop, DEFAULT_CHUNK)]))

            submit()
            submit()  # the next chunk's pieces queue behind this one's: the threads never wait for the writer
            try:
                while pending:
                    stop, futures = pending.popleft()
                    frames = [future.result() for future in futures]
                    submit()
                    yield stop, pd.concat(frames, ignore_index=True)
            finally:
                for _, futures in pending:
                    for future in futures:
                        future.cancel()
    for start in starts[len(together) :]:
        yield min(start + chunk_size, len(ids)), model.recommend(ids[start : start + chunk_size], k=k)
