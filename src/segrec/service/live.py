"""Events newer than the served bundle, per customer, kept current from the event store, and the business rules.

:class:`LiveEvents` belongs to one :class:`~segrec.service.state.Served`: it holds, per customer, what the store
received after the events the bundle was trained on (``seq`` above the bundle's mark), aggregated per product
(purchase lines, units, money, latest time; views and carts apart). A worker applies its own appends at once
and reads the other workers' every ``SEGREC_EVENTS_POLL_SECONDS`` (:class:`EventsFeed`). Customers without
new events are not in it, so their requests keep the precomputed fast path. A folded answer (top-K, no rules)
is cached per customer until their next event.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..columns import Columns
from ..events import EventStore, StoreUnavailable
from ..events.store import PAGE
from .schemas import RecommendedItem, Rules
from .writer import GroupWriter

if TYPE_CHECKING:
    from .state import BundleHolder, Served

C = Columns
logger = logging.getLogger("segrec.service")
_DAY = 86400.0


class Ranking(NamedTuple):
    """A ranked list as arrays: product indices, scores, reasons. The fold-ins cached per customer are kept in
    this form because the cyclic garbage collector has one object to walk in it (the named tuple; its arrays
    and its tuple of texts are untracked), where a list of ``RecommendedItem`` held 41 for 20 items: every
    full collection walked all of them for every customer with new events, a pause of every request that
    grows with the number of such customers. The response items are built per request, as for the
    precomputed answers."""

    items: np.ndarray
    scores: np.ndarray
    reasons: tuple[str, ...]

    @classmethod
    def of(cls, items: Sequence[int], scores: Sequence[float], reasons: Sequence[str]) -> Ranking:
        """The ranking up to its first padding (-1) or non-finite score, in arrays of its own."""
        items, scores = np.asarray(items, np.int64), np.asarray(scores)
        end = np.flatnonzero((items < 0) | ~np.isfinite(scores))
        n = min(int(end[0]) if len(end) else len(items), len(reasons))
        return cls(items[:n].copy(), scores[:n].copy(), tuple(reasons[:n]))


@dataclass
class UserDelta:
    """One customer's events since the bundle: purchases per product ``(lines, units, money, latest time)``,
    views/carts per product (latest time), counts, and the cached folded answers (mode -> (version, ranking))."""

    purchases: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    session: dict[str, float] = field(default_factory=dict)
    events: int = 0
    version: int = 0
    answers: dict[str, tuple[int, Ranking]] = field(default_factory=dict)


class LiveEvents:
    """The events above ``mark`` (the bundle's), per customer; ``last_seq``: the newest applied."""

    def __init__(self, mark: int) -> None:
        self.mark = mark
        self.last_seq = mark
        self.users: dict[str, UserDelta] = {}
        self.clock = 0.0  # latest event time seen (epoch seconds): "now" for the recency of new purchases
        self.lock = threading.Lock()

    def apply(self, events: list[dict[str, Any]]) -> None:
        """Merge events in seq order; those already applied (a worker's own, seen again by the feed) are skipped."""
        with self.lock:
            for event in events:
                seq = event[C.Seq]
                if seq <= self.last_seq:
                    continue
                self.last_seq = seq
                user, product = str(event[C.User]), str(event[C.Item])
                when = event[C.Date].timestamp()
                self.clock = max(self.clock, when)
                old = self.users.get(user)
                delta = UserDelta(dict(old.purchases), dict(old.session), old.events, old.version) if old else UserDelta()
                if event[C.EventType] == "purchase":
                    lines, units, money, latest = delta.purchases.get(product, (0.0, 0.0, 0.0, 0.0))
                    quantity = float(event[C.Quantity])
                    price = event[C.Price]
                    # tuples of floats: nothing for the cyclic garbage collector to walk (see Ranking)
                    delta.purchases[product] = (lines + 1, units + quantity,
                                                money + (quantity * price if price is not None else 0.0),
                                                max(latest, when))
                else:
                    delta.session[product] = max(delta.session.get(product, 0.0), when)
                delta.events += 1
                delta.version += 1
                self.users[user] = delta  # copy-on-write: a request holding the old delta keeps a whole one

    def age_days(self, when: float) -> float:
        return max(self.clock - when, 0.0) / _DAY


class EventsFeed:
    """Reads what other workers stored, every ``interval`` seconds, into the served bundle's :class:`LiveEvents`,
    and keeps the availability list current."""

    def __init__(self, store: EventStore, holder: BundleHolder, interval: float,
                 on_error: Callable[[], None] | None = None,
                 warm: Callable[[Served, list[str]], None] | None = None) -> None:
        self.store, self.holder, self.interval = store, holder, interval
        self.unavailable: frozenset[str] = frozenset()
        self.availability_version = -1
        self.on_error = on_error
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="segrec-events-feed", daemon=True)
        self.warm = warm
        self._to_warm: dict[str, None] = {}  # customers whose new events wait to be folded in (insertion order)
        self._warm_ready = threading.Condition()
        self._warmer = threading.Thread(target=self._warm_loop, name="segrec-events-folder", daemon=True)
        self.writer = GroupWriter(store, after_commit=self.own, on_sync_error=on_error,  # POST /v1/events
                                  after_ack=self._queue_warm if warm is not None else None)

    def start(self) -> None:
        self._thread.start()
        if self.warm is not None:
            self._warmer.start()

    def stop(self) -> None:
        self.writer.stop()
        self._stop.set()
        with self._warm_ready:
            self._warm_ready.notify()
        if self._warmer.is_alive():
            self._warmer.join(timeout=5)
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def sync(self, served: Served | None = None) -> None:
        """Apply every stored event above the live mark (one reader at a time), then the availability list."""
        served = served or self.holder.current
        live = served.live if served is not None else None
        with self._lock:
            while True:
                changes = self.store.changes(live.last_seq if live is not None else 0)
                if live is not None:
                    live.apply(changes.events)
                if changes.availability_version != self.availability_version:
                    self.unavailable = frozenset(self.store.unavailable())
                    self.availability_version = changes.availability_version
                if live is None or len(changes.events) < PAGE:  # a full page: more may wait
                    break

    def own(self, stored: list[dict[str, Any]] | None) -> None:
        """After this worker's commit: apply the events it stored (with their seqs) without reading them back,
        when they follow the live mark directly; if another worker committed in between (a gap), or the events
        could not be paired with their seqs, read the store instead (:meth:`sync`). Reading back one event cost
        ~3 ms of the POST path, as much as storing it."""
        served = self.holder.current
        live = served.live if served is not None else None
        if stored == []:
            return  # nothing new from this worker (duplicates): the others' events come with the next poll
        with self._lock:
            if (live is not None and stored is not None and stored[0][C.Seq] == live.last_seq + 1
                    and stored[-1][C.Seq] == live.last_seq + len(stored)):
                live.apply(stored)
                return
        self.sync(served)

    def _queue_warm(self, users: list[str]) -> None:
        """Hand the batch's customers to the folder thread, so the writer goes on with the next batch while they
        are folded in; customers queued twice are folded once, with all their events."""
        with self._warm_ready:
            self._to_warm.update(dict.fromkeys(users))
            self._warm_ready.notify()

    def _warm_loop(self) -> None:
        while not self._stop.is_set():
            with self._warm_ready:
                while not self._to_warm and not self._stop.is_set():
                    self._warm_ready.wait()
                users, self._to_warm = list(self._to_warm), {}
            served = self.holder.current
            if served is None or self.warm is None or not users:
                continue
            try:
                self.warm(served, users)
            except Exception as exc:  # stored and answered already: a failed warm-up only costs speed
                logger.warning(json.dumps({"event": "events_fold_error", "error": f"{type(exc).__name__}: {exc}"}))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except (StoreUnavailable, RuntimeError, OSError) as exc:
                if self.on_error:
                    self.on_error()
                logger.warning(json.dumps({"event": "events_feed_error", "error": f"{type(exc).__name__}: {exc}"}))


# --------------------------------------------------------------------------------------------- business rules
def rules_active(rules: Rules | None) -> bool:
    return rules is not None and any(v not in (None, []) for v in (
        rules.exclude, rules.categories, rules.exclude_categories, rules.min_price, rules.max_price))


def allowed_items(served: Served, rules: Rules | None, unavailable: frozenset[str]) -> np.ndarray | None:
    """Per item of the bundle, whether it may be recommended (None: every item may)."""
    active = rules_active(rules)
    if not active and not unavailable:
        return None
    memo = served.memo.get("unavailable")
    if not active and memo is not None and memo[0] is unavailable:
        return memo[1]  # the availability list alone: one mask per list and bundle, not one per request
    allowed = np.ones(len(served.item_ids), bool)
    for product in unavailable:
        index = served.product_index.get(product)
        if index is not None:
            allowed[index] = False
    if rules is not None:
        for product in rules.exclude or ():
            index = served.product_index.get(product)
            if index is not None:
                allowed[index] = False
        if rules.categories:
            allowed &= np.isin(served.item_category, list(rules.categories))
        if rules.exclude_categories:
            allowed &= ~np.isin(served.item_category, list(rules.exclude_categories))
        with np.errstate(invalid="ignore"):
            if rules.min_price is not None:
                allowed &= served.item_price >= rules.min_price
            if rules.max_price is not None:
                allowed &= served.item_price <= rules.max_price
    if not active:
        served.memo["unavailable"] = (unavailable, allowed)
    return allowed


def filtered(items: list[RecommendedItem], served: Served, allowed: np.ndarray | None,
             k: int) -> list[RecommendedItem] | None:
    """The first ``k`` of ``items`` that pass ``allowed``, re-ranked 1..k; None when fewer than ``k`` pass."""
    if allowed is None:
        return items[:k]
    kept = [i for i in items if allowed[served.product_index[i.product_id]]][:k]
    if len(kept) < k:
        return None
    return [i if i.rank == rank else i.model_copy(update={"rank": rank}) for rank, i in enumerate(kept, start=1)]


def ranking_items(served: Served, ranking: Ranking, allowed: np.ndarray | None,
                  k: int) -> list[RecommendedItem] | None:
    """The first ``k`` of ``ranking`` that pass ``allowed`` as response items, ranked 1..k; None when rules
    leave fewer than ``k`` (without rules: up to ``k``)."""
    if allowed is None:
        positions = range(min(k, len(ranking.items)))
    else:
        positions = np.flatnonzero(allowed[ranking.items])[:k]
        if len(positions) < k:
            return None
    items, scores, reasons = ranking
    return [RecommendedItem.model_construct(rank=rank, product_id=served.item_ids[items[j]],
                                            product_name=served.item_names[items[j]], score=float(scores[j]),
                                            reason=reasons[j])
            for rank, j in enumerate(positions, start=1)]
