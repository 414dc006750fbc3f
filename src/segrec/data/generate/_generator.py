"""Generate a shop's purchase history from latent personas, vectorised with numpy.

The pipeline is customers (and their individual tastes) -> orders -> lines -> sessions. Each stage draws from
its own sub-stream of one ``numpy.random.default_rng(seed)``, so the catalogue depends only on ``seed`` and
``products`` and a change to one stage does not reshuffle the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from ...columns import Columns
from ...exceptions import InputError
from ._catalogue import CATEGORIES, POPULARITY, STYLE, STYLES, build_catalogue, make_ids
from ._personas import CITIES, GENDERS, OTHER_AFFINITY, PERSONAS

#: Shop-wide demand by calendar month (January..December): Black Friday in November, a December peak.
MONTH_SEASON = np.array([0.85, 0.8, 0.9, 0.95, 1.0, 0.95, 0.95, 1.0, 0.95, 1.05, 1.3, 1.7])
WEEKEND_UPLIFT = 1.15
#: Relative chance of an order starting in each hour of the day (quiet nights, an evening peak).
HOUR_WEIGHTS = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.5, 2.5, 3, 3.2, 3.4,
                         3.8, 3.5, 3.2, 3.2, 3.4, 3.8, 4.5, 5.2, 5.5, 4.8, 3.5, 2])
STAPLES_PER_CUSTOMER = 6
LATE_JOINERS = 0.1  # share of customers whose first visit can fall anywhere in the first 80% of the period
MISSING_AGE, MISSING_INCOME = 0.02, 0.03
#: Added to every customer's style weights (which sum to 1), so that no style is ever out of reach.
STYLE_FLOOR = 0.05
#: Defaults of :func:`generate_shop`'s taste knobs (see there).
CATEGORY_CONCENTRATION, STYLE_CONCENTRATION = 8.0, 0.5
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, eq=False)
class GeneratedShop:
    """A generated purchase history (canonical ``events``) and each customer's latent persona (``truth``)."""

    events: pd.DataFrame
    truth: pd.DataFrame

    def __post_init__(self) -> None:
        if tuple(self.events.columns) != Columns.Canonical:
            raise ValueError(f"events must have the canonical columns {Columns.Canonical}")
        if tuple(self.truth.columns) != (Columns.User, Columns.Persona):
            raise ValueError(f"truth must have the columns {(Columns.User, Columns.Persona)}")


def _per_persona(attr: str) -> np.ndarray:
    """One persona attribute as an array indexed by persona number."""
    return np.array([getattr(p, attr) for p in PERSONAS], dtype=np.float64)


def _choose_per_row(cum_probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one category per row, each row from its own distribution given as cumulative probabilities."""
    u = rng.random(len(cum_probs))
    return np.minimum((u[:, None] >= cum_probs).sum(axis=1), cum_probs.shape[1] - 1)


def _customers(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Persona, demographics and activity window (fractions of the period) of each customer."""
    persona = rng.choice(len(PERSONAS), size=n, p=_per_persona("share"))
    age = np.clip(np.round(rng.normal(_per_persona("age_mean")[persona], _per_persona("age_sd")[persona])), 18, 90)
    income = np.round(
        _per_persona("income_median")[persona] * np.exp(rng.normal(0.0, _per_persona("income_sigma")[persona])), -2
    )
    age[rng.random(n) < MISSING_AGE] = np.nan
    income[rng.random(n) < MISSING_INCOME] = np.nan
    gender = _choose_per_row(np.cumsum([p.gender_mix for p in PERSONAS], axis=1)[persona], rng)
    location = _choose_per_row(np.cumsum([p.location_mix for p in PERSONAS], axis=1)[persona], rng)

    join = np.where(rng.random(n) < LATE_JOINERS, rng.uniform(0.0, 0.8, n), 0.0)
    lapse = np.array([p.active_until or (1.0, 1.0) for p in PERSONAS])[persona]
    stop = rng.uniform(lapse[:, 0], lapse[:, 1])
    join = np.where(join > stop * 0.5, 0.0, join)  # lapsed customers were active for a while first
    rate = _per_persona("orders_per_month")[persona] * rng.gamma(8.0, 1 / 8.0, n)  # visit-rate heterogeneity
    return {"persona": persona, "age": age, "income": income, "gender": gender, "location": location,
            "join": join, "stop": stop, "rate": rate}


def _orders(people: dict[str, np.ndarray], start: pd.Timestamp, n_days: int, months: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Customer index and time (seconds since ``start``) of every order, in chronological order.

    Days are drawn by inverting each persona's cumulative seasonal demand within the customer's active window.
    """
    active_months = (people["stop"] - people["join"]) * months
    n_orders = np.maximum(1, rng.poisson(people["rate"] * active_months))  # every customer buys at least once
    customer = np.repeat(np.arange(len(n_orders)), n_orders)
    persona = people["persona"][customer]

    days = pd.date_range(start, periods=n_days, freq="D")
    base = MONTH_SEASON[days.month - 1]
    weekend = np.where(days.day_of_week >= 5, WEEKEND_UPLIFT, 1.0)
    first = np.floor(people["join"][customer] * n_days).astype(np.int64)
    last = np.ceil(people["stop"][customer] * n_days).astype(np.int64)
    u = rng.random(len(customer))
    day = np.empty(len(customer), dtype=np.int64)
    for k, p in enumerate(PERSONAS):
        cum = np.concatenate([[0.0], np.cumsum(base**p.seasonality * weekend)])
        rows = persona == k
        target = cum[first[rows]] + u[rows] * (cum[last[rows]] - cum[first[rows]])
        day[rows] = np.searchsorted(cum, target, side="right") - 1
    day = np.clip(day, 0, n_days - 1)
    hour = rng.choice(24, size=len(customer), p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    seconds = day * SECONDS_PER_DAY + hour * 3600 + rng.integers(0, 3600, len(customer))
    order = np.lexsort((customer, seconds))
    return customer[order], seconds[order]


def _category_numbers(catalogue: pd.DataFrame) -> np.ndarray:
    """Each product's position in :data:`CATEGORIES`."""
    return catalogue[Columns.Category].map({c.name: i for i, c in enumerate(CATEGORIES)}).to_numpy()


def _persona_affinities() -> np.ndarray:
    """Each persona's category mix, rows summing to 1: (personas, categories)."""
    raw = np.array([[p.affinity.get(c.name, OTHER_AFFINITY) for c in CATEGORIES] for p in PERSONAS])
    return raw / raw.sum(axis=1, keepdims=True)


def _dirichlet_rows(mean: np.ndarray, concentration: float, rng: np.random.Generator) -> np.ndarray:
    """One Dirichlet draw per row of ``mean`` (rows sum to 1) with the given concentration; ``inf`` = the mean."""
    if np.isinf(concentration):
        return mean.copy()
    draws = np.maximum(rng.standard_gamma(concentration * mean), np.finfo(np.float64).tiny)
    return draws / draws.sum(axis=1, keepdims=True)


def _tastes(persona: np.ndarray, category_concentration: float, style_concentration: float,
            rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each customer's own category mix (around the persona's) and weight for each style."""
    categories = _dirichlet_rows(_persona_affinities()[persona], category_concentration, rng)
    uniform = np.full((len(persona), len(STYLES)), 1.0 / len(STYLES))
    styles = STYLE_FLOOR + _dirichlet_rows(uniform, style_concentration * len(STYLES), rng)
    return {"categories": categories, "styles": styles}


@dataclass(frozen=True)
class _Picker:
    """Draws products for many (customer, category weights) rows at once: category, then style, then product.

    Within a category a customer picks product ``p`` with probability proportional to
    ``popularity[p] * price[p] ** -price_sensitivity * style_weight[style[p]]``. Products are sorted by
    (category, style) cell so that the last step is one ``searchsorted`` on each persona's cumulative weights.
    """

    order: np.ndarray  # product indices sorted by cell
    bounds: np.ndarray  # (cells + 1,) start of each cell in ``order``
    cum: np.ndarray  # (personas, products + 1) cumulative tilted popularity along ``order``
    mass: np.ndarray  # (personas, categories, styles) tilted popularity of each cell

    @classmethod
    def build(cls, catalogue: pd.DataFrame) -> _Picker:
        cell = _category_numbers(catalogue) * len(STYLES) + catalogue[STYLE].to_numpy()
        order = np.argsort(cell, kind="stable")
        bounds = np.searchsorted(cell[order], np.arange(len(CATEGORIES) * len(STYLES) + 1))
        price, popularity = catalogue[Columns.Price].to_numpy(), catalogue[POPULARITY].to_numpy()
        tilted = popularity * price ** -_per_persona("price_sensitivity")[:, None]  # price-sensitive: cheap items
        cum = np.concatenate([np.zeros((len(PERSONAS), 1)), np.cumsum(tilted[:, order], axis=1)], axis=1)
        mass = np.diff(cum[:, bounds], axis=1).reshape(len(PERSONAS), len(CATEGORIES), len(STYLES))
        return cls(order, bounds, cum, mass)

    def draw(self, persona: np.ndarray, category_weights: np.ndarray, style_weights: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
        """One product per row; ``category_weights`` (rows, categories) and ``style_weights`` (rows, styles)."""
        category = _choose_per_row(np.cumsum(_normalised(category_weights), axis=1), rng)
        style_w = style_weights * self.mass[persona, category]
        style = _choose_per_row(np.cumsum(_normalised(style_w), axis=1), rng)
        cell = category * len(STYLES) + style
        lo, hi = self.bounds[cell], self.bounds[cell + 1]
        cum_lo, cum_hi = self.cum[persona, lo], self.cum[persona, hi]
        target = cum_lo + rng.random(len(persona)) * (cum_hi - cum_lo)
        pos = np.empty(len(persona), dtype=np.int64)
        for k in range(len(PERSONAS)):  # a searchsorted per persona, not per row
            rows = persona == k
            pos[rows] = np.searchsorted(self.cum[k], target[rows], side="right") - 1
        return self.order[np.clip(pos, lo, hi - 1)]


def _normalised(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum(axis=1, keepdims=True)


def _lines(order_customer: np.ndarray, people: dict[str, np.ndarray], catalogue: pd.DataFrame,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order index, product index and quantity of every purchased line.

    Each customer has a few staple products (from re-buyable categories such as Grocery and Pets); a line
    re-buys a staple with the persona's repeat probability, otherwise it is a fresh pick by the customer's own
    category mix and style taste, the product's popularity and its price.
    """
    order_persona = people["persona"][order_customer]
    n_lines = 1 + rng.poisson(_per_persona("basket_lines")[order_persona] - 1)
    order = np.repeat(np.arange(len(order_customer)), n_lines)
    customer = order_customer[order]
    persona = people["persona"][customer]

    picker = _Picker.build(catalogue)
    repeatability = np.array([c.repeatability for c in CATEGORIES])
    owner = np.repeat(np.arange(len(people["persona"])), STAPLES_PER_CUSTOMER)
    staples = picker.draw(people["persona"][owner], people["categories"][owner] * repeatability,
                          people["styles"][owner], rng).reshape(-1, STAPLES_PER_CUSTOMER)
    product = picker.draw(persona, people["categories"][customer], people["styles"][customer], rng)

    slot_w = 1.0 / np.arange(1, STAPLES_PER_CUSTOMER + 1)
    slot = rng.choice(STAPLES_PER_CUSTOMER, size=len(order), p=slot_w / slot_w.sum())
    repeat = rng.random(len(order)) < _per_persona("repeat_prob")[persona]
    product[repeat] = staples[customer[repeat], slot[repeat]]
    n_products = len(catalogue)
    keep = np.sort(np.unique(order * n_products + product, return_index=True)[1])  # a product once per basket
    order, product, persona = order[keep], product[keep], persona[keep]

    unit_factor = np.array([c.unit_factor for c in CATEGORIES])[_category_numbers(catalogue)[product]]
    quantity = 1 + rng.poisson(_per_persona("extra_units")[persona] * unit_factor)
    return order, product, quantity.astype(np.int64)


def _sessions(order_customer: np.ndarray, n_lines: np.ndarray, people: dict[str, np.ndarray],
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clicks, minutes spent and abandoned-cart flag of the session behind each order."""
    persona = people["persona"][order_customer]
    clicks = 1 + rng.poisson(_per_persona("clicks_mean")[persona] * (0.7 + 0.3 * n_lines))
    minutes = np.round(0.5 + rng.gamma(2.0, _per_persona("minutes_mean")[persona] / 2.0), 2)
    abandoned = rng.random(len(persona)) < _per_persona("abandon_prob")[persona]
    return clicks.astype(np.float64), minutes, abandoned


def _text(values: np.ndarray | pd.Series) -> ExtensionArray:
    """A pandas ``string`` array, the canonical dtype of identifiers and text."""
    return pd.array(np.asarray(values, dtype=object), dtype="string")


def _check(customers: int, products: int, months: int, category_concentration: float,
           style_concentration: float) -> None:
    if customers < 1:
        raise InputError(f"customers must be at least 1, got {customers}")
    if products < len(CATEGORIES):
        raise InputError(f"products must be at least {len(CATEGORIES)} (one per category), got {products}")
    if months < 1:
        raise InputError(f"months must be at least 1, got {months}")
    for name, value in (("category_concentration", category_concentration),
                        ("style_concentration", style_concentration)):
        if not value > 0:
            raise InputError(f"{name} must be positive (inf switches individual taste off), got {value}")


def generate_shop(customers: int = 5000, products: int = 1000, months: int = 12, seed: int = 42,
                  start: str = "2024-01-01", *, category_concentration: float = CATEGORY_CONCENTRATION,
                  style_concentration: float = STYLE_CONCENTRATION) -> GeneratedShop:
    """Generate a shop whose purchase history behaves like a real one.

    Customers belong to latent personas (:data:`~segrec.data.generate.PERSONAS`) that differ in demographics, visit
    rate, basket, price sensitivity, recency, engagement and category affinities. Purchases follow seasonality
    with a December peak, Zipf-like product popularity and repeat buying of staple products.

    Within a persona, every customer also has an individual taste: a category mix of their own, drawn from a
    Dirichlet distribution around the persona's, and a preference over the shop-wide product lines
    (:data:`~segrec.data.generate.STYLES`, such as "eco" or "premium", named in every description). Within a
    category a customer picks a product with probability proportional to its popularity, times the persona's
    price tilt, times the customer's weight for the product's style. Real shops are like that, and it is what
    collaborative filtering exploits: if every customer of a persona bought from the same distribution, no
    recommender could do much better than each persona's best sellers ("segment popularity").

    Parameters
    ----------
    customers, products, months:
        Shop size and length of the period starting at ``start`` (every customer buys at least once).
    seed:
        Same seed, same shop, to the byte.
    start:
        First day of the period, ``YYYY-MM-DD``.
    category_concentration:
        Dirichlet concentration of a customer's category mix around the persona's: lower means customers of
        one persona differ more (at 8, a persona's minor categories are absent from most of its customers'
        mixes and its main ones vary about twofold); ``inf`` gives every customer the persona's mix.
    style_concentration:
        Dirichlet parameter of each style in a customer's style preference: below 1 most customers have one or
        two favourite lines; ``inf`` makes everyone indifferent to style.

    Returns
    -------
    GeneratedShop
        ``events`` in the canonical schema (one row per purchased line, chronological) and ``truth`` with each
        customer's persona.

    Examples
    --------
    >>> shop = generate_shop(customers=50, products=40, months=2, seed=1)
    >>> shop.truth[Columns.User].nunique() == shop.events[Columns.User].nunique() == 50
    True
    """
    _check(customers, products, months, category_concentration, style_concentration)
    try:
        begin = pd.Timestamp(start)
    except ValueError as exc:
        raise InputError(f"start must be a date like 2024-01-01, got {start!r}") from exc
    n_days = (begin + pd.DateOffset(months=months) - begin).days
    cat_rng, people_rng, order_rng, line_rng, session_rng, taste_rng = np.random.default_rng(seed).spawn(6)

    catalogue = build_catalogue(products, cat_rng)
    people = _customers(customers, people_rng)
    people.update(_tastes(people["persona"], category_concentration, style_concentration, taste_rng))
    order_customer, seconds = _orders(people, begin, n_days, months, order_rng)
    line_order, product, quantity = _lines(order_customer, people, catalogue, line_rng)
    clicks, minutes, abandoned = _sessions(order_customer, np.bincount(line_order), people, session_rng)

    user_ids = make_ids("C", customers)
    customer = order_customer[line_order]
    item = catalogue.take(product)
    price = item[Columns.Price].to_numpy()
    engagement = clicks / minutes

    events = pd.DataFrame({
        Columns.User: _text(user_ids[customer]),
        Columns.Item: _text(item[Columns.Item]),
        Columns.ItemName: _text(item[Columns.ItemName]),
        Columns.Category: _text(item[Columns.Category]),
        Columns.Price: price,
        Columns.Date: (begin + pd.to_timedelta(seconds[line_order], unit="s")).as_unit("ns"),
        Columns.Quantity: quantity,
        Columns.Spending: price * quantity,
        Columns.Clicks: clicks[line_order],
        Columns.TimeSpent: minutes[line_order],
        Columns.AbandonedCart: pd.array(abandoned[line_order], dtype="boolean"),
        Columns.Engagement: engagement[line_order],
        Columns.Age: people["age"][customer],
        Columns.Gender: _text(np.array(GENDERS)[people["gender"][customer]]),
        Columns.Location: _text(np.array(CITIES)[people["location"][customer]]),
        Columns.Income: people["income"][customer],
        Columns.Order: _text(make_ids("O", len(order_customer), width=7)[line_order]),
        Columns.Description: _text(item[Columns.Description]),
    })
    truth = pd.DataFrame({
        Columns.User: _text(user_ids),
        Columns.Persona: _text(np.array([p.name for p in PERSONAS])[people["persona"]]),
    })
    return GeneratedShop(events=events, truth=truth)
