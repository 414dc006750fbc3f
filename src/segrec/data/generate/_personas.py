"""The latent customer types of the generated shop.

Each persona is a bundle of distributions rather than a fixed profile, so customers of one persona differ from
one another and neighbouring personas overlap. They are designed to be separable, with realistic overlap, in
the features a segmentation uses (log spend, log order count, recency, age, income).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

#: Where customers live; each persona has its own mix over these.
CITIES = ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol")

#: Values of the gender column, in the order of :attr:`Persona.gender_mix`.
GENDERS = ("F", "M", "X")

#: Affinity of a persona for a category its ``affinity`` does not list: rare, never impossible.
OTHER_AFFINITY = 0.15


@dataclass(frozen=True)
class Persona:
    """How one type of customer behaves; every field is a distribution parameter, not a constant.

    Attributes
    ----------
    name, share:
        Persona label (the ``persona`` column of the truth table) and its expected share of customers.
    age_mean, age_sd, income_median, income_sigma:
        Normal age in years; log-normal yearly income.
    gender_mix, location_mix:
        Probabilities over :data:`GENDERS` and :data:`CITIES`.
    orders_per_month, basket_lines, extra_units:
        Mean visit rate (gamma-distributed across customers), mean lines per order, mean units above one.
    price_sensitivity:
        Exponent tilting product choice towards cheaper items (0 = price-blind, negative = premium-seeking).
    repeat_prob:
        Chance that a line re-buys one of the customer's staple products.
    seasonality:
        Exponent applied to the shop's monthly seasonality (3 = gift-driven December peak).
    active_until:
        For lapsed customers, the fraction of the period after which they stop buying, drawn uniformly.
    clicks_mean, minutes_mean, abandon_prob:
        Session engagement: Poisson clicks, gamma minutes, probability of an abandoned cart.
    affinity:
        Relative weight of each category (unlisted categories get :data:`OTHER_AFFINITY`).
    """

    name: str
    share: float
    age_mean: float
    age_sd: float
    income_median: float
    income_sigma: float
    gender_mix: tuple[float, float, float]
    location_mix: tuple[float, ...]
    orders_per_month: float
    basket_lines: float
    extra_units: float
    price_sensitivity: float
    repeat_prob: float
    seasonality: float
    clicks_mean: float
    minutes_mean: float
    abandon_prob: float
    affinity: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))
    active_until: tuple[float, float] | None = None


def _aff(**weights: float) -> MappingProxyType[str, float]:
    """Category affinities keyed by category name; keyword names use ``_`` for spaces and ``and`` for ``&``."""
    return MappingProxyType({k.replace("_and_", " & ").replace("_", " "): v for k, v in weights.items()})


PERSONAS: tuple[Persona, ...] = (
    Persona(
        name="budget_families", share=0.30, age_mean=43, age_sd=5.5, income_median=48_000, income_sigma=0.2,
        gender_mix=(0.6, 0.38, 0.02), location_mix=(0.10, 0.20, 0.25, 0.25, 0.10, 0.10),
        orders_per_month=1.8, basket_lines=2.0, extra_units=1.0, price_sensitivity=0.9, repeat_prob=0.45,
        seasonality=1.0, clicks_mean=9, minutes_mean=12, abandon_prob=0.25,
        affinity=_aff(Grocery=4, Home_and_Kitchen=2.5, Toys=2, Pets=1.5, Stationery=1.2, Fashion=0.8),
    ),
    Persona(
        name="affluent_loyalists", share=0.15, age_mean=52, age_sd=6, income_median=120_000, income_sigma=0.18,
        gender_mix=(0.5, 0.48, 0.02), location_mix=(0.40, 0.10, 0.10, 0.05, 0.10, 0.25),
        orders_per_month=1.3, basket_lines=2.1, extra_units=0.3, price_sensitivity=-0.3, repeat_prob=0.35,
        seasonality=1.0, clicks_mean=6, minutes_mean=8, abandon_prob=0.08,
        affinity=_aff(Electronics=2, Home_and_Kitchen=2, Garden=1.8, Jewellery=1.2, Books=1.5, Grocery=1.5),
    ),
    Persona(
        name="young_trend_seekers", share=0.25, age_mean=22, age_sd=3, income_median=28_000, income_sigma=0.25,
        gender_mix=(0.52, 0.42, 0.06), location_mix=(0.30, 0.30, 0.10, 0.10, 0.15, 0.05),
        orders_per_month=0.7, basket_lines=1.3, extra_units=0.15, price_sensitivity=0.8, repeat_prob=0.15,
        seasonality=1.3, clicks_mean=22, minutes_mean=15, abandon_prob=0.45,
        affinity=_aff(Fashion=4, Beauty=3, Electronics=2, Sports=2),
    ),
    Persona(
        name="occasional_gift_buyers", share=0.20, age_mean=64, age_sd=6, income_median=68_000, income_sigma=0.25,
        gender_mix=(0.55, 0.44, 0.01), location_mix=(0.15, 0.10, 0.20, 0.15, 0.15, 0.25),
        orders_per_month=0.3, basket_lines=1.6, extra_units=0.1, price_sensitivity=0.0, repeat_prob=0.05,
        seasonality=4.5, clicks_mean=7, minutes_mean=14, abandon_prob=0.2,
        affinity=_aff(Toys=3, Jewellery=2.5, Books=2.5, Beauty=1.5, Stationery=1),
    ),
    Persona(
        name="lapsed_customers", share=0.10, age_mean=41, age_sd=9, income_median=55_000, income_sigma=0.3,
        gender_mix=(0.5, 0.47, 0.03), location_mix=(0.2, 0.15, 0.2, 0.15, 0.15, 0.15),
        orders_per_month=0.7, basket_lines=2.0, extra_units=0.4, price_sensitivity=0.3, repeat_prob=0.25,
        seasonality=1.0, clicks_mean=10, minutes_mean=10, abandon_prob=0.35, active_until=(0.2, 0.55),
        affinity=_aff(Grocery=1.5, Electronics=1.5, Home_and_Kitchen=1.5, Sports=1.2, Fashion=1.2),
    ),
)
"""The five personas, in truth-table order; shares sum to 1."""
