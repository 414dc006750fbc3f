"""``--engine``, ``--spark-master`` and ``--spark-conf``: the options every data command shares, and the
Spark side of those commands (the local side stays in each command's module, untouched).

``segrec segment shop.parquet --out seg --engine spark --spark-master local[4] --spark-conf spark.driver.memory=8g``
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape

from ..engines import ENGINES, get_engine
from ..run_dir import RunFiles

console = Console(stderr=True)

EngineOpt = Annotated[str, typer.Option("--engine", help=f"Where the work runs: {' | '.join(ENGINES)} "
                                        "(spark needs `pip install segrec\\[spark]` and Java 17).")]  # "\\[": a literal [ in rich markup
SparkMasterOpt = Annotated[str, typer.Option("--spark-master", help="Spark master URL: local[*], "
                                             "spark://host:7077, yarn, k8s://...")]
SparkConfOpt = Annotated[list[str] | None, typer.Option("--spark-conf", help="Spark property KEY=VALUE, e.g. "
                                                        "spark.executor.memory=8g (repeatable).")]


def engine_from_options(name: str, master: str, conf: list[str] | None) -> Any:
    """The engine ``--engine`` names; Spark's as ``--spark-master``/``--spark-conf`` say (a SegrecError names
    the fix when pyspark is missing)."""
    if name != "spark":
        return get_engine(name)
    from ..engines.spark.session import parse_conf

    return get_engine("spark", master=master, conf=parse_conf(conf))


def _mapping(map: list[str] | None, map_file: Path | None) -> dict[str, str] | None:
    from ._common import mapping_from_options

    return mapping_from_options(map, map_file) or None


def segment(engine: Any, source: str, out: Path, *, k: int | None, seed: int, features: list[str] | None,
            format: str | None, map: list[str] | None, map_file: Path | None) -> dict[str, Any]:
    events = engine.load(source, format, _mapping(map, map_file))
    result = engine.segment(events, out, k=k, seed=seed, features=features)
    console.print(f"[bold]why k={result['report']['chosen_k']}:[/] {escape(str(result['report']['why']))}")
    for segment_id, row in result["profiles"].iterrows():
        console.print(f"  {segment_id}  {escape(str(row['segment_name']))}: {row['share']:.1%} of customers, "
                      f"{row['revenue_share']:.1%} of revenue")
    console.print(f"wrote {escape(str(out))}/ (segments.parquet, segmentation.json, segmenter/) [spark engine]")
    return result


def train(engine: Any, source: str, out: Path, *, segments: Any, seed: int, k: int, format: str | None,
          map: list[str] | None, map_file: Path | None) -> dict[str, Any]:
    events = engine.load(source, format, _mapping(map, map_file))  # cached: the source is read once
    result = engine.train(events, out, segments=segments, seed=seed, k=k)
    ds = result["recommender"].dataset_
    console.print(f"fitted Spark ALS on {ds.n_users:,} customers x {ds.n_items:,} products in "
                  f"{result['fit_seconds']:.1f} s")
    console.print(f"wrote {escape(str(out / RunFiles.Model))}/, {escape(str(out / RunFiles.Recommendations))} and the id "
                  f"maps in {escape(str(out / RunFiles.IdMaps))}/")
    return result


def evaluate(engine: Any, train: Any, test: Any, k: int, description: dict[str, Any] | None = None) -> dict[str, Any]:
    from rich.table import Table

    result = engine.evaluate_split(train, test, k, description)
    names = [n for n in result["models"][0]["metrics"]]
    table = Table(title=f"Spark engine, discover mode, k={k}", title_justify="left")
    for column in ("model", *names, "fit s"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for model in result["models"]:
        metrics = model["metrics"]
        table.add_row(model["name"], *[f"{metrics[n]:.4f}" if metrics.get(n) is not None else "-" for n in names],
                      f"{model['fit_seconds']:.1f}")
    Console().print(table)
    return result


def run(engine: Any, source: str, out: Path, *, segments_k: int | None, k: int, seed: int, format: str | None,
        map: list[str] | None, map_file: Path | None, cutoff: str | None = None,
        skip_evaluation: bool = False) -> Path:
    """Read (once), segment, evaluate and train on Spark, then build ``report.html``.

    Writes ``run.json`` (the options, for the report's rerun command), ``validation.json`` (the ingestion counts)
    and ``rejects/`` (the rejected rows, Parquet), the segmentation outputs, ``evaluation.json`` (Spark ALS and
    Spark popularity on the temporal split), the bundle in ``out/bundle`` with the id maps beside it, and
    ``recommendations.parquet`` (the bundle's own answers); returns the report.
    """
    from ..report.build import build_report
    from ._common import print_outputs, write_json, write_run_options

    out.mkdir(parents=True, exist_ok=True)
    write_run_options(out, segments_k=segments_k, k=k, seed=seed, cutoff=cutoff, skip_evaluation=skip_evaluation,
                      engine=engine.name)
    try:
        events, validation = engine.read(source, format, _mapping(map, map_file), rejects=out / RunFiles.RejectsDir)
        if validation is not None:
            write_json(out / RunFiles.Validation, validation)
        seg = engine.segment(events, out, k=segments_k, seed=seed)
        evaluation = None
        if not skip_evaluation:
            evaluation = engine.evaluate(events, k, cutoff=cutoff, seed=seed)
            write_json(out / RunFiles.Evaluation, evaluation)
        labels = pd.read_parquet(out / RunFiles.Segments, columns=["user_id", "segment", "segment_name"])
        engine.train(events, out, segments=labels, seed=seed, k=k, bundle_dir=RunFiles.Bundle, segmenter=seg["model"],
                     profiles=seg["profiles"], evaluation=_summary(evaluation, k))
    finally:
        engine.release()
    report = build_report(out)
    console.print(f"[green]done[/] (spark engine): {len(seg['profiles'])} segments"
                  + ("" if evaluation is None else "; evaluated against popularity on the temporal split"))
    print_outputs(console, out, (("segments", RunFiles.SegmentsCsv), ("evaluation", RunFiles.Evaluation),
                                 ("recommendations", RunFiles.Recommendations), ("model bundle", RunFiles.Bundle)), report)
    return report


def _summary(evaluation: dict[str, Any] | None, k: int) -> dict[str, Any] | None:
    """The served model's and popularity's held-out figures, for the bundle's manifest (as the local run)."""
    if not evaluation:
        return None
    keep = {f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"map@{k}", "auc", "coverage"}
    return {"split": evaluation["split"], "k": k, "mode": evaluation["mode"],
            "models": {m["name"]: {n: v for n, v in m["metrics"].items() if n in keep} for m in evaluation["models"]}}
