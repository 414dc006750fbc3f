"""The blend search: candidates that do not change what a single signal scores, a start at the best part."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from segrec.recommend.hybrid import tuning


def _problem(seed: int, n: int = 60, m: int = 400, signals: int = 3) -> tuple[dict, sp.csr_matrix, sp.csr_matrix]:
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, m)).astype(np.float32)
    blocks = {f"s{i}": (base * rng.uniform(0, 1) + rng.standard_normal((n, m))).astype(np.float32)
              for i in range(signals)}
    targets = sp.csr_matrix((base > 1.8) | (rng.random((n, m)) < 0.01), dtype=np.float32)
    keep = np.diff(targets.indptr) > 0
    seen = sp.csr_matrix(rng.random((int(keep.sum()), m)) < 0.05, dtype=np.float32)
    return {k: v[keep] for k, v in blocks.items()}, targets[keep], seen


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), masked=st.booleans())
def test_candidates_keep_every_single_signals_objective(seed: int, masked: bool) -> None:
    """A signal's own top 10 lies in its top ``size``: ranking the candidates scores it exactly as the full
    catalogue does (NDCG's ideal keeps the targets the candidates miss)."""
    signals, targets, seen = _problem(seed)
    seen = seen if masked else None
    full = tuning.ranking_objective(targets, seen)
    small, small_targets, small_seen = tuning._candidates(signals, targets, seen, 20)
    assert next(iter(small.values())).shape[1] < targets.shape[1]
    restricted = tuning.ranking_objective(small_targets, small_seen)
    for name in signals:
        assert abs(full(signals[name]) - restricted(small[name])) < 1e-9


def test_search_starts_from_the_best_single_signal_and_keeps_fixed_weights() -> None:
    signals, targets, seen = _problem(3)
    signals["noise"] = np.random.default_rng(9).standard_normal(signals["s0"].shape).astype(np.float32)
    grids = {name: tuning.WEIGHT_GRID for name in signals}
    weights, table = tuning.tune_weights(signals, targets, seen, grids, fixed={"s2": 0.5})
    assert "s2" not in table["alone"] and weights["s2"] == 0.5 and table["fixed"] == {"s2": 0.5}
    weights, table = tuning.tune_weights(signals, targets, seen, grids)
    best = max(table["alone"], key=table["alone"].get)
    assert table["best_single"] == best and table["objective_blend"] >= table["objective_single"]
    assert weights["noise"] == 0.0 or table["alone"]["noise"] == max(table["alone"].values())
