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
from ..engines.local.train import train_recommender
from ..events.training import stored_purchases
from ..exceptions import InputError
from ..run_dir import RunFiles
from ._common import (
    READ_DEFAULTS,
    FormatOpt,
    MapFileOpt,
    MapOpt,
    SourceArg,
    ValidationOpt,
    load_source,
    local_engine_only,
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
        if engine != "local":
            if events_store is not None:
                raise InputError("--events trains with the local engine only; drop --engine or --events")
            local_engine_only(options)
            from . import _engine

            chosen_engine = _engine.engine_from_options(engine, spark_master, spark_conf)
            _engine.train(chosen_engine, source, out, segments=_read_segments(segments), seed=seed,
                          k=k, format=format, map=map, map_file=map_file)
            return
        began = time.perf_counter()
        events = load_source(source, format, map, map_file, options=options).events
        extra: dict = {}
        if events_store is not None:
            stored = stored_purchases(events_store, catalogue_from=events)
            console.print(f"event store {escape(events_store)}: {len(stored.events):,} purchases of "
                          f"{stored.stored:,} events (through seq {stored.through_seq:,})")
            events = pd.concat([events, stored.events], ignore_index=True) if len(stored.events) else events
            extra["events"] = stored.manifest(str(events_store))
        if events.empty:
            raise InputError(f"{source} holds no usable purchase rows")
        with Progress(TextColumn("[bold]{task.fields[stage]}"), BarColumn(), TextColumn("{task.completed:,} {task.description}"),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("", total=None, stage="LightFM epochs")

            def on_epoch(epoch: int, score: float | None) -> None:
                progress.update(task, completed=epoch, description=f"(P@10 {score:.3f})" if score is not None else "")

            def on_write(done: int, total: int) -> None:
                progress.update(task, stage="recommendations", completed=done, total=total, description="customers")

            model = train_recommender(events, out, segments=_read_segments(segments), seed=seed, k=k,
                                      epoch_callback=on_epoch, validation=validation or "auto", progress=on_write,
                                      params=extra)
        ds = model.dataset_
        console.print(f"fitted on {ds.n_users:,} customers x {ds.n_items:,} products "
                      f"(LightFM best epoch {model.cf_.best_epoch_}) in {time.perf_counter() - began:.1f} s")
        print_model_tuning(console, model.tuning_)
        console.print(f"wrote {escape(str(out / RunFiles.Model))}/ and {escape(str(out / RunFiles.Recommendations))}")


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""
    app.command("train")(train)
