"""What ``--engine spark`` runs for ``segrec segment``, ``train``, ``evaluate`` and ``run``.

Outputs mirror the local engine's where they can: ``segments.parquet`` (a Parquet directory: user_id, segment,
segment_name, rfm_score, rfm_group and the features; :mod:`.rfm`) and ``segments.csv``, ``segmentation.json``,
``segmenter/``, the four segmentation PNGs (:mod:`.figures`); ``model/`` (a standard bundle holding the Spark
ALS factors) and ``recommendations.parquet`` (the hybrid re-rank, a Parquet directory). :meth:`SparkEngine.read`
also returns the ingestion report. Not produced by the Spark engine: the stability check and the evaluation
against the baselines (``segrec run --engine spark`` then builds ``report.html``, which says so).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..._atomic import atomic_path, atomic_write_text
from ..._json import to_jsonable
from ...columns import Columns
from ...exceptions import InputError
from . import features as sfeatures
from . import segmentation as sseg
from .io import from_pandas, read_events, read_report, spark_format
from .recommend import ALSParams, fit_als, index_events, item_neighbours, recommend, top_k_matrix
from .session import spark_session

C = Columns
__all__ = ["SparkEngine"]


@dataclass
class SparkEngine:
    """Spark-backed twin of the local pipeline; the session starts on first use."""

    master: str = "local[*]"
    conf: dict[str, str] = field(default_factory=dict)
    name: str = "spark"
    _spark: Any = None

    @property
    def spark(self) -> Any:
        if self._spark is None:
            self._spark = spark_session(self.master, self.conf)
        return self._spark

    def stop(self) -> None:
        if self._spark is not None:
            self._spark.stop()
            self._spark = None

    # --- input ---
    def load(self, source: str | pd.DataFrame, format: str | None = None,
             mapping: Mapping[str, str] | None = None) -> Any:
        """Canonical events as a Spark DataFrame: CSV/Parquet read by Spark, anything else ingested locally."""
        return self.read(source, format, mapping, report=False)[0]

    def read(self, source: str | pd.DataFrame, format: str | None = None, mapping: Mapping[str, str] | None = None,
             *, report: bool = True) -> tuple[Any, dict[str, Any] | None]:
        """:meth:`load`, and the ingestion report (``validation.json``): Spark's counts for CSV/Parquet (one
        extra pass, :func:`~segrec.engines.spark.io.read_report`), the local reader's for other sources, None for
        a pandas frame or when ``report`` is False."""
        if isinstance(source, pd.DataFrame):
            return from_pandas(self.spark, source), None
        if spark_format(source, format) is not None:
            events = read_events(self.spark, source, format, mapping)[0]
            return events, read_report(self.spark, source, format, mapping) if report else None
        from ...io import ingest

        result = ingest(source, mapping, format)
        return from_pandas(self.spark, result.events), result.report.to_dict() if report else None

    # --- stages ---
    def features(self, events: Any, **options: Any) -> sfeatures.SparkCustomerFeatures:
        return sfeatures.customer_features(events, **options)

    def segment(self, events: Any, out_dir: str | Path | None = None, *, k: int | None = None, seed: int = 42,
                features: Sequence[str] | None = None, ks: Sequence[int] = range(2, 11),
                analysis_date: object = None) -> dict[str, Any]:
        """Features -> k sweep -> final K-Means -> profiles; write outputs when ``out_dir`` is given."""
        built = self.features(events, analysis_date=analysis_date)
        frame = built.frame.cache()
        n = frame.count()
        if k is not None and not 1 <= k <= n:
            raise InputError(f"--k {k} is not between 1 and the number of customers ({n})")
        pre = sseg.preprocess(frame, features)
        pre_frame = pre.frame.cache()
        pre = sseg.Preprocessed(pre_frame, pre.features, pre.arrays)
        sweep, spark_sil = sseg.sweep_k(pre, [c for c in ks if c < n], random_state=seed)
        chosen = sweep.chosen if k is None else k
        segments, model = sseg.fit_segments(pre, chosen, random_state=seed, features=features)
        segments = segments.cache()
        profiles = sseg.segment_profiles(frame, segments, events)
        why = sweep.why if k is None else f"k={k} set by the caller (--k); the rule alone says: {sweep.why}"
        report = {"engine": "spark", "master": self.master, "n_customers": n,
                  "analysis_date": built.analysis_date.isoformat(), "chosen_k": chosen, "why": why,
                  "k_sweep": sweep.to_dict(), "spark_silhouette_squared_euclidean": spark_sil,
                  "features_used": model.features_, "features_dropped": built.dropped,
                  "imputed_with_median": built.imputed, "profiles": profiles.reset_index().to_dict("records"),
                  "not_computed": ["stability"]}
        result = {"segments": segments, "features": frame, "profiles": profiles, "sweep": sweep, "model": model,
                  "report": to_jsonable(report)}
        if out_dir is not None:
            self._write_segmentation(result, Path(out_dir), seed=seed)
        return result

    def _write_segmentation(self, result: dict[str, Any], out: Path, *, seed: int = 42) -> None:
        from pyspark.sql import functions as F

        from .figures import write_figures
        from .rfm import rfm_columns

        out.mkdir(parents=True, exist_ok=True)
        names = result["profiles"][C.SegmentName]
        name_of = F.element_at(F.array(*[F.lit(str(names.get(i, ""))) for i in range(int(names.index.max()) + 1)]),
                               F.col(C.Segment) + 1)
        table = (result["segments"].withColumn(C.SegmentName, name_of).join(rfm_columns(result["features"]), C.User)
                 .join(result["features"], C.User).orderBy(C.User))
        table.write.mode("overwrite").parquet(str(out / "segments.parquet"))
        _write_csv(table, out / "segments.csv")
        atomic_write_text(out / "segmentation.json", json.dumps(result["report"], indent=2, ensure_ascii=False))
        result["model"].save(out / "segmenter")
        write_figures(out, features=result["features"], segments=result["segments"], model=result["model"],
                      sweep=result["sweep"], profiles=result["profiles"], n=result["report"]["n_customers"],
                      seed=seed)

    def train(self, events: Any, out_dir: str | Path, *, segments: pd.DataFrame | None = None, seed: int = 42,
              k: int = 10, params: ALSParams | None = None, bundle_dir: str = "model", segmenter: Any = None,
              profiles: pd.DataFrame | None = None, evaluation: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Spark ALS (+ content re-rank for the batch file); write the bundle and recommendations.parquet."""
        from .export import export_bundle
        from .recommend import write_recommendations

        params = params or ALSParams(random_state=seed, content_weight=0.2)
        out = Path(out_dir)
        began = time.perf_counter()
        indexed = index_events(self.spark, events)
        model = fit_als(indexed, params)
        fit_seconds = time.perf_counter() - began
        neighbours = item_neighbours(events, indexed, params) if params.content_weight > 0 else None
        recs = recommend(model, indexed, k, params, neighbours=neighbours)
        path, rec = export_bundle(out / bundle_dir, model, indexed, events, params=params, segments=segments,
                                  segmenter=segmenter, profiles=profiles, evaluation=evaluation,
                                  extra={"seed": seed, "k": k, "fit_seconds": round(fit_seconds, 2)})
        # product names as the bundle's catalogue has them (most frequent name), so the file and the API agree
        write_recommendations(recs, indexed, str(out / "recommendations.parquet"),
                              rec.dataset_.catalogue[[C.Item, C.ItemName]])
        return {"bundle": path, "recommender": rec, "fit_seconds": fit_seconds}

    def evaluate(self, train: pd.DataFrame, test: pd.DataFrame, k: int = 10, *,
                 params: Sequence[tuple[str, ALSParams]] | None = None) -> dict[str, dict[str, float | None]]:
        """Discover-mode top-k metrics of Spark models on a local split, judged exactly as the local runner
        judges (same Dataset indices, same test items, :mod:`segrec.evaluation.metrics`)."""
        from ...evaluation.metrics import topk_metrics
        from ...evaluation.runner import _mean, _truth
        from ...recommend.data import Dataset

        dataset = Dataset.from_events(train)
        truth = _truth(dataset, test, "discover")
        events = from_pandas(self.spark, train).cache()
        indexed = index_events(self.spark, events)
        assert list(indexed.users.external_ids) == list(dataset.users.external_ids)
        users = self.spark.createDataFrame(pd.DataFrame({"uidx": truth.users.astype(np.int32)}))
        results: dict[str, dict[str, float | None]] = {}
        for name, p in params or [("spark_als", ALSParams()), ("spark_hybrid", ALSParams(content_weight=0.2))]:
            began = time.perf_counter()
            model = fit_als(indexed, p)
            neighbours = item_neighbours(events, indexed, p) if p.content_weight > 0 else None
            top = top_k_matrix(recommend(model, indexed, k, p, users=users, neighbours=neighbours), truth.users, k)
            metrics: dict[str, float | None] = {m: _mean(v) for m, v in topk_metrics(top, truth.relevant).items()}
            metrics["seconds"] = time.perf_counter() - began
            results[name] = metrics
        return results


def _write_csv(table: Any, path: Path) -> None:
    """``table`` as one CSV file with a header (a single writer: meant for the customers table)."""
    with atomic_path(path) as tmp:
        parts = Path(f"{tmp}.parts")
        try:
            table.coalesce(1).write.mode("overwrite").option("header", True).csv(str(parts))
            next(parts.glob("part-*.csv")).replace(tmp)
        finally:
            shutil.rmtree(parts, ignore_errors=True)
