"""``segrec segment``: segment the customers of a purchase history and write tables, report, model and plots."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..columns import Columns
from ..data.read import ReadOptions
from ..pipeline import read, resolve_engine
from ..pipeline import segment as segment_stage
from ._common import (
    READ_DEFAULTS,
    FormatOpt,
    MapFileOpt,
    MapOpt,
    SourceArg,
    announce_report,
    mapping_from_options,
    with_read_options,
)
from ._engine import EngineOpt, SparkConfOpt, SparkMasterOpt
from ._errors import user_errors

console = Console()


def _summary(result: Any, seconds: float) -> Table:
    """The profile table as the analyst sees it first: who, how many, how much, what to do."""
    stab = result.stability.to_dict()
    table = Table(title=f"{len(result.profiles)} segments, stability ARI {result.stability.mean:.2f} "
                        f"(seeds min {stab['seeds']['min']:.2f}, bootstrap min {stab['bootstrap']['min']:.2f}); "
                        f"{seconds:.1f} s", title_justify="left")
    for column in ("segment", "name", "customers", "revenue", "suggested action"):
        table.add_column(column, justify="right" if column in ("customers", "revenue") else "left")
    for segment, row in result.profiles.iterrows():
        table.add_row(str(segment), escape(str(row[Columns.SegmentName])), f"{row[Columns.Share]:.1%}",
                      f"{row[Columns.RevenueShare]:.1%}", escape(str(row[Columns.Action])))
    return table


@with_read_options
def segment(
    source: SourceArg,
    out: Annotated[Path, typer.Option("--out", help="Directory for segments, report, model and plots.")],
    k: Annotated[int | None, typer.Option("--k", help="Number of segments; default: chosen by the k sweep.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (sweep, K-Means, stability).")] = 42,
    features: Annotated[
        str | None, typer.Option(help="Comma-separated feature columns, e.g. total_spending,frequency.")
    ] = None,
    format: FormatOpt = None,
    map: MapOpt = None,
    map_file: MapFileOpt = None,
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = "local[*]",
    spark_conf: SparkConfOpt = None,
    *,
    options: ReadOptions = READ_DEFAULTS,
) -> None:
    """Segment customers: choose k, fit K-Means, check stability, name segments, write outputs."""
    with user_errors():
        began = time.perf_counter()
        chosen_engine = resolve_engine(engine, spark_master=spark_master, spark_conf=spark_conf)
        try:
            events, report = read(chosen_engine, source, format=format, mapping=mapping_from_options(map, map_file),
                                  options=options)
            announce_report(report)
            chosen = [f.strip() for f in features.split(",") if f.strip()] if features else None
            result = segment_stage(chosen_engine, events, out, k=k, seed=seed, features=chosen, progress=True)
        finally:
            chosen_engine.release()
        console.print(f"[bold]why k={result.report['chosen_k']}:[/] {escape(str(result.report['why']))}")
        console.print(_summary(result, time.perf_counter() - began))
        console.print(f"wrote {escape(str(out))}/ (segments.parquet, segments.csv, segmentation.json, "
                      f"segmenter/, *.png) [{chosen_engine.name} engine]")


def register(app: typer.Typer) -> None:
    """Add the ``segment`` command to ``app``."""
    app.command("segment")(segment)
