"""The served bundle and its hot swap.

:class:`Served` is a loaded bundle plus the lookup tables the endpoints need, all built once per load in the
loading thread, never per request. :class:`BundleHolder` keeps the current one in a single attribute: a reload
builds the new :class:`Served` completely, then swaps it in with one reference assignment (atomic under the
GIL). A request takes the reference once, when it starts, so it finishes on the bundle it began with while
new requests see the new one; nothing is ever locked on the request path.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..bundle import Bundle, load_bundle
from ..columns import Columns
from ..events import EventStore
from ..events.store import PAGE
from ..exceptions import BundleError, SegrecError
from ..modes import MODES
from ..recommend.foldin import FoldIn
from ..recommend.hybrid import HybridRecommender
from .cache import TopK
from .live import LiveEvents
from .metrics import Metrics
from .schemas import MAX_K, BundleInfo, RecommendedItem

logger = logging.getLogger("segrec.service")


class ReloadInProgress(SegrecError):
    """Another reload is still loading; the caller should retry later (HTTP 409)."""


@dataclass(frozen=True, eq=False)
class Served:
    """A bundle ready to serve: id lookups, cached top-K per mode, cold-start default, segment profiles."""

    bundle: Bundle
    info: BundleInfo
    user_index: dict[str, int] = field(default_factory=dict)
    product_index: dict[str, int] = field(default_factory=dict)
    item_ids: list[str] = field(default_factory=list)
    item_names: list[str] = field(default_factory=list)
    name_of: dict[str, str] = field(default_factory=dict)  # product id -> name, for models that return no names
    top: dict[str, TopK] = field(default_factory=dict)
    cold: list[RecommendedItem] = field(default_factory=list)
    segment_of: dict[str, int] = field(default_factory=dict)
    profiles: dict[int, dict[str, Any]] = field(default_factory=dict)
    item_category: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    item_price: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.float64))
    foldin: FoldIn | None = None  # None: the model cannot fold events in (only the hybrid does)
    live: LiveEvents | None = None  # events newer than the bundle, when an event store is configured
    precompute_k: int = 0
    memo: dict[str, Any] = field(default_factory=dict)  # per-bundle values computed on first use

    @classmethod
    def build(cls, bundle: Bundle, *, precompute_k: int = 0, cold_k: int = MAX_K,
              store: EventStore | None = None) -> Served:
        """Everything a request needs, computed here (in the loading thread) rather than per request.

        With a ``store``, the events it holds above the bundle's mark (``params.events.through_seq`` in the
        manifest, written by ``segrec train --events``; 0 otherwise) are loaded for the fold-in."""
        dataset, model = bundle.dataset, bundle.recommender
        top = {mode: TopK.build(model, precompute_k, filter_seen=mode == "discover")
               for mode in MODES} if precompute_k > 0 else {}
        cold = cold_items(model, None, None, cold_k) if model.recommends_cold_users else []
        item_ids = [str(i) for i in dataset.items.external_ids]
        item_names = [str(n) for n in dataset.catalogue[Columns.ItemName]]
        segment_of: dict[str, int] = {}
        if bundle.segments is not None:
            frame = bundle.segments
            segment_of = dict(zip(frame[Columns.User].astype(str), frame[Columns.Segment].astype(int), strict=True))
        return cls(
            bundle, _info(bundle),
            user_index={str(u): i for i, u in enumerate(dataset.users.external_ids)},
            product_index={str(p): i for i, p in enumerate(dataset.items.external_ids)},
            item_ids=item_ids, item_names=item_names, name_of=dict(zip(item_ids, item_names, strict=True)),
            top=top, cold=cold, segment_of=segment_of,
            profiles={int(p[Columns.Segment]): p for p in bundle.profiles or [] if Columns.Segment in p},
            item_category=dataset.catalogue[Columns.Category].astype(str).to_numpy(dtype=object),
            item_price=pd.to_numeric(dataset.catalogue[Columns.Price], errors="coerce").to_numpy(np.float64),
            foldin=FoldIn(model) if isinstance(model, HybridRecommender) else None,
            live=load_live(bundle, store), precompute_k=precompute_k,
        )

    def segment_label(self, segment: int) -> tuple[str | None, str | None]:
        """Name and suggested action of a segment, when the bundle has profiles."""
        profile = self.profiles.get(segment, {})
        return profile.get(Columns.SegmentName), profile.get(Columns.Action)

    def assign_segment(self, features: dict[str, float | None]) -> tuple[int, list[str]]:
        """Segment of a new customer and the features that were missing (filled with training medians)."""
        segmenter = self.bundle.segmenter
        names = list(segmenter.features_)
        row = {name: np.nan if features.get(name) is None else float(features[name]) for name in names}
        imputed = [name for name in names if features.get(name) is None]
        return int(segmenter.predict(pd.DataFrame([row], columns=names))[0]), imputed


def events_mark(manifest: dict[str, Any]) -> int:
    """The last event-store seq the bundle was trained on (0: none)."""
    events = (manifest.get("params") or {}).get("events") or {}
    return int(events.get("through_seq", 0) or 0)


def load_live(bundle: Bundle, store: EventStore | None) -> LiveEvents | None:
    """The store's events above the bundle's mark (None without a store)."""
    if store is None:
        return None
    live = LiveEvents(events_mark(bundle.manifest))
    while True:
        changes = store.changes(live.last_seq)
        live.apply(changes.events)
        if len(changes.events) < PAGE:
            return live


def _info(bundle: Bundle) -> BundleInfo:
    manifest = bundle.manifest
    return BundleInfo(
        path=str(bundle.path) if bundle.path else None,
        format_version=int(manifest.get("format_version", 0)),
        segrec_version=manifest.get("segrec_version"),
        created_at=manifest.get("created_at"),
        data_fingerprint=manifest.get("data_fingerprint"),
        model=type(bundle.recommender).__name__,
        users=bundle.dataset.n_users,
        items=bundle.dataset.n_items,
        loaded_at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
    )


def frame_items(frame: pd.DataFrame, names: dict[str, str] | None = None) -> list[RecommendedItem]:
    """Rows of a recommendation frame as response items; padding (non-finite scores) is dropped.

    Models other than the hybrid return no names or reasons: ``names`` (id -> name) fills them in then.
    """
    items = [str(item) for item in frame[Columns.Item].tolist()]
    labels = frame[Columns.ItemName].tolist() if Columns.ItemName in frame else [(names or {})[i] for i in items]
    reasons = frame[Columns.Reason].tolist() if Columns.Reason in frame else [""] * len(items)
    return [
        RecommendedItem(rank=rank, product_id=item, product_name=str(name), score=score, reason=str(reason))
        for rank, item, name, score, reason in zip(frame[Columns.Rank].tolist(), items, labels,
                                                   frame[Columns.Score].tolist(), reasons, strict=True)
        if math.isfinite(score)
    ]


def cold_items(model: Any, attributes: dict[str, Any] | None, product_ids: list[str] | None,
               k: int) -> list[RecommendedItem]:
    """The model's cold-start answer (its own reasons and names)."""
    return frame_items(model.recommend_cold(attributes=attributes, product_ids=product_ids, k=k))


def _freeze_heap() -> None:
    """Move every object alive now (mostly the served bundle: its precomputed answers alone are ~10^5 objects)
    out of the cyclic garbage collector's sight, as ``gc.freeze`` does for preforked servers.

    Why: a full collection walks every tracked object. With the demo bundle served (~223,000 tracked objects)
    one took 140 ms, and 0.0 ms once they were frozen. Every request in flight waits for such a collection, and
    the objects that arrive with events (each cached fold-in holds ~25) bring the next one due as the service
    runs. The bundle is immutable, so those walks find nothing. The previous bundle's objects are unfrozen and collected first, so
    a reload leaks nothing; that one collection (~0.1 s) runs on the loader thread at each reload.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class BundleHolder:
    """The current :class:`Served` and the one place that replaces it."""

    def __init__(self, path: Path | None, metrics: Metrics | None = None, *, precompute_k: int = 0,
                 store: EventStore | None = None) -> None:
        self.path = path
        self.precompute_k = precompute_k
        self.store = store
        self.current: Served | None = None
        self.metrics = metrics or Metrics()
        self._lock = threading.Lock()  # one reload at a time; requests never take it
        # Every load runs on this one thread: its malloc arena is reused by the next load instead of a new
        # thread's arena growing the process by a bundle's worth of retained pages at each reload.
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segrec-reload")

    def swap(self, served: Served) -> None:
        self.current = served  # the swap: a single reference assignment
        self.metrics.bundle_loaded.set_to_current_time()

    def reload(self, path: str | Path | None = None) -> Served:
        """Load the bundle at ``path`` (default: the current path) and swap it in; blocking.

        Raises :class:`BundleError` (or ``TypeError``) if the bundle is refused: the old one keeps serving.
        """
        if not self._lock.acquire(blocking=False):
            raise ReloadInProgress("a reload is already in progress; retry when it has finished")
        try:
            target = Path(path) if path is not None else self.path
            if target is None:
                raise BundleError("no bundle path configured: set SEGREC_BUNDLE or give a path")
            try:
                served = Served.build(load_bundle(target), precompute_k=self.precompute_k, store=self.store)
            except Exception:
                self.metrics.reloads.labels("refused").inc()
                raise
            self.swap(served)
            _freeze_heap()
            self.metrics.reloads.labels("loaded").inc()
            self.path = target
            logger.info(json.dumps({"event": "bundle_loaded", "path": str(target),
                                    "fingerprint": served.info.data_fingerprint}))
            return served
        finally:
            self._lock.release()

    def submit(self, path: str | Path | None = None) -> Future[Served]:
        """:meth:`reload` on the loader thread; raises :class:`ReloadInProgress` at once if one is running."""
        if self._lock.locked():
            raise ReloadInProgress("a reload is already in progress; retry when it has finished")
        return self._loader.submit(self.reload, path)

    def reload_in_background(self, path: str | Path | None = None) -> Future[None]:
        """Reload without waiting (SIGHUP); failures are logged and the old bundle keeps serving."""
        return self._loader.submit(self._reload_logged, path)

    def close(self) -> None:
        self._loader.shutdown(wait=False, cancel_futures=True)

    def _reload_logged(self, path: str | Path | None) -> None:
        try:
            self.reload(path)
        except Exception as exc:  # a background reload must never take the server down
            logger.error(json.dumps({"event": "bundle_refused", "path": str(path or self.path),
                                     "error": f"{type(exc).__name__}: {exc}"}))
