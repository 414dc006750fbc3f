"""The embedded event store: one DuckDB file, shared by every process through the one that holds it open.

DuckDB lets one process open a file for writing, and opening it is slow: ~30-90 ms for ``duckdb.connect`` plus
~6-25 ms for ``close`` on the shared 2-core machine (load ~5), whether the file holds 1,000 or 2 million
events, so a connection per write (with a retry on the lock) would cost more than the whole POST budget. So the
first process to take an exclusive ``flock`` on ``<file>.lock`` becomes the *owner*: it keeps one connection
open, serialises the writes (seq order = commit order) and answers the others over a Unix socket (length-
prefixed JSON, never pickle; the socket file is readable by its user only). Every other process (uvicorn
workers, ``segrec train --events`` while the API runs) is a client. When the owner dies, the kernel releases
its lock; the next client call takes it over and reopens the file (DuckDB replays its WAL: committed events
survive a SIGKILL). A client's append that was sent before the owner died is not retried (its fate is
unknown): it fails with :class:`StoreUnavailable` (HTTP 503) and the sender retries with the same event ids.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..columns import Columns
from .store import (
    EVENT_COLUMNS,
    EVENTS_TABLE,
    META_TABLE,
    PAGE,
    UNAVAILABLE_TABLE,
    AppendResult,
    Changes,
    EventStore,
    StoreUnavailable,
    ddl,
    event_dict,
    insert_rows,
)

__all__ = ["DuckDBStore"]

C = Columns
logger = logging.getLogger("segrec.events")
_TYPES = {"text": "VARCHAR", "time": "TIMESTAMP", "int": "BIGINT", "float": "DOUBLE"}
_ARROW = pa.schema([(C.EventId, pa.string()), (C.User, pa.string()), (C.Item, pa.string()),
                    (C.EventType, pa.string()), (C.Date, pa.timestamp("us")), (C.Quantity, pa.int64()),
                    (C.Price, pa.float64()), (C.Order, pa.string()), (C.ReceivedAt, pa.timestamp("us"))])
_TIMES = (C.Date, C.ReceivedAt)
_VALUES_ROWS = 8  # appends of at most this many new events insert them as statement parameters (_Owner._insert)
TAKEOVER_SECONDS = 15.0  # how long a client waits for a new owner before answering StoreUnavailable


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__}")


def _decode_events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        for name in _TIMES:
            if isinstance(row.get(name), str):
                row[name] = dt.datetime.fromisoformat(row[name])
    return rows


class _Owner:
    """The process's open connection to the file, and the socket server for the other processes."""

    def __init__(self, path: Path, lock_fd: int, address: str) -> None:
        self.lock_fd = lock_fd
        self.con = duckdb.connect(str(path), config={"threads": 1})
        self.con.execute("CREATE SEQUENCE IF NOT EXISTS segrec_event_seq START 1")
        for statement in ddl(_TYPES, "BIGINT NOT NULL DEFAULT nextval('segrec_event_seq')"):
            self.con.execute(statement)
        # What a reader polling for changes needs to know without a query: every write goes through this
        # owner (it holds the file), so the last committed seq and the availability version are known here.
        self.last_seq = self.con.execute(f"SELECT coalesce(max({C.Seq}), 0) FROM {EVENTS_TABLE}").fetchone()[0]
        self.availability_version = self._availability_version(self.con)
        self.write = threading.Lock()
        self._writer = self.con.cursor()  # appends only, under ``write``
        self.closed = False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)  # a dead owner's socket: we hold the lock, so nobody else serves it
        self.listener = Listener(address, family="AF_UNIX")
        os.chmod(address, 0o600)
        self.address = address
        self.clients: set[Connection] = set()
        threading.Thread(target=self._accept, name="segrec-events-owner", daemon=True).start()

    # --------------------------------------------------------------------------------------- operations
    def dispatch(self, op: str, args: dict[str, Any]) -> Any:
        return getattr(self, f"op_{op}")(**args)

    def op_append(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        rows = insert_rows(_decode_events(events))  # times arrive as ISO text from another process
        with self.write:
            try:  # the usual append (no id stored before): one INSERT, which a stored id fails whole
                seqs, keep = self._insert(rows), range(len(rows[C.EventId]))
            except duckdb.ConstraintException:  # a retry: look the ids up and insert the others
                # (ON CONFLICT DO NOTHING cost ~9 ms more per append, and the lookup ~0.6 ms of CPU; measured)
                ids = [i for i in rows[C.EventId] if i is not None]
                few = len(ids) <= _VALUES_ROWS  # a short id list as parameters, a long one as one list
                known = {r[0] for r in self._writer.execute(
                    f"SELECT {C.EventId} FROM {EVENTS_TABLE} WHERE {C.EventId} IN "
                    f"({', '.join('?' * len(ids)) if few else 'SELECT unnest(?)'})", ids if few else [ids]
                ).fetchall()}
                keep = [j for j, i in enumerate(rows[C.EventId]) if i is None or i not in known]
                seqs = self._insert({n: [v[j] for j in keep] for n, v in rows.items()}) if keep else []
        seqs.sort()
        if seqs:
            self.last_seq = max(self.last_seq, seqs[-1])
        stored = [rows[C.EventId][j] for j in keep if rows[C.EventId][j] is not None]
        return {"inserted": len(seqs), "duplicates": len(events) - len(seqs), "seqs": seqs, "stored_ids": stored}

    def _insert(self, columns: dict[str, list[Any]]) -> list[int]:
        """Insert the rows (one transaction); their seqs. A few rows go in as parameters of one INSERT, more as an
        Arrow table: for one event the parameters cost ~2.4 ms of CPU against ~4 ms, for 32 ~8.7 against ~6 (ad-hoc
        timings in ``docs/benchmarks.md``), so the API's usual single-event request takes the first."""
        names = ", ".join(_ARROW.names)
        count = len(columns[C.EventId])
        if count <= _VALUES_ROWS:
            row = "(" + ", ".join("?" * len(_ARROW.names)) + ")"
            values = [columns[name][j] for j in range(count) for name in _ARROW.names]
            return [r[0] for r in self._writer.execute(
                f"INSERT INTO {EVENTS_TABLE} ({names}) VALUES {', '.join([row] * count)} RETURNING {C.Seq}",
                values).fetchall()]
        self._writer.register("__segrec_batch", pa.table(columns, schema=_ARROW))
        try:
            return [r[0] for r in self._writer.execute(
                f"INSERT INTO {EVENTS_TABLE} ({names}) SELECT {names} FROM __segrec_batch RETURNING {C.Seq}").fetchall()]
        finally:
            self._writer.unregister("__segrec_batch")

    def op_changes(self, after: int, limit: int) -> dict[str, Any]:
        if after >= self.last_seq:  # the workers' poll (10 a second each) when nothing was written: no query
            return {"events": [], "last_seq": after, "availability_version": self.availability_version}
        with self.con.cursor() as cursor:
            rows = cursor.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM {EVENTS_TABLE} WHERE {C.Seq} > ? "
                                  f"ORDER BY {C.Seq} LIMIT ?", [after, limit]).fetchall()
            version = self._availability_version(cursor)
        events = [event_dict(r) for r in rows]
        return {"events": events, "last_seq": events[-1][C.Seq] if events else after,
                "availability_version": version}

    @staticmethod
    def _availability_version(cursor: duckdb.DuckDBPyConnection) -> int:
        row = cursor.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'availability'").fetchone()
        return row[0] if row else 0

    def op_user_events(self, user_id: str, limit: int) -> list[dict[str, Any]]:
        with self.con.cursor() as cursor:
            rows = cursor.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM {EVENTS_TABLE} WHERE {C.User} = ? "
                                  f"ORDER BY {C.Seq} DESC LIMIT ?", [user_id, limit]).fetchall()
        return [event_dict(r) for r in rows]

    def op_unavailable(self) -> list[str]:
        with self.con.cursor() as cursor:
            return [r[0] for r in cursor.execute(f"SELECT {C.Item} FROM {UNAVAILABLE_TABLE} ORDER BY 1").fetchall()]

    def op_set_unavailable(self, products: list[str]) -> int:
        with self.write, self.con.cursor() as cursor:
            cursor.execute("BEGIN")
            try:
                cursor.execute(f"DELETE FROM {UNAVAILABLE_TABLE}")
                if products:
                    cursor.executemany(f"INSERT INTO {UNAVAILABLE_TABLE} VALUES (?)", [[p] for p in sorted(set(products))])
                version = self._availability_version(cursor) + 1
                cursor.execute(f"INSERT OR REPLACE INTO {META_TABLE} VALUES ('availability', ?)", [version])
                cursor.execute("COMMIT")
                self.availability_version = version
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return version

    def op_export(self, path: str) -> int:
        with self.con.cursor() as cursor:
            last = cursor.execute(f"SELECT coalesce(max({C.Seq}), 0) FROM {EVENTS_TABLE}").fetchone()[0]
            target = str(path).replace("'", "''")
            cursor.execute(f"COPY (SELECT * FROM {EVENTS_TABLE} WHERE {C.Seq} <= {int(last)} ORDER BY {C.Seq}) "
                           f"TO '{target}' (FORMAT parquet)")
        return int(last)

    # ------------------------------------------------------------------------------------------ serving
    def _accept(self) -> None:
        while not self.closed:
            try:
                conn = self.listener.accept()
            except OSError:
                return  # closed
            self.clients.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="segrec-events-client", daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        try:
            while not self.closed:
                request = json.loads(conn.recv_bytes())
                try:
                    reply = {"ok": self.dispatch(request["op"], request.get("args", {}))}
                except Exception as exc:  # answered to the client, which raises it there
                    reply = {"error": f"{type(exc).__name__}: {exc}"}
                conn.send_bytes(json.dumps(reply, default=_encode).encode())
        except (EOFError, OSError):
            pass
        except TypeError:  # close() closed this connection from another thread mid-recv (its handle is None)
            if not conn.closed:
                raise
        finally:
            self.clients.discard(conn)
            conn.close()

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        for conn in list(self.clients):
            with contextlib.suppress(OSError):
                conn.close()
        with self.write:
            self._writer.close()
            self.con.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)
        os.close(self.lock_fd)  # releases the flock: another process may take over


class DuckDBStore(EventStore):
    """The DuckDB file at ``path`` (created on first use), owned by this process or reached through its owner."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.location = str(self.path)
        digest = hashlib.sha256(self.location.encode()).hexdigest()[:24]
        # sun_path holds ~108 bytes: a short name in the temporary directory, derived from the file's path
        self.address = str(Path(tempfile.gettempdir()) / f"segrec-events-{digest}.sock")
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._owner: _Owner | None = None
        self._pool: list[Connection] = []
        self._mutex = threading.Lock()
        self._closed = False
        self._take_over()
        if self._owner is None:
            self._call("unavailable", {}, retry=True)  # fail now, not at the first request, if nobody answers

    @property
    def is_owner(self) -> bool:
        return self._owner is not None

    def _take_over(self) -> None:
        """Become the owner if no other process is (non-blocking)."""
        with self._mutex:
            if self._owner is not None or self._closed:
                return
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return
            try:
                self._owner = _Owner(self.path, fd, self.address)
            except BaseException:
                os.close(fd)
                raise
            for conn in self._pool:
                conn.close()
            self._pool.clear()
            logger.info(json.dumps({"event": "event_store_owner", "path": self.location, "pid": os.getpid()}))

    def _call(self, op: str, args: dict[str, Any], *, retry: bool) -> Any:
        deadline = time.monotonic() + TAKEOVER_SECONDS
        while True:
            owner = self._owner
            if owner is not None:
                return owner.dispatch(op, args)
            if self._closed:
                raise StoreUnavailable("the event store is closed")
            conn = self._borrow()
            if conn is None:  # nobody answers: the owner is gone (take over) or starting
                self._take_over()
                if self._owner is None and time.monotonic() > deadline:
                    raise StoreUnavailable(f"no process answers for the event store {self.location}")
                if self._owner is None:
                    time.sleep(0.05)
                continue
            try:
                conn.send_bytes(json.dumps({"op": op, "args": args}, default=_encode).encode())
                reply = json.loads(conn.recv_bytes())
            except (EOFError, OSError) as exc:
                conn.close()
                if not retry:
                    raise StoreUnavailable("the process holding the event store went away mid-request; "
                                           "retry (events with an event_id are not stored twice)") from exc
                continue
            self._give_back(conn)
            if "error" in reply:
                raise RuntimeError(f"event store: {reply['error']}")
            return reply["ok"]

    def _borrow(self) -> Connection | None:
        with self._mutex:
            while self._pool:
                conn = self._pool.pop()
                if not conn.poll(0):  # readable while idle means the owner closed it
                    return conn
                conn.close()
        try:
            return Client(self.address, family="AF_UNIX")
        except OSError:
            return None

    def _give_back(self, conn: Connection) -> None:
        with self._mutex:
            self._pool.append(conn)

    # ------------------------------------------------------------------------------------------ the API
    def append(self, events: list[dict[str, Any]]) -> AppendResult:
        result = self._call("append", {"events": events}, retry=False)
        return AppendResult(result["inserted"], result["duplicates"], result["seqs"], result["stored_ids"])

    def changes(self, after: int, limit: int = PAGE) -> Changes:
        result = self._call("changes", {"after": after, "limit": limit}, retry=True)
        return Changes(_decode_events(result["events"]), result["last_seq"], result["availability_version"])

    def user_events(self, user_id: str, limit: int) -> list[dict[str, Any]]:
        return _decode_events(self._call("user_events", {"user_id": user_id, "limit": limit}, retry=True))

    def unavailable(self) -> list[str]:
        return self._call("unavailable", {}, retry=True)

    def set_unavailable(self, products: list[str]) -> int:
        return self._call("set_unavailable", {"products": products}, retry=False)

    def export(self, path: Path) -> int:
        return self._call("export", {"path": str(Path(path).resolve())}, retry=True)

    def close(self) -> None:
        with self._mutex:
            self._closed = True
            owner, self._owner = self._owner, None
            for conn in self._pool:
                conn.close()
            self._pool.clear()
        if owner is not None:
            owner.close()
