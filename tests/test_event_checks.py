"""The API's event check: events already canonical skip the ingestion query, with the query's own answer.

The shortcut (``_as_is``) must give, for every event it takes, exactly what the ingestion query gives; random
events (ids with spaces, "17850.0", NA tokens, unicode; times in and out of range, invalid dates, offsets,
other formats; quantities and prices of every kind) compare the two."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segrec.columns import Columns
from segrec.events import _checks, check_events

C = Columns
NOW = dt.datetime(2026, 11, 29, 21, 30, 5, 123456)
STAMP = NOW.isoformat(sep=" ", timespec="microseconds")

ids = st.one_of(
    st.sampled_from(["u1", "C00042", "17850", "17850.0", " 12 ", "12 ", "NA", "N/A", "nan", "None", "null", "",
                     "a b", "x.05", "1.0", "P-1/2", "é", "ID\t7"]),
    st.from_regex(r"[A-Za-z0-9.\- ]{0,6}", fullmatch=True),
    st.text(max_size=6),
)


def _time_texts(moment: dt.datetime) -> st.SearchStrategy[str]:
    return st.sampled_from([moment.isoformat(), moment.isoformat(sep=" "), moment.date().isoformat(),
                            moment.isoformat(timespec="milliseconds"), moment.isoformat(timespec="seconds") + "Z",
                            moment.isoformat(timespec="seconds") + "+02:00", moment.strftime("%m/%d/%Y %H:%M"),
                            moment.strftime("%d.%m.%Y"), moment.isoformat(timespec="minutes")])


times = st.one_of(
    st.none(),
    st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31)).flatmap(_time_texts),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?)?", fullmatch=True),
    st.text(max_size=12),
)
numbers = st.one_of(st.none(), st.floats(), st.integers(-5, 10**17), st.booleans(),
                    st.sampled_from([1, 2.0, 2.5, 0, -1, -0.0, 0.0, 9e15, 9e15 - 1, 1e300, 2**53, 2**53 + 1]))
wild = {C.User: ids, C.Item: ids, "timestamp": times, C.Quantity: numbers, C.Price: numbers,
        C.Order: st.one_of(st.none(), ids)}
plain_ids = st.from_regex(r"[A-Za-z0-9_\-]{1,8}", fullmatch=True)
plain = st.fixed_dictionaries({
    C.User: plain_ids, C.Item: plain_ids, "event_type": st.sampled_from(["purchase", "view", "cart"]),
    "timestamp": st.one_of(st.none(), st.datetimes(min_value=dt.datetime(1890, 1, 1),
                                                   max_value=dt.datetime(2210, 12, 31)).flatmap(_time_texts)),
    C.Quantity: st.one_of(st.none(), st.integers(1, 10**6), st.integers(1, 10**6).map(float)),
    C.Price: st.one_of(st.none(), st.floats(0, 1e6), st.integers(0, 10**6)),
    C.Order: st.one_of(st.none(), plain_ids), "event_id": st.one_of(st.none(), st.text(max_size=4))})
#: a canonical event, or one with a field (sometimes all of them) drawn from the odd values above
events = st.one_of(
    plain,
    st.tuples(plain, st.sampled_from(sorted(wild))).flatmap(lambda t: wild[t[1]].map(lambda v: t[0] | {t[1]: v})),
    st.fixed_dictionaries({**wild, "event_type": st.just("purchase")}),
)


def _by_query(event: dict) -> dict | None:
    """The query's answer for one event: its checked row, or None when refused."""
    try:
        rows, problems = _checks._query([event], STAMP)
    except (TypeError, ValueError, OverflowError):  # pyarrow refuses a bool or a huge int in a float column
        return None
    return None if problems else rows[0]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, min_size=1, max_size=4))
def test_the_shortcut_gives_the_querys_answer(batch: list[dict]) -> None:
    for event in batch:
        taken = _checks._as_is(event, STAMP)
        if taken is not None:
            assert taken == _by_query(event), repr(event)


BOUNDARIES = [
    {C.Price: 2**53}, {C.Price: 2**53 + 1}, {C.Price: 10**17}, {C.Price: -0.0}, {C.Price: 1e300}, {C.Price: True},
    {C.Quantity: 9e15 - 1}, {C.Quantity: 9e15}, {C.Quantity: 2**53 + 1}, {C.Quantity: 1.5}, {C.Quantity: True},
    {"timestamp": "1900-01-01"}, {"timestamp": "1899-12-31T23:59:59"}, {"timestamp": "2199-12-31 23:59:59.999999"},
    {"timestamp": "2262-01-01"}, {"timestamp": "2024-02-29T24:00:00"}, {"timestamp": "2024-02-01T10:30:00Z"},
    {C.User: "1.0"}, {C.User: "NA"}, {C.User: "n/a"}, {C.Item: "a\tb"}, {C.Item: "é"}, {C.Order: ""},
]


@pytest.mark.parametrize("change", BOUNDARIES, ids=[repr(c) for c in BOUNDARIES])
def test_the_shortcut_at_its_boundaries(change: dict) -> None:
    event = {C.User: "u1", C.Item: "p1", "event_type": "purchase", "timestamp": None, C.Quantity: 2, C.Price: 1.5,
             C.Order: None, "event_id": None, **change}
    taken = _checks._as_is(event, STAMP)
    assert taken is None or taken == _by_query(event)


def test_canonical_events_do_not_run_the_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """The events the API's examples, the dashboard and the load benchmark post take the shortcut; any other
    event sends the whole request through the query."""
    calls = []
    run = _checks._CHECKER.run
    monkeypatch.setattr(_checks._CHECKER, "run", lambda table: calls.append(table.num_rows) or run(table))
    canonical = [
        {C.User: "C00042", C.Item: "P0107", "event_type": "purchase", "timestamp": "2026-11-29T10:15:00",
         C.Quantity: 2, C.Price: 12.5, C.Order: "O-9001", "event_id": "O-9001-1"},
        {C.User: "C00042", C.Item: "P0311", "event_type": "view", "event_id": "web-77123"},
        {C.User: "17850", C.Item: "85123A", "timestamp": "2010-12-01 08:26:00", C.Quantity: 6.0, C.Price: 2.55},
        {C.User: "u1", C.Item: "p1", "timestamp": "2024-06-01", C.Quantity: None, C.Price: 0},
    ]
    rows, problems = check_events(canonical, now=NOW)
    assert calls == [] and problems == [] and len(rows) == 4
    assert rows[0][C.Date] == dt.datetime(2026, 11, 29, 10, 15) and rows[0][C.Quantity] == 2
    assert rows[1][C.Date] == NOW and rows[1][C.Quantity] == 1 and rows[1][C.Price] is None
    assert rows[3][C.Price] == 0.0 and isinstance(rows[3][C.Price], float)
    odd = {C.User: "17850.0", C.Item: "85123A"}
    rows, problems = check_events([*canonical, odd], now=NOW)
    assert calls == [5] and problems == [] and rows[4][C.User] == "17850"
    assert rows[:4] == check_events(canonical, now=NOW)[0]
