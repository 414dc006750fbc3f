"""The local engine's four segmentation figures, drawn from what Spark computed.

:func:`segrec.report.plots.write_segmentation_figures` draws them, as it does for the local engine, from:

* the k sweep (:class:`segrec.segment.selection.KSweep`, fitted on Spark);
* the profile table (sizes and revenue shares, Spark aggregates);
* :func:`relative_means`: segment mean / population mean per feature, as :func:`segrec.segment.profiles.relative_means`
  defines them, from the per-segment means Spark computed for the profiles (no customer row is collected);
* the projection: a seeded sample of at most ``max_rows`` customers collected to pandas, standardised by the
  exported :class:`segrec.segment.segmenter.Segmenter` and coloured by their Spark segment. The local engine fits its
  PCA on every customer; here it is fitted on the sample.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...columns import Columns
from ...report.plots import HEATMAP_FEATURES, write_segmentation_figures
from ...segment.segmenter import Segmenter
from ...segment.selection import KSweep

__all__ = ["projection_sample", "relative_means", "write_figures"]

C = Columns


def relative_means(profiles: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Segment mean / population mean of each column (1.0 = average; a zero population mean gives 1.0).

    The population mean is the size-weighted mean of the segment means, which is the mean over customers (the
    feature table has no missing values: optional columns are imputed or dropped).
    """
    means = profiles[[f"mean_{c}" for c in columns]].set_axis(list(columns), axis=1).astype("float64")
    size = profiles[C.Size].astype("float64")
    population = means.mul(size, axis=0).sum() / size.sum()
    return (means / population.replace(0, np.nan)).fillna(1.0)


def projection_sample(features: Any, segments: Any, model: Segmenter, *, n: int, max_rows: int = 20_000,
                      seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Standardised features and segment labels of a seeded sample of at most ``max_rows`` of ``n`` customers."""
    data = features.join(segments, C.User)
    if n > max_rows:
        data = data.sample(fraction=min(1.0, 1.2 * max_rows / n), seed=seed).limit(max_rows)
    rows = data.orderBy(C.User).drop(C.User).toPandas()  # sorted on the cluster: no customer id is collected
    return model.transform(rows), rows[C.Segment].to_numpy()


def write_figures(out: str | os.PathLike[str], *, features: Any, segments: Any, model: Segmenter, sweep: KSweep,
                  profiles: pd.DataFrame, n: int, seed: int = 42) -> list[str]:
    """Write the four segmentation PNGs of a Spark segmentation into ``out``; return their names."""
    Z, labels = projection_sample(features, segments, model, n=n, seed=seed)
    heat = [c for c in HEATMAP_FEATURES if c in features.columns]
    return write_segmentation_figures(out, sweep, Z, labels, relative_means(profiles, heat), profiles, seed=seed)
