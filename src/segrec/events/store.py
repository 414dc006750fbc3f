"""The event store: what the API acknowledged, durable, in order, idempotent by ``event_id``.

Written by the service (``POST /v1/events``), read by the service (fold-in, ``GET /v1/users/{id}/events``) and
by training (``segrec train --events``). Two backends behind one interface, chosen by :func:`open_store`:

* a DuckDB file (the default, embedded, next to the bundle): see :mod:`segrec.events._duckdb` for how several
  processes share it although DuckDB lets one process open a file for writing;
* PostgreSQL for a ``postgresql+psycopg://`` URL (:mod:`segrec.events._postgres`).

Every event gets a ``seq`` in commit order (writers are serialised), so a reader that has seen ``seq`` <= N
has seen every event committed before N, and a bundle trained on the events up to N records N: the service
folds in only what came after. An append is all rows or none; ``append`` returns once they are synced to
disk (the DuckDB store's journal, PostgreSQL's commit).
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..columns import Columns

__all__ = ["EVENT_COLUMNS", "AppendResult", "Changes", "EventStore", "StoreUnavailable", "default_location",
           "open_store"]

C = Columns
EVENTS_TABLE = "segrec_events"
UNAVAILABLE_TABLE = "segrec_unavailable"
META_TABLE = "segrec_store_meta"
#: Stored columns, in order (``seq`` assigned by the store, ``received_at`` its clock).
EVENT_COLUMNS = (C.Seq, C.EventId, C.User, C.Item, C.EventType, C.Date, C.Quantity, C.Price, C.Order,
                 C.ReceivedAt)
_INSERTED = EVENT_COLUMNS[1:]
DEFAULT_FILE = "events.duckdb"
PAGE = 50_000  # events per changes() call: bounds one answer's memory when a reader catches up


class StoreUnavailable(RuntimeError):
    """The store cannot be reached right now (e.g. its owning process is restarting): retry (HTTP 503)."""


@dataclass(frozen=True)
class AppendResult:
    """``inserted`` new events (their ``seqs``), ``duplicates`` skipped because their ``event_id`` was stored;
    ``stored_ids``: the ``event_id`` of each inserted event that had one (so a caller that appended several
    requests at once can say which of its events were new)."""

    inserted: int
    duplicates: int
    seqs: list[int] = field(default_factory=list)
    stored_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Changes:
    """Events with ``seq`` above the caller's mark (seq order), the store's last seq, the availability version."""

    events: list[dict[str, Any]]
    last_seq: int
    availability_version: int


def ddl(types: dict[str, str], seq: str) -> list[str]:
    """Create-if-absent statements for both backends (``types``: SQL type of text, time, int, float)."""
    t = types
    return [
        f"CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} ({C.Seq} {seq}, {C.EventId} {t['text']} UNIQUE, "
        f"{C.User} {t['text']} NOT NULL, {C.Item} {t['text']} NOT NULL, {C.EventType} {t['text']} NOT NULL, "
        f"{C.Date} {t['time']} NOT NULL, {C.Quantity} {t['int']} NOT NULL, {C.Price} {t['float']}, "
        f"{C.Order} {t['text']}, {C.ReceivedAt} {t['time']} NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {UNAVAILABLE_TABLE} ({C.Item} {t['text']} PRIMARY KEY)",
        f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key {t['text']} PRIMARY KEY, value {t['int']} NOT NULL)",
    ]


def insert_rows(events: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Columns to insert for ``events`` (checked, canonical values), duplicates of an ``event_id`` in the same
    request dropped (the first kept): a retried batch and a batch repeating itself count alike."""
    seen: set[str] = set()
    kept = []
    for event in events:
        event_id = event.get(C.EventId)
        if event_id is not None:
            if event_id in seen:
                continue
            seen.add(event_id)
        kept.append(event)
    now = dt.datetime.now()
    return {name: [now if name == C.ReceivedAt else e.get(name) for e in kept] for name in _INSERTED}


def event_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(EVENT_COLUMNS, row, strict=True))


class EventStore(ABC):
    """Append, read in seq order, read one user's latest, and the list of unavailable products."""

    location: str

    @abstractmethod
    def append(self, events: list[dict[str, Any]]) -> AppendResult:
        """Store checked events, all or none; returns once they are synced to disk."""

    @abstractmethod
    def changes(self, after: int, limit: int = PAGE) -> Changes:
        """Up to ``limit`` events with ``seq > after``, in seq order."""

    @abstractmethod
    def user_events(self, user_id: str, limit: int) -> list[dict[str, Any]]:
        """A user's latest ``limit`` events, newest first."""

    @abstractmethod
    def unavailable(self) -> list[str]:
        """Products that must not be recommended (sorted)."""

    @abstractmethod
    def set_unavailable(self, products: list[str]) -> int:
        """Replace the unavailable list; returns the new availability version."""

    @abstractmethod
    def export(self, path: Path) -> int:
        """Write every event to a Parquet file at ``path``; returns the last seq written (0: none)."""

    def close(self) -> None:  # noqa: B027 - backends without resources keep this
        """Release connections (and, for DuckDB, the file)."""

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_location(bundle: Path | None) -> Path | None:
    """``events.duckdb`` beside the bundle directory (None without a bundle)."""
    return None if bundle is None else Path(bundle).resolve().parent / DEFAULT_FILE


def open_store(location: str | Path) -> EventStore:
    """A PostgreSQL store for a ``postgresql+psycopg://`` (or ``postgresql://``) URL, else a DuckDB file."""
    text = str(location)
    if text.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        from ._postgres import PostgresStore

        return PostgresStore(text)
    from ._duckdb import DuckDBStore

    return DuckDBStore(Path(text))
