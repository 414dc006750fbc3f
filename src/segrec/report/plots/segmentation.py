"""Figures that let an analyst check a segmentation at a glance.

Built on :class:`matplotlib.figure.Figure` with an Agg canvas rather than pyplot: no global state, no
display needed, nothing leaks between calls.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from ..._atomic import atomic_path
from ...columns import Columns
from ...run_dir import SEGMENTATION_FIGURES
from ...segment.selection import KSweep
from ..labels import feature_label

__all__ = ["DPI", "HEATMAP_FEATURES", "MIN_FONT_PT", "WIDTH", "plot_k_selection", "plot_profile_heatmap", "plot_projection", "plot_sizes_revenue",
           "save_figure", "write_segmentation_figures"]

#: Features shown in the profile heat-map, when the customer table has them.
HEATMAP_FEATURES = (Columns.Spending, Columns.Frequency, Columns.Recency, Columns.AvgBasket, Columns.Age,
                    Columns.Income, Columns.Clicks, Columns.TimeSpent, Columns.AbandonRate)


#: Figures are drawn for a phone first: WIDTH inches wide, no text under MIN_FONT_PT, so that shrunk to 332 CSS px
#: (a 390 px phone less the page margins) the smallest text is still about 10 px high (10.5 pt x 332 / (72 x 4.8)
#: = 10.1 px); a desktop shows them at their natural size or less. Saved at DPI for sharpness on 2-3x screens.
WIDTH = 4.8
MIN_FONT_PT = 10.5
DPI = 150
_TITLE_PT, _LABEL_PT = 12.5, 11.5


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _finish(fig: Figure) -> Figure:
    """Phone-sized type on every axes (tick labels are made at draw time, so rcParams cannot set them here)."""
    for ax in fig.axes:
        ax.tick_params(labelsize=MIN_FONT_PT)
        ax.title.set_fontsize(_TITLE_PT)
        ax.xaxis.label.set_fontsize(_LABEL_PT)
        ax.yaxis.label.set_fontsize(_LABEL_PT)
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def _wrap(text: str, width: int = 18) -> str:
    return "\n".join(textwrap.wrap(str(text), width)[:2]) or str(text)


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = DPI) -> None:
    """Write ``fig`` as PNG atomically (temp file renamed on success)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")


def plot_k_selection(sweep: KSweep) -> Figure:
    """Elbow (inertia) above silhouette, against k, with the knee and the chosen k marked."""
    frame = sweep.to_frame()
    fig = _figure(WIDTH, 5.8)
    top, bottom = fig.subplots(2, 1, sharex=True)
    panels = ((top, "inertia", "Elbow: spread left within segments", "inertia"),
              (bottom, "silhouette", "Separation of the segments", "silhouette"))
    for ax, column, title, ylabel in panels:
        ax.plot(frame["k"], frame[column], marker="o", color="tab:blue")
        chosen = frame.loc[frame["k"] == sweep.chosen, column]
        ax.scatter([sweep.chosen], chosen, s=160, facecolors="none", edgecolors="tab:red", linewidths=2,
                   zorder=3, label=f"chosen k={sweep.chosen}")
        if sweep.knee is not None:
            ax.axvline(sweep.knee, color="grey", linestyle="--", label=f"elbow k={sweep.knee}")
        ax.set(title=title, ylabel=ylabel)
        ax.legend(fontsize=MIN_FONT_PT)
    bottom.set_xlabel("k (number of segments)")
    bottom.set_xticks(frame["k"])
    return _finish(fig)


def plot_projection(
    Z: np.ndarray, labels: np.ndarray, names: Mapping[int, str], *, max_points: int = 5_000, seed: int = 42
) -> Figure:
    """2-D PCA of the standardised features, a seeded sample of customers coloured by segment."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(Z), size=min(max_points, len(Z)), replace=False))
    pca = PCA(n_components=min(2, Z.shape[1]), random_state=seed).fit(Z)
    xy = pca.transform(Z[rows])
    if xy.shape[1] == 1:
        xy = np.column_stack([xy[:, 0], np.zeros(len(xy))])
    fig = _figure(WIDTH, 4.6 + 0.22 * len(names))
    ax = fig.subplots()
    for segment, name in names.items():
        mask = labels[rows] == segment
        ax.scatter(xy[mask, 0], xy[mask, 1], s=7, alpha=0.5, label=f"{segment}: {name}")
    share = pca.explained_variance_ratio_
    ax.set(title="Customers on one map (principal components)",
           xlabel=f"component 1 ({share[0]:.0%} of the differences)",
           ylabel=f"component 2 ({share[1]:.0%})" if len(share) > 1 else "")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=1, fontsize=MIN_FONT_PT,
               markerscale=3, frameon=False)
    return _finish(fig)


def plot_profile_heatmap(relative: pd.DataFrame, names: Mapping[int, str]) -> Figure:
    """Segment mean / population mean per feature (rows) and segment (columns); annotated, centred on 1."""
    values = relative.to_numpy(dtype="float64").T
    n_features, n_segments = values.shape
    fig = _figure(WIDTH, 1.9 + 0.42 * n_features)
    ax = fig.subplots()
    logs = np.log2(np.clip(values, 1e-3, None))
    spread = max(float(np.nanmax(np.abs(logs))), 0.5)
    ax.imshow(logs, cmap="RdBu_r", vmin=-spread, vmax=spread, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        dark = abs(logs[i, j]) > 0.6 * spread  # white on the deep colours, ink elsewhere
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=MIN_FONT_PT,
                color="white" if dark else "#1f2933")
    ax.set_yticks(range(n_features), [feature_label(c) for c in relative.columns])
    ax.set_xticks(range(n_segments), [f"{s}: {_wrap(names.get(s, s), 14)}" for s in relative.index],
                  rotation=45, ha="right", rotation_mode="anchor")
    fig.suptitle("Segment average / all customers' average\n(1.00 = average; red above, blue below)",
                 fontsize=_TITLE_PT)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return _finish(fig)


def plot_sizes_revenue(profiles: pd.DataFrame) -> Figure:
    """Each segment's share of customers beside its share of revenue (one panel, grouped bars)."""
    n = len(profiles)
    fig = _figure(WIDTH, 1.3 + 0.7 * n)
    ax = fig.subplots()
    y = np.arange(n)
    for offset, column, colour, label in ((-0.2, Columns.Share, "#1c7ed6", "customers"),
                                          (0.2, Columns.RevenueShare, "#2b8a3e", "revenue")):
        bars = ax.barh(y + offset, profiles[column] * 100, height=0.38, color=colour, label=f"share of {label}")
        ax.bar_label(bars, fmt="%.1f%%", fontsize=MIN_FONT_PT, padding=2)
    ax.set_yticks(y, [f"{s}: {_wrap(name)}" for s, name in zip(profiles.index, profiles[Columns.SegmentName],
                                                               strict=True)])
    ax.invert_yaxis()  # segment 0 (most valuable) on top
    ax.margins(x=0.2)
    ax.set(title="Share of customers and of revenue", xlabel="% of all customers / of all revenue")
    ax.legend(loc="lower right", fontsize=MIN_FONT_PT)
    return _finish(fig)


def write_segmentation_figures(out: str | os.PathLike[str], sweep: KSweep, Z: np.ndarray, labels: np.ndarray,
                               relative: pd.DataFrame, profiles: pd.DataFrame, *, seed: int = 42) -> list[str]:
    """Write ``k_selection.png``, ``projection.png``, ``profile_heatmap.png`` and ``sizes_revenue.png`` into
    ``out``; return their names. Both engines call this with what they computed.

    ``Z`` and ``labels`` are the standardised features and segments of the customers to project (all of them
    locally, a seeded sample on Spark), ``relative`` the segment / population mean ratios, ``profiles`` the
    profile table (``segment_name``, ``share``, ``revenue_share``, indexed by segment).
    """
    names = profiles[Columns.SegmentName].to_dict()
    figures = {
        SEGMENTATION_FIGURES["k_selection"]: plot_k_selection(sweep),
        SEGMENTATION_FIGURES["projection"]: plot_projection(Z, labels, names, seed=seed),
        SEGMENTATION_FIGURES["heatmap"]: plot_profile_heatmap(relative, names),
        SEGMENTATION_FIGURES["sizes"]: plot_sizes_revenue(profiles),
    }
    for name, figure in figures.items():
        save_figure(figure, os.path.join(out, name))
    return list(figures)
