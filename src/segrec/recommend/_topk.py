"""Top-k selection over score matrices: ``argpartition`` then a sort of the k (see ../shared/NOTES.md).

:func:`top_k_of_product` fuses the selection with the factor product it selects from: scores are made a block
of users at a time and the top-k is found from group maxima and a sort of the few cells that can be in it,
instead of an ``argpartition`` of every row, which cost more than the matrix product itself (benchmarks/scoring.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp

#: Users scored at once by :func:`top_k_of_product` (1024 x 10k float32 scores: 40 MB).
BLOCK_ROWS = 1024

_scratch = threading.local()  # this thread's scores block, kept between calls inside reused_score_blocks()


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` highest finite scores per row, best first.

    Rows with fewer than ``k`` finite scores are padded with index -1 and score -inf. Ties are broken by the
    lower item index, so rankings are reproducible. Wide rows go through :func:`_select` (group maxima, then a
    sort of the few cells that can be in the top k; the same answer, 1.6-3x faster than partitioning every row
    at 900-10,000 columns): the hybrid's weight search ranks a few hundred blends this way.
    """
    n_rows, n_cols = scores.shape
    group = _group_size(n_cols, k + 1) if 0 < k < n_cols and scores.dtype == np.float32 else None
    if group is None:  # also float64 scores: a float32 copy could tie values the partition tells apart
        return _top_k_partition(scores, k)
    width = -(-n_cols // group) * group
    if width == n_cols and scores.flags.c_contiguous:
        return _select(scores, k, group, n_cols)
    padded = np.full((n_rows, width), -np.inf, np.float32)
    padded[:, :n_cols] = scores
    return _select(padded, k, group, n_cols)


def _top_k_partition(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k` by ``argpartition`` of every row."""
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


def top_k_of_product(
    left: np.ndarray, right: np.ndarray, k: int, *, exclude: sp.csr_matrix | None = None,
    block_rows: int = BLOCK_ROWS, bias: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``top_k(left @ right.T + bias, k)`` with the cells of ``exclude`` set to -inf first, a block of rows at a
    time (``bias``: one float32 value per item, added to every row after the product, as ``+`` would).

    ``left`` is (n, d) and ``right`` (n_items, d), both float32 (user and item factors); ``exclude`` is an
    (n, n_items) sparse matrix whose stored cells are left out (the items a user bought). The result is
    :func:`top_k` of the masked product, row for row (:func:`_select` says why). ``block_rows`` bounds memory
    to ``block_rows x n_items`` scores; pass the caller's chunk size to multiply exactly as ``left @ right.T``
    does on that chunk (BLAS may round differently for another number of rows).

    Why by hand: no library here selects the top-k of a matrix product as it is made (faiss does, for
    inner-product search, but without a per-user exclusion list, and it is not a dependency).
    """
    left = np.asarray(left, dtype=np.float32)
    right = np.asarray(right, dtype=np.float32)
    n, n_items = len(left), len(right)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    idx = np.empty((n, k), np.int64)
    vals = np.empty((n, k), np.float32)
    group = _group_size(n_items, k + 1)
    width = n_items if group is None else -(-n_items // group) * group
    scores = _scores_block(min(block_rows, max(n, 1)), width)
    scores[:, n_items:] = -np.inf  # padding to whole groups never reaches a top-k
    for start in range(0, n, block_rows):
        rows = slice(start, min(start + block_rows, n))
        block = scores[: rows.stop - start]
        np.matmul(left[rows], right.T, out=block[:, :n_items])
        if bias is not None:
            block[:, :n_items] += bias
        if exclude is not None:
            seen = exclude[rows].tocoo()
            block[seen.row, seen.col] = -np.inf
        if group is None:
            idx[rows], vals[rows] = _top_k_partition(block, k)
        else:
            idx[rows], vals[rows] = _select(block, k, group, n_items)
    return idx, vals


@contextmanager
def reused_score_blocks() -> Iterator[None]:
    """Let the :func:`top_k_of_product` calls made in this thread write their scores into one block kept between
    calls, released when the ``with`` ends (pool threads: :func:`keep_score_blocks`).

    Why: a caller that ranks chunk after chunk (``Recommender.recommend_idx``) otherwise allocates a fresh
    ``chunk x n_items`` block per chunk (40 MB at 1024 x 10k), which glibc maps from the OS and unmaps again
    (blocks above 32 MB), so every chunk pays for zero-filled pages: on benchmarks/scoring.py reusing the block
    took 3.84-4.20 CPU s down to 3.15-3.53 (four alternating runs each), same rankings.
    """
    outer = getattr(_scratch, "active", False)
    _scratch.active = True
    try:
        yield
    finally:
        _scratch.active = outer
        if not outer:
            _scratch.block = None


def keep_score_blocks() -> None:
    """Thread-pool initializer: the pool's threads reuse their scores block until they end (see
    :func:`reused_score_blocks`); only for pools that end with the job, as ``map_chunks``'s do."""
    _scratch.active = True


def _scores_block(rows: int, width: int) -> np.ndarray:
    """An uninitialised (rows, width) float32 block: this thread's kept block when reuse is on, else a new one."""
    if not getattr(_scratch, "active", False):
        return np.empty((rows, width), np.float32)
    block = getattr(_scratch, "block", None)
    if block is None or block.size < rows * width:
        block = _scratch.block = np.empty(rows * width, np.float32)
    return block[: rows * width].reshape(rows, width)


def _group_size(n_items: int, m: int) -> int | None:
    """Columns per group for :func:`_select`, or None when a catalogue is too small to be worth it.

    A row costs about ``n_items / size`` (partitioning the group maxima) plus ``m * size`` (gathering the
    best groups' cells); the minimum is near ``sqrt(n_items / m)``, and the 0.66 is the best measured at 10k
    items (sizes 16-50 timed on the scoring benchmark's scores: 20-25 best).
    """
    if n_items < 64 * m:
        return None
    return max(2, round(0.66 * np.sqrt(n_items / m)))


def _select(scores: np.ndarray, k: int, size: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k` of each row of ``scores`` (n, width) without partitioning whole rows.

    Column ``c`` belongs to group ``c % n_groups``. With ``t`` the (k+1)-th highest group maximum of a row,
    at least k+1 cells are >= t, so the row's k+1 best cells are among the cells >= t, and those lie in the
    groups whose maximum is >= t: only these few groups are gathered and sorted (by score, then column). The
    k best are then exactly :func:`top_k`'s whenever the k-th score is finite and above the (k+1)-th; other
    rows (a tie at the boundary, which ``argpartition`` breaks its own way, fewer than k finite scores,
    NaN) are handed to :func:`top_k` whole.
    """
    n, width = scores.shape
    m = k + 1
    n_groups = width // size
    maxima = scores.reshape(n, size, n_groups).max(axis=1)
    t = np.partition(maxima, n_groups - m, axis=1)[:, n_groups - m]
    redo = ~np.isfinite(t) | np.isnan(maxima).any(axis=1)
    t[redo] = np.inf  # gather (almost) nothing for the rows redone anyway
    row, grp = np.divmod(np.flatnonzero(maxima >= t[:, None]), n_groups)
    cells = (row * width + grp)[:, None] + np.arange(0, width, n_groups)  # each chosen group's cells
    values = scores.reshape(-1).take(cells)
    hit = np.flatnonzero(values >= t[row, None])
    row, col = np.divmod(cells.reshape(-1)[hit], width)
    row, col = _by_row_score_column(row, col, values.reshape(-1)[hit], n, width)
    rank = np.arange(len(row)) - np.searchsorted(row, np.arange(n))[row]
    keep = rank < m
    best = np.zeros((n, m), np.int64)
    best[row[keep], rank[keep]] = col[keep]
    best_values = np.take_along_axis(scores, best, axis=1)
    redo |= ~(np.isfinite(best_values[:, :k]).all(axis=1) & (best_values[:, k - 1] > best_values[:, k]))
    idx, vals = best[:, :k], best_values[:, :k]
    again = np.flatnonzero(redo)
    if len(again):
        idx[again], vals[again] = _top_k_partition(scores[again, :n_items], k)
    return idx, vals


def _by_row_score_column(row: np.ndarray, col: np.ndarray, value: np.ndarray, n: int,
                         width: int) -> tuple[np.ndarray, np.ndarray]:
    """``row`` and ``col`` ordered by row, then descending value, then column.

    One sort of packed 64-bit keys (row | flipped float bits | column) is several times faster than
    ``np.lexsort`` on three arrays; -0.0 is made 0.0 first, as comparisons treat them.
    """
    row_bits, col_bits = max(n - 1, 1).bit_length(), max(width - 1, 1).bit_length()
    if row_bits + 32 + col_bits > 64:
        order = np.lexsort((col, -value, row))
        return row[order], col[order]
    bits = (value + np.float32(0)).view(np.uint32).astype(np.uint64)
    ascending = np.where(bits >> np.uint64(31), ~bits & np.uint64(0xFFFFFFFF), bits | np.uint64(0x80000000))
    key = ((row.astype(np.uint64) << np.uint64(32 + col_bits))
           | ((np.uint64(0xFFFFFFFF) - ascending) << np.uint64(col_bits)) | col.astype(np.uint64))
    key.sort()
    return (key >> np.uint64(32 + col_bits)).astype(np.int64), (key & np.uint64((1 << col_bits) - 1)).astype(np.int64)
