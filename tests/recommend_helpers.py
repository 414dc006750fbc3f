"""Tiny shops for the recommender tests (fast: a few hundred rows)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from segrec.columns import Columns as C
from segrec.data.generate import generate_shop
from segrec.recommend import ContentRecommender, Dataset, HybridRecommender, LightFMRecommender

FAST_CF = {"no_components": 8, "epochs": 4, "num_threads": 1, "random_state": 7, "patience": 2}


def small_events(customers: int = 150, products: int = 40, seed: int = 3) -> pd.DataFrame:
    return generate_shop(customers=customers, products=products, months=3, seed=seed).events


def catalogue_events() -> pd.DataFrame:
    """Hand-made: two themes of products (mugs, candles) and who bought what; the right answers are obvious."""
    names = {
        "M1": "blue ceramic coffee mug", "M2": "red ceramic coffee mug", "M3": "ceramic tea mug",
        "C1": "vanilla scented candle", "C2": "lavender scented candle", "C3": "scented tea light candle",
    }
    rows = []
    baskets = {"u1": ["M1", "M2"], "u2": ["M2", "M3"], "u3": ["C1", "C2"], "u4": ["C2", "C3"],
               "u5": ["M1", "M3", "M2"], "u6": ["C1", "C3"]}
    day = pd.Timestamp("2024-01-01")
    for n, (user, items) in enumerate(baskets.items()):
        for item in items:
            rows.append({C.User: user, C.Item: item, C.ItemName: names[item], C.Date: day + pd.Timedelta(days=n),
                         C.Category: "mugs" if item[0] == "M" else "candles", C.Price: 5.0 + n})
    return pd.DataFrame(rows)


def fast_hybrid(**params: object) -> HybridRecommender:
    return HybridRecommender(collaborative=LightFMRecommender(**FAST_CF), content=ContentRecommender(k_neighbours=10),
                             ease_lambda=10.0, **params)


def round_trip(model, dataset: Dataset):
    """get_state -> json + npz (no pickle) -> from_state."""
    config, arrays = model.get_state()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        loaded = {name: npz[name] for name in npz.files}
    return type(model).from_state(json.loads(json.dumps(config)), loaded, dataset)


def with_forced_ranker(model: HybridRecommender) -> HybridRecommender:
    """A copy of a fitted hybrid with a second stage fitted on its own dataset's last 20%, however it scores:
    for tests of the ranker's scoring and state on data too small for ``fit`` to keep one."""
    import copy

    from segrec.recommend.hybrid.ranker import fit_ranker, sample_pool
    from segrec.recommend.hybrid.signals import SIGNALS, raw_signals
    from segrec.recommend.hybrid.tuning import weighted_sum
    from segrec.recommend.hybrid.validation import make_validation

    model = copy.copy(model)
    split = make_validation(model.dataset_, None, "temporal", 0.2, seed=0)
    users = np.flatnonzero(np.diff(split.new.indptr))
    inputs = model._ranker_inputs(split.train, users, raw_signals(model, split.train, users, SIGNALS))
    blend = weighted_sum(inputs.z, model.weights_, (len(users), split.train.n_items))
    pool = np.argsort(-blend, axis=1, kind="stable")[:, :30]
    rows, items, labels = sample_pool(pool, split.new[users], 0)
    model.ranker_ = fit_ranker(inputs, rows, items, labels)
    return model
