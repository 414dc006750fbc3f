"""The event store in PostgreSQL (``postgresql+psycopg://`` URLs): for several API hosts or a managed database.

Every process connects directly (SQLAlchemy's pool over psycopg). Writers take a transaction-level advisory
lock before inserting, so ``seq`` order is commit order (a reader that saw seq N never later finds a smaller
one committed), as in the DuckDB store; at the event rates an API takes this costs nothing measurable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from ..columns import Columns
from . import store as st
from .store import EVENT_COLUMNS, EVENTS_TABLE, AppendResult, Changes, EventStore

__all__ = ["PostgresStore"]

C = Columns
_TYPES = {"text": "TEXT", "time": "TIMESTAMP", "int": "BIGINT", "float": "DOUBLE PRECISION"}
_LOCK = 0x5E6E4E7  # advisory lock key of the writers (any constant shared by every segrec process)
_COLUMNS = ", ".join(EVENT_COLUMNS)
_ARRAY_TYPES = {C.EventId: "TEXT", C.User: "TEXT", C.Item: "TEXT", C.EventType: "TEXT", C.Date: "TIMESTAMP",
                C.Quantity: "BIGINT", C.Price: "DOUBLE PRECISION", C.Order: "TEXT", C.ReceivedAt: "TIMESTAMP"}


class PostgresStore(EventStore):
    def __init__(self, url: str) -> None:
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        self.engine = sa.create_engine(url, pool_size=4, max_overflow=4, pool_pre_ping=True)
        self.location = self.engine.url.render_as_string(hide_password=True)
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})  # concurrent first use
            for statement in st.ddl(_TYPES, "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"):
                conn.execute(sa.text(statement))

    def append(self, events: list[dict[str, Any]]) -> AppendResult:
        columns = st.insert_rows(events)
        arrays = ", ".join(f"CAST(:{n} AS {_ARRAY_TYPES[n]}[])" for n in columns)
        statement = sa.text(f"INSERT INTO {EVENTS_TABLE} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) "
                            f"ON CONFLICT DO NOTHING RETURNING {C.Seq}, {C.EventId}")
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
            rows = conn.execute(statement, columns).all()
        seqs = sorted(r[0] for r in rows)
        return AppendResult(len(seqs), len(events) - len(seqs), seqs, [r[1] for r in rows if r[1] is not None])

    def changes(self, after: int, limit: int = st.PAGE) -> Changes:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM {EVENTS_TABLE} WHERE {C.Seq} > :after "
                                        f"ORDER BY {C.Seq} LIMIT :limit"), {"after": after, "limit": limit}).all()
            version = conn.execute(sa.text(f"SELECT value FROM {st.META_TABLE} WHERE key = 'availability'")).scalar()
        events = [st.event_dict(tuple(r)) for r in rows]
        return Changes(events, events[-1][C.Seq] if events else after, version or 0)

    def user_events(self, user_id: str, limit: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM {EVENTS_TABLE} WHERE {C.User} = :u "
                                        f"ORDER BY {C.Seq} DESC LIMIT :limit"), {"u": user_id, "limit": limit}).all()
        return [st.event_dict(tuple(r)) for r in rows]

    def unavailable(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.text(f"SELECT {C.Item} FROM {st.UNAVAILABLE_TABLE} ORDER BY 1"))]

    def set_unavailable(self, products: list[str]) -> int:
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
            conn.execute(sa.text(f"DELETE FROM {st.UNAVAILABLE_TABLE}"))
            if products:
                conn.execute(sa.text(f"INSERT INTO {st.UNAVAILABLE_TABLE} VALUES (:p)"),
                             [{"p": p} for p in sorted(set(products))])
            return int(conn.execute(sa.text(
                f"INSERT INTO {st.META_TABLE} VALUES ('availability', 1) ON CONFLICT (key) "
                f"DO UPDATE SET value = {st.META_TABLE}.value + 1 RETURNING value")).scalar())

    def export(self, path: Path) -> int:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM {EVENTS_TABLE} ORDER BY {C.Seq}")).all()
        events = [st.event_dict(tuple(r)) for r in rows]
        pq.write_table(pa.Table.from_pylist(events) if events else pa.table({c: [] for c in EVENT_COLUMNS}), path)
        return events[-1][C.Seq] if events else 0

    def close(self) -> None:
        self.engine.dispose()
