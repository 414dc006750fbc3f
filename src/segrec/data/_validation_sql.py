"""The SQL that types, fills and checks every row of a source (generated per source, run by DuckDB).

The query is a stack of projections, each computing a column once: rename the source columns, clean text,
parse, flag unparsable cells, apply the schema's defaults, name the first failed check. Expressions depend on
the source column's type, so typed sources (Parquet, databases, DataFrames) skip text parsing. Costly text
functions are guarded (trim only cells with an outer space; NA tokens only tested on short cells or on cells
that failed to parse), which keeps the query near the cost of the scan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..columns import Columns
from .schema import NUMBER_COLUMNS, SCHEMA

C = Columns

# Text cells that mean "no value" besides empty ones (compared after trimming; all at most 4 characters).
NA_TOKENS = ("NA", "N/A", "nan", "NaN", "NULL", "null", "None")
# Date formats tried when a cell is not ISO 8601 (which DuckDB casts directly). Month-first US style first;
# DAYFIRST_FORMATS replace them with --dayfirst (01/02/2024 is 1 February, as European exports write it).
DATE_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
                "%d.%m.%Y")
DAYFIRST_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
                    "%d.%m.%Y", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y")
# A number written with a decimal comma and '.' or ' ' grouping thousands: 1.234,50 or 1 234,50 (not 3.5).
GROUPED_COMMA_NUMBER = r"[+-]?[0-9]{1,3}([. ][0-9]{3})+(,[0-9]*)?"
TRUE_TOKENS = ("true", "t", "yes", "y", "1", "1.0")
FALSE_TOKENS = ("false", "f", "no", "n", "0", "0.0")
ID_COLUMNS = (C.User, C.Item, C.Order)
RAW = "__raw"


@dataclass(frozen=True)
class TextFormat:
    """How numbers and dates are written in text cells: ``decimal`` "." or ","; the date formats tried, in
    order (``first``: before the ISO 8601 cast, for a format the user named)."""

    decimal: str = "."
    date_formats: tuple[str, ...] = DATE_FORMATS
    first: bool = False


@dataclass(frozen=True)
class Check:
    """A row check: rows where the SQL ``condition`` (over canonical, typed columns) holds are rejected."""

    reason: str
    column: str
    condition: str


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(values: Sequence[str]) -> str:
    """Comma-separated SQL string literals."""
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def one_of(expr: str, values: Sequence[str]) -> str:
    """``expr IN (values)`` as a scalar function call."""
    return f"list_contains([{lit(values)}], {expr})"


def kind(duck_type: str) -> str:
    """How a source column of this DuckDB type is read: text, number, bool or time."""
    t = duck_type.upper()
    if t.startswith(("TIMESTAMP", "DATE")):
        return "time"
    if t == "BOOLEAN":
        return "bool"
    numeric = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL")
    if t.startswith(numeric) or (t.startswith("U") and t.endswith("INT")):
        return "number"
    return "text"


def _is_na(x: str) -> str:
    return f"(strlen({x}) <= 4 AND {one_of(x, ('', *NA_TOKENS))})"


def _clean(canon: str, ref: str, k: str) -> str:
    """Stage 1: strings NULL when empty; ids also trimmed, NULL when an NA token, 17850.0 -> 17850; others as read."""
    if SCHEMA[canon].dtype != "string":
        return ref  # parsed in stage 2; casts ignore outer spaces
    v = ref if k == "text" else f"CAST({ref} AS VARCHAR)"
    if canon not in ID_COLUMNS:
        return f"NULLIF({v}, '')"
    # contains() is a cheap guard: only ids with a space or ".0" can need trimming or the 17850.0 fix.
    return (
        f"CASE WHEN {_is_na(v)} THEN NULL WHEN NOT (contains({v}, ' ') OR contains({v}, '.0')) THEN {v} "
        f"WHEN ends_with({v}, '.0') THEN regexp_replace(trim({v}), '^(-?[0-9]+)\\.0$', '\\1') "
        f"WHEN starts_with({v}, ' ') OR ends_with({v}, ' ') THEN NULLIF(trim({v}), '') ELSE {v} END"
    )


def _parse(canon: str, x: str, k: str, text: TextFormat) -> str:
    """Stage 2: the parsed value (DOUBLE for numbers, TIMESTAMP_NS, BOOLEAN, VARCHAR)."""
    if canon == C.Date:
        # TRY_CAST: a time outside the nanosecond range (years before 1678 or after 2261) is that row's
        # unparsable_date, not a conversion error that stops the whole read
        if k == "time":
            return f"TRY_CAST({x} AS TIMESTAMP_NS)"
        iso = f"TRY_CAST({x} AS TIMESTAMP_NS)"
        listed = f"TRY_CAST(try_strptime(trim({x}), [{lit(text.date_formats)}]) AS TIMESTAMP_NS)"
        return f"COALESCE({listed}, {iso})" if text.first else f"COALESCE({iso}, {listed})"
    if canon in NUMBER_COLUMNS:
        if k in ("number", "bool"):
            return f"CAST({x} AS DOUBLE)"
        if text.decimal == ",":  # 3,50 -> 3.50; 1.234,50 -> 1234.50 (grouping only in the grouped pattern)
            grouped = f"regexp_full_match(trim({x}), '{GROUPED_COMMA_NUMBER}')"
            x = (f"CASE WHEN {grouped} THEN replace(replace(replace(trim({x}), '.', ''), ' ', ''), ',', '.') "
                 f"ELSE replace({x}, ',', '.') END")
        return f"TRY_CAST({x} AS DOUBLE)"
    if canon == C.AbandonedCart:
        if k in ("bool", "number"):
            return f"CAST({x} AS BOOLEAN)"
        # DuckDB's cast takes true/t/yes/y/1 and false/f/no/n/0 in any case, the same set as the tokens, at
        # half the cost of the token lists (ingest benchmark); only the rest (outer spaces, 1.0/0.0) reach them.
        low = f"lower(trim({x}))"
        cast = f"TRY_CAST({x} AS BOOLEAN)"
        return (
            f"CASE WHEN {cast} IS NOT NULL THEN {cast} "
            f"WHEN {one_of(low, TRUE_TOKENS)} THEN TRUE WHEN {one_of(low, FALSE_TOKENS)} THEN FALSE END"
        )
    return x


def _flag(canon: str, x: str, p: str, k: str) -> tuple[str, str]:
    """Stage 3: the valid value and the "unparsable" flag (a present cell that is neither a value nor NA).

    Guards are CASE conditions, not AND: DuckDB evaluates CASE branches only for the rows that reach them.
    """
    unparsed = f"CASE WHEN {x} IS NULL THEN FALSE ELSE NOT {_is_na(f'trim({x})')} END"
    if canon in NUMBER_COLUMNS:
        value = f"CASE WHEN isfinite({p}) THEN {p} END"
        bad = "FALSE" if k in ("number", "bool") else f"CASE WHEN {p} IS NULL OR isinf({p}) THEN {unparsed} ELSE FALSE END"
        if canon == C.Quantity:
            bad = f"CASE WHEN {p} <> trunc({p}) OR abs({p}) >= 9e15 THEN TRUE ELSE {bad} END"
            value = f"CASE WHEN isfinite({p}) AND abs({p}) < 9e15 THEN {p} END"  # the BIGINT cast must not fail
        return value, bad
    if canon == C.AbandonedCart and k == "text":
        return p, f"CASE WHEN {p} IS NULL THEN {unparsed} ELSE FALSE END"
    return p, "FALSE"


def _null(canon: str) -> str:
    sql_type = {"float64": "DOUBLE", "int64": "DOUBLE", "boolean": "BOOLEAN", "datetime64[ns]": "TIMESTAMP_NS"}
    return f"CAST(NULL AS {sql_type.get(SCHEMA[canon].dtype, 'VARCHAR')})"


def _filled() -> dict[str, str]:
    """Stage 4: each canonical column with the schema's default applied, over the typed ``__t_*`` columns."""
    t = {c: f"__t_{c}" for c in C.Canonical}
    qty = f"COALESCE({t[C.Quantity]}, 1)"
    price = f"COALESCE({t[C.Price]}, CASE WHEN {qty} > 0 THEN {t[C.Spending]} / {qty} END)"
    return {
        **t,
        C.ItemName: f"COALESCE({t[C.ItemName]}, {t[C.Item]})",
        C.Category: f"COALESCE({t[C.Category]}, 'unknown')",
        C.Description: f"COALESCE({t[C.Description]}, '')",
        C.Quantity: f"CAST({qty} AS BIGINT)",
        C.Price: price,
        C.Spending: f"COALESCE({t[C.Spending]}, {price} * {qty})",
        C.Engagement: f"COALESCE({t[C.Engagement]}, CASE WHEN {t[C.TimeSpent]} > 0 THEN {t[C.Clicks]} / {t[C.TimeSpent]} END)",
    }


def build_query(
    source_sql: str, columns: Mapping[str, str], source_of: Mapping[str, str], checks: Sequence[Check],
    text: TextFormat = TextFormat(),
) -> str:
    """The one query over ``source_sql`` (whose ``columns`` map names to DuckDB types).

    ``source_of`` maps canonical columns to source columns. Output: the canonical columns, ``reject_reason``
    (NULL when accepted) and, for rejected rows only, the list of all original cells as text.
    """
    src = {name: f"__src{i}" for i, name in enumerate(columns)}
    kinds = {name: kind(t) for name, t in columns.items()}
    mapped = {c: s for c, s in source_of.items() if s in src}
    srcs = ", ".join(src.values())
    clean = ", ".join(f"{_clean(c, src[s], kinds[s])} AS __x_{c}" for c, s in mapped.items())
    parse = ", ".join(f"{_parse(c, f'__x_{c}', kinds[s], text)} AS __p_{c}" for c, s in mapped.items())
    typed = []
    for c in C.Canonical:
        if c in mapped:
            value, bad = _flag(c, f"__x_{c}", f"__p_{c}", kinds[mapped[c]])
        else:
            value, bad = _null(c), "FALSE"
        typed.append(f"{value} AS __t_{c}, {bad} AS __bad_{c}")
    bads = ", ".join(f"__bad_{c}" for c in C.Canonical)
    filled = ", ".join(f"{expr} AS {c}" for c, expr in _filled().items())
    canon = ", ".join(C.Canonical)
    reason = " ".join(f"WHEN {ch.condition} THEN '{ch.reason}'" for ch in checks)
    raw = "[" + ", ".join(f"CAST({s} AS VARCHAR)" for s in src.values()) + "]"
    renamed = ", ".join(f"{q(n)} AS {src[n]}" for n in columns)
    return f"""
SELECT {canon}, {C.RejectReason}, CASE WHEN {C.RejectReason} IS NOT NULL THEN {raw} END AS {RAW} FROM (
 SELECT {srcs}, {canon}, CASE {reason} END AS {C.RejectReason} FROM (
  SELECT {srcs}, {bads}, {filled} FROM (
   SELECT {srcs}, {", ".join(typed)} FROM (
    SELECT *, {parse} FROM (
     SELECT *, {clean} FROM (
      SELECT {renamed} FROM ({source_sql})))))))
"""
