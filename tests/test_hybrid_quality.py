"""The default hybrid against EASE on small generated shops where it must not lose (issue 12, item 3).

The full matrix (Online Retail and the generated shop, every split, every baseline, both modes) is
``benchmarks/quality.py``; these are its fast sentinels on a per-user random split, the protocol where the
hybrid once fell far below EASE because it tuned itself on the last weeks of training. The shop (800
customers, 250 products, 12 months: ~16k purchase lines) is large enough for EASE to be meaningful (P@10
~0.09, popularity ~0.055) and small enough to fit in seconds. With the hybrid of commit 41de560 (before
issue 12's rework) the hybrid's P@10 over EASE's, shop seeds 0 / 1 / 2, was 1.093 / 1.090 / 1.056 with dates,
0.976 / 0.964 / 0.973 with every date equal and 0.963 / 0.947 / 0.953 without metadata either: the generated
shop does not reproduce Online Retail's collapse (0.27x EASE), so these guard the rework rather than
reproduce the bug; the flat cases sat close to the 5% line. Each also checks the mechanism: the hybrid's
validation slice was drawn like the split (random).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from segrec.columns import Columns
from segrec.data.generate import generate_shop
from segrec.data.read import ingest
from segrec.evaluation import evaluate, random_split

#: The hybrid may lose to EASE by at most this share of EASE's precision@10 (issue 12).
TOLERANCE = 0.05
K = 10


def _shop() -> pd.DataFrame:
    return generate_shop(customers=800, products=250, months=12, seed=0).events


def _dates_equal(events: pd.DataFrame) -> pd.DataFrame:
    """Every purchase on one day: nothing to learn from time, everything else kept."""
    return events.assign(**{Columns.Date: events[Columns.Date].max()})


def _no_metadata(events: pd.DataFrame) -> pd.DataFrame:
    """What a shop with only user, product and quantity (and one date for all) gets from ingestion."""
    raw = events[[Columns.User, Columns.Item, Columns.Quantity]].assign(**{Columns.Date: "2024-12-31"})
    return ingest(raw).events


def _hybrid_over_ease(events: pd.DataFrame) -> tuple[float, float]:
    split = random_split(events, test_fraction=0.2, seed=42)
    result = evaluate(split.train, split.test, ["hybrid", "ease"], K, split_description=split.description)
    # the hybrid tuned itself on a slice drawn like this test set: a random share of each customer's products
    assert result.split["validation"]["protocol"] == "random"
    assert result.models[0].tuning["validation"]["protocol"] == "random"
    precision = {model.name: model.metrics[f"precision@{K}"] for model in result.models}
    return precision["hybrid"], precision["ease"]


def test_hybrid_holds_ease_on_a_random_split() -> None:
    hybrid, ease = _hybrid_over_ease(_shop())
    assert ease > 0.05  # EASE is meaningful here, so the comparison is
    assert hybrid >= (1 - TOLERANCE) * ease, f"hybrid P@{K} {hybrid:.4f} vs EASE {ease:.4f}"


@pytest.mark.parametrize("flatten", [_dates_equal, _no_metadata], ids=["dates-equal", "no-metadata"])
def test_hybrid_holds_ease_when_dates_are_flat(flatten: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    hybrid, ease = _hybrid_over_ease(flatten(_shop()))
    assert ease > 0.05
    assert hybrid >= (1 - TOLERANCE) * ease, f"hybrid P@{K} {hybrid:.4f} vs EASE {ease:.4f}"

