"""The DuckDB store's journal: an acknowledged append is one synced write to a small file, not a DuckDB commit.

Why: a DuckDB statement gives up the interpreter lock and takes it back several times, and beside the busy event
loop of the API each take-back waits up to a switch interval, so an INSERT and its commit took 12-17 ms at p99
under the mixed load for ~2 ms of CPU (docs/benchmarks.md, "Where a POST waits"). So the owner writes each append
to a journal (JSON lines, one append a line, ``fdatasync`` before it answers) and moves the journalled events into
the table in batches, off the request path. Two files take turns: appends go on in one while the other's events
are committed, and a file is emptied only after the commit that holds all of them. On open, the events of both
files with a seq above the table's are inserted first, so an acknowledged event survives a SIGKILL or a power
cut. Databases do the same with their write-ahead logs; no library here offers one for a DuckDB table, hence
this module.

:class:`SeenIds` answers "may this ``event_id`` be stored already?" without a query, so a first append (nearly
every one) needs no DuckDB statement at all; a "maybe" is settled against the table by the caller.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..columns import Columns
from ..exceptions import InputError

__all__ = ["Journal", "SeenIds", "decode_times", "encode"]

C = Columns
_TIMES = (C.Date, C.ReceivedAt)


def encode(value: Any) -> Any:
    """JSON for what an event holds besides text and numbers (its times, as ISO 8601)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__}")


def decode_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events' ISO 8601 times back to datetimes (in place; returns ``rows``)."""
    for row in rows:
        for name in _TIMES:
            if isinstance(row.get(name), str):
                row[name] = dt.datetime.fromisoformat(row[name])
    return rows


class Journal:
    """Two append-only files beside the store (``<file>.journal-0`` and ``-1``), one taking appends at a time."""

    def __init__(self, store: Path) -> None:
        self.paths = [store.with_name(f"{store.name}.journal-{n}") for n in (0, 1)]
        self._fds: list[int] = []
        self.active = 0

    def recover(self) -> list[dict[str, Any]]:
        """Every event of both files, in seq order. A line is one append (all its events or none): a last line
        without its end is a write that a crash cut short, never acknowledged (the answer waits for the sync),
        so it is left out; a bad line before the last one is damage, and raises rather than losing what follows."""
        events = []
        for path in self.paths:
            if not path.exists():
                continue
            complete = path.read_bytes().split(b"\n")[:-1]  # what follows the last "\n" is torn (or b"")
            for number, line in enumerate(complete, start=1):
                try:
                    events.extend(json.loads(line))
                except ValueError:
                    raise InputError(f"the event journal {path} is damaged at line {number}; move it aside to "
                                     "open the store without the events it holds") from None
        return sorted(decode_times(events), key=lambda e: e[C.Seq])

    def open(self) -> None:
        """Open both files for appending (created empty; their directory synced so the names survive a crash)."""
        self._fds = [os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) for path in self.paths]
        for fd in self._fds:
            os.ftruncate(fd, 0)  # recover() read them and the caller stored what they held
            os.fsync(fd)
        directory = os.open(self.paths[0].parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def append(self, events: list[dict[str, Any]]) -> None:
        """Write ``events`` to the active file as one line and sync it: when this returns they survive a crash, and
        a crash before leaves none of them."""
        fd = self._fds[self.active]
        data = (json.dumps(events, default=encode, separators=(",", ":")) + "\n").encode()
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fdatasync(fd)
        except BaseException:
            with contextlib.suppress(OSError):  # e.g. a full disk: no half line is left for the next append
                os.ftruncate(fd, size)
            raise

    def swap(self) -> int:
        """Send the next appends to the other file; returns the one retired (empty it once its events are stored)."""
        retired, self.active = self.active, 1 - self.active
        return retired

    def empty(self, n: int) -> None:
        """Drop file ``n``'s content (its events are in the table: a crash before this only replays them again)."""
        os.ftruncate(self._fds[n], 0)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []


class SeenIds:
    """The ``event_id`` hashes of every stored or journalled event: a sorted numpy array (8 bytes an id, a
    binary search a lookup) plus a set of the latest, merged into the array from time to time. Two ids may share
    a hash, so a hit means "maybe": the caller looks the id up in the table. Python's string hash is salted per
    process, which is fine for an index that lives in one process's memory.

    Reading the stored ids takes ~1.2 s a million (ad hoc), so the owner loads them on a thread after it opens
    (:meth:`load`); until then every id is a "maybe" and appends with ids take the lookup, as before the index."""

    MERGE_AT = 65_536  # latest ids kept in the set before they are merged into the array

    def __init__(self) -> None:
        self._sorted = np.empty(0, np.int64)
        self._latest: set[int] = set()
        self.ready = False

    @staticmethod
    def hashes(chunks: Iterable[Iterable[str]]) -> np.ndarray:
        """The sorted hashes of the ids in ``chunks`` (e.g. a table's batches: memory stays near one chunk)."""
        parts = [np.fromiter(map(hash, chunk), np.int64) for chunk in chunks]
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)

    def load(self, stored: np.ndarray) -> None:
        """Take the sorted hashes of the stored ids (those added meanwhile are kept); lookups are exact from now."""
        self._sorted, self.ready = stored, True

    def maybe(self, ids: Iterable[str]) -> list[str]:
        """The ids that may be stored already (exactly: none of the others is)."""
        if not self.ready:
            return list(ids)
        out = []
        for event_id in ids:
            h = hash(event_id)
            if h in self._latest:
                out.append(event_id)
                continue
            at = int(np.searchsorted(self._sorted, h))
            if at < len(self._sorted) and self._sorted[at] == h:
                out.append(event_id)
        return out

    def add(self, ids: Iterable[str]) -> None:
        self._latest.update(map(hash, ids))

    def merge(self) -> None:
        """Move the latest hashes into the array once there are many: one copy of the array (55 ms at 10 million
        ids, ad hoc), not a sort of it."""
        if self.ready and len(self._latest) >= self.MERGE_AT:
            new = np.sort(np.fromiter(self._latest, np.int64, len(self._latest)))
            self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, new), new)
            self._latest.clear()
