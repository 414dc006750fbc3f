"""Group commit of POST /v1/events (segrec.service.writer): requests that queue up behind a running append are
checked and stored together, and each still gets exactly the answer it would get alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from segrec.columns import Columns
from segrec.events import AppendResult, StoreUnavailable, open_store
from segrec.service.writer import GroupWriter

C = Columns


def _event(user: str, product: str, event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {C.User: user, C.Item: product, "event_type": "purchase", "timestamp": "2024-03-01T10:00:00",
            C.Quantity: 1, C.Price: 2.5, C.Order: None, C.EventId: event_id, **extra}


class GatedStore:
    """A DuckDB store whose first append waits for ``gate``: the requests sent meanwhile queue up."""

    def __init__(self, path: Path) -> None:
        self.inner = open_store(path)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.appends: list[int] = []
        self.fail = False

    def append(self, events: list[dict[str, Any]]) -> AppendResult:
        self.entered.set()
        self.gate.wait(10)
        if self.fail:
            raise StoreUnavailable("the store went away")
        self.appends.append(len(events))
        return self.inner.append(events)


@pytest.fixture
def store(tmp_path: Path) -> GatedStore:
    gated = GatedStore(tmp_path / "events.duckdb")
    yield gated
    gated.inner.close()


def _queued(writer: GroupWriter, store: GatedStore, requests: list[list[dict[str, Any]]]) -> list[Any]:
    """Send a first request, and ``requests`` while its append is held; then let everything through."""
    pool = ThreadPoolExecutor(len(requests) + 1)
    first = pool.submit(writer.write, [_event("u0", "p0", "first")])
    assert store.entered.wait(10)
    futures = [pool.submit(writer.write, events) for events in requests]
    while writer._queue.qsize() < len(requests):  # every request waiting behind the held append
        threading.Event().wait(0.01)
    store.gate.set()
    outcomes = [first.result(10)] + [f.exception(10) or f.result(10) for f in futures]
    pool.shutdown()
    return outcomes


def test_requests_that_queue_up_share_one_check_and_one_transaction(store: GatedStore) -> None:
    writer = GroupWriter(store, after_commit=lambda stored: None)
    requests = [[_event(f"u{i}", "p1", f"e{i}"), _event(f"u{i}", "p2")] for i in range(1, 6)]
    outcomes = _queued(writer, store, requests)
    assert store.appends == [1, 10]  # the first alone, the five queued ones together
    assert [(o.inserted, o.duplicates) for o in outcomes] == [(1, 0)] + [(2, 0)] * 5
    assert len(store.inner.changes(0).events) == 11
    writer.stop()


def test_a_bad_request_is_refused_alone_with_its_own_row_numbers(store: GatedStore) -> None:
    writer = GroupWriter(store, after_commit=lambda stored: None)
    bad = [_event("u1", "p1", "ok-but-refused"), _event("u1", "p2", price=-1.0)]
    outcomes = _queued(writer, store, [[_event("u2", "p1", "a")], bad, [_event("u3", "p1", "b")]])
    refused = outcomes[2]
    assert [(p.row, p.reason, p.field) for p in refused.problems] == [(1, "negative_price", C.Price)]
    assert refused.inserted == 0 and refused.checked == []
    assert [o.inserted for o in (outcomes[1], outcomes[3])] == [1, 1]
    stored = {e[C.EventId] for e in store.inner.changes(0).events}
    assert stored == {"first", "a", "b"}  # nothing of the refused request
    writer.stop()


def test_an_event_id_repeated_across_queued_requests_counts_once(store: GatedStore) -> None:
    writer = GroupWriter(store, after_commit=lambda stored: None)
    outcomes = _queued(writer, store, [[_event("u1", "p1", "same")], [_event("u1", "p1", "same")],
                                       [_event("u1", "p1", "first")]])  # also stored by the first request
    assert [(o.inserted, o.duplicates) for o in outcomes[1:]] == [(1, 0), (0, 1), (0, 1)]
    assert sorted(e[C.EventId] for e in store.inner.changes(0).events) == ["first", "same"]
    writer.stop()


def test_a_failed_append_fails_every_request_of_its_batch(store: GatedStore) -> None:
    writer = GroupWriter(store, after_commit=lambda stored: None)
    store.fail = True
    outcomes = _queued_failing(writer, store)
    assert all(isinstance(o, StoreUnavailable) for o in outcomes)
    writer.stop()


def _queued_failing(writer: GroupWriter, store: GatedStore) -> list[BaseException]:
    pool = ThreadPoolExecutor(3)
    futures = [pool.submit(writer.write, [_event("u0", "p0", "x")])]
    assert store.entered.wait(10)
    futures += [pool.submit(writer.write, [_event(f"u{i}", "p1", f"y{i}")]) for i in (1, 2)]
    while writer._queue.qsize() < 2:
        threading.Event().wait(0.01)
    store.gate.set()
    errors = [f.exception(10) for f in futures]
    pool.shutdown()
    return errors


def test_a_sync_error_after_the_commit_is_counted_and_the_events_acknowledged(store: GatedStore) -> None:
    errors = []

    def failing_sync(stored: object) -> None:
        raise StoreUnavailable("feed down")

    store.gate.set()
    writer = GroupWriter(store, after_commit=failing_sync, on_sync_error=lambda: errors.append(1))
    outcome = writer.write([_event("u1", "p1", "z")])
    assert (outcome.inserted, errors) == (1, [1])
    writer.stop()


def test_a_large_batch_is_checked_as_its_rows_are_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch judges every row as that row alone would be judged, and the API's check (DuckDB's optimiser
    off) as the optimised ingestion query judges it."""
    from segrec.events import _checks, check_events

    base = [_event(u, p, price=price, **{C.Quantity: q})
            for u, p, price, q in [("17850.0", " p1 ", 2.0, 1), (" 12 ", "p2", -1.0, 2), ("a", "p3", None, 0),
                                   ("b", "p4", 1.5, 3)]]
    base += [_event("c", "p5", timestamp="31.12.2023 10:00"), _event("d", "p6", timestamp="not a date"),
             _event("e", "p7", **{C.Quantity: 2.5}), _event("f", "p8", timestamp="2024-02-30")]
    which = [n % len(base) for n in range(1_000)]
    now = __import__("datetime").datetime(2024, 6, 1)
    alone = [check_events([row], now=now) for row in base]
    assert {len(c) for c, _ in alone} == {0, 1} and any(problems for _, problems in alone)
    batch = [base[n] for n in which]
    checked, problems = check_events(batch, now=now)
    assert checked == [e for n in which for e in alone[n][0]]
    assert [(p.reason, p.field) for p in problems] == [(p.reason, p.field) for n in which for p in alone[n][1]]
    monkeypatch.setattr(_checks, "_CHECKER", _checks._Checker(optimise=True))
    assert check_events(batch, now=now) == (checked, problems)


def test_a_request_given_up_before_its_batch_is_not_stored(store: GatedStore) -> None:
    """The API stops waiting after a timeout (its future is cancelled): that request is left out, the writer
    goes on with the others."""
    writer = GroupWriter(store, after_commit=lambda stored: None)
    first = writer.submit([_event("u0", "p0", "first")])
    assert store.entered.wait(10)
    given_up = writer.submit([_event("u1", "p1", "gone")])
    kept = writer.submit([_event("u2", "p1", "kept")])
    assert given_up.cancel()
    store.gate.set()
    assert first.result(10).inserted == 1 and kept.result(10).inserted == 1
    assert sorted(e[C.EventId] for e in store.inner.changes(0).events) == ["first", "kept"]
    writer.stop()
