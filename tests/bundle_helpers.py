"""A small trained bundle shared by the bundle and API tests (a generated shop, a segmentation, a model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from segrec.bundle import save_bundle
from segrec.columns import Columns
from segrec.data.generate import generate_shop
from segrec.features.customers import customer_features
from segrec.recommend import Dataset, Recommender
from segrec.recommend.registry import available_models, model_from_config
from segrec.segment.profiles import segment_profiles
from segrec.segment.segmenter import Segmenter

MODEL = {"name": "hybrid" if "hybrid" in available_models() else "ease", "params": {}}


@dataclass(frozen=True, eq=False)
class Trained:
    events: pd.DataFrame
    recommender: Recommender
    segmenter: Segmenter
    segments: pd.DataFrame
    profiles: pd.DataFrame


def train_small(customers: int = 300, products: int = 80, seed: int = 7, model: dict | None = None) -> Trained:
    """Everything a bundle holds, trained on a shop small enough for unit tests (a few seconds)."""
    events = generate_shop(customers=customers, products=products, months=4, seed=seed).events
    features = customer_features(events)
    segmenter = Segmenter(n_clusters=4, n_init=3, random_state=seed).fit(features)
    profiles = segment_profiles(features, segmenter.labels_, events)
    segments = pd.DataFrame({
        Columns.User: features.index.astype(str), Columns.Segment: segmenter.labels_,
        Columns.SegmentName: profiles[Columns.SegmentName].reindex(segmenter.labels_).to_numpy(),
    })
    dataset = Dataset.from_events(events, segments=segments.set_index(Columns.User)[Columns.Segment])
    recommender = model_from_config(model or MODEL).fit(dataset)
    return Trained(events, recommender, segmenter, segments, profiles)


def save_trained(trained: Trained, path: Path) -> Path:
    return save_bundle(path, recommender=trained.recommender, segmenter=trained.segmenter,
                       segments=trained.segments, profiles=trained.profiles,
                       evaluation={"precision@10": 0.1}, params={"seed": 7})



@pytest.fixture(scope="module")
def trained() -> Trained:
    """A trained hybrid, segmenter, segments and profiles (loaded as a plugin by the test modules)."""
    return train_small()


@pytest.fixture(scope="module")
def bundle_path(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_trained(trained, tmp_path_factory.mktemp("bundle") / "bundle")
