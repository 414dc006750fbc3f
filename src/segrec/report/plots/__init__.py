"""Static PNG figures (matplotlib, Agg canvas: no display, safe in servers and tests), drawn to be read on a
phone: see :data:`WIDTH` and :data:`MIN_FONT_PT`."""

from __future__ import annotations

from .segmentation import (
    DPI,
    HEATMAP_FEATURES,
    MIN_FONT_PT,
    WIDTH,
    plot_k_selection,
    plot_profile_heatmap,
    plot_projection,
    plot_sizes_revenue,
    save_figure,
    write_segmentation_figures,
)

__all__ = ["DPI", "HEATMAP_FEATURES", "MIN_FONT_PT", "WIDTH", "plot_k_selection", "plot_profile_heatmap", "plot_projection", "plot_sizes_revenue",
           "save_figure", "write_segmentation_figures"]
