"""The ingestion door: read purchase history from a file, a database or a DataFrame into the canonical schema.

``ingest`` returns accepted events, rejected rows and a report; ``read_events`` returns just the events and
warns when rows were rejected. Each reader (:mod:`segrec.data._file_readers`, :mod:`segrec.data._db_readers`) only
presents its source to DuckDB as a SELECT, with CSV cells kept as text so a bad cell becomes a reject, never a
crash; one query in :mod:`segrec.data.validation` does the rest, whatever the source.

Formats (``format=``, else guessed from the suffix or URL scheme): ``csv`` (.csv, .tsv, .txt, .gz),
``parquet`` (.parquet, .pq), ``xlsx`` (.xlsx, .xlsm), ``duckdb`` (``duckdb:///path.db?table=orders`` or
``?query=SELECT ...``, opened read-only; a path after ``duckdb://`` is relative unless it starts with ``/``),
``postgresql`` (SQLAlchemy URL ``postgresql[+psycopg]://user@host/db?table=orders`` or ``?query=...``),
and ``online-retail`` (the UCI Online Retail file, see :mod:`segrec.data.adapters.online_retail`).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import duckdb
import pandas as pd

from ..exceptions import EncodingError, InputError, RejectedRowsWarning
from ._db_readers import hide_password, read_duckdb, read_postgresql
from ._file_readers import (
    LEGACY_ENCODINGS,
    Source,
    encoding_note,
    existing_file,
    read_csv,
    read_frame,
    read_parquet,
    read_xlsx,
)
from .ingest_report import IngestReport
from .validation import IngestResult, ReadOptions, SourceQuery, connect, run_checks

__all__ = ["FORMATS", "IngestReport", "IngestResult", "ReadOptions", "detect_format", "ingest", "read_events"]

_SUFFIXES = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".gz": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".duckdb": "duckdb", ".db": "duckdb",
}
_SCHEMES = {"duckdb": "duckdb", "postgresql": "postgresql", "postgres": "postgresql"}


def ingest(
    source: Source, mapping: Mapping[str, str] | None = None, format: str | None = None, *, strict: bool = False,
    options: ReadOptions | None = None,
) -> IngestResult:
    """Read ``source`` into canonical events, rejected rows and a report.

    ``mapping`` is ``{source column: canonical column}`` and wins over automatic name resolution.
    ``strict=True`` raises :class:`~segrec.exceptions.RowError` at the first bad row instead of rejecting it.
    ``options`` says how text is written (decimal commas, encoding, date format, Excel sheet).
    """
    options = options or ReadOptions()
    fmt = detect_format(source, format)
    try:
        return _ingest(source, fmt, mapping, strict, options)
    except EncodingError:
        if fmt != "csv" or options.encoding is not None:
            raise
    # Not UTF-8 past the head that read_csv checked: read again in a legacy encoding, and say so.
    for encoding in LEGACY_ENCODINGS:
        try:
            result = _ingest(source, fmt, mapping, strict, dataclasses.replace(options, encoding=encoding))
        except EncodingError:
            continue
        result.report.notes.append(encoding_note(encoding))
        return result
    raise AssertionError("Latin-1 decodes every byte")  # pragma: no cover


def _ingest(source: Source, fmt: str, mapping: Mapping[str, str] | None, strict: bool,
            options: ReadOptions) -> IngestResult:
    reader = FORMATS[fmt]
    if fmt in _TAKE_OPTIONS:
        reader = functools.partial(reader, options=options)
    with connect() as con:
        return run_checks(con, reader(con, source), mapping, strict=strict, options=options)


def read_events(
    source: Source, mapping: Mapping[str, str] | None = None, format: str | None = None, *, strict: bool = False,
    options: ReadOptions | None = None,
) -> pd.DataFrame:
    """The accepted canonical events of ``source``; warns with :class:`RejectedRowsWarning` when rows were rejected."""
    result = ingest(source, mapping, format, strict=strict, options=options)
    report = result.report
    if report.rows_rejected:
        reasons = ", ".join(f"{r}: {n}" for r, n in report.rejected_by_reason.items())
        warnings.warn(
            f"{report.rows_rejected} of {report.rows_read} rows of {report.source} rejected ({reasons}); "
            "use segrec.data.read.ingest() or `segrec validate --rejects FILE` to see them",
            RejectedRowsWarning,
            stacklevel=2,
        )
    return result.events


def detect_format(source: Source, format: str | None = None) -> str:
    """The reader for ``source``: ``format`` when given, else from the URL scheme or the file suffix."""
    if format is not None:
        fmt = format.strip().lower().replace("_", "-")
        fmt = {"postgres": "postgresql", "excel": "xlsx", "pq": "parquet"}.get(fmt, fmt)
        if fmt not in FORMATS:
            raise InputError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    if isinstance(source, pd.DataFrame):
        return "dataframe"
    text = str(source)
    scheme = text.split("://", 1)[0].split("+", 1)[0].lower() if "://" in text else ""
    if scheme:
        if scheme not in _SCHEMES:
            raise InputError(f"unknown URL scheme {scheme!r} in {hide_password(text)}; use duckdb:// or postgresql://")
        return _SCHEMES[scheme]
    suffix = Path(text).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(
            f"cannot tell the format of {text!r} from its suffix {suffix or '(none)'!r}; pass --format "
            f"({', '.join(FORMATS)})"
        )
    return _SUFFIXES[suffix]


def _read_online_retail(con: duckdb.DuckDBPyConnection, source: Source) -> SourceQuery:
    from .adapters.online_retail import read_online_retail

    return read_online_retail(con, existing_file(source))


Reader = Callable[[duckdb.DuckDBPyConnection, Source], SourceQuery]
FORMATS: dict[str, Reader] = {
    "csv": read_csv,
    "parquet": read_parquet,
    "xlsx": read_xlsx,
    "duckdb": read_duckdb,
    "postgresql": read_postgresql,
    "online-retail": _read_online_retail,
    "dataframe": read_frame,
}
_TAKE_OPTIONS = {"csv", "xlsx"}  # readers with an encoding or a sheet to choose
