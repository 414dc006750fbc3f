"""Side features for users and items: one-hot categories and quantile bands, with JSON-able state.

LightFM represents a user (item) as the sum of the embeddings of its features. With an identity feature per
user plus side features (segment, age band, ...), a known customer gets their own vector, and a new customer
described only by demographics still gets one: the sum of their side-feature embeddings. For that to work the
encoding must be reproducible on new rows, so the encoder stores the category levels and the band edges it
learned on the training users, and its state is plain JSON (no pickle).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from ..columns import Columns
from ..exceptions import InputError, NotFittedError

__all__ = [
    "ITEM_FEATURES",
    "USER_FEATURES",
    "FeatureEncoder",
    "item_encoder",
    "lightfm_features",
    "user_encoder",
]

# (column, kind): "category" is one-hot per level, "band" is one-hot per quantile band of a number.
USER_FEATURES: tuple[tuple[str, str], ...] = (
    (Columns.Segment, "category"),
    (Columns.Age, "band"),
    (Columns.Gender, "category"),
    (Columns.Location, "category"),
    (Columns.Income, "band"),
)
ITEM_FEATURES: tuple[tuple[str, str], ...] = ((Columns.Category, "category"), (Columns.Price, "band"))

# Levels that carry no information; encoded as "no feature" rather than as a level of their own.
_UNINFORMATIVE = {"", "unknown", "nan", "<na>", "none"}


class FeatureEncoder:
    """One-hot encoder of categorical and banded numeric columns, fitted on training rows.

    Unseen or missing values map to no feature at all (an empty row segment), so a new customer from a
    new country is still encoded, by whatever else is known about them. A column with fewer than two
    informative levels on the training rows is dropped: a feature every row shares teaches nothing.

    Parameters
    ----------
    spec : sequence of (column, kind)
        ``kind`` is ``"category"`` or ``"band"``.
    n_bands : int
        Number of quantile bands for numeric columns (edges are training-set quantiles).
    max_levels : int
        Keep at most this many most frequent levels per categorical column (the rest are "unseen").
    """

    def __init__(self, spec: Sequence[tuple[str, str]], *, n_bands: int = 5, max_levels: int = 50) -> None:
        self.spec = tuple((str(c), str(k)) for c, k in spec)
        self.n_bands = n_bands
        self.max_levels = max_levels

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        levels: dict[str, list[str]] = {}
        edges: dict[str, list[float]] = {}
        for column, kind in self.spec:
            if column not in frame:
                continue
            if kind == "category":
                values = _as_levels(frame[column]).dropna()
                kept = values.value_counts().index[: self.max_levels].tolist()
                if len(kept) >= 2:
                    levels[column] = sorted(kept)
            elif kind == "band":
                values = pd.to_numeric(frame[column], errors="coerce").dropna().to_numpy(np.float64)
                inner = np.unique(np.quantile(values, np.linspace(0, 1, self.n_bands + 1)[1:-1])) if len(values) else []
                if len(values) and len(inner) >= 1:
                    edges[column] = [float(e) for e in inner]
            else:
                raise InputError(f"feature kind {kind!r} of {column!r} is not 'category' or 'band'")
        self.levels_, self.edges_ = levels, edges
        return self

    @property
    def feature_names_(self) -> list[str]:
        self._check()
        names = [f"{c}={level}" for c, lv in self.levels_.items() for level in lv]
        for column, edges in self.edges_.items():
            bounds = ["-inf", *(f"{e:g}" for e in edges), "inf"]
            names += [f"{column}=[{lo},{hi})" for lo, hi in itertools.pairwise(bounds)]
        return names

    @property
    def n_features_(self) -> int:
        return len(self.feature_names_)

    def transform(self, frame: pd.DataFrame) -> sp.csr_matrix:
        """Binary CSR (n_rows, n_features_); missing columns and unseen values give empty entries."""
        self._check()
        n = len(frame)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        offset = 0
        for column, lv in self.levels_.items():
            if column in frame:
                code = pd.Index(lv).get_indexer(_as_levels(frame[column]).fillna("\0"))
                hit = np.flatnonzero(code >= 0)
                rows.append(hit)
                cols.append(offset + code[hit])
            offset += len(lv)
        for column, edges in self.edges_.items():
            if column in frame:
                values = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)
                hit = np.flatnonzero(np.isfinite(values))
                rows.append(hit)
                cols.append(offset + np.searchsorted(edges, values[hit], side="right"))
            offset += len(edges) + 1
        r = np.concatenate(rows) if rows else np.array([], np.int64)
        c = np.concatenate(cols) if cols else np.array([], np.int64)
        return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n, offset))

    def fit_transform(self, frame: pd.DataFrame) -> sp.csr_matrix:
        return self.fit(frame).transform(frame)

    def get_state(self) -> dict[str, Any]:
        """JSON-ready state: spec, parameters, levels and band edges."""
        self._check()
        return {"spec": [list(s) for s in self.spec], "n_bands": self.n_bands, "max_levels": self.max_levels,
                "levels": self.levels_, "edges": self.edges_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureEncoder:
        enc = cls([tuple(s) for s in state["spec"]], n_bands=state["n_bands"], max_levels=state["max_levels"])
        enc.levels_ = {str(k): [str(x) for x in v] for k, v in state["levels"].items()}
        enc.edges_ = {str(k): [float(x) for x in v] for k, v in state["edges"].items()}
        return enc

    def _check(self) -> None:
        if not hasattr(self, "levels_"):
            raise NotFittedError("this FeatureEncoder is not fitted yet; call fit(frame) first")


def _as_levels(values: pd.Series) -> pd.Series:
    """Values as stripped strings, with missing and uninformative levels as NA."""
    text = values.astype("string").str.strip()
    return text.mask(text.str.lower().isin(_UNINFORMATIVE)).astype(object).where(text.notna(), None)


def user_encoder(*, n_bands: int = 5, max_levels: int = 50) -> FeatureEncoder:
    """Encoder of segment, age band, gender, location and income band."""
    return FeatureEncoder(USER_FEATURES, n_bands=n_bands, max_levels=max_levels)


def item_encoder(*, n_bands: int = 5, max_levels: int = 50) -> FeatureEncoder:
    """Encoder of category and price band."""
    return FeatureEncoder(ITEM_FEATURES, n_bands=n_bands, max_levels=max_levels)


def lightfm_features(side: sp.csr_matrix, *, identity: bool = True, side_weight: float = 1.0) -> sp.csr_matrix:
    """LightFM's feature matrix: ``[identity | side_weight * side]`` with rows normalised to sum to 1.

    The identity block comes first so that a row's own feature has index ``row``. Row normalisation keeps a
    user with many side features from getting a larger vector than one with few (LightFM's advice). Cold rows
    (no identity) are scored from the side-feature embeddings directly, see
    :meth:`~segrec.recommend.collaborative.LightFMRecommender.cold_user_factors`.
    """
    n = side.shape[0]
    blocks = [sp.identity(n, np.float32, format="csr")] if identity else []
    blocks.append(sp.csr_matrix(side, dtype=np.float32) * np.float32(side_weight))
    return normalize(sp.hstack(blocks, format="csr"), norm="l1").astype(np.float32)
