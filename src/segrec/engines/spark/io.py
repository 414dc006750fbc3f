"""Read purchase history with Spark into the canonical columns (see :mod:`segrec.columns`).

Column names are resolved exactly as the local reader does (:func:`segrec.schema.resolve_columns` on the
header: case, spaces and the usual aliases, plus ``--map``); types come from Spark SQL casts. CSV cells are
read as text, so a bad cell becomes NULL. Rows without a user, product or parseable date, or with a negative
price or a quantity <= 0, are dropped and counted (the full per-row rejects report is the local engine's job:
``segrec validate``). Defaults for absent columns follow :data:`segrec.schema.SCHEMA`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ...columns import Columns
from ...exceptions import InputError
from ...schema import SCHEMA, resolve_columns

__all__ = ["REJECT_REASONS", "SPARK_FORMATS", "from_pandas", "read_events", "read_report", "reject_reason", "spark_format"]

C = Columns
SPARK_FORMATS = ("csv", "parquet")
#: What :func:`reject_reason` can name, in the order the checks are tried (the local reader's names).
REJECT_REASONS = ("missing_user_id", "missing_product_id", "unparsable_date", "nonpositive_quantity", "negative_price")
_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet"}
_TYPES = {"string": "string", "float64": "double", "int64": "bigint", "boolean": "boolean",
          "datetime64[ns]": "timestamp"}


def spark_format(source: str, format: str | None = None) -> str | None:
    """``csv`` or ``parquet`` when Spark reads ``source`` itself, else None (the caller ingests locally)."""
    if format is not None:
        fmt = format.strip().lower()
        return {"pq": "parquet"}.get(fmt, fmt) if fmt in (*SPARK_FORMATS, "pq") else None
    if "://" in source and not source.startswith(("file://", "hdfs://", "s3a://", "s3://", "gs://", "abfss://")):
        return None
    path = Path(source.split("://", 1)[-1])
    return _SUFFIXES.get(path.suffix.lower()) or ("parquet" if path.is_dir() else None)


def read_events(spark: Any, source: str, format: str | None = None, mapping: Mapping[str, str] | None = None,
                *, keep_rejected: bool = False) -> tuple[Any, dict[str, Any]]:
    """Canonical events of a CSV/Parquet file or directory as a Spark DataFrame, and what the reader did
    (``keep_rejected``: unusable rows too, see :func:`reject_reason`)."""
    fmt = spark_format(source, format)
    if fmt is None:
        raise InputError(f"the spark engine reads csv and parquet (files, directories or s3a/hdfs URLs), not "
                         f"{source!r}; convert it or use --engine local")
    reader = spark.read
    if fmt == "csv":
        raw = reader.option("header", True).option("inferSchema", False).option("mode", "PERMISSIVE").csv(source)
        return canonical(raw, mapping, source=source, keep_rejected=keep_rejected)
    nanos = _nanosecond_columns(source)
    if nanos:  # Spark refuses TIMESTAMP(NANOS) (pandas' default) unless read as epoch nanoseconds
        spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    raw = reader.parquet(source)
    if nanos:
        from pyspark.sql import functions as F

        raw = raw.select(*[F.timestamp_micros(F.floor(F.col(f"`{c}`") / 1000)).alias(c) if c in nanos
                           else F.col(f"`{c}`") for c in raw.columns])
    return canonical(raw, mapping, source=source, keep_rejected=keep_rejected)


def _nanosecond_columns(source: str) -> set[str]:
    """Columns stored as Parquet TIMESTAMP(NANOS) in a local file or directory (remote URLs: none known)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    path = source.removeprefix("file://")
    if "://" in path or not Path(path).exists():
        return set()
    schema = ds.dataset(path, format="parquet").schema
    return {f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"}


def canonical(raw: Any, mapping: Mapping[str, str] | None = None, *, source: str = "frame",
              keep_rejected: bool = False) -> tuple[Any, dict[str, Any]]:
    """Rename and cast a raw Spark frame into the canonical schema; drop rows that cannot be used."""
    from pyspark.sql import functions as F

    resolution = resolve_columns(raw.columns, mapping)
    cols = {canon: _cast(F.col(f"`{src}`"), canon, dict(raw.dtypes)[src]) for src, canon in resolution.mapped.items()}
    if C.Quantity not in cols:
        cols[C.Quantity] = F.lit(1).cast("bigint")
    if C.Spending not in cols and C.Price in cols:
        cols[C.Spending] = cols[C.Price] * cols[C.Quantity]
    if C.Price not in cols and C.Spending in cols:
        cols[C.Price] = cols[C.Spending] / cols[C.Quantity]
    cols[C.ItemName] = F.coalesce(cols[C.ItemName], cols[C.Item]) if C.ItemName in cols else cols[C.Item]
    cols[C.Category] = F.coalesce(cols.get(C.Category, F.lit(None).cast("string")), F.lit("unknown"))
    cols[C.Description] = F.coalesce(cols.get(C.Description, F.lit(None).cast("string")), F.lit(""))
    if C.Engagement not in cols and C.Clicks in cols and C.TimeSpent in cols:
        cols[C.Engagement] = F.when(cols[C.TimeSpent] > 0, cols[C.Clicks] / cols[C.TimeSpent])
    frame = raw.select(*[expr.alias(name) for name, expr in cols.items() if name in C.Canonical])
    info = {"source": source, "mapped": resolution.mapped, "dropped_columns": resolution.dropped,
            "rule": "rows without user/product/date, quantity <= 0 or price < 0 are dropped"}
    return (frame if keep_rejected else frame.where(reject_reason(frame).isNull())), info


def reject_reason(frame: Any) -> Any:
    """The first check a canonical row fails, named as the local reader names it, or NULL for a usable row.

    ``nonpositive_quantity`` also covers a quantity that does not parse (the local reader says
    ``unparsable_number:quantity``); the local checks on age and income are not made.
    """
    from pyspark.sql import functions as F

    failed = {"missing_user_id": F.col(C.User).isNull(), "missing_product_id": F.col(C.Item).isNull(),
              "unparsable_date": F.col(C.Date).isNull(),
              "nonpositive_quantity": ~F.coalesce(F.col(C.Quantity) > 0, F.lit(False))}
    if C.Price in frame.columns:
        failed["negative_price"] = F.coalesce(F.col(C.Price) < 0, F.lit(False))
    checks = [(name, failed[name]) for name in REJECT_REASONS if name in failed]
    reason = F.when(checks[0][1], F.lit(checks[0][0]))
    for name, condition in checks[1:]:
        reason = reason.when(condition, F.lit(name))
    return reason


def read_report(spark: Any, source: str, format: str | None = None,
                mapping: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What :func:`read_events` reads from ``source``, as the local ``validation.json`` has it (one Spark pass):
    rows read, accepted and rejected by reason, columns mapped/derived/missing, users, products, dates."""
    from pyspark.sql import functions as F

    from ...ingest_report import IngestReport, column_coverage

    began = time.perf_counter()
    events, info = read_events(spark, source, format, mapping, keep_rejected=True)
    reason = reject_reason(events)
    kept = reason.isNull()
    row = events.select(reason.alias("_reason"), *[F.when(kept, F.col(c)).alias(c) for c in (C.User, C.Item, C.Date)]
                        ).agg(F.count("*").alias("read"), F.count_if(F.col("_reason").isNull()).alias("accepted"),
                              *[F.count_if(F.col("_reason") == r).alias(r) for r in REJECT_REASONS],
                              F.count_distinct(C.User).alias("users"), F.count_distinct(C.Item).alias("products"),
                              F.min(C.Date).alias("first"), F.max(C.Date).alias("last")).first()
    derived, missing = column_coverage(info["mapped"].values())
    return IngestReport(
        source=source, format=spark_format(source, format) or "", rows_read=row["read"], rows_accepted=row["accepted"],
        rows_rejected=row["read"] - row["accepted"], rejected_by_reason={r: row[r] for r in REJECT_REASONS if row[r]},
        columns_mapped=dict(info["mapped"]), columns_dropped=list(info["dropped_columns"]), columns_derived=derived,
        columns_missing=missing, date_min=None if row["first"] is None else row["first"].isoformat(sep=" "),
        date_max=None if row["last"] is None else row["last"].isoformat(sep=" "), n_users=row["users"],
        n_products=row["products"], notes=[f"read by the Spark engine: {info['rule']} (no per-row rejects file)"],
        seconds=round(time.perf_counter() - began, 3)).to_dict()


def _cast(column: Any, canon: str, source_type: str) -> Any:
    """Cast to the canonical type; a cell that does not parse becomes NULL (``try_cast``, ANSI-safe)."""
    from pyspark.sql import functions as F

    target = _TYPES[SCHEMA[canon].dtype]
    if target == "string":
        trimmed = F.trim(column.cast("string"))
        return F.when(trimmed != "", trimmed)
    if target == "timestamp":
        return column if source_type.startswith("timestamp") else F.try_to_timestamp(column.cast("string"))
    if target == "boolean":
        text = F.lower(F.trim(column.cast("string")))
        return (F.when(text.isin("true", "t", "yes", "y", "1"), F.lit(True))
                .when(text.isin("false", "f", "no", "n", "0"), F.lit(False)))
    number = _try_cast(column, "double")
    return _try_cast(number, "bigint") if target == "bigint" else number


def _try_cast(column: Any, to: str) -> Any:
    return column.try_cast(to) if hasattr(column, "try_cast") else column.cast(to)  # try_cast: Spark >= 4


def from_pandas(spark: Any, events: pd.DataFrame) -> Any:
    """A canonical pandas event frame (e.g. from :func:`segrec.io.ingest`) as a Spark DataFrame; NA stays NULL."""
    import pyarrow as pa

    if events.empty:
        raise InputError("cannot build a Spark frame from zero events")
    frame = events.copy()
    for name in frame.columns:  # Arrow has no pandas "string" extension on every version: plain text or null
        if isinstance(frame[name].dtype, pd.StringDtype):
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return spark.createDataFrame(table)
