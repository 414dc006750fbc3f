"""``segrec generate``: write a generated shop (and optionally its personas) to Parquet or CSV."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from .._atomic import atomic_path
from ..columns import Columns
from ..data.generate import CATEGORY_CONCENTRATION, STYLE_CONCENTRATION, generate_shop
from ..exceptions import InputError
from ._errors import user_errors

console = Console()


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` as CSV (suffix ``.csv``) or Parquet, byte-for-byte reproducibly.

    Parquet writer options are pinned and the file carries no timestamps, so the same frame gives the same bytes.
    Timestamps are stored in microseconds (an error, not a silent truncation, if a value has finer parts).
    """
    try:
        with atomic_path(path) as tmp:
            if path.suffix.lower() == ".csv":
                frame.to_csv(tmp, index=False, lineterminator="\n", date_format="%Y-%m-%d %H:%M:%S")
            else:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                # Microsecond timestamps: Spark and other JVM readers refuse Parquet's nanosecond unit.
                pq.write_table(
                    table, tmp, version="2.6", compression="zstd", compression_level=3, use_dictionary=True,
                    write_statistics=True, row_group_size=1 << 20, data_page_version="1.0",
                    coerce_timestamps="us", allow_truncated_timestamps=False,
                )
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _summary(events: pd.DataFrame, truth: pd.DataFrame, seconds: float) -> Table:
    """A short table describing what was generated."""
    table = Table(title="Generated shop", show_header=False, title_justify="left")
    dates = events[Columns.Date]
    mix = truth[Columns.Persona].value_counts(normalize=True).sort_index()
    rows = {
        "rows": f"{len(events):,}",
        "orders": f"{events[Columns.Order].nunique():,}",
        "customers": f"{events[Columns.User].nunique():,}",
        "products": f"{events[Columns.Item].nunique():,}",
        "date range": f"{dates.min():%Y-%m-%d} .. {dates.max():%Y-%m-%d}",
        "persona mix": ", ".join(f"{name} {share:.0%}" for name, share in mix.items()),
        "time taken": f"{seconds:.2f} s",
    }
    for key, value in rows.items():
        table.add_row(key, value)
    return table


def generate(
    out: Annotated[Path, typer.Option("--out", help="Events file to write (.parquet, or .csv).")],
    truth: Annotated[
        Path | None, typer.Option("--truth", help="Also write each customer's persona to this file.")
    ] = None,
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 5000,
    products: Annotated[int, typer.Option(help="Number of products (at least 12).")] = 1000,
    months: Annotated[int, typer.Option(help="Length of the purchase history.")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same bytes.")] = 42,
    start: Annotated[str, typer.Option(help="First day of the history, YYYY-MM-DD.")] = "2024-01-01",
    category_concentration: Annotated[float, typer.Option(
        min=0.01, help="How closely each customer's category mix follows their persona's (higher: closer; "
                       "inf: the persona's mix).")] = CATEGORY_CONCENTRATION,
    style_concentration: Annotated[float, typer.Option(
        min=0.01, help="Below 1, most customers favour one or two product lines; inf: indifferent to style.",
    )] = STYLE_CONCENTRATION,
) -> None:
    """Generate a realistic shop: personas, individual taste, seasonality, repeat buying, Zipf-like popularity."""
    with user_errors():
        began = time.perf_counter()
        shop = generate_shop(customers=customers, products=products, months=months, seed=seed, start=start,
                             category_concentration=category_concentration, style_concentration=style_concentration)
        write_frame(shop.events, out)
        if truth is not None:
            write_frame(shop.truth, truth)
        console.print(_summary(shop.events, shop.truth, time.perf_counter() - began))
        console.print(f"wrote {out}" + (f" and {truth}" if truth is not None else ""))


def register(app: typer.Typer) -> None:
    """Add the ``generate`` command to ``app``."""
    app.command("generate")(generate)
