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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from sklearn.utils import Bunch

from ..._atomic import atomic_path, atomic_write_text
from ..._json import to_jsonable
from ...columns import Columns
from ...data.read import ReadOptions
from ...evaluation.runner import EvaluationResult
from ...exceptions import InputError
from ...modes import DISCOVER
from ...run_dir import RunFiles
from . import features as sfeatures
from . import segmentation as sseg
from .io import accepted, from_pandas, ingest_report, read_checked, spark_format, write_rejects
from .recommend import ALSParams, fit_als, index_events, user_rows, write_recommendations
from .session import persistent_rdds, release_rdds, spark_session

C = Columns
__all__ = ["SparkEngine"]


@dataclass
class SparkEngine:
    """Spark-backed twin of the local pipeline; the session starts on first use."""

    master: str = "local[*]"
    conf: dict[str, str] = field(default_factory=dict)
    name: str = "spark"
    #: ``segrec run`` keeps the rejected rows as a Parquet directory (they may be cluster-sized).
    rejects_name: ClassVar[str] = RunFiles.RejectsDir
    _spark: Any = None
    _inputs: list[Any] = field(default_factory=list, repr=False)

    @property
    def spark(self) -> Any:
        if self._spark is None:
            self._spark = spark_session(self.master, self.conf)
        return self._spark

    def stop(self) -> None:
        self._inputs.clear()
        if self._spark is not None:
            self._spark.stop()
            self._spark = None

    # --- input ---
    def load(self, source: str | pd.DataFrame, format: str | None = None,
             mapping: Mapping[str, str] | None = None) -> Any:
        """Canonical events as a cached Spark DataFrame: CSV/Parquet read by Spark, anything else ingested
        locally."""
        return self.read(source, format, mapping, report=False)[0]

    def read(self, source: str | pd.DataFrame, format: str | None = None, mapping: Mapping[str, str] | None = None,
             *, report: bool = True, rejects: str | Path | None = None,
             options: ReadOptions | None = None) -> tuple[Any, dict[str, Any] | None]:
        """Canonical events, read once: the checked rows are cached by the first pass (which also makes the
        ingestion report, ``validation.json``, and with ``rejects`` writes the rejected rows there as Parquet);
        every later stage reads the cache. Other sources are ingested by the local reader (its report);
        a pandas frame has no report. :meth:`release` frees the cache. Reading ``options`` other than the
        defaults are refused: Spark reads CSV and Parquet its own way."""
        if options is not None and options != ReadOptions():
            raise InputError("--decimal, --encoding, --date-format, --dayfirst and --sheet are read by the local "
                             "engine only; convert the file first (e.g. `segrec validate` it into Parquet) or drop "
                             "--engine spark")
        if isinstance(source, pd.DataFrame):
            events = self._keep(from_pandas(self.spark, source))
            events.count()
            return events, None
        if spark_format(source, format) is not None:
            began = time.perf_counter()
            checked, info = read_checked(self.spark, source, format, mapping)
            checked = self._keep(checked)
            validation = ingest_report(checked, info, seconds=time.perf_counter() - began) if report else None
            if validation is None:
                checked.count()  # the one pass over the source, filling the cache
            if rejects is not None:
                write_rejects(checked, str(rejects))
            return accepted(checked), validation
        from ...data.read import ingest

        result = ingest(source, mapping, format)
        events = self._keep(from_pandas(self.spark, result.events))
        events.count()
        return events, result.report.to_dict() if report else None

    def keep_events(self, events: Any, out_dir: Path) -> None:
        """No copy: the accepted rows stay in the source (cluster-sized tables are not duplicated)."""

    def _keep(self, frame: Any) -> Any:
        frame = frame.cache()
        self._inputs.append(frame)
        return frame

    def release(self) -> None:
        """Unpersist the events this engine read (and anything else left cached in the session)."""
        for frame in self._inputs:
            frame.unpersist()
        self._inputs.clear()
        release_rdds(self.spark, keep=set())

    # --- stages ---
    def features(self, events: Any, **options: Any) -> sfeatures.SparkCustomerFeatures:
        return sfeatures.customer_features(events, **options)

    def segment(self, events: Any, out_dir: str | Path | None = None, *, k: int | None = None, seed: int = 42,
                features: Sequence[str] | None = None, ks: Sequence[int] = range(2, 11),
                analysis_date: object = None, progress: bool = False) -> Bunch:
        """Features -> k sweep -> final K-Means -> stability -> profiles; with ``out_dir``, write the outputs and
        release every cache the stage made (the returned frames are then recomputed if used again). The result
        is a :class:`~sklearn.utils.Bunch` (keys or attributes: segments, features, profiles, sweep, model,
        stability, report, written_to). ``progress`` is accepted for the engine contract (Spark shows its own)."""
        keep = persistent_rdds(self.spark)
        built = self.features(events, analysis_date=analysis_date)
        frame = built.frame.cache()
        n = frame.count()
        if k is not None and not 1 <= k <= n:
            raise InputError(f"--k {k} is not between 1 and the number of customers ({n})")
        pre = sseg.preprocess(frame, features)
        pre = sseg.Preprocessed(pre.frame.cache(), pre.features, pre.arrays)
        sweep, spark_sil = sseg.sweep_k(pre, [c for c in ks if c < n], random_state=seed)
        chosen = sweep.chosen if k is None else k
        segments, model = sseg.fit_segments(pre, chosen, random_state=seed, features=features)
        segments = segments.cache()
        stab = sseg.stability_on_sample(frame, model, n=n, seed=seed)
        profiles = sseg.segment_profiles(frame, segments, events)
        why = sweep.why if k is None else f"k={k} set by the caller (--k); the rule alone says: {sweep.why}"
        report = {"engine": "spark", "master": self.master, "n_customers": n,
                  "analysis_date": built.analysis_date.isoformat(), "chosen_k": chosen, "why": why,
                  "k_sweep": sweep.to_dict(), "spark_silhouette_squared_euclidean": spark_sil,
                  "stability": stab.to_dict(), "features_used": model.features_, "features_dropped": built.dropped,
                  "imputed_with_median": built.imputed, "profiles": profiles.reset_index().to_dict("records")}
        result = Bunch(segments=segments, features=frame, profiles=profiles, sweep=sweep, model=model,
                       stability=stab, report=to_jsonable(report),
                       written_to=None if out_dir is None else Path(out_dir))
        if out_dir is not None:
            try:
                self._write_segmentation(result, Path(out_dir), seed=seed)
            finally:
                for cached in (segments, pre.frame, frame):
                    cached.unpersist()
                release_rdds(self.spark, keep)  # the features' own cache and K-Means' internals
        return result

    def _write_segmentation(self, result: dict[str, Any], out: Path, *, seed: int = 42) -> None:
        from pyspark.sql import functions as F

        from .figures import write_figures
        from .rfm import rfm_columns

        out.mkdir(parents=True, exist_ok=True)
        names = result["profiles"][C.SegmentName]
        name_of = F.element_at(F.array(*[F.lit(str(names.get(i, ""))) for i in range(int(names.index.max()) + 1)]),
                               F.col(C.Segment) + 1)
        with rfm_columns(result["features"]) as rfm:
            table = (result["segments"].withColumn(C.SegmentName, name_of).join(rfm, C.User)
                     .join(result["features"], C.User).orderBy(C.User)).cache()  # written twice: joined, sorted once
            try:
                table.write.mode("overwrite").parquet(str(out / RunFiles.Segments))
                _write_csv(table, out / RunFiles.SegmentsCsv)
            finally:
                table.unpersist()
        atomic_write_text(out / RunFiles.Segmentation, json.dumps(result["report"], indent=2, ensure_ascii=False))
        result["model"].save(out / RunFiles.Segmenter)
        write_figures(out, features=result["features"], segments=result["segments"], model=result["model"],
                      sweep=result["sweep"], profiles=result["profiles"], n=result["report"]["n_customers"],
                      seed=seed)

    def train(self, events: Any, out_dir: str | Path, *, segments: pd.DataFrame | None = None, seed: int = 42,
              k: int = 10, params: ALSParams | None = None, bundle_dir: str = RunFiles.Model, segmenter: Any = None,
              profiles: pd.DataFrame | None = None, evaluation: Mapping[str, Any] | None = None,
              on_stage: Callable[[str], None] | None = None, segmentation: Bunch | None = None,
              validation: str = "auto", on_epoch: Callable[[int, float | None], None] | None = None,
              on_write: Callable[[int, int], None] | None = None,
              manifest: Mapping[str, Any] | None = None) -> Bunch:
        """Spark ALS; write the id maps, the bundle and ``recommendations.parquet`` (the bundle's own answer,
        scored by the executors); release what was cached. ``on_stage(name)`` is called as each step starts
        (``index``, ``als``, ``export``, ``recommendations``) and with ``done`` at the end (the scale benchmark
        times the steps with it). ``segmentation`` (this engine's :meth:`segment` result) gives the segments,
        the segmenter and the profiles; ``manifest`` entries join the bundle's params. ``validation``,
        ``on_epoch`` and ``on_write`` belong to the engine contract and do not apply to ALS (no tuning slice,
        no epochs, recommendations written by the executors)."""
        from .export import export_bundle, staged_parts, write_id_maps

        if segmentation is not None:
            segmenter, profiles = segmentation.model, segmentation.profiles
            if segments is None:
                segments = _labels(segmentation)

        params = (params or ALSParams(random_state=seed)).for_master(self.spark.sparkContext.master)
        stage = on_stage or (lambda name: None)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        stage("index")
        indexed = index_events(events)
        persisted = persistent_rdds(self.spark)
        try:
            id_maps = write_id_maps(indexed, out / RunFiles.IdMaps)
            stage("als")
            model = fit_als(indexed, params)
            fit_seconds = time.perf_counter() - began
            stage("export")
            with staged_parts(out / bundle_dir, model, indexed, events) as parts:
                release_rdds(self.spark, keep=persisted)  # ALS's cached factors: the staged copies are read now
                path, rec = export_bundle(out / bundle_dir, parts, id_maps, indexed, params=params, segments=segments,
                                          segmenter=segmenter, profiles=profiles, evaluation=evaluation,
                                          extra={"seed": seed, "k": k, "fit_seconds": round(fit_seconds, 2),
                                                 **(manifest or {})})
                stage("recommendations")
                factors = self.spark.read.parquet(str(parts / "user_factors"))
                write_recommendations(user_rows(indexed, factors), k, rec.item_factors_, indexed,
                                      str(out / RunFiles.Recommendations),
                                      self.spark.read.parquet(str(parts / "catalogue")).select("iidx", C.ItemName))
        finally:
            indexed.release()
            release_rdds(self.spark, keep=persisted)
        stage("done")
        return Bunch(bundle=path, recommender=rec, fit_seconds=fit_seconds, id_maps=id_maps)

    def evaluate(self, events: Any, k: int = 10, *, cutoff: str | pd.Timestamp | None = None, seed: int = 42,
                 params: ALSParams | None = None, segmentation: Bunch | None = None,
                 on_model: Callable[[str, str], None] | None = None) -> dict[str, Any]:
        """Spark ALS and Spark popularity on the temporal split of ``events``, judged by the local protocol and
        metrics (:mod:`.evaluation`): the content of ``evaluation.json``. (No segment popularity on Spark, so
        ``segmentation`` is not used; ``on_model`` belongs to the engine contract.)"""
        from .evaluation import evaluate

        return evaluate(events, k, cutoff=cutoff, params=params or ALSParams(random_state=seed))

    def evaluate_split(self, train: pd.DataFrame, test: pd.DataFrame, k: int = 10,
                       description: Mapping[str, Any] | None = None, *, seed: int = 42,
                       models: Sequence[str] | None = None, mode: str = DISCOVER, segments: int = 0,
                       in_sample: bool = False, validation: str | None = None,
                       on_model: Callable[[str, str], None] | None = None) -> EvaluationResult:
        """:meth:`evaluate` on a split made elsewhere (``segrec evaluate --engine spark``: the local splits).

        Spark evaluates ALS and popularity in discover mode: other models or modes are refused; ``segments``,
        ``in_sample`` and ``validation`` concern local models only."""
        from .evaluation import MODELS, evaluate_split

        if mode != DISCOVER:
            raise InputError(f"the spark engine evaluates the {DISCOVER} mode only, not {mode!r}")
        unknown = sorted(set(models or ()) - set(MODELS))
        if unknown:
            raise InputError(f"the spark engine evaluates {', '.join(MODELS)}; not {', '.join(unknown)}")

        train_frame, test_frame = self._keep(from_pandas(self.spark, train)), self._keep(from_pandas(self.spark, test))
        try:
            return evaluate_split(train_frame, test_frame, k, dict(description or {}),
                                  params=ALSParams(random_state=seed))
        finally:
            self.release()

def _labels(segmentation: Bunch) -> pd.DataFrame:
    """user_id, segment, segment_name of a segmentation: from its Parquet file when it was written (as the
    bundle needs them, on the driver), else from the Spark frame and the profiles' names."""
    columns = [C.User, C.Segment, C.SegmentName]
    if segmentation.written_to is not None:
        return pd.read_parquet(segmentation.written_to / RunFiles.Segments, columns=columns)
    frame = segmentation.segments.select(C.User, C.Segment).toPandas()
    return frame.assign(**{C.SegmentName: frame[C.Segment].map(segmentation.profiles[C.SegmentName])})[columns]


def _write_csv(table: Any, path: Path) -> None:
    """``table`` as one CSV file with a header (a single writer: meant for the customers table)."""
    with atomic_path(path) as tmp:
        parts = Path(f"{tmp}.parts")
        try:
            table.coalesce(1).write.mode("overwrite").option("header", True).csv(str(parts))
            next(parts.glob("part-*.csv")).replace(tmp)
        finally:
            shutil.rmtree(parts, ignore_errors=True)
