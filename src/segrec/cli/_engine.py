"""``--engine``, ``--spark-master`` and ``--spark-conf``: the options every data command shares, and the
Spark side of those commands (the local side stays in each command's module, untouched).

``segrec segment shop.parquet --out seg --engine spark --spark-master local[4] --spark-conf spark.driver.memory=8g``
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..engines import ENGINES, get_engine
from ._bundle import RUN_BUNDLE_DIR

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
    events = engine.load(source, format, _mapping(map, map_file)).cache()
    result = engine.train(events, out, segments=segments, seed=seed, k=k)
    ds = result["recommender"].dataset_
    console.print(f"fitted Spark ALS on {ds.n_users:,} customers x {ds.n_items:,} products in "
                  f"{result['fit_seconds']:.1f} s")
    console.print(f"wrote {escape(str(out / 'model'))}/ and {escape(str(out / 'recommendations.parquet'))}")
    return result


def evaluate(engine: Any, train: Any, test: Any, k: int) -> dict[str, Any]:
    from rich.table import Table

    results = engine.evaluate(train, test, k)
    names = [n for n in next(iter(results.values())) if n != "seconds"]
    table = Table(title=f"Spark engine, discover mode, k={k}", title_justify="left")
    for column in ("model", *names, "seconds"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, metrics in results.items():
        table.add_row(name, *[f"{metrics[n]:.4f}" if metrics[n] is not None else "-" for n in names],
                      f"{metrics['seconds']:.1f}")
    Console().print(table)
    return results


def run(engine: Any, source: str, out: Path, *, segments_k: int | None, k: int, seed: int, format: str | None,
        map: list[str] | None, map_file: Path | None) -> Path:
    """Read, segment and train on Spark, then build ``report.html`` (no evaluation: the report says so).

    Writes ``run.json`` (the options, for the report's rerun command), ``validation.json`` (the ingestion counts),
    the segmentation outputs, the bundle in ``out/bundle`` and ``recommendations.parquet``; returns the report.
    """
    from ..report import build_report
    from ._common import print_outputs, write_json, write_run_options

    out.mkdir(parents=True, exist_ok=True)
    write_run_options(out, segments_k=segments_k, k=k, seed=seed, engine=engine.name)
    events, validation = engine.read(source, format, _mapping(map, map_file))
    if validation is not None:
        write_json(out / "validation.json", validation)
    events = events.cache()
    seg = engine.segment(events, out, k=segments_k, seed=seed)
    labels = seg["segments"].select("user_id", "segment").toPandas()
    names = seg["profiles"]["segment_name"]
    labels["segment_name"] = names.reindex(labels["segment"]).to_numpy()
    engine.train(events, out, segments=labels, seed=seed, k=k, bundle_dir=RUN_BUNDLE_DIR, segmenter=seg["model"],
                 profiles=seg["profiles"])
    report = build_report(out)
    console.print(f"[green]done[/] (spark engine): {len(seg['profiles'])} segments; not evaluated against the "
                  "baselines (a local stage: `segrec evaluate`)")
    print_outputs(console, out, (("segments", "segments.csv"), ("recommendations", "recommendations.parquet"),
                                 ("model bundle", RUN_BUNDLE_DIR)), report)
    return report
