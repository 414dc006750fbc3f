"""Events received over the API go through the same row checks as file ingestion.

The ingestion query (:func:`segrec.data._validation_sql.build_query` with :data:`segrec.data.validation.DEFAULT_CHECKS`) is
built once for a fixed Arrow schema and prepared on a private in-memory DuckDB connection over a temporary
table that each check fills inside a rolled-back transaction. An execution still costs ~3 ms for one event
(~8 ms for a thousand), so the service checks the requests that arrive together in one execution
(:mod:`segrec.service.writer`). So an API event is typed, filled
and judged exactly as a CSV line would be (ids trimmed and "17850.0" -> "17850", ISO 8601 or the file
formats' dates, a fractional quantity is ``unparsable_number:quantity``, a negative price ``negative_price``).

Most events a shop posts are already canonical (plain ids, an ISO 8601 time or none, a whole quantity, a price
>= 0): for those the query has nothing to change or refuse, and :func:`_as_is` builds its output directly in
Python (~10 us for one event against ~2.7 ms of CPU for the query, which waited ~18 ms for the GIL in the
API's mixed load phase). It accepts only values for which the query's answer is evident (see each test) and
leaves everything else to the query; a property test checks its output against the query's on random events.
No library does this: it is the ingestion SQL's rules restricted to inputs they pass unchanged.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from ..columns import Columns
from ..data._validation_sql import NA_TOKENS, build_query
from ..data.schema import resolve_columns
from ..data.validation import DEFAULT_CHECKS, connect

__all__ = ["EVENT_TYPES", "RowProblem", "check_events"]

C = Columns
EVENT_TYPES = ("purchase", "view", "cart")

#: What an API event carries, as the ingestion query reads it (text as a CSV would give it, numbers typed).
_SCHEMA = pa.schema([(C.User, pa.string()), (C.Item, pa.string()), (C.Date, pa.string()),
                     (C.Quantity, pa.float64()), (C.Price, pa.float64()), (C.Order, pa.string())])
_TABLE = "__segrec_api_events"
#: The checked columns an API event keeps, in the order the check returns them.
_OUT = (C.User, C.Item, C.Date, C.Quantity, C.Price, C.Order, C.RejectReason)
#: API field name of each checked column (the request says ``timestamp``, the schema ``purchase_date``).
FIELD_OF = {C.User: C.User, C.Item: C.Item, C.Date: "timestamp", C.Quantity: C.Quantity, C.Price: C.Price,
            C.Order: C.Order}


@dataclass(frozen=True)
class RowProblem:
    """Why row ``row`` of a request was refused: the ingestion reject reason and the field it concerns."""

    row: int
    reason: str
    field: str
    value: Any


class _Checker:
    """The prepared ingestion query on its own connection (one execution at a time).

    DuckDB's optimiser is off by default here: with the rows in a temporary table it made every batch size
    slower (1 event ~11 ms instead of ~6, 1,000 ~23 instead of ~17, 5,000 ~79 instead of ~70; same output,
    which a test checks against the optimised query)."""

    def __init__(self, *, optimise: bool = False) -> None:
        self._lock = threading.Lock()
        self._con = None
        self.optimise = optimise

    def run(self, table: pa.Table) -> list[tuple[Any, ...]]:
        """The checked rows of ``table``, as tuples of :data:`_OUT` (in its order)."""
        with self._lock:
            if self._con is None:
                self._con = self._connect()
            # The rows go into a temporary table inside a transaction that is rolled back. Registering each
            # request's Arrow table instead changed the catalog, which made DuckDB bind the prepared query again
            # at every EXECUTE (~8 ms for one event, against ~0.3 ms to run it).
            self._con.execute("BEGIN")
            try:
                self._con.from_arrow(table).insert_into(_TABLE)
                # rows as tuples: for a request's few rows, an Arrow result and its to_pylist cost ~1.5 ms more
                return self._con.execute("EXECUTE segrec_check_events").fetchall()
            finally:
                self._con.execute("ROLLBACK")

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = connect()
        con.execute("SET threads = 1")  # a request's few rows: DuckDB's thread pool cost ~1 ms of CPU per check
        columns = ", ".join(f"{f.name} {_duck_type(f.type)}" for f in _SCHEMA)
        con.execute(f"CREATE TEMP TABLE {_TABLE} ({columns})")
        resolution = resolve_columns(_SCHEMA.names)
        sql = build_query(f"SELECT * FROM {_TABLE}", {f.name: _duck_type(f.type) for f in _SCHEMA},
                          resolution.source_of, DEFAULT_CHECKS)
        if not self.optimise:  # before PREPARE: a statement prepared under another setting is bound at each EXECUTE
            con.execute("PRAGMA disable_optimizer")
        con.execute(f"PREPARE segrec_check_events AS SELECT {', '.join(_OUT)} FROM ({sql})")
        return con


def _duck_type(arrow_type: pa.DataType) -> str:
    return "DOUBLE" if pa.types.is_floating(arrow_type) else "VARCHAR"


_CHECKER = _Checker()


#: ISO 8601 date or date and time without offset, which DuckDB's TIMESTAMP cast and Python read alike.
_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?)?")
_NA = frozenset(("", *NA_TOKENS))


def _plain_id(value: Any) -> bool:
    """An id the cleaning stage returns unchanged: not an NA token, no space to trim, no "17850.0" to shorten
    (ASCII only, so no text a DuckDB string could hold differently)."""
    return isinstance(value, str) and value.isascii() and value not in _NA and " " not in value and ".0" not in value


def _plain_time(value: str) -> dt.datetime | None:
    """The time an ISO 8601 text means, when DuckDB's cast surely reads it the same (years 1900-2199, inside
    the nanosecond timestamp's range; a valid calendar date); else None."""
    if not _ISO_TIME.fullmatch(value) or not "1900" <= value[:4] < "2200":
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:  # 2024-02-30, 25:00:00: the query says unparsable_date
        return None


def _finite(value: Any) -> bool:
    """A number the query's float column takes as it is: a finite float, or an int a double holds exactly
    (pyarrow refuses a larger int, and a bool)."""
    return (type(value) is float and math.isfinite(value)) or (type(value) is int and abs(value) <= 2**53)


def _as_is(event: dict[str, Any], stamp: str) -> dict[str, Any] | None:
    """``event`` checked, when the ingestion query would accept it with nothing to clean; else None (ask it)."""
    user, item, order = event.get(C.User), event.get(C.Item), event.get(C.Order)
    if not (_plain_id(user) and _plain_id(item) and (order is None or _plain_id(order))):
        return None
    text = event.get("timestamp")
    when = _plain_time(stamp if text is None else text) if isinstance(text, str | None) else None
    if when is None:
        return None
    quantity, price = event.get(C.Quantity), event.get(C.Price)
    if quantity is None:
        quantity = 1
    elif not (_finite(quantity) and quantity == int(quantity) and 0 < quantity < 9e15):
        return None
    if price is not None and not (_finite(price) and price >= 0):
        return None
    return {**event, C.User: user, C.Item: item, C.Date: when, C.Quantity: int(quantity),
            C.Price: None if price is None else float(price), C.Order: order}


def check_events(events: Sequence[dict[str, Any]], now: dt.datetime | None = None
                 ) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """Type, fill and check API events (dicts with the API's field names) with the ingestion rules.

    Returns the events with canonical values (``user_id``, ``product_id``, ``purchase_date`` as a naive
    ``datetime``, ``quantity`` int, ``price`` float or None, ``order_id``; other keys kept as given) and the
    problems, one per refused row (the first failed check, as in file ingestion). A missing ``timestamp`` is
    ``now`` (local time; default: the clock).
    """
    stamp = (now or dt.datetime.now()).isoformat(sep=" ", timespec="microseconds")
    plain = [_as_is(event, stamp) for event in events]
    if all(row is not None for row in plain):
        return plain, []
    return _query(events, stamp)


def _query(events: Sequence[dict[str, Any]], stamp: str) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """:func:`check_events` by the ingestion query."""
    columns = {
        C.User: [e.get(C.User) for e in events],
        C.Item: [e.get(C.Item) for e in events],
        C.Date: [stamp if e.get("timestamp") is None else e["timestamp"] for e in events],
        C.Quantity: [e.get(C.Quantity) for e in events],
        C.Price: [e.get(C.Price) for e in events],
        C.Order: [e.get(C.Order) for e in events],
    }
    checked = [dict(zip(_OUT, row, strict=True)) for row in _CHECKER.run(pa.table(columns, schema=_SCHEMA))]
    check_column = {check.reason: check.column for check in DEFAULT_CHECKS}
    problems, out = [], []
    for row, (event, result) in enumerate(zip(events, checked, strict=True)):
        reason = result[C.RejectReason]
        if reason is not None:
            column = check_column.get(reason, C.User)
            field = FIELD_OF.get(column, column)
            problems.append(RowProblem(row, reason, field, event.get(field)))
            continue
        price = result[C.Price]
        out.append({**event, C.User: result[C.User], C.Item: result[C.Item], C.Date: result[C.Date],
                    C.Quantity: int(result[C.Quantity]), C.Price: None if price is None else float(price),
                    C.Order: result[C.Order]})
    return out, problems
