"""Read purchase history with Spark into the canonical columns (see :mod:`segrec.columns`), checking every row
by the local reader's rules, in one pass over the source.

Column names are resolved exactly as the local reader does (:func:`segrec.data.schema.resolve_columns` on the
header: case, spaces and the usual aliases, plus ``--map``). Cells are parsed and rows checked as
:mod:`segrec.data.validation` does (ids trimmed, NA tokens, ``17850.0`` -> ``17850``, the local date formats, the
schema's defaults), and a row is rejected for the first failed check of
:data:`segrec.data.validation.DEFAULT_CHECKS`, named as the local reader names it. :func:`read_checked` returns
every row with its ``reject_reason`` (NULL when accepted) and, for rejected rows only, the original cells as
text; :func:`ingest_report` counts it and :func:`write_rejects` itemises the rejects as Parquet, both from the
same cached frame, so the source is read once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ...columns import Columns
from ...data._validation_sql import DATE_FORMATS, FALSE_TOKENS, NA_TOKENS, TRUE_TOKENS
from ...data.schema import NUMBER_COLUMNS, SCHEMA, resolve_columns
from ...data.validation import DEFAULT_CHECKS
from ...exceptions import InputError
from ...run_dir import RunFiles

__all__ = ["REJECT_REASONS", "SPARK_FORMATS", "accepted", "canonical", "from_pandas", "ingest_report", "read_checked",
           "read_events", "spark_format", "write_rejects"]

C = Columns
SPARK_FORMATS = ("csv", "parquet")
#: What a row can be rejected for, in the order the checks are tried (the local reader's names and order).
REJECT_REASONS = tuple(check.reason for check in DEFAULT_CHECKS)
RAW = "_raw"  # the original cells (text) of a rejected row
SOURCE_FILE = "source_file"
_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet"}
_TYPES = {"string": "string", "float64": "double", "int64": "bigint", "boolean": "boolean",
          "datetime64[ns]": "timestamp"}
#: Local date formats (``segrec.data._validation_sql.DATE_FORMATS``, strptime) as Spark datetime patterns.
_SPARK_DATE_FORMATS = tuple(f.replace("%m", "M").replace("%d", "d").replace("%Y", "yyyy").replace("%H", "H")
                            .replace("%M", "mm").replace("%S", "ss") for f in DATE_FORMATS)
_ID_COLUMNS = (C.User, C.Item, C.Order)


def spark_format(source: str, format: str | None = None) -> str | None:
    """``csv`` or ``parquet`` when Spark reads ``source`` itself, else None (the caller ingests locally)."""
    if format is not None:
        fmt = format.strip().lower()
        return {"pq": "parquet"}.get(fmt, fmt) if fmt in (*SPARK_FORMATS, "pq") else None
    if "://" in source and not source.startswith(("file://", "hdfs://", "s3a://", "s3://", "gs://", "abfss://")):
        return None
    path = Path(source.split("://", 1)[-1])
    return _SUFFIXES.get(path.suffix.lower()) or ("parquet" if path.is_dir() else None)


def _raw_frame(spark: Any, source: str, fmt: str) -> Any:
    """The source as Spark reads it (CSV: every cell as text), with the file each row came from."""
    from pyspark.sql import functions as F

    if fmt == "csv":
        raw = (spark.read.option("header", True).option("inferSchema", False).option("mode", "PERMISSIVE")
               .csv(source))
    else:
        nanos = _nanosecond_columns(source)
        if nanos:  # Spark refuses TIMESTAMP(NANOS) (pandas' default) unless read as epoch nanoseconds
            spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
        raw = spark.read.parquet(source)
        if nanos:
            raw = raw.select(*[F.timestamp_micros(F.floor(F.col(f"`{c}`") / 1000)).alias(c) if c in nanos
                               else F.col(f"`{c}`") for c in raw.columns], "_metadata")
    return raw.withColumn(f"_{SOURCE_FILE}", F.col("_metadata.file_path"))


def read_checked(spark: Any, source: str, format: str | None = None,
                 mapping: Mapping[str, str] | None = None) -> tuple[Any, dict[str, Any]]:
    """Every row of a CSV/Parquet file or directory in the canonical columns, with ``reject_reason`` and, for
    rejected rows, the original cells (:func:`canonical`); and what the reader did."""
    fmt = spark_format(source, format)
    if fmt is None:
        raise InputError(f"the spark engine reads csv and parquet (files, directories or s3a/hdfs URLs), not "
                         f"{source!r}; convert it or use --engine local")
    frame, info = canonical(_raw_frame(spark, source, fmt), mapping, source=source)
    return frame, {**info, "format": fmt}


def read_events(spark: Any, source: str, format: str | None = None,
                mapping: Mapping[str, str] | None = None) -> tuple[Any, dict[str, Any]]:
    """The accepted canonical events of a CSV/Parquet source (lazy: one pass when used) and what the reader did."""
    frame, info = read_checked(spark, source, format, mapping)
    return accepted(frame), info


def accepted(checked: Any) -> Any:
    """The canonical events of a :func:`read_checked` frame that passed every check."""
    from pyspark.sql import functions as F

    return checked.where(F.col(C.RejectReason).isNull()).select(*[c for c in checked.columns if c in C.Canonical])


def _nanosecond_columns(source: str) -> set[str]:
    """Columns stored as Parquet TIMESTAMP(NANOS) in a local file or directory (remote URLs: none known)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    path = source.removeprefix("file://")
    if "://" in path or not Path(path).exists():
        return set()
    schema = ds.dataset(path, format="parquet").schema
    return {f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"}


def canonical(raw: Any, mapping: Mapping[str, str] | None = None, *, source: str = "frame") -> tuple[Any, dict[str, Any]]:
    """Rename, parse and check a raw Spark frame as the local reader does: the canonical columns,
    ``reject_reason`` (the first failed check, NULL when the row is accepted), ``_raw`` (the original cells as
    text, rejected rows only) and ``_source_file`` when the raw frame has it."""
    from pyspark.sql import functions as F

    data = [c for c in raw.columns if c not in ("_metadata", f"_{SOURCE_FILE}")]
    resolution = resolve_columns(data, mapping)
    types = dict(raw.dtypes)
    typed, bad = {}, {}
    for src, canon in resolution.mapped.items():
        typed[canon], bad[canon] = _parse(F.col(f"`{src}`"), canon, types[src])
    null = {name: F.lit(None).cast(_TYPES[spec.dtype]) for name, spec in SCHEMA.items()}
    t = {name: typed.get(name, null[name]) for name in C.Canonical}
    qty = F.coalesce(t[C.Quantity], F.lit(1.0))
    price = F.coalesce(t[C.Price], F.when(qty > 0, t[C.Spending] / qty))
    filled = {**t,
              C.ItemName: F.coalesce(t[C.ItemName], t[C.Item]), C.Category: F.coalesce(t[C.Category], F.lit("unknown")),
              C.Description: F.coalesce(t[C.Description], F.lit("")), C.Quantity: _try_cast(qty, "bigint"),
              C.Price: price,
              C.Spending: F.coalesce(t[C.Spending], price * qty),
              C.Engagement: F.coalesce(t[C.Engagement], F.when(t[C.TimeSpent] > 0, t[C.Clicks] / t[C.TimeSpent]))}
    frame = raw.select(*[filled[c].alias(c) for c in C.Canonical],
                       *[(bad[c] if c in bad else F.lit(False)).alias(f"_bad_{c}") for c in C.Canonical],
                       F.struct(*[F.col(f"`{c}`").cast("string").alias(c) for c in data]).alias(RAW),
                       *([F.col(f"_{SOURCE_FILE}")] if f"_{SOURCE_FILE}" in raw.columns else []))
    failed = {C.User: F.col(C.User).isNull(), C.Item: F.col(C.Item).isNull(), C.Date: F.col(C.Date).isNull(),
              C.Price: F.col(C.Price) < 0, C.Quantity: F.col(C.Quantity) <= 0,
              C.Age: (F.col(C.Age) < 0) | (F.col(C.Age) > 120), C.Income: (F.col(C.Income) < 0) | (F.col(C.Income) > 1e9)}
    reason = None
    for check in DEFAULT_CHECKS:  # the local checks, in their order; the column each one reads
        condition = F.col(f"_bad_{check.column}") if check.reason.startswith("unparsable_") and check.column != C.Date \
            else failed[check.column]
        condition = F.coalesce(condition, F.lit(False))
        reason = F.when(condition, F.lit(check.reason)) if reason is None else reason.when(condition, F.lit(check.reason))
    frame = frame.withColumn(C.RejectReason, reason)
    frame = frame.withColumn(RAW, F.when(F.col(C.RejectReason).isNotNull(), F.col(RAW))).drop(
        *[f"_bad_{c}" for c in C.Canonical])
    info = {"source": source, "mapped": resolution.mapped, "dropped_columns": resolution.dropped,
            "rule": "rows are checked as the local reader checks them (segrec.data.validation.DEFAULT_CHECKS)"}
    return frame, info


def _is_na(text: Any) -> Any:
    from pyspark.sql import functions as F

    return (F.length(text) <= 4) & text.isin("", *NA_TOKENS)


def _parse(column: Any, canon: str, source_type: str) -> tuple[Any, Any]:
    """The canonical value of a source column and whether a present cell failed to parse (as
    :mod:`segrec.data._validation_sql` stages 1-3 do); a cell that does not parse becomes NULL (ANSI-safe)."""
    from pyspark.sql import functions as F

    target = _TYPES[SCHEMA[canon].dtype]
    text_source = source_type == "string"
    text = column.cast("string")
    present = text.isNotNull() & ~_is_na(F.trim(text))
    if target == "string":
        if canon not in _ID_COLUMNS:
            return F.when(text != "", text), F.lit(False)
        # as the local reader: an NA token as written is missing; 17850.0 -> 17850; outer spaces trimmed
        trimmed = F.trim(text)
        return (F.when(_is_na(text), F.lit(None))
                .when(text.endswith(".0"), F.regexp_replace(trimmed, r"^(-?[0-9]+)\.0$", "$1"))
                .when(text.startswith(" ") | text.endswith(" "), F.when(trimmed != "", trimmed))
                .otherwise(text)), F.lit(False)
    if target == "timestamp":
        if source_type.startswith(("timestamp", "date")):
            return column.cast("timestamp"), F.lit(False)
        trimmed = F.trim(text)
        return F.coalesce(F.try_to_timestamp(text), *[F.try_to_timestamp(trimmed, F.lit(f))
                                                     for f in _SPARK_DATE_FORMATS]), F.lit(False)
    if target == "boolean":
        if source_type == "boolean":
            return column, F.lit(False)
        low = F.lower(F.trim(text))
        value = F.when(low.isin(*TRUE_TOKENS), F.lit(True)).when(low.isin(*FALSE_TOKENS), F.lit(False))
        return value, value.isNull() & present if text_source else F.lit(False)
    number = _try_cast(F.trim(text) if text_source else column, "double")
    finite = number.isNotNull() & ~F.isnan(number) & (F.abs(number) != float("inf"))
    value = F.when(finite, number)
    flag = (~finite & present) if text_source else F.lit(False)
    if canon == C.Quantity:
        flag = F.when(finite & ((number != F.floor(number)) | (F.abs(number) >= 9e15)), F.lit(True)).otherwise(flag)
    assert canon in NUMBER_COLUMNS
    return value, flag


def ingest_report(checked: Any, info: Mapping[str, Any], *, seconds: float = 0.0) -> dict[str, Any]:
    """What :func:`read_checked` read, as the local ``validation.json`` has it (one aggregation of the checked
    frame): rows read, accepted and rejected by reason, columns mapped/derived/missing, users, products, dates."""
    from pyspark.sql import functions as F

    from ...data.ingest_report import IngestReport, column_coverage

    reason = F.col(C.RejectReason)
    kept = reason.isNull()
    row = checked.select(reason, *[F.when(kept, F.col(c)).alias(c) for c in (C.User, C.Item, C.Date)]).agg(
        F.count("*").alias("read"), F.count_if(kept).alias("accepted"),
        *[F.count_if(reason == r).alias(r) for r in REJECT_REASONS],
        F.count_distinct(C.User).alias("users"), F.count_distinct(C.Item).alias("products"),
        F.min(C.Date).alias("first"), F.max(C.Date).alias("last")).first()
    derived, missing = column_coverage(info["mapped"].values())
    return IngestReport(
        source=info["source"], format=info.get("format", ""), rows_read=row["read"], rows_accepted=row["accepted"],
        rows_rejected=row["read"] - row["accepted"], rejected_by_reason={r: row[r] for r in REJECT_REASONS if row[r]},
        columns_mapped=dict(info["mapped"]), columns_dropped=list(info["dropped_columns"]), columns_derived=derived,
        columns_missing=missing, date_min=None if row["first"] is None else row["first"].isoformat(sep=" "),
        date_max=None if row["last"] is None else row["last"].isoformat(sep=" "), n_users=row["users"],
        n_products=row["products"], notes=[f"read by the Spark engine: {info['rule']}; rejected rows itemised in "
                                           f"{RunFiles.RejectsDir}/ (Parquet) by segrec run"],
        seconds=round(seconds, 3)).to_dict()


def write_rejects(checked: Any, path: str) -> None:
    """The rejected rows of a :func:`read_checked` frame as Parquet, written by the executors: the source file,
    ``reject_reason`` and every original cell as text (under its source column name)."""
    from pyspark.sql import functions as F

    rejected = checked.where(F.col(C.RejectReason).isNotNull())
    source = [F.col(f"_{SOURCE_FILE}").alias(SOURCE_FILE)] if f"_{SOURCE_FILE}" in checked.columns else []
    rejected.select(*source, C.RejectReason, f"{RAW}.*").write.mode("overwrite").parquet(path)


def _try_cast(column: Any, to: str) -> Any:
    return column.try_cast(to) if hasattr(column, "try_cast") else column.cast(to)  # try_cast: Spark >= 4


def from_pandas(spark: Any, events: pd.DataFrame) -> Any:
    """A canonical pandas event frame (e.g. from :func:`segrec.data.read.ingest`) as a Spark DataFrame; NA stays NULL."""
    import pyarrow as pa

    if events.empty:
        raise InputError("cannot build a Spark frame from zero events")
    frame = events.copy()
    for name in frame.columns:  # Arrow has no pandas "string" extension on every version: plain text or null
        if isinstance(frame[name].dtype, pd.StringDtype):
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return spark.createDataFrame(table)
