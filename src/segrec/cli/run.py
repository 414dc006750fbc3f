"""``segrec run``: the whole pipeline in one command, raw table -> report (:func:`segrec.pipeline.run`, the same
function for every engine), with a progress bar and a printed summary.

Stages, each writing into ``--out``: validate (events, rejects, validation report) -> segment (segments,
profiles, plots, model) -> evaluate (held-out metrics of the served model and every baseline) -> train (the
served model on all events, recommendations for everyone, the bundle the API serves) -> report (report.html).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..data.read import ReadOptions
from ..pipeline.runner import STAGES
from ..pipeline.runner import run as run_pipeline
from ..run_dir import RunFiles
from ._common import (
    READ_DEFAULTS,
    FormatOpt,
    MapFileOpt,
    MapOpt,
    SourceArg,
    ValidationOpt,
    mapping_from_options,
    print_model_tuning,
    print_outputs,
    print_stages,
    with_read_options,
)
from ._engine import EngineOpt, SparkConfOpt, SparkMasterOpt
from ._errors import user_errors

console = Console()


@with_read_options
def run(
    source: SourceArg,
    out: Annotated[Path, typer.Option("--out", help="Directory for every output of the pipeline.")],
    format: FormatOpt = None,
    map: MapOpt = None,
    map_file: MapFileOpt = None,
    segments_k: Annotated[int | None, typer.Option("--segments-k", help="Number of segments; default: chosen "
                                                   "by the k sweep.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="Recommendations per customer.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of every random step.")] = 42,
    cutoff: Annotated[str | None, typer.Option(help="Evaluation cut-off date; default: 2 months before the "
                                               "last purchase.")] = None,
    skip_evaluation: Annotated[bool, typer.Option("--skip-evaluation", help="Do not evaluate against the "
                                                  "baselines (faster).")] = False,
    validation: ValidationOpt = None,
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = "local[*]",
    spark_conf: SparkConfOpt = None,
    *,
    options: ReadOptions = READ_DEFAULTS,
) -> None:
    """Validate, segment, evaluate, train and report: the whole pipeline on one purchase table."""
    with user_errors():
        columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TextColumn(
            "{task.completed}/{task.total}"), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(STAGES[0], total=len(STAGES))

            def on_stage(name: str, detail: str) -> None:  # the stages before `name` are done
                bar.update(task, completed=STAGES.index(name), description=f"{name}{': ' + detail if detail else ''}")

            def on_note(text: str) -> None:
                console.print(f"[yellow]note:[/] {escape(text)}", highlight=False)

            result = run_pipeline(source, out, engine=engine, format=format, mapping=mapping_from_options(map, map_file),
                                  options=options, segments_k=segments_k, k=k, seed=seed, cutoff=cutoff,
                                  skip_evaluation=skip_evaluation, validation=validation, spark_master=spark_master,
                                  spark_conf=spark_conf, on_stage=on_stage, on_note=on_note)
            bar.update(task, completed=len(STAGES))
        n_events = (result.validation or {}).get("rows_accepted")
        segments = len(result.segmentation.profiles) if result.segmentation is not None else 0
        console.print(f"[green]done[/] in {result.seconds:.0f} s ({result.engine} engine): "
                      + (f"{n_events:,} events, " if n_events is not None else "")
                      + (f"{segments} segments" if segments else "no segments"))
        tuning = getattr(result.trained.recommender, "tuning_", None)  # the hybrid says what it tuned
        if tuning:
            print_model_tuning(console, tuning)
        print_stages(console, result.stages)
        for name, why in result.skipped.items():
            console.print(f"[yellow]skipped {name}:[/] {escape(why)}", highlight=False)
        print_outputs(console, out, (("segments", RunFiles.SegmentsCsv), ("evaluation", RunFiles.Evaluation),
                                     ("recommendations", RunFiles.Recommendations), ("model bundle", RunFiles.Bundle)),
                      result.report)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
