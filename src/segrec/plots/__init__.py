"""Static PNG figures (matplotlib, Agg canvas: no display, safe in servers and tests)."""

from __future__ import annotations

from .segmentation import (
    HEATMAP_FEATURES,
    plot_k_selection,
    plot_profile_heatmap,
    plot_projection,
    plot_sizes_revenue,
    save_figure,
    write_segmentation_figures,
)

__all__ = ["HEATMAP_FEATURES", "plot_k_selection", "plot_profile_heatmap", "plot_projection", "plot_sizes_revenue",
           "save_figure", "write_segmentation_figures"]
