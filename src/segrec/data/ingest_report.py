"""The ingestion report: what was read, what was kept, what was set aside and why, as JSON-ready data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..columns import Columns
from .schema import DERIVED_FROM

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from .schema import Resolution
    from .validation import SourceQuery

C = Columns


def column_coverage(mapped: Iterable[str]) -> tuple[list[str], list[str]]:
    """The canonical columns derived from the ``mapped`` ones (e.g. spending from price x quantity), and those
    neither mapped nor derived."""
    present = set(mapped)
    absent = [c for c in C.Canonical if c not in present]
    derived = [c for c in absent if c in DERIVED_FROM and present.issuperset(DERIVED_FROM[c])]
    return derived, [c for c in absent if c not in derived]


@dataclass
class IngestReport:
    """Counts and facts about one ingestion; ``to_json()`` is what ``segrec validate --report`` writes."""

    source: str
    format: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    rejected_by_reason: dict[str, int]
    columns_mapped: dict[str, str]
    columns_dropped: list[str]
    columns_derived: list[str]
    columns_missing: list[str]
    date_min: str | None
    date_max: str | None
    n_users: int
    n_products: int
    duplicate_rows: int | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    suggestions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON types only)."""
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def build(
        cls,
        con: duckdb.DuckDBPyConnection,
        source: SourceQuery,
        resolution: Resolution,
        accepted: pa.Table,
        rejects: pd.DataFrame,
        seconds: float,
    ) -> IngestReport:
        """Summarise an ingestion; user, product and date facts come from DuckDB over the accepted Arrow rows."""
        con.register("__accepted", accepted)
        n_users, n_products, first, last = con.execute(
            f"SELECT count(DISTINCT {C.User}), count(DISTINCT {C.Item}), min({C.Date}), max({C.Date}) FROM __accepted"
        ).fetchall()[0]
        con.unregister("__accepted")
        counts = rejects[C.RejectReason].value_counts().to_dict() if len(rejects) else {}
        order = [ch.reason for ch in source.checks]
        derived, missing = column_coverage(resolution.mapped.values())
        return cls(
            source=source.name,
            format=source.format,
            rows_read=accepted.num_rows + len(rejects),
            rows_accepted=accepted.num_rows,
            rows_rejected=len(rejects),
            rejected_by_reason={r: int(counts[r]) for r in sorted(counts, key=order.index)},
            columns_mapped=dict(resolution.mapped),
            columns_dropped=list(resolution.dropped),
            columns_derived=derived,
            columns_missing=missing,
            date_min=first.isoformat(sep=" ") if first is not None else None,
            date_max=last.isoformat(sep=" ") if last is not None else None,
            n_users=int(n_users),
            n_products=int(n_products),
            duplicate_rows=source.duplicate_rows,
            notes=list(source.notes),
            seconds=round(seconds, 3),
        )


# ------------------------------------------------------------------------------------------------ suggestions
SAMPLE = 200  # rejected cells looked at per reason
_DECIMAL_COMMA = re.compile(r"\s*[+-]?[0-9][0-9. ]*,[0-9]+\s*")
_DAY_MONTH = re.compile(r"\s*([0-9]{1,2})[/.-]([0-9]{1,2})[/.-][0-9]{2,4}\b.*")


def suggest(rejects: pd.DataFrame, source_of: Mapping[str, str], rows_read: int, *, decimal: str = ".",
            dayfirst: bool = False, date_format: str | None = None) -> list[str]:
    """Options that would have read the rejected cells, from what they look like (``3,50``: ``--decimal ,``;
    ``13/02/2024``: ``--dayfirst``; other dates: ``--date-format``). Options already given are not suggested."""
    if rejects.empty:
        return []
    out = []
    for reason, n in rejects[C.RejectReason].value_counts().items():
        column = reason.partition(":")[2] if reason.startswith("unparsable_number:") else (
            C.Date if reason == "unparsable_date" else None)
        if column is None or source_of.get(column) not in rejects:
            continue
        values = rejects.loc[rejects[C.RejectReason] == reason, source_of[column]].dropna().head(SAMPLE).astype(str)
        if values.empty:
            continue
        how = f"every {column}" if n == rows_read else f"{n:,} of {rows_read:,} rows: the {column}"
        example = values.iloc[0]
        if column != C.Date:
            if decimal == "." and values.str.fullmatch(_DECIMAL_COMMA).mean() >= 0.8:
                out.append(f"{how} failed to parse (e.g. {example!r}); it looks like decimal commas: try --decimal ,")
            continue
        parts = values.str.extract(_DAY_MONTH).dropna().astype(int)
        if not dayfirst and date_format is None and len(parts) and (parts[0] > 12).any():
            out.append(f"{how} failed to parse (e.g. {example!r}); the day comes first: try --dayfirst (dates "
                       "already read may have been taken month first)")
        elif date_format is None:
            out.append(f"{how} failed to parse (e.g. {example!r}); name the format with --date-format, in "
                       "strptime codes (e.g. '%d.%m.%Y %H:%M')")
    return out
