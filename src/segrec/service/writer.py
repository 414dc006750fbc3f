"""Group commit for ``POST /v1/events``: requests that arrive together are checked and stored together.

Checking a request costs a DuckDB execution of the ingestion query (~3 ms for one event, ~8 ms for a thousand)
and storing it was a transaction with a synced WAL (~5 ms of CPU and ~3 ms of waiting for the disk; the DuckDB
store now syncs a line of its journal instead); at 100 requests/s of one event each that was more than the
2-core machine has. So one writer thread takes every request waiting in the queue, runs the checks once over
all their rows, stores the rows of the requests that passed in one append, brings the live events up to date
once, and then answers each request: a request with a bad row is refused whole (its own problems, numbered
within it), the others are acknowledged once stored, each with its own ``accepted`` / ``duplicates``. A lone
request waits for nobody (no timer): batches form only when requests queue up behind a running one, so the
latency of a quiet service is unchanged. Databases call this group commit (PostgreSQL's ``commit_delay``,
InnoDB's binlog group commit); no library here does it for an HTTP handler, hence this module.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

from ..columns import Columns
from ..events import AppendResult, EventStore, RowProblem, StoreUnavailable, check_events

__all__ = ["GroupWriter", "Written"]

C = Columns
#: Rows gathered into one check and one append at most (requests are never split).
MAX_BATCH_ROWS = 5_000


@dataclass(frozen=True)
class Written:
    """One request's outcome: its checked events, or its problems (then nothing of it was stored)."""

    checked: list[dict[str, Any]]
    problems: list[RowProblem]
    inserted: int = 0
    duplicates: int = 0


@dataclass(frozen=True)
class _Request:
    events: list[dict[str, Any]]
    done: Future


class GroupWriter:
    """The one thread that checks and appends events to ``store``; ``after_commit`` runs once per batch with the
    events it inserted, each with its ``seq`` (None when they could not be told apart), so the next answer of
    this worker reflects the batch; it may raise :class:`StoreUnavailable` (counted by ``on_sync_error``: the
    events are stored all the same). ``after_ack``, if given, runs once per batch after every request of it was
    answered, with the user ids of the stored events (it should only hand work to another thread: the next
    batch waits for it)."""

    def __init__(self, store: EventStore, after_commit: Callable[[list[dict[str, Any]] | None], None],
                 on_sync_error: Callable[[], None] | None = None,
                 after_ack: Callable[[list[str]], None] | None = None) -> None:
        self.store, self.after_commit, self.on_sync_error = store, after_commit, on_sync_error
        self.after_ack = after_ack
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.batches = 0  # appends made (tests and /metrics read how much grouping happened)

    def submit(self, events: list[dict[str, Any]]) -> Future:
        """Queue ``events`` (API field names) as one request; the future gives its :class:`Written` (or raises
        :class:`StoreUnavailable`). The API awaits it on the event loop, so no thread waits for the writer."""
        self._ensure_started()
        request = _Request(events, Future())
        self._queue.put(request)
        return request.done

    def write(self, events: list[dict[str, Any]], timeout: float = 60.0) -> Written:
        """:meth:`submit` and wait."""
        try:
            return self.submit(events).result(timeout)
        except TimeoutError as exc:  # its fate is unknown: the client retries with the same event ids
            raise StoreUnavailable(f"the event store did not answer within {timeout:g} s; retry") from exc

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _ensure_started(self) -> None:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="segrec-events-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, rows, stop = [first], len(first.events), False
            while rows < MAX_BATCH_ROWS:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
                rows += len(more.events)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Request]) -> None:
        # a request whose caller gave up (cancelled its future) is dropped; the others can no longer be cancelled
        batch = [request for request in batch if request.done.set_running_or_notify_cancel()]
        if not batch:
            return
        try:
            outcomes = self._check(batch)
            good = [(request, outcome) for request, outcome in zip(batch, outcomes, strict=True)
                    if not outcome.problems]
            if good:
                result = self.store.append([event for _, outcome in good for event in outcome.checked])
                self.batches += 1
                counted, stored = _count(good, result)
                try:
                    self.after_commit(stored)
                except StoreUnavailable:
                    if self.on_sync_error:
                        self.on_sync_error()  # stored all the same; the feed catches up at its next poll
                outcomes = [counted.get(id(request), outcome) for request, outcome in zip(batch, outcomes, strict=True)]
        except BaseException as exc:  # handed to every waiting request, raised in its handler
            for request in batch:
                request.done.set_exception(exc)
            return
        for request, outcome in zip(batch, outcomes, strict=True):
            request.done.set_result(outcome)
        users = list(dict.fromkeys(str(e[C.User]) for outcome in outcomes if outcome.inserted
                                   for e in outcome.checked))
        if self.after_ack is not None and users:
            self.after_ack(users)

    @staticmethod
    def _check(batch: list[_Request]) -> list[Written]:
        """One run of the ingestion checks over every request's rows, split back per request."""
        checked, problems = check_events([event for request in batch for event in request.events])
        bad: dict[int, list[RowProblem]] = {}
        bounds, start = [], 0
        for request in batch:
            bounds.append((start, start + len(request.events)))
            start += len(request.events)
        owner = {row: n for n, (lo, hi) in enumerate(bounds) for row in range(lo, hi)}
        for problem in problems:
            n = owner[problem.row]
            bad.setdefault(n, []).append(replace(problem, row=problem.row - bounds[n][0]))
        rejected = {bounds[n][0] + p.row for n, items in bad.items() for p in items}
        good_rows = iter(checked)
        outcomes = []
        for n, (lo, hi) in enumerate(bounds):
            rows = [next(good_rows) for row in range(lo, hi) if row not in rejected]
            outcomes.append(Written([], bad[n]) if n in bad else Written(rows, []))
        return outcomes


def _count(good: list[tuple[_Request, Written]], result: AppendResult
           ) -> tuple[dict[int, Written], list[dict[str, Any]] | None]:
    """Each request's inserted / duplicate events, and the inserted events with their ``seq`` (None if they
    cannot be paired with the store's seqs). An event with an ``event_id`` was inserted when the append stored
    that id and this is its first occurrence in the batch (the store keeps the first of repeats)."""
    stored_ids = set(result.stored_ids)
    seen: set[str] = set()
    out, inserted_events = {}, []
    for request, outcome in good:
        inserted = 0
        for event in outcome.checked:
            event_id = event.get(C.EventId)
            if event_id is None or (event_id in stored_ids and event_id not in seen):
                inserted += 1
                inserted_events.append(event)
            if event_id is not None:
                seen.add(event_id)
        out[id(request)] = replace(outcome, inserted=inserted, duplicates=len(outcome.checked) - inserted)
    if len(inserted_events) != len(result.seqs):
        return out, None
    # the seqs of one append are paired in row order; what a reader aggregates does not depend on the pairing
    return out, [{**event, C.Seq: seq} for event, seq in zip(inserted_events, sorted(result.seqs), strict=True)]
