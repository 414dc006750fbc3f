"""Top-k selection over score matrices: ``argpartition`` then a sort of the k (see ../shared/NOTES.md)."""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` highest finite scores per row, best first.

    Rows with fewer than ``k`` finite scores are padded with index -1 and score -inf. Ties are broken by the
    lower item index, so rankings are reproducible.
    """
    n_rows, n_cols = scores.shape
    k_eff = min(k, n_cols)
    if k_eff <= 0:
        return np.full((n_rows, k), -1, np.int64), np.full((n_rows, k), -np.inf, np.float32)
    if k_eff < n_cols:
        # partition on the scores themselves (largest k at the end): negating would copy the whole block
        part = np.argpartition(scores, n_cols - k_eff, axis=1)[:, n_cols - k_eff :]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    part_scores = np.take_along_axis(scores, part, axis=1)
    # lexsort: primary key -score, secondary key item index (stable tie-break)
    order = np.lexsort((part, -part_scores), axis=1)
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    vals = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    idx[~np.isfinite(vals)] = -1
    if k_eff < k:
        idx = np.pad(idx, ((0, 0), (0, k - k_eff)), constant_values=-1)
        vals = np.pad(vals, ((0, 0), (0, k - k_eff)), constant_values=-np.inf)
    return idx, vals
