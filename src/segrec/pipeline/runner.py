"""``segrec run`` as a Python function: raw table -> report, the same stages whichever engine does the work.

Stages, each writing into ``out`` (names in :class:`~segrec.run_dir.RunFiles`): validate (events, rejects,
validation report) -> segment (segments, profiles, plots, model) -> evaluate (held-out metrics of the served
model and the baselines) -> train (the served model on all events, recommendations for everyone, the bundle the
API serves) -> report (``report.html``). Each stage only reads what the stages before it produced.

>>> import segrec
>>> result = segrec.run("shop.parquet", out="out/demo")  # doctest: +SKIP
>>> result.report  # doctest: +SKIP
PosixPath('out/demo/report.html')

The CLI (``segrec run``) is this function plus a progress bar and a printed summary, so both write the same
files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text
from ..data.read import ReadOptions
from ..exceptions import InputError, TooFewCustomersError
from ..report.build import build_report
from ..run_dir import RunFiles
from .clock import StageClock
from .engine import Engine

__all__ = ["STAGES", "RunResult", "evaluate", "evaluation_summary", "read", "resolve_engine", "run", "segment", "train",
           "with_stored_purchases", "write_json"]

STAGES = ("validate", "segment", "evaluate", "train", "report")
READ_DEFAULTS = ReadOptions()
#: ``on_stage(stage, detail)``: a stage starts (detail "") or says what it is doing (e.g. "epoch 3").
StageCallback = Callable[[str, str], None]


def _quiet(stage: str, detail: str = "") -> None:
    """The default stage callback: say nothing."""


@dataclass(frozen=True)
class RunResult:
    """What :func:`run` did: where its files are, what each stage returned, what it skipped and why."""

    out: Path
    report: Path
    engine: str
    events: Any
    validation: dict[str, Any] | None
    segmentation: Any
    evaluation: dict[str, Any] | None
    trained: Any
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def resolve_engine(engine: str | Engine = "local", *, spark_master: str = "local[*]",
                   spark_conf: Mapping[str, str] | Sequence[str] | None = None) -> Engine:
    """An engine object from its name (``spark_master``/``spark_conf`` configure Spark), or ``engine`` itself."""
    if not isinstance(engine, str):
        return engine
    from ..engines import get_engine

    return get_engine(engine, master=spark_master, conf=spark_conf)


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """``payload`` as indented JSON, written atomically (NaN refused, other values as text)."""
    atomic_write_text(path, json.dumps(payload, indent=2, allow_nan=False, default=str) + "\n")


# --------------------------------------------------------------------------------------------------- the stages
def read(engine: Engine, source: Any, out: Path | None = None, *, format: str | None = None,
         mapping: Mapping[str, str] | None = None, options: ReadOptions | None = None,
         ) -> tuple[Any, dict[str, Any] | None]:
    """Ingest ``source``; with ``out``, the validate stage's files: the rejected rows, the accepted events (when
    the engine keeps a copy) and ``validation.json``."""
    events, report = engine.read(source, format, mapping, options=options,
                                 rejects=None if out is None else out / engine.rejects_name)
    if out is not None:
        engine.keep_events(events, out)
        if report is not None:
            write_json(out / RunFiles.Validation, report)
    return events, report


def with_stored_purchases(events: Any, location: str | os.PathLike[str]) -> tuple[Any, dict[str, Any], str]:
    """``events`` plus the purchases the API stored in the event store at ``location`` (a DuckDB file or a
    PostgreSQL URL); the store's mark for the bundle's manifest (the API folds in only what came after it); and
    a line saying what was added. Local engine only: the store is read into pandas."""
    import pandas as pd

    from ..events.training import stored_purchases

    if not isinstance(events, pd.DataFrame):
        raise InputError("--events trains with the local engine only; drop --engine or --events")
    stored = stored_purchases(location, catalogue_from=events)
    said = (f"event store {location}: {len(stored.events):,} purchases of {stored.stored:,} events "
            f"(through seq {stored.through_seq:,})")
    events = pd.concat([events, stored.events], ignore_index=True) if len(stored.events) else events
    return events, {"events": stored.manifest(str(location))}, said


def segment(engine: Engine, events: Any, out: Path | None, *, k: int | None = None, seed: int = 42,
            features: Sequence[str] | None = None, progress: bool = False) -> Any:
    """Segment the customers of ``events``; with ``out``, write the segmentation files there."""
    return engine.segment(events, out, k=k, seed=seed, features=features, progress=progress)


def evaluate(engine: Engine, events: Any, out: Path | None, *, k: int = 10, cutoff: str | None = None,
             seed: int = 42, segmentation: Any = None, on_model: Callable[[str, str], None] | None = None,
             ) -> dict[str, Any]:
    """Held-out figures on the temporal split (``cutoff``, default two months before the last purchase); with
    ``out``, written to ``evaluation.json``."""
    payload = engine.evaluate(events, k, cutoff=cutoff, seed=seed, segmentation=segmentation, on_model=on_model)
    if out is not None:
        write_json(out / RunFiles.Evaluation, payload)
    return payload


def train(engine: Engine, events: Any, out: Path, *, segmentation: Any = None, seed: int = 42, k: int = 10,
          bundle_dir: str = RunFiles.Model, evaluation: Mapping[str, Any] | None = None, validation: str = "auto",
          on_epoch: Callable[[int, float | None], None] | None = None,
          on_write: Callable[[int, int], None] | None = None, manifest: Mapping[str, Any] | None = None,
          segments: Any = None) -> Any:
    """Fit the served recommender on ``events``; write the bundle (``out/bundle_dir``) and
    ``recommendations.parquet``. ``evaluation`` (the held-out summary) and ``manifest`` go into the bundle's
    manifest; ``segmentation`` (the same engine's) or ``segments`` (a user_id, segment table) label customers."""
    extra: dict[str, Any] = {} if segments is None else {"segments": segments}
    return engine.train(events, out, segmentation=segmentation, seed=seed, k=k, bundle_dir=bundle_dir,
                        evaluation=evaluation, validation=validation, on_epoch=on_epoch, on_write=on_write,
                        manifest=manifest, **extra)


def evaluation_summary(evaluation: Mapping[str, Any] | None, k: int) -> dict[str, Any] | None:
    """The few figures a bundle manifest carries: the served model's held-out metrics and popularity's."""
    if not evaluation:
        return None
    keep = {f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"map@{k}", "auc", "coverage"}
    models = {m["name"]: {n: v for n, v in m["metrics"].items() if n in keep} for m in evaluation["models"]}
    served = (evaluation.get("default_model"), "popularity")
    return {"split": evaluation["split"], "k": k, "mode": evaluation["mode"],
            "models": {n: models[n] for n in served if n in models}}


# ----------------------------------------------------------------------------------------------- the pipeline
def run(
    source: Any,
    out: str | os.PathLike[str],
    *,
    engine: str | Engine = "local",
    format: str | None = None,
    mapping: Mapping[str, str] | None = None,
    options: ReadOptions | None = None,
    segments_k: int | None = None,
    k: int = 10,
    seed: int = 42,
    cutoff: str | None = None,
    skip_evaluation: bool = False,
    validation: str | None = None,
    spark_master: str = "local[*]",
    spark_conf: Mapping[str, str] | Sequence[str] | None = None,
    on_stage: StageCallback | None = None,
    on_note: Callable[[str], None] | None = None,
) -> RunResult:
    """Validate, segment, evaluate, train and report: the whole pipeline on one purchase table.

    ``source`` is a file, a database URL or a pandas frame of events; ``mapping`` maps source column names to
    canonical ones (``{"Customer": "user_id"}``); ``options`` says how the text of a file is written. A stage
    the data are too small for (segmentation under four customers; an evaluation with nothing after the default
    cut-off) is skipped, with the reason in ``run.json`` and the report. ``on_stage(stage, detail)`` follows the
    progress; ``on_note(text)`` hears the ingestion's notes and hints as soon as they are known. Returns a
    :class:`RunResult`.
    """
    out = Path(out)
    stage = on_stage or _quiet
    chosen = resolve_engine(engine, spark_master=spark_master, spark_conf=spark_conf)
    options = options or READ_DEFAULTS
    out.mkdir(parents=True, exist_ok=True)
    _write_options(out, chosen, segments_k=segments_k, k=k, seed=seed, cutoff=cutoff,
                   skip_evaluation=skip_evaluation, validation=validation, options=options)
    began = time.perf_counter()
    clock = StageClock()  # each stage's seconds and peak memory, for run.json, the summary and the report
    skipped: dict[str, str] = {}  # stage -> why, when the data are too small for it
    seg = evaluation = trained = None
    try:
        stage("validate", "")
        with clock.stage("validate"):
            events, report = read(chosen, source, out, format=format, mapping=mapping, options=options)
            if report is not None and report.get("rows_accepted") == 0:
                hints = "".join(f"; {hint}" for hint in report.get("suggestions") or ())
                raise InputError(f"no valid rows in {source}: see {out / chosen.rejects_name}{hints}")
        notes = [*(report or {}).get("notes", ()), *(report or {}).get("suggestions", ())]
        for note in notes if on_note is not None else ():
            on_note(note)
        stage("segment", "")
        with clock.stage("segment"):
            try:
                seg = segment(chosen, events, out, k=segments_k, seed=seed)
            except TooFewCustomersError as exc:
                skipped["segment"] = str(exc)
        if not skip_evaluation:
            stage("evaluate", "")
            with clock.stage("evaluate"):
                try:
                    evaluation = evaluate(chosen, events, out, k=k, cutoff=cutoff, seed=seed, segmentation=seg,
                                          on_model=lambda step, name: stage("evaluate", f"{step} {name}"))
                except InputError as exc:  # the default cut-off leaves nothing to train or test on
                    if cutoff is not None:  # the user's own cut-off stays an error
                        raise
                    skipped["evaluate"] = ("the held-out evaluation needs purchases before and after a "
                                           f"cut-off: {exc}")
        stage("train", "")
        with clock.stage("train"):
            trained = train(chosen, events, out, segmentation=seg, seed=seed, k=k, bundle_dir=RunFiles.Bundle,
                            evaluation=evaluation_summary(evaluation, k), validation=validation or "auto",
                            on_epoch=lambda epoch, score: stage("train", f"epoch {epoch}"))
    finally:
        chosen.release()
    _record_stages(out, clock, skipped)  # before the report, which shows them
    stage("report", "")
    with clock.stage("report"):
        report_path = build_report(out)
    _record_stages(out, clock, skipped)
    return RunResult(out, report_path, chosen.name, events, report, seg, evaluation, trained, clock.stages,
                     skipped, notes, time.perf_counter() - began)


def _write_options(out: Path, engine: Engine, *, options: ReadOptions, **run_options: Any) -> None:
    """``run.json``: the options the report's "reproduce" command repeats (reading options when not default)."""
    recorded = {**run_options, **{name: value for name, value in dataclasses.asdict(options).items()
                                  if value != getattr(READ_DEFAULTS, name)}}
    if engine.name != "local":
        recorded["engine"] = engine.name
    write_json(out / RunFiles.Options, {"options": recorded})


def _record_stages(out: Path, clock: StageClock, skipped: dict[str, str]) -> None:
    """Add the stages' seconds and peak memory (and the skipped stages, if any) to ``run.json``."""
    record = {**json.loads((out / RunFiles.Options).read_text()), "stages": clock.stages}
    if skipped:
        record["skipped"] = skipped
    write_json(out / RunFiles.Options, record)
