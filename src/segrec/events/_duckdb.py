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

The owner acknowledges an append once it is in the store's journal (:mod:`._journal`: one synced write, no
DuckDB statement) and commits the journalled events to the table in batches: every ``FLUSH_SECONDS``, before a
read (changes, a customer's events, an export) and on close. Opening the file replays what the journal holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..columns import Columns
from ._journal import Journal, SeenIds, decode_times, encode
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
_ARROW = pa.schema([(C.Seq, pa.int64()), (C.EventId, pa.string()), (C.User, pa.string()), (C.Item, pa.string()),
                    (C.EventType, pa.string()), (C.Date, pa.timestamp("us")), (C.Quantity, pa.int64()),
                    (C.Price, pa.float64()), (C.Order, pa.string()), (C.ReceivedAt, pa.timestamp("us"))])
_VALUES_ROWS = 8  # batches of at most this many events are inserted as statement parameters (_Owner._insert)
TAKEOVER_SECONDS = 15.0  # how long a client waits for a new owner before answering StoreUnavailable
FLUSH_SECONDS = 1.0  # the longest journalled events wait before they are committed to the table
FLUSH_ROWS = 5_000  # journalled events that start a commit at once


class _Owner:
    """The process's open connection to the file, and the socket server for the other processes."""

    def __init__(self, path: Path, lock_fd: int, address: str) -> None:
        self.lock_fd = lock_fd
        self.con = duckdb.connect(str(path), config={"threads": 1})
        self.journal = Journal(path)
        try:
            self.con.execute("CREATE SEQUENCE IF NOT EXISTS segrec_event_seq START 1")
            for statement in ddl(_TYPES, "BIGINT NOT NULL DEFAULT nextval('segrec_event_seq')"):
                self.con.execute(statement)
            self._writer = self.con.cursor()  # writes to the tables only, under ``table_lock``
            with self.con.cursor() as cursor:
                stored = cursor.execute(f"SELECT coalesce(max({C.Seq}), 0) FROM {EVENTS_TABLE}").fetchone()[0]
            replayed = [e for e in self.journal.recover() if e[C.Seq] > stored]  # acknowledged, not in the table
            self._insert(replayed)
            self.journal.open()
        except BaseException:
            self.con.close()
            raise
        # What a reader polling for changes needs to know without a query: every write goes through this
        # owner (it holds the file), so the last seq and the availability version are known here.
        self.last_seq = replayed[-1][C.Seq] if replayed else stored  # recover() gives seq order
        with self.con.cursor() as cursor:
            self.availability_version = self._availability_version(cursor)
        self.seen = SeenIds()  # loaded on a thread: until then, ids are looked up in the table
        self.pending: list[dict[str, Any]] = []  # journalled, not yet committed to the table (seq order)
        self.unflushed: list[dict[str, Any]] = []  # a failed commit's events, first in the next one
        self.journal_lock = threading.Lock()  # the journal, ``pending``, ``seen``, ``last_seq``
        self.table_lock = threading.Lock()  # writes to the tables; taken before ``journal_lock`` when both are
        self.closed = False
        self._wake = threading.Event()
        self._flusher = threading.Thread(target=self._flush_now_and_then, name="segrec-events-flush", daemon=True)
        self._flusher.start()
        self._loader = threading.Thread(target=self._load_ids, name="segrec-events-ids", daemon=True)
        self._loader.start()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)  # a dead owner's socket: we hold the lock, so nobody else serves it
        self.listener = Listener(address, family="AF_UNIX")
        os.chmod(address, 0o600)
        self.address = address
        self.clients: set[Connection] = set()
        threading.Thread(target=self._accept, name="segrec-events-owner", daemon=True).start()

    def _load_ids(self) -> None:
        """The hashes of every stored ``event_id`` into ``seen`` (events journalled meanwhile are added as they come,
        and those committed meanwhile are in both: no id is missed)."""
        try:
            with self.con.cursor() as cursor:
                reader = cursor.sql(f"SELECT {C.EventId} FROM {EVENTS_TABLE} WHERE {C.EventId} IS NOT NULL"
                                    ).to_arrow_reader(1 << 16)
                stored = SeenIds.hashes(self._until_closed(batch.column(0).to_pylist() for batch in reader))
        except duckdb.Error:  # ids stay looked up in the table
            logger.exception("event store: loading the stored event ids failed; looking them up instead")
            return
        with self.journal_lock:
            if not self.closed:
                self.seen.load(stored)

    def _until_closed(self, chunks: Iterator[list[str]]) -> Iterator[list[str]]:
        for chunk in chunks:
            if self.closed:
                return
            yield chunk

    # --------------------------------------------------------------------------------------- operations
    def dispatch(self, op: str, args: dict[str, Any]) -> Any:
        return getattr(self, f"op_{op}")(**args)

    def op_append(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        rows = insert_rows(decode_times(events))  # times arrive as ISO text from another process
        ids = [i for i in rows[C.EventId] if i is not None]
        with self.journal_lock:
            if not self.seen.maybe(ids):  # the usual append: no id seen before, so no query at all
                return self._journal(rows, len(events))
        # an id that may be stored (a retry, or two ids sharing a hash): settle it against the table, with
        # every journalled event committed first
        with self.table_lock, self.journal_lock:
            self._commit(self._take())
            maybe = self.seen.maybe(ids)
            few = len(maybe) <= _VALUES_ROWS  # a short id list as parameters, a long one as one list
            known = {r[0] for r in self._writer.execute(
                f"SELECT {C.EventId} FROM {EVENTS_TABLE} WHERE {C.EventId} IN "
                f"({', '.join('?' * len(maybe)) if few else 'SELECT unnest(?)'})", maybe if few else [maybe]
            ).fetchall()} if maybe else set()
            keep = [j for j, i in enumerate(rows[C.EventId]) if i is None or i not in known]
            return self._journal({n: [v[j] for j in keep] for n, v in rows.items()}, len(events))

    def _journal(self, rows: dict[str, list[Any]], asked: int) -> dict[str, Any]:
        """Journal ``rows`` (columns) with the next seqs; under ``journal_lock``. Answers as ``append``."""
        count = len(rows[C.EventId])
        seqs = list(range(self.last_seq + 1, self.last_seq + 1 + count))
        events = [{C.Seq: seq, **{n: v[j] for n, v in rows.items()}} for j, seq in enumerate(seqs)]
        stored = [i for i in rows[C.EventId] if i is not None]
        if events:
            try:
                self.journal.append(events)  # raises before anything below changes
            except OSError as exc:  # e.g. a full disk: nothing was stored, the client may retry (HTTP 503)
                raise StoreUnavailable(f"the event store cannot write its journal: {exc}") from exc
            self.pending.extend(events)
            self.seen.add(stored)
            self.last_seq = seqs[-1]
            if len(self.pending) >= FLUSH_ROWS:
                self._wake.set()
        return {"inserted": count, "duplicates": asked - count, "seqs": seqs, "stored_ids": stored}

    def flush(self) -> None:
        """Commit every journalled event to the table (appends go on meanwhile, into the other journal file)."""
        with self.table_lock:
            with self.journal_lock:
                taken = self._take()
            self._commit(taken)
        with self.journal_lock:
            self.seen.merge()

    def _take(self) -> tuple[list[dict[str, Any]], int | None]:
        """Under ``journal_lock``: the events to commit and the journal file they are in (None: nothing to do)."""
        events, self.pending = self.unflushed + self.pending, []
        return events, self.journal.swap() if events else None

    def _commit(self, taken: tuple[list[dict[str, Any]], int | None]) -> None:
        """Under ``table_lock``: insert the taken events in one transaction, then empty their journal file. On
        failure they stay in the journal and come first in the next commit (or the next open's replay)."""
        events, retired = taken
        if retired is None:
            return
        try:
            self._insert(events)
        except BaseException:
            self.unflushed = events
            raise
        self.unflushed = []
        self.journal.empty(retired)

    def _flush_now_and_then(self) -> None:
        while not self.closed:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            if self.closed:
                return
            try:
                self.flush()
            except Exception:  # e.g. a full disk: the events stay journalled, the next flush retries
                logger.exception("event store: committing its journal failed; retrying")

    def _insert(self, events: list[dict[str, Any]]) -> None:
        """Insert the events (one transaction). A few go in as parameters of one INSERT, more as an Arrow table:
        for one event the parameters cost ~2.4 ms of CPU against ~4 ms, for 32 ~8.7 against ~6 (ad-hoc timings
        in ``docs/benchmarks.md``)."""
        if not events:
            return
        names = ", ".join(_ARROW.names)
        if len(events) <= _VALUES_ROWS:
            row = "(" + ", ".join("?" * len(_ARROW.names)) + ")"
            values = [event[name] for event in events for name in _ARROW.names]
            self._writer.execute(f"INSERT INTO {EVENTS_TABLE} ({names}) VALUES {', '.join([row] * len(events))}",
                                 values)
            return
        self._writer.register("__segrec_batch", pa.Table.from_pylist(events, schema=_ARROW))
        try:
            self._writer.execute(f"INSERT INTO {EVENTS_TABLE} ({names}) SELECT {names} FROM __segrec_batch")
        finally:
            self._writer.unregister("__segrec_batch")

    def op_changes(self, after: int, limit: int) -> dict[str, Any]:
        if after >= self.last_seq:  # the workers' poll (10 a second each) when nothing was written: no query
            return {"events": [], "last_seq": after, "availability_version": self.availability_version}
        self.flush()  # reads see every acknowledged event
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
        self.flush()
        with self.con.cursor() as cursor:
            rows = cursor.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM {EVENTS_TABLE} WHERE {C.User} = ? "
                                  f"ORDER BY {C.Seq} DESC LIMIT ?", [user_id, limit]).fetchall()
        return [event_dict(r) for r in rows]

    def op_unavailable(self) -> list[str]:
        with self.con.cursor() as cursor:
            return [r[0] for r in cursor.execute(f"SELECT {C.Item} FROM {UNAVAILABLE_TABLE} ORDER BY 1").fetchall()]

    def op_set_unavailable(self, products: list[str]) -> int:
        with self.table_lock, self.con.cursor() as cursor:
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
        self.flush()
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
                conn.send_bytes(json.dumps(reply, default=encode).encode())
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
        self._wake.set()
        self._flusher.join(timeout=10)
        self._loader.join(timeout=10)  # stops at its next chunk
        self.listener.close()
        for conn in list(self.clients):
            with contextlib.suppress(OSError):
                conn.close()
        try:
            self.flush()
        except Exception:  # the events stay in the journal, replayed at the next open
            logger.exception("event store: committing the journal at close failed; the next open replays it")
        with self.table_lock, self.journal_lock:
            self.journal.close()
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
                conn.send_bytes(json.dumps({"op": op, "args": args}, default=encode).encode())
                reply = json.loads(conn.recv_bytes())
            except (EOFError, OSError) as exc:
                conn.close()
                if not retry:
                    raise StoreUnavailable("the process holding the event store went away mid-request; "
                                           "retry (events with an event_id are not stored twice)") from exc
                continue
            self._give_back(conn)
            if "error" in reply:
                kind = StoreUnavailable if reply["error"].startswith(f"{StoreUnavailable.__name__}:") else RuntimeError
                raise kind(f"event store: {reply['error']}")
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
        return Changes(decode_times(result["events"]), result["last_seq"], result["availability_version"])

    def user_events(self, user_id: str, limit: int) -> list[dict[str, Any]]:
        return decode_times(self._call("user_events", {"user_id": user_id, "limit": limit}, retry=True))

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
