"""The generated shop: deterministic, canonical, internally consistent, and shaped like a real shop."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from segrec.columns import Columns as C
from segrec.data.generate import CATEGORIES, PERSONAS, STYLES, GeneratedShop, generate_shop
from segrec.exceptions import InputError

# The dtype table of segrec/columns.py, spelled out so that a drift in either place fails here.
CANONICAL_DTYPES = {
    C.User: "string", C.Item: "string", C.ItemName: "string", C.Category: "string", C.Price: "float64",
    C.Date: "datetime64[ns]", C.Quantity: "int64", C.Spending: "float64", C.Clicks: "float64",
    C.TimeSpent: "float64", C.AbandonedCart: "boolean", C.Engagement: "float64", C.Age: "float64",
    C.Gender: "string", C.Location: "string", C.Income: "float64", C.Order: "string", C.Description: "string",
}


@pytest.fixture(scope="module")
def timed_shop() -> tuple[GeneratedShop, float]:
    began = time.perf_counter()
    shop = generate_shop()
    return shop, time.perf_counter() - began


@pytest.fixture(scope="module")
def shop(timed_shop: tuple[GeneratedShop, float]) -> GeneratedShop:
    return timed_shop[0]


@pytest.fixture(scope="module")
def events(shop: GeneratedShop) -> pd.DataFrame:
    return shop.events


@pytest.fixture(scope="module")
def tasteless() -> GeneratedShop:
    """The default shop with individual taste switched off: every customer buys like their persona's average."""
    return generate_shop(category_concentration=np.inf, style_concentration=np.inf)


def small(seed: int = 3) -> GeneratedShop:
    return generate_shop(customers=300, products=120, months=6, seed=seed)


def test_default_size_and_speed(timed_shop: tuple[GeneratedShop, float]) -> None:
    shop, seconds = timed_shop
    print(f"\ndefault shop: {len(shop.events):,} rows in {seconds:.2f} s")
    assert 80_000 <= len(shop.events) <= 120_000
    assert seconds < 20  # about 0.5 s on the reference machine; generous against slow CI
    assert shop.events[C.User].nunique() == len(shop.truth) == 5000  # every customer buys at least once
    assert shop.events[C.Item].nunique() <= 1000


def test_same_seed_same_shop_other_seed_differs() -> None:
    a, b, c = small(), small(), small(seed=4)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not a.events.equals(c.events)


def test_schema_is_exactly_canonical(shop: GeneratedShop) -> None:
    assert tuple(shop.events.columns) == C.Canonical
    assert {k: str(v) for k, v in shop.events.dtypes.items()} == CANONICAL_DTYPES
    assert tuple(shop.truth.columns) == (C.User, C.Persona)
    assert {str(t) for t in shop.truth.dtypes} == {"string"}
    assert set(shop.truth[C.Persona]) == {p.name for p in PERSONAS}
    required = shop.events[[c for c in C.Canonical if c not in (C.Age, C.Income)]]
    assert not required.isna().any().any()


def test_ids_and_ordering(events: pd.DataFrame) -> None:
    assert events[C.Item].str.fullmatch(r"P\d{5}").all()
    assert events[C.User].str.fullmatch(r"C\d{5}").all()
    assert events[C.Order].str.fullmatch(r"O\d{7}").all()
    assert events[C.Date].is_monotonic_increasing
    per_order = events.groupby(C.Order).agg(users=(C.User, "nunique"), dates=(C.Date, "nunique"))
    assert (per_order == 1).all().all()  # one basket = one customer at one moment
    assert not events.duplicated([C.Order, C.Item]).any()


def test_formulas_hold_exactly(events: pd.DataFrame) -> None:
    assert (events[C.Spending] == events[C.Price] * events[C.Quantity]).all()
    assert (events[C.Engagement] == events[C.Clicks] / events[C.TimeSpent]).all()
    assert (events[C.Price] > 0).all() and (events[C.Quantity] >= 1).all()
    assert (events[C.Clicks] >= 1).all() and (events[C.TimeSpent] > 0).all()


def test_product_and_customer_attributes_are_constant(events: pd.DataFrame) -> None:
    per_item = events.groupby(C.Item)[[C.ItemName, C.Category, C.Price, C.Description]].nunique()
    assert (per_item == 1).all().all()
    per_user = events.groupby(C.User)[[C.Age, C.Gender, C.Location, C.Income]].nunique(dropna=False)
    assert (per_user == 1).all().all()


def test_some_demographics_are_missing(events: pd.DataFrame) -> None:
    people = events.drop_duplicates(C.User)
    assert 0.01 < people[C.Age].isna().mean() < 0.04
    assert 0.015 < people[C.Income].isna().mean() < 0.05


def test_persona_mix_near_configured_shares(shop: GeneratedShop) -> None:
    observed = shop.truth[C.Persona].value_counts(normalize=True)
    for persona in PERSONAS:
        assert observed[persona.name] == pytest.approx(persona.share, abs=0.02)
    assert len({p.share for p in PERSONAS}) > 1
    assert sum(p.share for p in PERSONAS) == pytest.approx(1.0)


def test_prices_are_log_normal_per_category(events: pd.DataFrame) -> None:
    catalogue = events.drop_duplicates(C.Item)
    assert catalogue[C.Category].nunique() == len(CATEGORIES)
    medians = catalogue.groupby(C.Category)[C.Price].median()
    assert medians.max() / medians.min() > 10
    assert catalogue[C.Price].skew() > 0
    assert np.log(catalogue[C.Price]).skew() < catalogue[C.Price].skew()


def test_popularity_is_zipf_like(events: pd.DataFrame) -> None:
    counts = events[C.Item].value_counts()
    top = counts.iloc[: len(counts) // 10].sum() / counts.sum()
    assert top > 0.4  # a uniform shop would give 0.1


def test_repeat_buying_and_december_peak(events: pd.DataFrame) -> None:
    repeat_share = events.duplicated([C.User, C.Item]).mean()
    assert 0.1 < repeat_share < 0.7
    by_category = events.assign(rep=events.duplicated([C.User, C.Item])).groupby(C.Category)["rep"].mean()
    assert by_category["Grocery"] > by_category["Jewellery"]
    orders_per_month = events.drop_duplicates(C.Order)[C.Date].dt.month.value_counts()
    assert orders_per_month.idxmax() == 12
    assert orders_per_month[12] > 1.5 * orders_per_month.median()


def test_lapsed_customers_stop_buying(events: pd.DataFrame, shop: GeneratedShop) -> None:
    last = events.groupby(C.User)[C.Date].max()
    recency = (events[C.Date].max() - last).dt.days
    persona = shop.truth.set_index(C.User)[C.Persona]
    median = recency.groupby(persona.loc[recency.index].to_numpy()).median()
    assert median["lapsed_customers"] > 90
    assert median.drop("lapsed_customers").max() < 45


def test_names_share_words_within_a_category(events: pd.DataFrame) -> None:
    catalogue = events.drop_duplicates(C.Item)
    assert catalogue[C.ItemName].is_unique
    words = catalogue.assign(w=catalogue[C.Description].str.lower().str.findall(r"[a-z]+"))
    vocab = words.explode("w").groupby(C.Category)["w"].agg(set)
    grocery, electronics = vocab["Grocery"], vocab["Electronics"]
    assert len(grocery & vocab["Pets"]) > len(grocery & electronics)


def test_personas_are_recoverable_by_kmeans(events: pd.DataFrame, shop: GeneratedShop) -> None:
    """The data must support the segmentation the product promises: ARI >= 0.8 at k=5."""
    per_user = events.groupby(C.User).agg(
        spend=(C.Spending, "sum"), orders=(C.Order, "nunique"), last=(C.Date, "max"),
        age=(C.Age, "first"), income=(C.Income, "first"),
    )
    recency = (events[C.Date].max() - per_user["last"]).dt.days
    features = np.column_stack([
        np.log1p(per_user["spend"]), np.log1p(per_user["orders"]), recency,
        per_user["age"].fillna(per_user["age"].median()), per_user["income"].fillna(per_user["income"].median()),
    ])
    labels = KMeans(5, n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(features))
    truth = shop.truth.set_index(C.User).loc[per_user.index, C.Persona]
    ari = adjusted_rand_score(truth, labels)
    print(f"\nK-Means ARI against personas: {ari:.3f}")
    assert ari >= 0.8


def _category_spread(shop: GeneratedShop) -> float:
    """Mean total-variation distance between a customer's category mix and their persona's (>= 15 lines)."""
    counts = pd.crosstab(shop.events[C.User], shop.events[C.Category])
    shares = counts[counts.sum(axis=1) >= 15].pipe(lambda c: c.div(c.sum(axis=1), axis=0))
    persona = shop.truth.set_index(C.User)[C.Persona].loc[shares.index].to_numpy()
    return float(0.5 * (shares - shares.groupby(persona).transform("mean")).abs().sum(axis=1).mean())


def _style_lift(shop: GeneratedShop) -> float:
    """How much more often a customer's later products are in the style they favoured earlier, than their persona's.

    Each customer's distinct products (>= 10) are split in time; the favourite style of the first half is scored
    on the second half against that style's share among all of the persona's products.
    """
    ev = shop.events.drop_duplicates([C.User, C.Item])
    taglines = {s.tagline: s.name for s in STYLES}
    ev = ev.assign(style=ev[C.Description].str.extract(r"([A-Z][a-z]+ [a-z]+ range\.)$")[0].map(taglines),
                   persona=shop.truth.set_index(C.User)[C.Persona].loc[ev[C.User]].to_numpy())
    size = ev.groupby(C.User)[C.Item].transform("size")
    ev, size = ev[size >= 10], size[size >= 10]
    later = ev.groupby(C.User).cumcount() >= size // 2
    favourite = ev[~later].groupby(C.User)["style"].agg(lambda s: s.value_counts().index[0])
    test = ev[later].assign(favourite=favourite.loc[ev.loc[later, C.User]].to_numpy())
    persona_share = ev.groupby("persona")["style"].value_counts(normalize=True)
    expected = persona_share.loc[list(zip(test["persona"], test["favourite"], strict=True))].to_numpy()
    return float((test["style"] == test["favourite"]).mean() / expected.mean())


def test_customers_have_their_own_category_mix(shop: GeneratedShop, tasteless: GeneratedShop) -> None:
    """Customers of one persona differ beyond sampling noise (the taste-free shop shows the noise alone)."""
    spread, noise = _category_spread(shop), _category_spread(tasteless)
    print(f"\ncategory spread within personas: {spread:.3f} (taste off: {noise:.3f})")
    assert spread > 1.3 * noise


def test_customers_keep_to_their_favourite_style(shop: GeneratedShop, tasteless: GeneratedShop) -> None:
    """The style a customer favoured earlier predicts their later products beyond the persona average."""
    assert all(ev[C.Description].str.endswith(tuple(s.tagline for s in STYLES)).all()
               for ev in (shop.events, tasteless.events))
    lift, none = _style_lift(shop), _style_lift(tasteless)
    print(f"\nfavourite-style lift over the persona average: {lift:.2f} (taste off: {none:.2f})")
    assert lift > 1.4 and none < 1.1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"customers": 0}, "customers"), ({"products": 5}, "products"), ({"months": 0}, "months"),
     ({"start": "not a date"}, "start"), ({"category_concentration": 0}, "category_concentration"),
     ({"style_concentration": -1.0}, "style_concentration"), ({"style_concentration": np.nan}, "style")],
)
def test_bad_arguments_raise_input_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        generate_shop(**kwargs)


def test_tiny_and_long_shops_work() -> None:
    tiny = generate_shop(customers=1, products=12, months=1, seed=0)
    assert tiny.events[C.User].nunique() == 1
    long = generate_shop(customers=200, products=50, months=30, seed=0, start="2022-03-15")
    dates = long.events[C.Date]
    assert dates.min() >= pd.Timestamp("2022-03-15") and dates.max() < pd.Timestamp("2024-09-15")
