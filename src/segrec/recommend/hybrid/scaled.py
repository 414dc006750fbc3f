"""The served scoring pass: each signal's per-user z-score parameters and the blend in one cache-sized sweep.

:func:`.signals.standardise` z-scores a whole (users x items) block: at 1,024 customers x 10,000 products that is
several 80 MB float64 temporaries per signal (each mapped and zero-filled anew by the kernel), and the ranker
and the reasons then read a few hundred of its 10,000 columns. Here the blocks are swept a few rows at a time
(the temporaries stay in cache), the blend adds each weighted signal's z-scores as the sweep makes them, and
every signal keeps only its rows' mean and scale: the z-scores of the pool's and the list's cells are
computed from them when the ranker and the reasons ask (:meth:`Scaled.at`). The arithmetic is
:func:`.signals.standardise`'s and :func:`.tuning.weighted_sum`'s, cell for cell, so the numbers are the same
to the bit (tests/test_hybrid_scaled.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .signals import TableRows, standardise
from .tuning import weighted_sum

__all__ = ["COLUMNS", "ROWS", "Scaled", "scaled_blend"]

#: Rows swept at a time: 16 x 10,000 products in float64 is 1.3 MB, inside a core's cache.
ROWS = 16
#: Columns swept at a time in an F-ordered block: 1,024 users x 64 in float64 is 0.5 MB.
COLUMNS = 64


@dataclass(frozen=True)
class Scaled:
    """A signal block on its own scale and its per-row z-score parameters.

    ``mean`` and ``scale`` (users x 1, float64) give ``standardise(raw)`` cell by cell; ``full`` holds the whole
    z-scored block instead when it was cheaper or safer to make it (a prior's single broadcast row, the rows of
    a segment table, an F-ordered block the blend reads, a block with -inf).
    """

    raw: np.ndarray | TableRows
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    full: np.ndarray | TableRows | None = None

    def at(self, cells: np.ndarray) -> np.ndarray:
        """The z-scores at each row's ``cells`` (users x width item indices), float32:
        ``np.take_along_axis(standardise(raw), cells, axis=1)``."""
        if self.full is not None:
            return _take(self.full, cells)
        return ((_take(self.raw, cells) - self.mean) / self.scale).astype(np.float32)

    def raw_at(self, cells: np.ndarray) -> np.ndarray:
        """The raw values at each row's ``cells``."""
        return _take(self.raw, cells)


def _take(block: np.ndarray | TableRows, cells: np.ndarray) -> np.ndarray:
    return block.take(cells) if isinstance(block, TableRows) else np.take_along_axis(block, cells, axis=1)


def scaled_blend(raw: Mapping[str, np.ndarray | TableRows], weights: Mapping[str, float],
                 shape: tuple[int, int]) -> tuple[np.ndarray, dict[str, Scaled]]:
    """The blend of ``raw``'s signals (``weighted_sum`` of their z-scores; ``shape``: users x items) and each
    signal as :class:`Scaled`, without a full float64 z-scored block of any signal.

    First each block's row means and scales: numpy sums a C-ordered row pairwise and an F-ordered one from left
    to right, so C blocks are swept a few rows at a time and F blocks (the content profile and the category mix
    come out so) a few columns at a time with the running sums carried along, each giving
    :func:`.signals.standardise`'s sums exactly. Then the blend, a few columns at a time, adding the weighted
    signals' z-scores in ``raw``'s order as ``weighted_sum`` does. A block with a non-finite value anywhere (or
    of another layout) takes ``standardise``'s own path, as before.
    """
    n, n_items = shape
    scaled: dict[str, Scaled] = {}
    swept = set()  # C blocks: their means and scales are made in the sweep below, with the blend
    for name, block in raw.items():
        if isinstance(block, TableRows):  # z-scored once per row of its table (a segment's rows are alike)
            scaled[name] = Scaled(block, full=TableRows(standardise(block.table), block.codes))
        elif block.ndim == 2 and block.shape[0] > 1 and block.strides[0] == 0:  # a prior: one row, broadcast
            scaled[name] = Scaled(block, full=standardise(block))
        elif block.flags.c_contiguous:
            scaled[name] = Scaled(block, np.empty((n, 1)), np.empty((n, 1)))
            swept.add(name)
        elif block.flags.f_contiguous:
            mean, scale = _by_columns(block)
            if not np.isfinite(mean).all():
                return _in_full(raw, weights, shape)
            scaled[name] = Scaled(block, mean, scale, _z_by_columns(block, mean, scale) if weights.get(name) else None)
        else:
            return _in_full(raw, weights, shape)
    blend = np.zeros(shape, np.float32)
    divisor = np.maximum(n_items, 1)  # standardise's: a numpy integer, so the float32 sums divide in float64
    work = np.empty((ROWS, n_items))
    for start in range(0, n, ROWS):
        rows = slice(start, min(start + ROWS, n))
        centred = work[: rows.stop - rows.start]
        for name, part in scaled.items():
            weight = weights.get(name)
            if name not in swept:
                if weight:
                    blend[rows] += np.float32(weight) * part.full[rows]
                continue
            values = part.raw[rows]
            mean = values.sum(axis=1, keepdims=True) / divisor
            if not np.isfinite(mean).all():  # a non-finite value (or an overflow): the general path for all
                return _in_full(raw, weights, shape)
            np.subtract(values, mean, out=centred)
            scale = np.sqrt(np.square(centred).sum(axis=1, keepdims=True) / divisor) + 1e-9
            part.mean[rows], part.scale[rows] = mean, scale
            if weight:
                centred /= scale
                blend[rows] += np.float32(weight) * centred.astype(np.float32)
    return blend, scaled


def _by_columns(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row means and scales (users x 1, float64) of an F-ordered block, :data:`COLUMNS` columns at a time."""
    n, n_items = block.shape
    divisor = np.maximum(n_items, 1)
    mean = block.sum(axis=1, keepdims=True) / divisor  # one streaming pass, summed as standardise sums it
    if not np.isfinite(mean).all():
        return mean, mean  # the caller takes the general path
    # the running sum in the first column: numpy adds an F-ordered row left to right, so the last sum is the
    # whole row's squares added in standardise's order
    work = np.zeros((n, COLUMNS + 1), order="F")
    for start in range(0, n_items, COLUMNS):
        width = min(COLUMNS, n_items - start)
        squares = work[:, 1 : width + 1]
        np.subtract(block[:, start : start + width], mean, out=squares)
        np.square(squares, out=squares)
        work[:, :1] = work[:, : width + 1].sum(axis=1, keepdims=True)
    return mean, np.sqrt(work[:, :1] / divisor) + 1e-9


def _z_by_columns(block: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The z-scores of an F-ordered block (F-ordered float32), :data:`COLUMNS` columns at a time."""
    n, n_items = block.shape
    z = np.empty((n, n_items), np.float32, order="F")
    work = np.empty((n, COLUMNS), order="F")
    for start in range(0, n_items, COLUMNS):
        centred = work[:, : min(COLUMNS, n_items - start)]
        np.subtract(block[:, start : start + COLUMNS], mean, out=centred)
        centred /= scale
        z[:, start : start + COLUMNS] = centred
    return z


def _in_full(raw: Mapping[str, np.ndarray], weights: Mapping[str, float],
             shape: tuple[int, int]) -> tuple[np.ndarray, dict[str, Scaled]]:
    """:func:`scaled_blend` the plain way: every block z-scored whole."""
    dense = {name: block.dense() if isinstance(block, TableRows) else block for name, block in raw.items()}
    z = {name: standardise(block) for name, block in dense.items()}
    return weighted_sum(z, weights, shape), {name: Scaled(dense[name], full=z[name]) for name in raw}
