"""``segrec run``: the whole pipeline in one command, raw table -> report.

Stages, each writing into ``--out``: validate (events, rejects, validation report) -> segment (segments,
profiles, plots, model) -> evaluate (held-out metrics of the hybrid and every baseline, both modes) -> train
(the hybrid on all events, recommendations for everyone, the bundle the API serves) -> report (report.html).
Each stage only reads what the stages before it produced, so data flows one way.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .._atomic import atomic_path
from ..data.read import ReadOptions
from ..engines.local.segment import run_segmentation
from ..engines.local.train import segment_labels, train_recommender
from ..evaluation.runner import evaluate_modes
from ..evaluation.splits import Split, default_cutoff, temporal_split
from ..exceptions import InputError, TooFewCustomersError
from ..modes import BUY_AGAIN, DISCOVER, MODES, mode_key
from ..pipeline.clock import StageClock
from ..report.build import build_report
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
    print_outputs,
    print_stages,
    with_read_options,
    write_json,
    write_run_options,
)
from ._engine import EngineOpt, SparkConfOpt, SparkMasterOpt
from ._errors import user_errors

console = Console()

STAGES = ("validate", "segment", "evaluate", "train", "report")


def _validate_stage(source: str, out: Path, format: str | None, pairs: list[str] | None,
                    map_file: Path | None, options: ReadOptions) -> pd.DataFrame:
    result = load_source(source, format, pairs, map_file, announce=False, options=options)
    with atomic_path(out / RunFiles.Events) as tmp:
        result.events.to_parquet(tmp, index=False)
    if len(result.rejects):
        with atomic_path(out / RunFiles.Rejects) as tmp:
            result.rejects.to_csv(tmp, index=False)
    write_json(out / RunFiles.Validation, result.report.to_dict())
    if result.events.empty:
        hints = "".join(f"; {hint}" for hint in result.report.suggestions)
        raise InputError(f"no valid rows in {source}: see {out / RunFiles.Rejects}{hints}")
    for line in (*result.report.notes, *result.report.suggestions):
        console.print(f"[yellow]note:[/] {escape(line)}", highlight=False)
    return result.events


def _split(events: pd.DataFrame, cutoff: str | None) -> Split:
    return temporal_split(events, cutoff if cutoff is not None else default_cutoff(events))


def _evaluation_stage(events: pd.DataFrame, out: Path, segments: pd.Series, k: int,
                      cutoff: str | None, on_model: Any) -> dict[str, Any]:
    """Held-out figures for both modes; ``evaluation.json`` holds the discover mode (the default), with the
    buy-again results beside it under ``"buy_again"``."""
    split = _split(events, cutoff)
    results = evaluate_modes(split.train, split.test, None, k, MODES, segments,
                             split_description=split.description, callback=on_model)
    payload = results[DISCOVER].to_dict()
    payload[mode_key(BUY_AGAIN)] = results[BUY_AGAIN].to_dict()
    write_json(out / RunFiles.Evaluation, payload)
    return payload


def _record_stages(out: Path, clock: StageClock, skipped: dict[str, str]) -> None:
    """Add the stages' seconds and peak memory (and the skipped stages, if any) to ``run.json``."""
    record = {**json.loads((out / RunFiles.Options).read_text()), "stages": clock.stages}
    if skipped:
        record["skipped"] = skipped
    write_json(out / RunFiles.Options, record)


def _summary(evaluation: dict[str, Any] | None, k: int) -> dict[str, Any] | None:
    """The few figures a bundle manifest carries: the served model's held-out metrics and popularity's."""
    if not evaluation:
        return None
    keep = {f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"map@{k}", "auc", "coverage"}
    models = {m["name"]: {n: v for n, v in m["metrics"].items() if n in keep} for m in evaluation["models"]}
    return {"split": evaluation["split"], "k": k, "mode": evaluation["mode"],
            "models": {n: models[n] for n in ("hybrid", "popularity") if n in models}}


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
        if engine != "local":
            local_engine_only(options)
            from . import _engine

            chosen_engine = _engine.engine_from_options(engine, spark_master, spark_conf)
            _engine.run(chosen_engine, source, out, segments_k=segments_k, k=k, seed=seed,
                        format=format, map=map, map_file=map_file, cutoff=cutoff, skip_evaluation=skip_evaluation)
            return
        out.mkdir(parents=True, exist_ok=True)
        write_run_options(out, segments_k=segments_k, k=k, seed=seed, cutoff=cutoff, skip_evaluation=skip_evaluation,
                          validation=validation,
                          **{name: value for name, value in dataclasses.asdict(options).items()
                             if value != getattr(READ_DEFAULTS, name)})
        began = time.perf_counter()
        clock = StageClock()  # each stage's seconds and peak memory, for run.json, the summary and the report
        skipped: dict[str, str] = {}  # stage -> why, when the data are too small for it
        columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TextColumn(
            "{task.completed}/{task.total}"), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("validate", total=len(STAGES))

            def stage(name: str, detail: str = "") -> None:
                bar.update(task, description=f"{name}{': ' + detail if detail else ''}")

            with clock.stage("validate"):
                events = _validate_stage(source, out, format, map, map_file, options)
            bar.advance(task)
            stage("segment")
            seg = labels = None
            with clock.stage("segment"):
                try:
                    seg = run_segmentation(events, out, k=segments_k, seed=seed)
                    labels = segment_labels(seg.segments)
                except TooFewCustomersError as exc:
                    skipped["segment"] = str(exc)
            bar.advance(task)
            evaluation = None
            if not skip_evaluation:
                stage("evaluate")
                with clock.stage("evaluate"):
                    try:
                        evaluation = _evaluation_stage(events, out, labels, k, cutoff,
                                                       lambda step, name: stage("evaluate", f"{step} {name}"))
                    except InputError as exc:  # the default cut-off leaves nothing to train or test on
                        if cutoff is not None:  # the user's own --cutoff stays an error
                            raise
                        skipped["evaluate"] = ("the held-out evaluation needs purchases before and after a "
                                               f"cut-off: {exc}")
            bar.advance(task)
            stage("train")
            with clock.stage("train"):
                model = train_recommender(events, out, segments=seg.segments if seg else None, seed=seed, k=k,
                                  validation=validation or "auto",
                                  bundle_dir=RunFiles.Bundle, segmenter=seg.model if seg else None,
                                  profiles=seg.profiles if seg else None, evaluation=_summary(evaluation, k),
                                  epoch_callback=lambda epoch, score: stage("train", f"epoch {epoch}"))
            bar.advance(task)
            _record_stages(out, clock, skipped)  # before the report, which shows them
            stage("report")
            with clock.stage("report"):
                report = build_report(out)
            _record_stages(out, clock, skipped)
            bar.advance(task)
        console.print(f"[green]done[/] in {time.perf_counter() - began:.0f} s: {len(events):,} events, "
                      + (f"{len(seg.profiles)} segments" if seg else "no segments"))
        print_model_tuning(console, model.tuning_)
        print_stages(console, clock.stages)
        for name, why in skipped.items():
            console.print(f"[yellow]skipped {name}:[/] {escape(why)}", highlight=False)
        print_outputs(console, out, (("segments", RunFiles.SegmentsCsv), ("evaluation", RunFiles.Evaluation),
                                     ("recommendations", RunFiles.Recommendations), ("model bundle", RunFiles.Bundle)), report)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
