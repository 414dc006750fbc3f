"""The recommender comparison chart: every evaluated model side by side, the served one highlighted.

Same conventions as :mod:`segrec.report.plots.segmentation` (a :class:`~matplotlib.figure.Figure` on an Agg canvas,
saved with :func:`~segrec.report.plots.segmentation.save_figure`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..labels import metric_label, model_label
from .segmentation import MIN_FONT_PT, WIDTH, _figure, _finish

__all__ = ["plot_model_comparison"]

_HIGHLIGHT = "#d9480f"
_OTHERS = "#868e96"
_AXIS = {"precision": "share of the list bought later", "ndcg": "the same, with more credit near the top"}


def plot_model_comparison(
    models: Sequence[Mapping[str, Any]], k: int, *, highlight: str | None = None,
    metrics: Sequence[str] | None = None,
) -> Figure:
    """Horizontal bars of precision@k and NDCG@k per model (one panel each, stacked), ``highlight`` in colour.

    ``models`` are the ``models`` records of ``evaluation.json`` (``name`` and ``metrics``). Models are sorted
    by the first metric, best on top, and named in plain words; a missing value is an empty bar labelled "n/a".
    """
    metrics = list(metrics or (f"precision@{k}", f"ndcg@{k}"))
    first = metrics[0]
    ordered = sorted(models, key=lambda m: np.nan_to_num(_value(m, first), nan=-np.inf), reverse=True)
    names = [str(m["name"]) for m in ordered]
    colours = [_HIGHLIGHT if name == highlight else _OTHERS for name in names]
    fig = _figure(WIDTH, 0.9 + len(metrics) * (0.9 + 0.34 * len(ordered)))
    axes = np.atleast_1d(fig.subplots(len(metrics), 1, sharey=True))
    for ax, metric in zip(axes, metrics, strict=True):
        values = [_value(m, metric) for m in ordered]
        bars = ax.barh([model_label(n) for n in names], np.nan_to_num(values), color=colours)
        ax.bar_label(bars, labels=["n/a" if np.isnan(v) else f"{v:.3f}" for v in values], fontsize=MIN_FONT_PT,
                     padding=3)
        ax.set_title(metric_label(metric))
        ax.set_xlabel(_AXIS.get(metric.partition("@")[0], metric_label(metric)))
        ax.margins(x=0.22)
    axes[0].invert_yaxis()  # shared y: the best model on top in every panel
    _finish(fig)
    for ax in axes:
        for label in ax.get_yticklabels():
            if highlight is not None and label.get_text() == model_label(highlight):
                label.set_fontweight("bold")
                label.set_color(_HIGHLIGHT)
    return fig


def _value(model: Mapping[str, Any], metric: str) -> float:
    value = (model.get("metrics") or {}).get(metric)
    return float(value) if isinstance(value, int | float) else float("nan")
