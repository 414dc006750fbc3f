"""Coerce a source table to the canonical schema, row checks included, in one vectorised DuckDB query.

Every source (CSV, Parquet, Excel, databases, in-memory frames) is presented to DuckDB as a SELECT, and one
generated query parses each mapped column (text or typed), fills the schema's defaults and names the first failed
:class:`Check` of each row. Bad rows are not errors: they come back in a rejects frame with their 0-based
``source_row``, the ``reject_reason`` and every original value as text, so nothing is lost. The query streams
Arrow batches, so memory stays near the size of the result.

Reject reasons, in the order they are tried (a row is rejected once, for the first): ``missing_user_id``,
``missing_product_id``, ``unparsable_date`` (missing included), ``unparsable_number:<column>`` (text that is not a
finite number, or a fractional quantity), ``unparsable_boolean:abandoned_cart``, ``negative_price``,
``nonpositive_quantity``, ``impossible_age`` (outside 0..120), ``impossible_income`` (negative or above 1e9).
Adapters add their own (see :mod:`segrec.data.adapters.online_retail`).
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..columns import Columns
from ..exceptions import EncodingError, InputError, RowError
from ._validation_sql import DATE_FORMATS, DAYFIRST_FORMATS, RAW, Check, TextFormat, build_query, one_of
from .ingest_report import IngestReport, suggest
from .schema import NUMBER_COLUMNS, Resolution, resolve_columns

__all__ = ["DEFAULT_CHECKS", "Check", "IngestResult", "ReadOptions", "SourceQuery", "connect", "one_of", "run_checks"]

C = Columns

BATCH_ROWS = 1 << 20
# Large Arrow string buffers become pandas strings without a copy. The IN-clause rewrite is off because it plans
# long IN lists as hash joins, which (DuckDB 2.0) do not keep row order, and source_row relies on that order.
DUCKDB_CONFIG = {"arrow_large_buffer_size": True, "disabled_optimizers": "in_clause"}

DEFAULT_CHECKS: tuple[Check, ...] = (
    Check("missing_user_id", C.User, f"{C.User} IS NULL"),
    Check("missing_product_id", C.Item, f"{C.Item} IS NULL"),
    Check("unparsable_date", C.Date, f"{C.Date} IS NULL"),
    *(Check(f"unparsable_number:{c}", c, f"__bad_{c}") for c in NUMBER_COLUMNS),
    Check(f"unparsable_boolean:{C.AbandonedCart}", C.AbandonedCart, f"__bad_{C.AbandonedCart}"),
    Check("negative_price", C.Price, f"{C.Price} < 0"),
    Check("nonpositive_quantity", C.Quantity, f"{C.Quantity} <= 0"),
    Check("impossible_age", C.Age, f"{C.Age} < 0 OR {C.Age} > 120"),
    Check("impossible_income", C.Income, f"{C.Income} < 0 OR {C.Income} > 1e9"),
)


@dataclass(frozen=True)
class ReadOptions:
    """How a source's text is written when not the default way, as European spreadsheet exports write it.

    ``decimal``: "." or "," (``3,50``; then "." or " " may group thousands, ``1.234,50``). ``encoding``: of a
    CSV file; None reads UTF-8 and, when the file is not UTF-8, falls back to cp1252 (then Latin-1) with a note.
    ``date_format``: a strptime format tried before ISO 8601 (``"%d.%m.%Y"``). ``dayfirst``: ``01/02/2024``
    is 1 February (default: month first, US style). ``sheet``: an Excel sheet's name or 0-based number.
    """

    decimal: str = "."
    encoding: str | None = None
    date_format: str | None = None
    dayfirst: bool = False
    sheet: str | None = None

    def __post_init__(self) -> None:
        if self.decimal not in (".", ","):
            raise InputError(f"--decimal {self.decimal!r}: use '.' or ','")
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise InputError(f"--encoding {self.encoding!r} is not a known encoding "
                                 "(e.g. utf-8, cp1252, latin-1, utf-16)") from None
        if self.date_format is not None and "%" not in self.date_format:
            raise InputError(f"--date-format {self.date_format!r} has no strptime code; e.g. '%d.%m.%Y'")

    @property
    def text(self) -> TextFormat:
        """What the checking query needs to parse text cells."""
        if self.date_format is not None:
            return TextFormat(self.decimal, (self.date_format,), first=True)
        return TextFormat(self.decimal, DAYFIRST_FORMATS if self.dayfirst else DATE_FORMATS)


@dataclass(frozen=True)
class SourceQuery:
    """A source as a readers hands it to validation: a SELECT on a DuckDB connection plus how to treat it."""

    sql: str
    name: str
    format: str
    mapping: Mapping[str, str] | None = None  # preset by an adapter; the user's mapping is applied on top
    checks: tuple[Check, ...] = DEFAULT_CHECKS
    notes: tuple[str, ...] = ()
    duplicate_rows: int | None = None


@dataclass(frozen=True)
class IngestResult:
    """Accepted canonical events, rejected rows (``source_row``, ``reject_reason``, original text) and the report."""

    events: pd.DataFrame
    rejects: pd.DataFrame
    report: IngestReport = field(repr=False)


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection set up for :func:`run_checks` (row order kept, zero-copy strings)."""
    con = duckdb.connect(config=DUCKDB_CONFIG)
    con.execute("SET enable_progress_bar = false")  # DuckDB's own bar would break the CLI's rich progress display
    return con


def run_checks(
    con: duckdb.DuckDBPyConnection,
    source: SourceQuery,
    mapping: Mapping[str, str] | None = None,
    *,
    strict: bool = False,
    options: ReadOptions | None = None,
) -> IngestResult:
    """Map, coerce and check ``source``; in ``strict`` mode raise :class:`RowError` at the first bad row.

    ``con`` must come from :func:`connect` (its settings keep rows in source order). ``options`` says how
    numbers and dates are written in text cells.
    """
    options = options or ReadOptions()
    started = time.perf_counter()
    try:
        relation = con.sql(source.sql)
        names, types = list(relation.columns), [str(t) for t in relation.types]
    except duckdb.Error as exc:
        raise read_error(source.name, exc) from None
    if len(set(names)) != len(names):
        raise InputError(f"{source.name} has duplicate column names: {names}")
    resolution = resolve_columns(names, {**(source.mapping or {}), **(mapping or {})})
    sql = build_query(source.sql, dict(zip(names, types, strict=True)), resolution.source_of, source.checks,
                      options.text)
    try:
        accepted, rejects = _split(con.sql(sql).to_arrow_reader(BATCH_ROWS), names, source, strict, resolution)
    except (duckdb.Error, pa.ArrowException) as exc:  # e.g. a malformed CSV line met while streaming
        raise read_error(source.name, exc) from None
    # The report's distinct counts (DuckDB) and the conversion to pandas (pyarrow) both release the GIL: run
    # them side by side. The conversion cannot free Arrow buffers as it goes while DuckDB reads them.
    with ThreadPoolExecutor(1) as pool:
        building = pool.submit(IngestReport.build, con, source, resolution, accepted, rejects, 0.0)
        events = _to_pandas(accepted)
        report = building.result()
    del accepted
    report.suggestions = suggest(rejects, resolution.source_of, report.rows_read, decimal=options.decimal,
                                 dayfirst=options.dayfirst, date_format=options.date_format)
    report.seconds = round(time.perf_counter() - started, 3)
    return IngestResult(events, rejects, report)


def read_error(name: str, exc: BaseException) -> InputError:
    """The one-line error for a source that cannot be read; text that is not UTF-8 gets its own class, so
    :func:`segrec.data.read.ingest` can retry with a legacy encoding."""
    line = first_line(exc)
    if "invalid UTF8" in line or "invalid utf-8" in line.lower():
        return EncodingError(f"cannot read {name}: it is not UTF-8 text ({line}); pass its encoding, e.g. "
                             "--encoding cp1252 (Windows, Western Europe) or --encoding latin-1")
    return InputError(f"cannot read {name}: {line}")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message: input errors are one line, never a dump."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# ------------------------------------------------------------------------------------------ running the query


def _split(
    reader: pa.RecordBatchReader, names: list[str], source: SourceQuery, strict: bool, resolution: Resolution
) -> tuple[pa.Table, pd.DataFrame]:
    """Stream the checked batches into accepted rows (Arrow) and a rejects frame, in source order."""
    accepted: list[pa.RecordBatch] = []
    rejected: list[pa.Table] = []
    offset = 0
    keep = list(C.Canonical)
    for batch in reader:
        reason = batch.column(C.RejectReason)
        if reason.null_count == len(batch):
            accepted.append(batch.select(keep))
        else:
            bad = pc.is_valid(reason)
            rows = pc.indices_nonzero(bad)
            part = batch.filter(bad)
            rejected.append(_rejects_table(part, rows.to_numpy() + offset, names))
            if strict:
                raise _row_error(rejected[-1], source, resolution)
            accepted.append(batch.select(keep).filter(pc.invert(bad)))
        offset += len(batch)
    schema = reader.schema
    table = pa.Table.from_batches(accepted, pa.schema([schema.field(c) for c in keep]))
    rejects = pa.concat_tables(rejected) if rejected else _rejects_table(None, np.empty(0, np.int64), names)
    return table, rejects.to_pandas(types_mapper=_TYPES.get)


def _rejects_table(part: pa.RecordBatch | None, rows: np.ndarray, names: list[str]) -> pa.Table:
    columns = {C.SourceRow: pa.array(rows, pa.int64())}
    if part is None:
        columns[C.RejectReason] = pa.array([], pa.string())
        columns.update({n: pa.array([], pa.string()) for n in names})
        return pa.table(columns)
    columns[C.RejectReason] = part.column(C.RejectReason).cast(pa.string())
    cells = part.column(RAW).flatten().cast(pa.string())
    k = len(names)
    for j, name in enumerate(names):
        columns[name] = cells.take(pa.array(np.arange(j, len(cells), k)))
    return pa.table(columns)


def _row_error(rejects: pa.Table, source: SourceQuery, resolution: Resolution) -> RowError:
    first = rejects.slice(0, 1).to_pylist()[0]
    reason = first[C.RejectReason]
    canon = next((ch.column for ch in source.checks if ch.reason == reason), C.User)
    column = resolution.source_of.get(canon, canon)
    return RowError(first[C.SourceRow], column, reason, first.get(column))


_TYPES = {
    pa.large_string(): pd.StringDtype(),
    pa.string(): pd.StringDtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas with the schema's dtypes (strings stay Arrow-backed, booleans nullable); ``table`` stays
    intact (the report reads it at the same time)."""
    frame = table.to_pandas(types_mapper=_TYPES.get, split_blocks=True)
    return frame.astype({C.Date: "datetime64[ns]", C.Quantity: "int64"})
