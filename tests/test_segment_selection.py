"""Choosing k (sweep on known blobs, the documented rule) and the stability check."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from segrec.exceptions import InputError, UnstableSegmentationWarning
from segrec.segment.segmenter import FeaturePreprocessor, Segmenter
from segrec.segment.selection import KMetrics, adjusted_rand, choose_k, stability, sweep_k


def blobs(centers: int, n: int = 1500, seed: int = 3) -> pd.DataFrame:
    X, _ = make_blobs(n, 4, centers=centers, cluster_std=0.8, random_state=seed)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])


@pytest.mark.parametrize("centers", [3, 4, 6])
def test_sweep_finds_the_number_of_well_separated_blobs(centers: int) -> None:
    X = blobs(centers)
    Z = FeaturePreprocessor(features=list(X.columns), log_features=[]).fit(X).transform(X)
    sweep = sweep_k(Z, range(2, 9), random_state=0)
    assert sweep.chosen == centers
    assert [m.k for m in sweep.metrics] == list(range(2, 9))
    assert f"k={centers}" in sweep.why and "silhouette" in sweep.why and "elbow" in sweep.why
    assert sweep.to_dict()["chosen_k"] == centers


def metrics(
    sil: dict[int, float], min_share: dict[int, float] | None = None, ch: dict[int, float] | None = None
) -> list[KMetrics]:
    shares, chs = min_share or {}, ch or {}
    return [KMetrics(k, 100.0 / k, s, chs.get(k, 1.0), 1.0, shares.get(k, 0.1)) for k, s in sil.items()]


def test_rule_prefers_the_elbow_when_silhouette_and_ch_tie() -> None:
    assert choose_k(metrics({2: 0.50, 3: 0.49, 4: 0.40}), knee=3)[0] == 3


def test_rule_breaks_silhouette_near_ties_by_calinski_harabasz() -> None:
    chosen, why = choose_k(metrics({4: 0.60, 5: 0.72, 6: 0.73}, ch={5: 5000.0, 6: 8000.0}), knee=5)
    assert chosen == 6 and "Calinski-Harabasz" in why


def test_rule_lets_silhouette_veto_a_poorly_separated_elbow() -> None:
    assert choose_k(metrics({2: 0.30, 3: 0.31, 4: 0.45, 5: 0.30}), knee=3)[0] == 4


def test_rule_rejects_a_k_with_a_tiny_segment() -> None:
    chosen, why = choose_k(metrics({2: 0.30, 3: 0.60, 4: 0.58}, {3: 0.01}), knee=3)
    assert chosen == 4 and ">= 2%" in why


def test_rule_without_a_knee_takes_the_best_silhouette() -> None:
    assert choose_k(metrics({2: 0.30, 3: 0.60, 4: 0.58}), knee=None)[0] == 3


def test_sweep_rejects_bad_k_values() -> None:
    with pytest.raises(InputError, match="at least two"):
        sweep_k(np.zeros((50, 2)), [1, 2])


def test_stability_is_perfect_on_blobs_and_warns_when_below_threshold() -> None:
    X = blobs(3)
    model = Segmenter(n_clusters=3, features=list(X.columns), n_init=3, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnstableSegmentationWarning)
        result = stability(X, model, n_seeds=5, n_bootstrap=5)
    assert len(result.seed_ari) == 5 and len(result.bootstrap_ari) == 5
    assert result.stable and min(result.seed_ari + result.bootstrap_ari) > 0.99
    noise = pd.DataFrame(np.random.default_rng(0).uniform(size=(600, 4)), columns=list(X.columns))
    noisy = Segmenter(n_clusters=7, features=list(X.columns), n_init=1, random_state=0).fit(noise)
    with pytest.warns(UnstableSegmentationWarning, match="mean ARI"):
        result = stability(noise, noisy, n_seeds=5, n_bootstrap=5, threshold=0.999)
    assert not result.stable and result.to_dict()["seeds"]["min"] < 0.999


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 9)), min_size=1, max_size=300))
def test_adjusted_rand_is_scikit_learns_to_the_bit(pairs: list[tuple[int, int]]) -> None:
    a, b = (np.array(side, dtype=np.int64) for side in zip(*pairs, strict=True))
    assert adjusted_rand(a, b) == adjusted_rand_score(a, b)
    assert adjusted_rand(a, a) == adjusted_rand_score(a, a) == 1.0


def test_adjusted_rand_hands_other_labels_to_scikit_learn() -> None:
    assert adjusted_rand(np.array([-1, 0, 0, 1]), np.array([0, 0, 1, 1])) == adjusted_rand_score([-1, 0, 0, 1],
                                                                                                  [0, 0, 1, 1])
    assert adjusted_rand(np.array(["a", "b", "b"]), np.array([0, 1, 1])) == 1.0
    with pytest.raises(ValueError):
        adjusted_rand(np.array([0, 1]), np.array([0, 1, 1]))
    rng = np.random.default_rng(0)  # a million labels: the stability check's size
    a = rng.integers(0, 5, 1_000_000)
    b = np.where(rng.random(len(a)) < 0.99, a, rng.integers(0, 6, len(a)))
    assert adjusted_rand(a, b) == adjusted_rand_score(a, b)
