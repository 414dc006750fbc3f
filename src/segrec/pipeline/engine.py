"""The one contract between the pipeline and an execution engine.

The stages of ``segrec run`` (and of ``segrec segment``/``train``/``evaluate``) are written once, in
:mod:`segrec.pipeline.runner`; an engine only says how each stage's work is done: :class:`~segrec.engines.LocalEngine`
with pandas, scikit-learn and LightFM on one machine, :class:`~segrec.engines.spark.SparkEngine` on a Spark
cluster. Both write the same run-directory files (:class:`~segrec.run_dir.RunFiles`), so the report, the CLI and
the API read either engine's run the same way. Engines satisfy the protocol by their methods alone (they do not
import this module: the pipeline sits above them on the package map).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..data.read import ReadOptions
from ..evaluation.runner import EvaluationResult
from ..modes import DISCOVER
from ..run_dir import RunFiles

__all__ = ["Engine"]


@runtime_checkable
class Engine(Protocol):
    """An execution engine: read, segment, evaluate, train, release.

    Results are engine-specific objects with a few shared attributes: :meth:`segment` returns something with
    ``model`` (a :class:`~segrec.segment.Segmenter`), ``profiles`` and ``report`` (``segmentation.json``);
    :meth:`train` something with ``recommender`` (the served model) and ``fit_seconds``. The pipeline passes a
    segmentation result back to the same engine's :meth:`evaluate` and :meth:`train` untouched.
    """

    #: ``local`` or ``spark``: recorded in ``run.json`` and shown by the report.
    name: str
    #: Where :meth:`read` writes the rejected rows inside a run directory (a CSV locally, Parquet on Spark).
    rejects_name: str

    def read(self, source: Any, format: str | None = None, mapping: Mapping[str, str] | None = None, *,
             rejects: str | Path | None = None, options: ReadOptions | None = None,
             ) -> tuple[Any, dict[str, Any] | None]:
        """Canonical events of ``source`` and the ingestion report (``validation.json``); with ``rejects``, the
        rejected rows are written there. Raises :class:`~segrec.exceptions.InputError` for unreadable input
        and for reading options the engine does not support."""

    def keep_events(self, events: Any, out_dir: Path) -> None:
        """Write the accepted events into the run directory, if the engine keeps a copy (local: ``events.parquet``)."""

    def segment(self, events: Any, out_dir: str | Path | None = None, *, k: int | None = None, seed: int = 42,
                features: Sequence[str] | None = None, progress: bool = False) -> Any:
        """Customer features -> k -> K-Means -> stability -> profiles; with ``out_dir``, write the segmentation
        files there. Raises :class:`~segrec.exceptions.TooFewCustomersError` when there are too few customers."""

    def evaluate(self, events: Any, k: int = 10, *, cutoff: str | None = None, seed: int = 42,
                 segmentation: Any = None, on_model: Callable[[str, str], None] | None = None) -> dict[str, Any]:
        """Held-out figures on the temporal split of ``events``: the content of ``evaluation.json``."""

    def evaluate_split(self, train: Any, test: Any, k: int = 10, description: Mapping[str, Any] | None = None, *,
                       seed: int = 42, models: Sequence[str] | None = None, mode: str = DISCOVER,
                       segments: int = 0, in_sample: bool = False, validation: str | None = None,
                       on_model: Callable[[str, str], None] | None = None) -> EvaluationResult:
        """Held-out figures on a split made by the caller (``segrec evaluate``)."""

    def train(self, events: Any, out_dir: str | Path, *, segmentation: Any = None, seed: int = 42, k: int = 10,
              bundle_dir: str = RunFiles.Model, evaluation: Mapping[str, Any] | None = None, validation: str = "auto",
              on_epoch: Callable[[int, float | None], None] | None = None,
              on_write: Callable[[int, int], None] | None = None,
              manifest: Mapping[str, Any] | None = None) -> Any:
        """Fit the served recommender on ``events``; write the bundle (``out_dir/bundle_dir``, ``manifest``
        entries added to its params) and every customer's top ``k`` (``recommendations.parquet``)."""

    def release(self) -> None:
        """Free what the engine holds between stages (Spark's cached input); the engine stays usable."""
