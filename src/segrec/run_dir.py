"""Every file and directory name of a run directory, defined once (as :mod:`segrec.columns` does for columns).

``segrec run --out DIR`` (either engine) and the single-stage commands write these names; the report, the CLI's
bundle lookup and the tests read them. It sits at the bottom of the package map (it imports nothing) because
writers (the engines) and readers (the report, the CLI) live on different floors.

>>> RunFiles.Segments
'segments.parquet'
"""

from __future__ import annotations

__all__ = ["SEGMENTATION_FIGURES", "RunFiles"]


class RunFiles:
    """Names inside a run directory (``segrec run --out DIR``; ``segrec segment``/``train`` write a subset)."""

    #: The options of the run (for the report's rerun command), each stage's seconds and peak memory, skips.
    Options = "run.json"
    #: validate: the accepted rows (local engine), the rejected rows (CSV locally, a Parquet directory on
    #: Spark) and the ingestion report.
    Events = "events.parquet"
    Rejects = "rejects.csv"
    RejectsDir = "rejects"
    Validation = "validation.json"
    #: segment: one row per customer (features, RFM, segment and name), its CSV twin, the segmentation report
    #: (profiles, the k sweep, stability) and the fitted segmenter (JSON + npz).
    Segments = "segments.parquet"
    SegmentsCsv = "segments.csv"
    Segmentation = "segmentation.json"
    Segmenter = "segmenter"
    #: evaluate: held-out metrics of the served model and every baseline (both modes).
    Evaluation = "evaluation.json"
    #: train: every customer's top k, the bundle the API serves (``bundle`` for ``segrec run``, ``model`` for
    #: ``segrec train``) and, on Spark, the id maps beside it.
    Recommendations = "recommendations.parquet"
    Bundle = "bundle"
    Model = "model"
    IdMaps = "id_maps"
    #: inside a bundle directory: its manifest (format, versions, checksums of every other file)
    Manifest = "manifest.json"
    #: report
    Report = "report.html"


#: The segmentation figures (PNG), by role.
SEGMENTATION_FIGURES = {
    "k_selection": "k_selection.png",
    "projection": "projection.png",
    "heatmap": "profile_heatmap.png",
    "sizes": "sizes_revenue.png",
}
