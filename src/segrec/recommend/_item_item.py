"""EASE item-item weights (Steck, 2019): a closed-form ridge regression of each item on all the others.

On Online Retail it is the strongest single scorer (P@10 0.079 against LightFM's 0.05-0.06), so the hybrid
uses it beside LightFM to pick candidates. The dense inverse costs O(n_items^3): above ``max_items`` only the
most popular items take part, the rest get no item-item score (LightFM and content still reach them). The
weights are pruned to the ``keep`` largest per target item so the state stays sparse and scoring is a sparse product.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

__all__ = ["ease_weights", "spd_inverse"]


def spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix through its Cholesky factor (LAPACK potrf + potri).

    Half the work of a general LU inverse (numpy's ``inv``): 1.8 s against 3.9 s for Online Retail's 3.7k
    products on this host; equal to it within float32 rounding (4e-7 relative). ``X^T X + lambda I`` with
    lambda > 0 is always positive definite; should the factorisation still fail, numpy's inverse is used.
    """
    from scipy.linalg import lapack  # late: only the fit needs it

    factor, info = lapack.spotrf(matrix, lower=False, clean=False) if matrix.dtype == np.float32 else (
        lapack.dpotrf(matrix, lower=False, clean=False))
    if info == 0:
        potri = lapack.spotri if matrix.dtype == np.float32 else lapack.dpotri
        upper, info = potri(factor, lower=False)
        if info == 0:
            return np.triu(upper) + np.triu(upper, 1).T
    return np.linalg.inv(matrix)


def ease_weights(binary: sp.csr_matrix, lam: float, *, max_items: int = 6000, keep: int = 200) -> sp.csr_matrix:
    """Sparse (n_items, n_items) EASE weights B (zero diagonal); user scores are ``history @ B``."""
    n_items = binary.shape[1]
    popularity = np.asarray(binary.sum(axis=0)).ravel()
    active = np.sort(np.argsort(-popularity, kind="stable")[:max_items])
    active = active[popularity[active] > 0]
    if len(active) == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    x = sp.csr_matrix(binary[:, active], dtype=np.float32)
    gram = (x.T @ x).toarray()  # float32, like the EASE baseline: half the time of float64 at lambda >= 1
    gram[np.diag_indices_from(gram)] += lam
    with threadpool_limits(None):  # use every core for the one dense inverse
        inverse = spd_inverse(gram)
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    keep = min(keep, len(active) - 1) if len(active) > 1 else 0
    if keep < 1:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    # prune per target item (column): each item keeps the sources that predict it best
    top = np.argpartition(-np.abs(weights), keep - 1, axis=0)[:keep, :]
    rows = active[top.ravel()]
    cols = np.tile(active, keep)
    vals = np.take_along_axis(weights, top, axis=0).ravel().astype(np.float32)
    out = sp.csr_matrix((vals, (rows, cols)), shape=(n_items, n_items))
    out.eliminate_zeros()
    out.sort_indices()
    return out
