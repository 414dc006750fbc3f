"""``segrec evaluate``: train every model on the same split and compare them in one table (and JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .._atomic import atomic_write_text, file_sha256
from ..data.read import ReadOptions
from ..evaluation import (
    Split,
    default_cutoff,
    explicit_split,
    last_n_split,
    random_split,
    rich_table,
    temporal_split,
)
from ..exceptions import InputError
from ..modes import DISCOVER
from ..pipeline import resolve_engine
from ._common import (
    READ_DEFAULTS,
    FormatOpt,
    MapFileOpt,
    MapOpt,
    ValidationOpt,
    load_source,
    print_tuning,
    with_read_options,
)
from ._engine import EngineOpt, SparkConfOpt, SparkMasterOpt
from ._errors import user_errors

console = Console()
SPLITS = ("temporal", "random", "last-n")
TABLE_WIDTH = 180  # wide enough for every metric column; narrower terminals wrap instead of eliding digits


@with_read_options
def evaluate(
    source: Annotated[str | None, typer.Argument(help="Purchase history (file or database URL); omit with --train/--test.")] = None,
    split: Annotated[str, typer.Option(help="temporal | random | last-n.")] = "temporal",
    cutoff: Annotated[str | None, typer.Option(help="Temporal split date; default: start of the last 2 months.")] = None,
    test_fraction: Annotated[float, typer.Option(help="Random split: share of each user's products held out.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Random split and segmentation seed.")] = 42,
    n: Annotated[int, typer.Option("--n", help="Last-n split: orders held out per user.")] = 1,
    train: Annotated[Path | None, typer.Option(help="Bring your own split: training events file.")] = None,
    test: Annotated[Path | None, typer.Option(help="Bring your own split: test events file.")] = None,
    k: Annotated[int, typer.Option("--k", help="Length of each recommendation list.")] = 10,
    models: Annotated[str | None, typer.Option(help="Comma-separated model names; default: all for the mode.")] = None,
    mode: Annotated[str, typer.Option(help="discover (never re-recommend purchases) | buy-again.")] = DISCOVER,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    in_sample: Annotated[bool, typer.Option(help="Also compute the original project's in-sample P@5 and AUC.")] = False,
    segments: Annotated[int, typer.Option(help="K-Means segments for segment popularity; 0: none.")] = 5,
    validation: ValidationOpt = None,
    format: FormatOpt = None,
    map: MapOpt = None,
    map_file: MapFileOpt = None,
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = "local[*]",
    spark_conf: SparkConfOpt = None,
    *,
    options: ReadOptions = READ_DEFAULTS,
) -> None:
    """Compare recommenders on a held-out split: one row per model, best figures in bold."""
    with user_errors():
        read = (format, map, map_file, options)
        the_split, fingerprint = _make_split(source, split, cutoff, test_fraction, seed, n, train, test, read)
        chosen_engine = resolve_engine(engine, spark_master=spark_master, spark_conf=spark_conf)
        names = [m.strip() for m in models.split(",") if m.strip()] if models else None
        with _progress() as progress:
            task = progress.add_task("evaluating", total=None)

            def step(stage: str, name: str) -> None:
                progress.update(task, description=f"{stage} {name}", advance=1 if stage == "done" else 0)

            try:  # the split is made here for every engine, so the figures are comparable across engines
                result = chosen_engine.evaluate_split(the_split.train, the_split.test, k, the_split.description,
                                                      seed=seed, models=names, mode=mode, segments=segments,
                                                      in_sample=in_sample, validation=validation, on_model=step)
            finally:
                chosen_engine.release()
        result.data.update(fingerprint)
        Console(width=max(console.width, TABLE_WIDTH)).print(rich_table(result))
        print_tuning(console, result)
        if json_out is not None:
            payload: dict[str, Any] = result.to_dict()
            json_out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(json_out, json.dumps(payload, indent=2, allow_nan=False) + "\n")
            console.print(f"wrote {escape(str(json_out))}")


def _make_split(source: str | None, method: str, cutoff: str | None, fraction: float, seed: int, n: int,
                train: Path | None, test: Path | None, read: tuple[str | None, list[str] | None, Path | None, ReadOptions],
                ) -> tuple[Split, dict[str, str]]:
    """The split the options ask for, and the sha256 of the file(s) it came from."""
    if (train is None) != (test is None):
        raise InputError("--train and --test go together")
    if train is not None and test is not None:
        if source is not None:
            raise InputError("give either SOURCE or --train/--test, not both")
        split = explicit_split(_load(str(train), *read), _load(str(test), *read),
                               train_source=str(train), test_source=str(test))
        return split, {"train_file_sha256": file_sha256(train), "test_file_sha256": file_sha256(test)}
    if source is None:
        raise InputError("give a SOURCE, or --train FILE --test FILE")
    if method not in SPLITS:
        raise InputError(f"unknown --split {method!r}; choose one of {', '.join(SPLITS)}")
    events = _load(source, *read)
    if method == "random":
        split = random_split(events, fraction, seed)
    elif method == "last-n":
        split = last_n_split(events, n)
    else:
        split = temporal_split(events, cutoff or default_cutoff(events))
    path = Path(source)
    return split, ({"source_file_sha256": file_sha256(path)} if path.is_file() else {})


def _load(source: str, format: str | None, pairs: list[str] | None, map_file: Path | None,
          options: ReadOptions) -> pd.DataFrame:
    """Canonical events through the shared ingestion (rejected rows are announced, not evaluated)."""
    return load_source(source, format, pairs, map_file, options=options).events


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                    transient=True)


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` command to ``app``."""
    app.command("evaluate")(evaluate)
