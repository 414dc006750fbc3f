"""``segrec validate SOURCE``: check a purchase history, show what would be kept, write rejects and a report.

Rejected rows are not a failure (exit 0); bad input is (exit 2): a missing required column, an unreadable
source, or with ``--strict`` the first bad row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from .._atomic import atomic_path, atomic_write_text
from ..data.ingest_report import IngestReport
from ..data.read import ReadOptions
from ..exceptions import InputError
from ._common import (
    READ_DEFAULTS,
    FormatOpt,
    MapFileOpt,
    MapOpt,
    SourceArg,
    StrictOpt,
    load_source,
    with_read_options,
)
from ._errors import user_errors

RejectsOpt = Annotated[
    Path | None, typer.Option("--rejects", help="Write rejected rows here (.csv or .parquet), with reject_reason.")
]
ReportOpt = Annotated[Path | None, typer.Option("--report", help="Write the validation report here as JSON.")]


@with_read_options
def validate(
    source: SourceArg,
    format: FormatOpt = None,
    map: MapOpt = None,
    map_file: MapFileOpt = None,
    rejects: RejectsOpt = None,
    report: ReportOpt = None,
    strict: StrictOpt = False,
    *,
    options: ReadOptions = READ_DEFAULTS,
) -> None:
    """Check SOURCE against the canonical schema: rows read, accepted and rejected by reason."""
    with user_errors():
        if rejects is not None and rejects.suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise InputError(f"--rejects {rejects}: use a .csv or .parquet file name")
        result = load_source(source, format, map, map_file, strict=strict, announce=False,
                             options=options)
        if rejects is not None:
            write_table(result.rejects, rejects)
        if report is not None:
            atomic_write_text(report, result.report.to_json() + "\n")
    Console().print(report_table(result.report))


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` atomically as CSV or Parquet, chosen by the suffix."""
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


def report_table(report: IngestReport) -> Table:
    """The report as a rich table: counts first, then rejects by reason, then columns and coverage."""
    table = Table(title=f"validation of {report.source}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("rows read", f"{report.rows_read:,}")
    table.add_row("rows accepted", f"[green]{report.rows_accepted:,}[/]")
    table.add_row("rows rejected", f"[yellow]{report.rows_rejected:,}[/]" if report.rows_rejected else "0")
    for reason, n in report.rejected_by_reason.items():
        table.add_row(f"  {reason}", f"{n:,}")
    table.add_row("users / products", f"{report.n_users:,} / {report.n_products:,}")
    table.add_row("dates", f"{report.date_min or '-'} .. {report.date_max or '-'}")
    table.add_row("columns mapped", ", ".join(f"{s} -> {c}" if s != c else c for s, c in report.columns_mapped.items()))
    for label, values in (
        ("columns dropped", report.columns_dropped),
        ("columns derived", report.columns_derived),
        ("columns missing", report.columns_missing),
        ("notes", report.notes),
        ("try", report.suggestions),
    ):
        if values:
            table.add_row(label, "\n".join(values) if label in ("notes", "try") else ", ".join(values))
    if report.duplicate_rows is not None:
        table.add_row("exact duplicate rows", f"{report.duplicate_rows:,}")
    return table


def register(app: typer.Typer) -> None:
    """Add the ``validate`` command to ``app``."""
    app.command("validate")(validate)
