"""Events received over the API go through the same row checks as file ingestion.

The ingestion query (:func:`segrec.data._validation_sql.build_query` with :data:`segrec.data.validation.DEFAULT_CHECKS`) is
built once for a fixed Arrow schema and prepared on a private in-memory DuckDB connection over a temporary
table that each check fills inside a rolled-back transaction. An execution still costs ~3 ms for one event
(~8 ms for a thousand), so the service checks the requests that arrive together in one execution
(:mod:`segrec.service.writer`). So an API event is typed, filled
and judged exactly as a CSV line would be (ids trimmed and "17850.0" -> "17850", ISO 8601 or the file
formats' dates, a fractional quantity is ``unparsable_number:quantity``, a negative price ``negative_price``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from ..columns import Columns
from ..data._validation_sql import build_query
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


def check_events(events: Sequence[dict[str, Any]], now: dt.datetime | None = None
                 ) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """Type, fill and check API events (dicts with the API's field names) with the ingestion rules.

    Returns the events with canonical values (``user_id``, ``product_id``, ``purchase_date`` as a naive
    ``datetime``, ``quantity`` int, ``price`` float or None, ``order_id``; other keys kept as given) and the
    problems, one per refused row (the first failed check, as in file ingestion). A missing ``timestamp`` is
    ``now`` (local time; default: the clock).
    """
    stamp = (now or dt.datetime.now()).isoformat(sep=" ", timespec="microseconds")
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
