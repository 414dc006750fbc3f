"""Splits: no leakage, cold rows counted, per-user disjointness, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segrec.columns import Columns
from segrec.evaluation import default_cutoff, explicit_split, last_n_split, random_split, temporal_split
from segrec.exceptions import InputError


def _events(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[Columns.User, Columns.Item, Columns.Date, Columns.Order]).assign(
        **{Columns.Date: lambda f: pd.to_datetime(f[Columns.Date])})


@st.composite
def _random_events(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(2, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 120, n), unit="D")
    users = rng.integers(0, draw(st.integers(1, 10)), n).astype(str)
    return pd.DataFrame({Columns.User: users, Columns.Item: rng.integers(0, draw(st.integers(1, 15)), n).astype(str),
                         Columns.Date: dates, Columns.Order: [f"{u}-{d:%j}" for u, d in zip(users, dates, strict=True)]})


def _triples(frame: pd.DataFrame) -> set[tuple]:
    return set(zip(frame[Columns.User], frame[Columns.Item], frame[Columns.Date], strict=True))


def _pairs(frame: pd.DataFrame) -> set[tuple]:
    return set(zip(frame[Columns.User], frame[Columns.Item], strict=True))


def test_temporal_split_counts_and_drops_cold_rows() -> None:
    events = _events([
        ("a", "p", "2024-01-01", "1"), ("a", "q", "2024-01-05", "2"), ("b", "p", "2024-01-02", "3"),
        ("a", "q", "2024-02-01", "4"), ("b", "q", "2024-02-02", "5"),  # warm test rows (one repeat)
        ("c", "p", "2024-02-03", "6"),  # unknown user
        ("b", "z", "2024-02-03", "7"),  # unknown product
    ])
    split = temporal_split(events, "2024-02-01")
    d = split.description
    assert (d["method"], d["cutoff"], d["train_rows"], d["test_rows"]) == ("temporal", "2024-02-01", 3, 2)
    assert (d["dropped_cold_rows"], d["dropped_cold_user_rows"], d["dropped_cold_product_rows"]) == (2, 1, 1)
    assert d["test_repeat_rows"] == 1
    assert (split.train[Columns.Date] < "2024-02-01").all() and (split.test[Columns.Date] >= "2024-02-01").all()


@settings(max_examples=25, deadline=None)
@given(_random_events(), st.integers(1, 119))
def test_temporal_split_never_leaks(events: pd.DataFrame, day: int) -> None:
    cut = pd.Timestamp("2024-01-01") + pd.Timedelta(days=day)
    if not (events[Columns.Date] < cut).any() or (events[Columns.Date] < cut).all():
        with pytest.raises(InputError):
            temporal_split(events, cut)
        return
    split = temporal_split(events, cut)
    assert not _triples(split.test) & _triples(split.train)
    assert split.test[Columns.Date].min() >= split.train[Columns.Date].max() if len(split.test) else True
    assert set(split.test[Columns.User]) <= set(split.train[Columns.User])
    assert set(split.test[Columns.Item]) <= set(split.train[Columns.Item])
    assert len(split.train) + len(split.test) + split.description["dropped_cold_rows"] == len(events)


@settings(max_examples=25, deadline=None)
@given(_random_events(), st.floats(0.05, 0.95), st.integers(0, 100))
def test_random_split_is_disjoint_per_user(events: pd.DataFrame, fraction: float, seed: int) -> None:
    split = random_split(events, fraction, seed)
    assert not _pairs(split.test) & _pairs(split.train)
    assert set(split.train[Columns.User]) == set(events[Columns.User])  # everyone keeps a training product
    # a product bought by one user only is cold once held out: dropped and counted
    assert len(split.train) + len(split.test) + split.description["dropped_cold_product_rows"] == len(events)
    again = random_split(events, fraction, seed)
    pd.testing.assert_frame_equal(split.test, again.test)


def test_random_split_holds_out_about_the_fraction() -> None:
    rng = np.random.default_rng(0)
    events = pd.DataFrame({Columns.User: np.repeat(np.arange(50), 10).astype(str),
                           Columns.Item: np.tile(np.arange(10), 50).astype(str)})
    events = events.sample(frac=1.0, random_state=1).reset_index(drop=True)
    split = random_split(events, 0.2, seed=int(rng.integers(100)))
    assert split.test.groupby(Columns.User).size().eq(2).all()
    with pytest.raises(InputError, match="test_fraction"):
        random_split(events, 1.0)


def test_last_n_split_holds_out_the_last_orders() -> None:
    events = _events([
        ("a", "p", "2024-01-01", "1"), ("a", "q", "2024-01-03", "2"), ("a", "r", "2024-01-03", "2"),
        ("b", "p", "2024-01-02", "3"), ("b", "r", "2024-01-02", "3"),  # a single order: stays in train
        ("c", "q", "2024-01-01", "4"), ("c", "p", "2024-01-09", "5"),
    ])
    split = last_n_split(events, 1)
    assert sorted(split.test[Columns.Order]) == ["2", "2", "5"]
    assert set(split.train[Columns.User]) == {"a", "b", "c"}
    assert split.description["method"] == "last-n" and split.description["n"] == 1
    assert last_n_split(events, 2).test.empty  # nobody has more than 2 orders


def test_last_n_split_without_order_ids_uses_days() -> None:
    events = _events([("a", "p", "2024-01-01", None), ("a", "q", "2024-01-01", None), ("a", "q", "2024-01-02", None)])
    assert last_n_split(events.drop(columns=Columns.Order), 1).test[Columns.Date].tolist() == [
        pd.Timestamp("2024-01-02")]


def test_explicit_split_drops_unknown_rows() -> None:
    train = _events([("a", "p", "2024-01-01", "1")])
    test = _events([("a", "p", "2024-02-01", "2"), ("b", "p", "2024-02-01", "3")])
    split = explicit_split(train, test, train_source="t.csv", test_source="s.csv")
    assert split.description["dropped_cold_rows"] == 1 and split.description["train_source"] == "t.csv"


def test_default_cutoff_is_the_start_of_the_last_two_months() -> None:
    events = _events([("a", "p", "2011-06-01", "1"), ("a", "p", "2011-12-09", "2")])
    assert default_cutoff(events) == pd.Timestamp("2011-11-01")


def test_bad_arguments_are_input_errors() -> None:
    events = _events([("a", "p", "2024-01-01", "1")])
    with pytest.raises(InputError, match="not a date"):
        temporal_split(events, "soon")
    with pytest.raises(InputError, match="n must be"):
        last_n_split(events, 0)
    with pytest.raises(InputError, match="lack column"):
        temporal_split(events.drop(columns=Columns.Date), "2024-01-01")


def _dated(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[Columns.User, Columns.Item, Columns.Date]).assign(**{Columns.Date: lambda f: pd.to_datetime(f[Columns.Date])})


def test_infer_protocol_from_two_files() -> None:
    from segrec.recommend.holdout import infer_protocol

    train = _dated([("a", "x", "2024-01-01"), ("a", "y", "2024-01-05"), ("b", "x", "2024-01-03")])
    assert infer_protocol(train, _dated([("a", "z", "2024-02-01"), ("b", "y", "2024-02-02")]))[0] == "temporal"
    # each customer's test after their own history, but not after everyone's
    assert infer_protocol(train, _dated([("a", "z", "2024-01-06"), ("b", "y", "2024-01-04")]))[0] == "last-n"
    assert infer_protocol(train, _dated([("a", "z", "2024-01-02"), ("b", "y", "2024-01-04")]))[0] == "random"
    flat = train.assign(**{Columns.Date: pd.Timestamp("2024-01-01")})
    assert infer_protocol(flat, flat.iloc[:1])[0] == "random"
    assert infer_protocol(train.drop(columns=Columns.Date), train.drop(columns=Columns.Date)) == (
        "random", "the files carry no dates")
