"""The single-machine engine: pandas + scikit-learn + implicit/LightFM, the default.

Its stages are :mod:`.segment` (segmentation and its files) and :mod:`.train` (the hybrid, its bundle and every
customer's recommendations); :class:`LocalEngine` gives them the engine contract of
:class:`segrec.pipeline.engine.Engine`, which the Spark engine implements too.

>>> LocalEngine().name
'local'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..._atomic import atomic_path
from ...data.read import ReadOptions, ingest
from ...evaluation.runner import EvaluationResult, evaluate_modes, fit_segments
from ...evaluation.splits import default_cutoff, temporal_split
from ...modes import BUY_AGAIN, DISCOVER, MODES, mode_key
from ...run_dir import RunFiles
from .segment import SegmentationResult, run_segmentation
from .train import segment_labels, train_recommender

__all__ = ["LocalEngine", "Trained"]


@dataclass(frozen=True)
class Trained:
    """What :meth:`LocalEngine.train` fitted: the served model and its fit time (the bundle is on disk)."""

    recommender: Any
    fit_seconds: float


@dataclass(frozen=True)
class LocalEngine:
    """The local engine: every stage in this process, on pandas frames."""

    name: str = "local"
    rejects_name: str = RunFiles.Rejects

    def read(self, source: Any, format: str | None = None, mapping: Mapping[str, str] | None = None, *,
             rejects: str | Path | None = None, options: ReadOptions | None = None,
             ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The shared ingestion (:func:`segrec.data.ingest`); rejected rows go to ``rejects`` as CSV."""
        result = ingest(source, dict(mapping) if mapping else None, format, options=options)
        if rejects is not None and len(result.rejects):
            with atomic_path(Path(rejects)) as tmp:
                result.rejects.to_csv(tmp, index=False)
        return result.events, result.report.to_dict()

    def keep_events(self, events: pd.DataFrame, out_dir: Path) -> None:
        with atomic_path(out_dir / RunFiles.Events) as tmp:
            events.to_parquet(tmp, index=False)

    def features(self, events: pd.DataFrame, **options: Any) -> Any:
        from ...features.customers import build_customer_features

        return build_customer_features(events, **options)

    def segment(self, events: pd.DataFrame, out_dir: str | Path | None = None, *, k: int | None = None,
                seed: int = 42, features: Sequence[str] | None = None, progress: bool = False,
                **options: Any) -> SegmentationResult:
        return run_segmentation(events, out_dir, k=k, seed=seed, features=features, progress=progress, **options)

    def evaluate(self, events: pd.DataFrame, k: int = 10, *, cutoff: str | None = None, seed: int = 42,
                 segmentation: SegmentationResult | None = None,
                 on_model: Callable[[str, str], None] | None = None) -> dict[str, Any]:
        """Both modes on the temporal split; ``evaluation.json`` holds the discover mode (the default) with the
        buy-again results beside it under ``"buy_again"``."""
        split = temporal_split(events, cutoff if cutoff is not None else default_cutoff(events))
        labels = segment_labels(segmentation.segments) if segmentation is not None else None
        results = evaluate_modes(split.train, split.test, None, k, MODES, labels,
                                 split_description=split.description, callback=on_model)
        payload = results[DISCOVER].to_dict()
        payload[mode_key(BUY_AGAIN)] = results[BUY_AGAIN].to_dict()
        return payload

    def evaluate_split(self, train: pd.DataFrame, test: pd.DataFrame, k: int = 10,
                       description: Mapping[str, Any] | None = None, *, seed: int = 42,
                       models: Sequence[str] | None = None, mode: str = DISCOVER, segments: int = 0,
                       in_sample: bool = False, validation: str | None = None,
                       on_model: Callable[[str, str], None] | None = None) -> EvaluationResult:
        """Every model (or ``models``) in ``mode``; segment popularity on ``segments`` K-Means segments."""
        user_segments = fit_segments(train, segments, seed) if segments > 0 else None
        return evaluate_modes(train, test, list(models) if models else None, k, (mode,), user_segments,
                              split_description=dict(description or {}), in_sample=in_sample, callback=on_model,
                              validation=validation)[mode]

    def train(self, events: pd.DataFrame, out_dir: str | Path, *, segmentation: Any = None, seed: int = 42,
              k: int = 10, bundle_dir: str = RunFiles.Model, evaluation: Mapping[str, Any] | None = None,
              validation: str = "auto", on_epoch: Callable[[int, float | None], None] | None = None,
              on_write: Callable[[int, int], None] | None = None,
              manifest: Mapping[str, Any] | None = None, segments: pd.DataFrame | None = None) -> Trained:
        """The hybrid on ``events``; ``segmentation`` (this engine's) or ``segments`` (a user_id, segment
        table, e.g. ``segrec train --segments``) label the customers."""
        import time

        if segmentation is not None:
            segments = segmentation.segments
        began = time.perf_counter()
        model = train_recommender(events, out_dir, segments=segments, seed=seed, k=k, epoch_callback=on_epoch,
                                  bundle_dir=bundle_dir,
                                  segmenter=segmentation.model if segmentation is not None else None,
                                  profiles=segmentation.profiles if segmentation is not None else None,
                                  evaluation=evaluation, validation=validation, progress=on_write, params=manifest)
        return Trained(model, time.perf_counter() - began)

    def release(self) -> None:
        """Nothing is held between stages."""
