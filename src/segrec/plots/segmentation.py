"""Figures that let an analyst check a segmentation at a glance.

Built on :class:`matplotlib.figure.Figure` with an Agg canvas rather than pyplot: no global state, no
display needed, nothing leaks between calls.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from .._atomic import atomic_path
from ..columns import Columns
from ..segment_selection import KSweep

__all__ = ["HEATMAP_FEATURES", "plot_k_selection", "plot_profile_heatmap", "plot_projection", "plot_sizes_revenue",
           "save_figure", "write_segmentation_figures"]

#: Features shown in the profile heat-map, when the customer table has them.
HEATMAP_FEATURES = (Columns.Spending, Columns.Frequency, Columns.Recency, Columns.AvgBasket, Columns.Age,
                    Columns.Income, Columns.Clicks, Columns.TimeSpent, Columns.AbandonRate)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 90) -> None:
    """Write ``fig`` as PNG atomically (temp file renamed on success)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")


def plot_k_selection(sweep: KSweep) -> Figure:
    """Elbow (inertia) and silhouette against k, with the knee and the chosen k marked."""
    frame = sweep.to_frame()
    fig = _figure(9, 3.6)
    left, right = fig.subplots(1, 2)
    for ax, column, title in ((left, "inertia", "Elbow: inertia"), (right, "silhouette", "Silhouette (sampled)")):
        ax.plot(frame["k"], frame[column], marker="o", color="tab:blue")
        chosen = frame.loc[frame["k"] == sweep.chosen, column]
        ax.scatter([sweep.chosen], chosen, s=140, facecolors="none", edgecolors="tab:red", linewidths=2,
                   zorder=3, label=f"chosen k={sweep.chosen}")
        if sweep.knee is not None:
            ax.axvline(sweep.knee, color="grey", linestyle="--", label=f"knee k={sweep.knee}")
        ax.set(title=title, xlabel="k (number of segments)", ylabel=column)
        ax.set_xticks(frame["k"])
        ax.legend(fontsize=8)
    return fig


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
    fig = _figure(7, 5)
    ax = fig.subplots()
    for segment, name in names.items():
        mask = labels[rows] == segment
        ax.scatter(xy[mask, 0], xy[mask, 1], s=6, alpha=0.5, label=f"{segment}: {name}")
    share = pca.explained_variance_ratio_
    ax.set(title="Customers in the first two principal components",
           xlabel=f"PC1 ({share[0]:.0%} of variance)",
           ylabel=f"PC2 ({share[1]:.0%} of variance)" if len(share) > 1 else "")
    ax.legend(fontsize=8, markerscale=3, loc="best")
    return fig


def plot_profile_heatmap(relative: pd.DataFrame, names: Mapping[int, str]) -> Figure:
    """Segment mean / population mean per feature; annotated, centred on 1 (= average)."""
    values = relative.to_numpy(dtype="float64")
    fig = _figure(1.6 + 1.1 * values.shape[1], 1.2 + 0.5 * values.shape[0])
    ax = fig.subplots()
    spread = max(float(np.nanmax(np.abs(np.log2(np.clip(values, 1e-3, None))))), 0.5)
    image = ax.imshow(np.log2(np.clip(values, 1e-3, None)), cmap="RdBu_r", vmin=-spread, vmax=spread,
                      aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(values.shape[1]), relative.columns, rotation=30, ha="right")
    ax.set_yticks(range(values.shape[0]), [f"{s}: {names.get(s, s)}" for s in relative.index])
    ax.set_title("Segment mean / population mean (1.00 = average)")
    fig.colorbar(image, ax=ax, label="log2 ratio")
    return fig


def plot_sizes_revenue(profiles: pd.DataFrame) -> Figure:
    """Share of customers and share of revenue of each segment, side by side."""
    fig = _figure(9, 0.8 + 0.45 * len(profiles))
    left, right = fig.subplots(1, 2, sharey=True)
    labels = [f"{s}: {n}" for s, n in zip(profiles.index, profiles[Columns.SegmentName], strict=True)]
    for ax, column, title in ((left, Columns.Share, "Share of customers"),
                              (right, Columns.RevenueShare, "Share of revenue")):
        bars = ax.barh(labels, profiles[column] * 100, color="tab:blue" if ax is left else "tab:green")
        ax.bar_label(bars, fmt="%.1f%%", fontsize=8)
        ax.margins(x=0.15)
        ax.set(title=title, xlabel="%")
    left.invert_yaxis()  # shared y: segment 0 (most valuable) on top in both panels
    return fig


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
        "k_selection.png": plot_k_selection(sweep),
        "projection.png": plot_projection(Z, labels, names, seed=seed),
        "profile_heatmap.png": plot_profile_heatmap(relative, names),
        "sizes_revenue.png": plot_sizes_revenue(profiles),
    }
    for name, figure in figures.items():
        save_figure(figure, os.path.join(out, name))
    return list(figures)
