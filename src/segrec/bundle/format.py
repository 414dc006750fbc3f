"""The bundle format: its name, version and manifest, and the loaded :class:`Bundle` (what save and load share).

Why this format: a bundle is loaded by a long-running server and may come from another machine, so loading it
must never execute code (``np.load(..., allow_pickle=False)``, Parquet and JSON only), must notice a truncated
or edited file (sha256 of every file in ``manifest.json``), and must refuse a bundle written by a newer segrec
(``format_version``). The model class is looked up by name in :mod:`segrec.recommend.registry` and
type-checked, never imported from a string found in the bundle.

Layout::

    manifest.json          format version, segrec version, created at, data fingerprint, params, evaluation,
                           sha256 and size of every other file
    dataset.npz/.json      user/item ids, interactions, purchases, recency (CSR parts), weighting
    catalogue.parquet      one row per item index (every DataFrame field of the Dataset)
    user_attributes.parquet
    model.json, model.npz  recommender config and arrays (``get_state`` / ``from_state``)
    segmenter.json/.npz    optional segmenter state
    segments.parquet       optional user_id -> segment (and name)
    profiles.json          optional segment profiles (records)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from ..features.interactions import Dataset
from ..recommend.base import Recommender
from ..run_dir import RunFiles

__all__ = ["CSR_PARTS", "DATASET_FIELDS", "FORMAT", "FORMAT_VERSION", "MANIFEST", "Bundle"]

FORMAT = "segrec-bundle"
FORMAT_VERSION = 1
MANIFEST = RunFiles.Manifest
CSR_PARTS = ("data", "indices", "indptr", "shape")
DATASET_FIELDS = tuple(f.name for f in dataclasses.fields(Dataset))


@dataclasses.dataclass(frozen=True, eq=False)
class Bundle:
    """A loaded bundle: the fitted recommender on its dataset, plus optional segmentation results."""

    manifest: dict[str, Any]
    dataset: Dataset
    recommender: Recommender
    segmenter: Any = None
    segments: pd.DataFrame | None = None
    profiles: list[dict[str, Any]] | None = None
    path: Path | None = None
