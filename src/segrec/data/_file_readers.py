"""Readers of files and frames: each presents its source to DuckDB as a SELECT for :mod:`segrec.data.validation`.

CSV: the dialect (delimiter, quotes) is sniffed by DuckDB and the file is streamed by pyarrow with every column as
text, so a bad cell becomes a reject, never a crash (pyarrow's CSV parser costs about half of DuckDB's
``read_csv(all_varchar=true)`` plus nothing to hand the text over, measured on the ingest benchmark). Parquet through pyarrow, Excel through pandas + openpyxl.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..exceptions import InputError
from ._validation_sql import q
from .validation import ReadOptions, SourceQuery, first_line, read_error

Source = str | Path | pd.DataFrame
BLOCK_BYTES = 16 << 20  # pyarrow CSV block (one Arrow batch per block)
SAMPLE_BYTES = 1 << 20  # the head of a CSV file checked for UTF-8 before reading it
#: Tried in order when a CSV file without --encoding is not UTF-8: cp1252 (Excel's "CSV" on Western European
#: Windows) is Latin-1 plus curly quotes and the euro sign; Latin-1 decodes any byte, so it always ends the list.
LEGACY_ENCODINGS = ("cp1252", "latin-1")


def existing_file(source: Source) -> Path:
    """``source`` as the path of an existing, non-empty file, else a one-line :class:`InputError`."""
    path = Path(str(source))
    if not path.exists():
        raise InputError(f"file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty")
    return path


def sql_str(text: str) -> str:
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def register(con: duckdb.DuckDBPyConnection, data: object, name: str, fmt: str) -> SourceQuery:
    """Make an Arrow table/stream or a DataFrame the source table of ``con``."""
    con.register("__source", data)
    return SourceQuery("SELECT * FROM __source", name, fmt)


_MAGIC = {b"PAR1": "Parquet", b"PK\x03\x04": "an Excel workbook (.xlsx)", b"SQLi": "a SQLite database"}


def read_csv(con: duckdb.DuckDBPyConnection, source: Source, options: ReadOptions | None = None) -> SourceQuery:
    """CSV with the dialect (delimiter, quoting) sniffed by DuckDB, streamed by pyarrow as text.

    pyarrow streams the file (bounded memory) and every column stays text, so a bad cell becomes a reject.
    Without ``options.encoding`` the file is read as UTF-8 unless its head is not UTF-8: then as the first
    of :data:`LEGACY_ENCODINGS` that decodes it, with a note in the report.
    """
    path = existing_file(source)
    _refuse_binary(path)
    encoding, notes = (options or ReadOptions()).encoding, ()
    if encoding is None:
        encoding = legacy_encoding(path)
        if encoding is not None:
            notes = (encoding_note(encoding),)
    try:
        dialect = con.execute(
            f"SELECT Delimiter, Quote, Escape FROM sniff_csv({sql_str(str(path))}, header = true, skip = 0)"
        ).fetchall()[0]
    except duckdb.Error:  # e.g. a header without rows: fall back to the header's separator and '"' quotes
        dialect = (None, '"', '"')
    delim, quote, escape = (None if v == "(empty)" else v for v in dialect)
    header = _first_line_of(path, encoding or "utf-8")
    if not delim or delim not in header:  # sniffer gave up (e.g. ragged rows): take the header's separator
        delim = next((d for d in ",;\t|" if d in header), ",")
    parse = pacsv.ParseOptions(
        delimiter=delim or ",",
        quote_char=quote or False,
        double_quote=bool(quote) and escape in (None, quote),
        escape_char=escape if escape and escape != quote else False,
        newlines_in_values=True,
    )
    codec = encoding or "utf8"
    read = pacsv.ReadOptions(block_size=BLOCK_BYTES, encoding=codec)  # never skip lines: a "preamble" may be data
    try:
        probe = pacsv.ReadOptions(block_size=1 << 20, encoding=codec)  # just the header
        with pacsv.open_csv(path, read_options=probe, parse_options=parse) as first:
            names = first.schema.names
        if len(set(names)) != len(names):
            raise InputError(f"{path} has duplicate column names: {names}")
        # Empty cells stay "" in pyarrow (its null detection costs ~0.2 CPU-s per million rows) and become NULL
        # in DuckDB's first projection, where NULLIF is nearly free.
        convert = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
        reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowException, OSError, UnicodeError) as exc:
        raise read_error(f"{path} as CSV", exc) from None
    con.register("__source", reader)
    cells = ", ".join(f"NULLIF({q(n)}, '') AS {q(n)}" for n in names)
    return SourceQuery(f"SELECT {cells} FROM __source", str(path), "csv", notes=notes)


def legacy_encoding(path: Path) -> str | None:
    """None when the head of ``path`` is UTF-8 (or ASCII), else the first of :data:`LEGACY_ENCODINGS` that
    decodes it. Only the head is read; a non-UTF-8 byte further on is caught by :func:`segrec.data.read.ingest`."""
    with pa.input_stream(str(path), compression="detect") as f:
        head = f.read(SAMPLE_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a character cut at the end is fine
        return None
    except UnicodeDecodeError:
        pass
    for encoding in LEGACY_ENCODINGS:
        try:
            head.decode(encoding)
            return encoding
        except UnicodeDecodeError:
            continue
    return LEGACY_ENCODINGS[-1]


def encoding_note(encoding: str) -> str:
    """What the report says when a file was not UTF-8 and was read as ``encoding``."""
    return (f"the file is not UTF-8: read as {encoding} (detected); pass --encoding if the accents or symbols "
            "look wrong")


def _first_line_of(path: Path, encoding: str) -> str:
    with pa.input_stream(str(path), compression="detect") as f:
        return f.read(65536).decode(encoding, errors="replace").splitlines()[0] if path.stat().st_size else ""


def _refuse_binary(path: Path) -> None:
    """A one-line error instead of a parser's for a Parquet, Excel, DuckDB or other binary file given as CSV."""
    if path.suffix.lower() == ".gz":
        return
    with path.open("rb") as f:
        head = f.read(8192)
    kind = _MAGIC.get(head[:4]) or ("DuckDB" if head[8:12] == b"DUCK" else None)
    if kind or b"\x00" in head:
        hint = f"it looks like {kind}; pass --format" if kind else "it has binary content"
        raise InputError(f"{path} is not a text CSV file ({hint})")


def read_parquet(con: duckdb.DuckDBPyConnection, source: Source) -> SourceQuery:
    """Parquet through pyarrow (zero-copy into DuckDB)."""
    path = existing_file(source)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read {path} as Parquet: {first_line(exc)}") from None
    return register(con, table, str(path), "parquet")


def read_xlsx(con: duckdb.DuckDBPyConnection, source: Source, options: ReadOptions | None = None) -> SourceQuery:
    """One sheet of an Excel workbook (pandas + openpyxl): ``options.sheet`` by name or 0-based number, else
    the first."""
    path = existing_file(source)
    wanted = (options or ReadOptions()).sheet
    try:
        with pd.ExcelFile(path, engine="openpyxl") as book:
            frame = pd.read_excel(book, sheet_name=_sheet(book.sheet_names, wanted, path))
    except InputError:
        raise
    except Exception as exc:  # openpyxl raises many unrelated types for a bad workbook
        raise InputError(f"cannot read {path} as an .xlsx workbook: {first_line(exc)}") from None
    name = str(path) if wanted is None else f"{path} [{wanted}]"
    return register(con, text_objects(frame), name, "xlsx")


def _sheet(names: list[str], wanted: str | None, path: Path) -> str:
    """The sheet ``wanted`` names (a name first, then a 0-based number), else the first."""
    if wanted is None:
        return names[0]
    if wanted in names:
        return wanted
    if wanted.isdigit() and int(wanted) < len(names):
        return names[int(wanted)]
    raise InputError(f"{path} has no sheet {wanted!r}; its sheets: {', '.join(map(repr, names))} "
                     "(--sheet takes a name or a 0-based number)")


def read_frame(con: duckdb.DuckDBPyConnection, source: Source) -> SourceQuery:
    """An in-memory DataFrame (object columns are read as text)."""
    if not isinstance(source, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(source).__name__}")
    return register(con, text_objects(source), f"<DataFrame {source.shape[0]}x{source.shape[1]}>", "dataframe")


def text_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns named by strings, object columns (mixed Python values) as text, so DuckDB can scan them."""
    frame = frame.rename(columns=str)
    objects = [c for c, t in frame.dtypes.items() if pd.api.types.is_object_dtype(t)]
    if objects:
        frame = frame.astype(dict.fromkeys(objects, "string"))
    return frame
