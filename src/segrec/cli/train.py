"""``segrec train``: fit the hybrid recommender and write the model bundle and everyone's recommendations."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..data.read import ReadOptions
from ..exceptions import InputError
from ..pipeline import read, resolve_engine
from ..pipeline import train as train_stage
from ..pipeline.runner import with_stored_purchases
from ..run_dir import RunFiles
from ._common import (
    READ_DEFAULTS,
    FormatOpt,
    MapFileOpt,
    MapOpt,
    SourceArg,
    ValidationOpt,
    announce_report,
    mapping_from_options,
    print_model_tuning,
    with_read_options,
)
from ._engine import EngineOpt, SparkConfOpt, SparkMasterOpt
from ._errors import user_errors

console = Console(stderr=True)


def _read_segments(path: Path | None) -> pd.DataFrame | None:
    if path is None:
        return None
    try:
        return pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read segments file {path}: {exc}") from exc


@with_read_options
def train(
    source: SourceArg,
    out: Annotated[Path, typer.Option("--out", help="Directory for model/ and recommendations.parquet.")],
    segments: Annotated[
        Path | None, typer.Option("--segments", help="segments.parquet from `segrec segment` (user_id, segment).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the LightFM part.")] = 42,
    k: Annotated[int, typer.Option("-k", "--k", help="Recommendations per customer in the output file.")] = 10,
    validation: ValidationOpt = None,
    format: FormatOpt = None,
    map: MapOpt = None,
    map_file: MapFileOpt = None,
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = "local[*]",
    spark_conf: SparkConfOpt = None,
    events_store: Annotated[str | None, typer.Option(
        "--events", help="Also train on the purchases the API stored: the event store's DuckDB file (e.g. "
                         "DIR/events.duckdb) or postgresql+psycopg:// URL; POST /admin/reload then serves the "
                         "new bundle, which folds in only the events stored after it was trained.")] = None,
    *,
    options: ReadOptions = READ_DEFAULTS,
) -> None:
    """Fit the hybrid recommender (LightFM + EASE + TF-IDF content) and write model/ and recommendations."""
    with user_errors():
        began = time.perf_counter()
        chosen_engine = resolve_engine(engine, spark_master=spark_master, spark_conf=spark_conf)
        try:
            events, report = read(chosen_engine, source, format=format, mapping=mapping_from_options(map, map_file),
                                  options=options)
            announce_report(report)
            extra: dict = {}
            if events_store is not None:
                events, extra, said = with_stored_purchases(events, events_store)
                console.print(escape(said))
            if isinstance(events, pd.DataFrame) and events.empty:  # Spark checks its own input
                raise InputError(f"{source} holds no usable purchase rows")
            with Progress(TextColumn("[bold]{task.fields[stage]}"), BarColumn(),
                          TextColumn("{task.completed:,} {task.description}"), TimeElapsedColumn(), console=console,
                          transient=True) as progress:
                task = progress.add_task("", total=None, stage="fitting")

                def on_epoch(epoch: int, score: float | None) -> None:
                    progress.update(task, stage="LightFM epochs", completed=epoch,
                                    description=f"(P@10 {score:.3f})" if score is not None else "")

                def on_write(done: int, total: int) -> None:
                    progress.update(task, stage="recommendations", completed=done, total=total,
                                    description="customers")

                trained = train_stage(chosen_engine, events, out, segments=_read_segments(segments), seed=seed, k=k,
                                      validation=validation or "auto", on_epoch=on_epoch, on_write=on_write,
                                      manifest=extra)
        finally:
            chosen_engine.release()
        model = trained.recommender
        ds = model.dataset_
        best = getattr(getattr(model, "cf_", None), "best_epoch_", None)  # the hybrid's LightFM part
        console.print(f"fitted {type(model).__name__} ({chosen_engine.name} engine) on {ds.n_users:,} customers x "
                      f"{ds.n_items:,} products" + (f" (LightFM best epoch {best})" if best is not None else "")
                      + f" in {time.perf_counter() - began:.1f} s")
        if getattr(model, "tuning_", None):
            print_model_tuning(console, model.tuning_)
        console.print(f"wrote {escape(str(out / RunFiles.Model))}/ and {escape(str(out / RunFiles.Recommendations))}")


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""
    app.command("train")(train)
