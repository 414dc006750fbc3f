"""Ingestion: every reader, coercion and defaults, every reject reason, strict mode, and one-line input errors."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segrec.columns import Columns
from segrec.data.read import detect_format, ingest, read_events
from segrec.data.schema import SCHEMA
from segrec.exceptions import InputError, MissingColumnError, RejectedRowsWarning, RowError

C = Columns


def _expected_dtypes() -> dict[str, str]:
    return {name: spec.dtype for name, spec in SCHEMA.items()}


def _check_canonical(events: pd.DataFrame) -> None:
    assert list(events.columns) == list(C.Canonical)
    assert {c: str(t) for c, t in events.dtypes.items()} == _expected_dtypes()


# ------------------------------------------------------------------------------------------------- readers


def test_csv_reads_into_the_canonical_schema(shop_csv: Path) -> None:
    result = ingest(shop_csv)
    _check_canonical(result.events)
    assert len(result.events) == 6 and len(result.rejects) == 0
    report = result.report
    assert (report.rows_read, report.rows_accepted, report.n_users, report.n_products) == (6, 6, 3, 4)
    assert report.date_min == "2024-01-02 10:00:00" and report.date_max == "2024-03-11 19:20:00"
    assert report.columns_mapped["User ID"] == C.User
    assert result.events[C.User].tolist()[:2] == ["17850", "17850"]
    assert result.events[C.AbandonedCart].tolist()[:2] == [False, True]


def _same_events(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_every_reader_gives_the_same_events(tmp_path: Path, shop_frame: pd.DataFrame, shop_csv: Path) -> None:
    expected = ingest(shop_csv).events
    typed = shop_frame.astype({"Price": float, "Quantity": int, "Purchase Date": "datetime64[ns]"})
    typed.to_parquet(tmp_path / "shop.parquet")
    typed.to_excel(tmp_path / "shop.xlsx", index=False)
    with duckdb.connect(str(tmp_path / "shop.db")) as db:
        db.register("typed", typed)
        db.execute("CREATE TABLE orders AS SELECT * FROM typed")
    sources = [
        shop_frame,
        typed,
        tmp_path / "shop.parquet",
        str(tmp_path / "shop.xlsx"),
        f"duckdb://{tmp_path / 'shop.db'}?table=orders",
        f"duckdb://{tmp_path / 'shop.db'}?query=SELECT * FROM orders ORDER BY \"Purchase Date\"",
        tmp_path / "shop.db",  # one table: no ?table= needed
    ]
    for source in sources:
        _same_events(ingest(source).events, expected)


@pytest.mark.postgres
def test_postgresql_table_and_query(postgres_url: str, shop_frame: pd.DataFrame, shop_csv: Path) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    typed = shop_frame.astype({"Price": float, "Purchase Date": "datetime64[ns]"})
    typed.to_sql("orders", engine, if_exists="replace", index=False)
    engine.dispose()
    expected = ingest(shop_csv).events
    _same_events(ingest(f"{postgres_url}?table=orders").events, expected)
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    query = 'SELECT * FROM orders ORDER BY "Purchase Date"'
    _same_events(ingest(f"{plain}?query={query}").events, expected)
    with pytest.raises(InputError, match="cannot read"):
        ingest(f"{postgres_url}?table=absent")


def test_semicolon_and_tab_files_are_sniffed(tmp_path: Path, shop_frame: pd.DataFrame, shop_csv: Path) -> None:
    expected = ingest(shop_csv).events
    for sep, name in ((";", "semi.csv"), ("\t", "tabs.tsv")):
        shop_frame.to_csv(tmp_path / name, sep=sep, index=False)
        _same_events(ingest(tmp_path / name).events, expected)


def test_format_detection() -> None:
    assert detect_format("a.CSV") == "csv" and detect_format("a.pq") == "parquet"
    assert detect_format("postgresql+psycopg://u@h/db?table=t") == "postgresql"
    assert detect_format("duckdb:///x.db?table=t") == "duckdb"
    assert detect_format("whatever", "Online_Retail") == "online-retail"
    for bad in (lambda: detect_format("a.json"), lambda: detect_format("a.csv", "json"),
                lambda: detect_format("ftp://x/a.csv")):
        with pytest.raises(InputError):
            bad()


# ---------------------------------------------------------------------------------------------- bad inputs


def _one_line_error(source: object, match: str, **kwargs: object) -> None:
    with pytest.raises(InputError, match=match) as info:
        ingest(source, **kwargs)
    assert "\n" not in str(info.value)


def test_unreadable_inputs_are_one_line_input_errors(tmp_path: Path, shop_frame: pd.DataFrame) -> None:
    _one_line_error(tmp_path / "absent.csv", "file not found")
    (tmp_path / "empty.csv").write_bytes(b"")
    _one_line_error(tmp_path / "empty.csv", "is empty")
    (tmp_path / "noise.csv").write_bytes(bytes(range(256)) * 10)
    _one_line_error(tmp_path / "noise.csv", "not a text CSV file")
    shop_frame.to_parquet(tmp_path / "shop.parquet")
    _one_line_error(tmp_path / "shop.parquet", "looks like Parquet", format="csv")
    (tmp_path / "fake.parquet").write_text("a,b\n1,2\n")
    _one_line_error(tmp_path / "fake.parquet", "cannot read .* as Parquet")
    (tmp_path / "fake.xlsx").write_text("a,b\n1,2\n")
    _one_line_error(tmp_path / "fake.xlsx", "cannot read .* as an .xlsx")
    (tmp_path / "ragged.csv").write_text("User ID,Product ID,Purchase Date\nu1,p1,2024-01-01\nu2,p2,2024-01-02,extra,more\n")
    _one_line_error(tmp_path / "ragged.csv", "cannot read")
    (tmp_path / "not.db").write_text("hello")
    _one_line_error(f"duckdb://{tmp_path / 'not.db'}?table=t", "cannot open .* as a DuckDB database")
    sqlite3.connect(tmp_path / "lite.csv").execute("CREATE TABLE t (a)").connection.commit()
    _one_line_error(tmp_path / "lite.csv", "SQLite")
    _one_line_error(f"duckdb://{tmp_path / 'x.db'}?table=t&query=SELECT 1", "exactly one of")
    _one_line_error(shop_frame.drop(columns=["Product ID"]), "missing required column")


def test_missing_required_column_names_it(shop_frame: pd.DataFrame) -> None:
    with pytest.raises(MissingColumnError) as info:
        ingest(shop_frame.drop(columns=["Purchase Date"]))
    assert info.value.missing == [C.Date] and "User ID" in info.value.found


def test_duckdb_source_is_opened_read_only(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE TABLE orders AS SELECT 'u1' AS user_id, 'p1' AS product_id, TIMESTAMP '2024-01-01' AS purchase_date")
    _one_line_error(f"duckdb://{path}?query=DELETE FROM orders", "cannot read")
    assert len(ingest(f"duckdb://{path}?table=orders").events) == 1


# ------------------------------------------------------------------------------------- coercion and defaults


def _frame(**columns: list[object]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {C.User: ["u1"] * n, C.Item: ["p1"] * n, C.Date: ["2024-01-01 10:00"] * n}
    return pd.DataFrame({**base, **columns})


def test_defaults_and_derived_columns() -> None:
    events = ingest(_frame(price=[2.0, None], quantity=[3, None], total_spending=[None, 5.0],
                           clicks=[10, 10], time_spent=[5, 0])).events
    assert events[C.Spending].tolist() == [6.0, 5.0]
    assert events[C.Price].tolist() == [2.0, 5.0]  # total / quantity (quantity defaults to 1)
    assert events[C.Quantity].tolist() == [3, 1]
    assert events[C.Engagement].iloc[0] == 2.0 and np.isnan(events[C.Engagement].iloc[1])  # time_spent 0 -> NA
    assert events[C.ItemName].tolist() == ["p1", "p1"]
    assert events[C.Category].tolist() == ["unknown"] * 2 and events[C.Description].tolist() == [""] * 2
    assert events[C.Order].isna().all() and events[C.Age].isna().all()
    report = ingest(_frame(price=[2.0])).report
    assert set(report.columns_derived) == {C.ItemName, C.Category, C.Quantity, C.Spending, C.Description}
    assert C.Engagement in report.columns_missing


def test_float_user_ids_become_integers_as_text() -> None:
    events = ingest(_frame(**{C.User: [17850.0, 13047.0], C.Item: ["85123A", " 71053 "]})).events
    assert events[C.User].tolist() == ["17850", "13047"]
    assert events[C.Item].tolist() == ["85123A", "71053"]


def test_text_parsing_of_dates_numbers_and_booleans() -> None:
    frame = _frame(**{
        C.Date: ["2024-01-31", "12/1/2010 8:26", "2024-02-01T08:00:00", "31.01.2024"],
        C.Price: [" 3.5 ", "1e2", "NA", ""],
        C.AbandonedCart: ["yes", "FALSE", "0", None],
    })
    events = ingest(frame).events
    expected = ["2024-01-31", "2010-12-01 08:26", "2024-02-01 08:00", "2024-01-31"]
    assert events[C.Date].tolist() == [pd.Timestamp(d) for d in expected]
    assert events[C.Price].tolist()[:2] == [3.5, 100.0] and events[C.Price].iloc[2:].isna().all()
    assert events[C.AbandonedCart].tolist() == [True, False, False, pd.NA]


_BOOL_TOKENS = {"true": True, "t": True, "yes": True, "y": True, "1": True, "1.0": True,
                "false": False, "f": False, "no": False, "n": False, "0": False, "0.0": False}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cells=st.lists(
        st.one_of(
            st.tuples(st.sampled_from(sorted(_BOOL_TOKENS)), st.lists(st.booleans(), min_size=4, max_size=4),
                      st.sampled_from(["", " ", "  "]), st.sampled_from(["", " "])).map(
                lambda t: t[2] + "".join(c.upper() if up else c for c, up in zip(t[0], t[1] * 2, strict=False)) + t[3]),
            st.sampled_from(["maybe", "2", "-1", "on", "off", "tru", "yess", "1.5"]),
        ),
        min_size=1, max_size=8,
    )
)
def test_boolean_tokens_in_any_case_and_spacing(cells: list[str]) -> None:
    result = ingest(_frame(**{C.AbandonedCart: cells}))
    expected = [_BOOL_TOKENS.get(c.strip().lower()) for c in cells]
    accepted = [e for e in expected if e is not None]
    assert result.events[C.AbandonedCart].tolist() == accepted
    assert (result.rejects[C.RejectReason] == "unparsable_boolean:abandoned_cart").sum() == expected.count(None)


REJECTS = [
    ({C.User: [None]}, "missing_user_id"),
    ({C.User: ["nan"]}, "missing_user_id"),
    ({C.Item: [" "]}, "missing_product_id"),
    ({C.Date: ["yesterday"]}, "unparsable_date"),
    ({C.Date: [None]}, "unparsable_date"),
    ({C.Date: ["01/01/1000 10:00"]}, "unparsable_date"),  # outside the nanosecond range: that row, not the read
    ({C.Date: ["31.12.9999"]}, "unparsable_date"),
    ({C.Price: ["3,50"]}, "unparsable_number:price"),
    ({C.Quantity: ["2.5"]}, "unparsable_number:quantity"),
    ({C.Income: ["inf"]}, "unparsable_number:income"),
    ({C.Clicks: ["many"]}, "unparsable_number:clicks"),
    ({C.AbandonedCart: ["maybe"]}, "unparsable_boolean:abandoned_cart"),
    ({C.Price: ["-1"]}, "negative_price"),
    ({C.Quantity: ["0"]}, "nonpositive_quantity"),
    ({C.Age: ["130"]}, "impossible_age"),
    ({C.Age: ["-1"]}, "impossible_age"),
    ({C.Income: ["2e9"]}, "impossible_income"),
    ({C.User: [None], C.Price: ["-1"]}, "missing_user_id"),  # first reason only
    ({C.Price: ["-1"], C.Quantity: ["-2"]}, "negative_price"),
]


@pytest.mark.parametrize(("columns", "reason"), REJECTS, ids=[r for _, r in REJECTS])
def test_every_reject_reason(columns: dict[str, list[object]], reason: str) -> None:
    frame = pd.concat([_frame(**{C.Price: ["1.0"]}), _frame(**{C.Price: ["1.0"], **columns})], ignore_index=True)
    result = ingest(frame)
    assert len(result.events) == 1
    assert result.rejects[C.RejectReason].tolist() == [reason]
    assert result.rejects[C.SourceRow].tolist() == [1]
    assert result.report.rejected_by_reason == {reason: 1}


def test_a_typed_time_out_of_range_rejects_its_row(tmp_path: Path) -> None:
    path = tmp_path / "old.parquet"
    times = pa.array([dt.datetime(1000, 1, 1), dt.datetime(2024, 1, 2)], pa.timestamp("us"))
    pq.write_table(pa.table({C.User: ["u1", "u2"], C.Item: ["p1", "p2"], C.Date: times}), path)
    result = ingest(path)
    assert result.events[C.User].tolist() == ["u2"]
    assert result.rejects[[C.SourceRow, C.RejectReason]].values.tolist() == [[0, "unparsable_date"]]


def test_rejects_keep_every_original_value_as_text(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("User ID,Product ID,Purchase Date,Price,Note\nu1,p1,2024-01-01,1.5,ok\nu2,p2,2024-01-02,cheap,see me\n")
    result = ingest(path)
    assert result.rejects.to_dict("records") == [
        {C.SourceRow: 1, C.RejectReason: "unparsable_number:price", "User ID": "u2", "Product ID": "p2",
         "Purchase Date": "2024-01-02", "Price": "cheap", "Note": "see me"}
    ]
    assert result.report.columns_dropped == ["Note"]


def test_strict_mode_raises_at_the_first_bad_row() -> None:
    frame = _frame(**{C.Price: ["1", "x", "-3"]})
    with pytest.raises(RowError) as info:
        ingest(frame, strict=True)
    assert (info.value.row, info.value.column, info.value.reason, info.value.value) == (1, C.Price, "unparsable_number:price", "x")


def test_read_events_warns_about_rejects() -> None:
    with pytest.warns(RejectedRowsWarning, match="1 of 2 rows"):
        events = read_events(_frame(**{C.Quantity: [1, -1]}))
    assert len(events) == 1


def test_source_rows_follow_source_order_in_large_inputs() -> None:
    n = 400_000  # several DuckDB row groups, read in parallel
    frame = _frame(**{C.Item: np.arange(n).astype(str), C.Price: np.where(np.arange(n) % 997 == 0, -1.0, 1.0)})
    result = ingest(frame)
    items = result.events[C.Item].astype(int).to_numpy()
    assert (np.diff(items) > 0).all()
    assert result.rejects[C.SourceRow].tolist() == list(range(0, n, 997))
    assert result.rejects[C.Item].astype(int).tolist() == list(range(0, n, 997))


# ---------------------------------------------------------------------------------------- property tests

cells = st.one_of(st.none(), st.text(st.characters(codec="utf-8", exclude_characters="\x00\r"), max_size=12),
                  st.sampled_from(["1", "-1", "2.5", "1e400", "nan", "NA", "2024-01-01", "TRUE", " 7 ", "17850.0"]))


@st.composite
def text_frames(draw: st.DrawFn) -> pd.DataFrame:
    columns = draw(st.lists(st.sampled_from(C.Canonical), unique=True, max_size=8))
    columns = list(dict.fromkeys([*C.Required, *columns]))
    n = draw(st.integers(0, 6))
    return pd.DataFrame({c: draw(st.lists(cells, min_size=n, max_size=n)) for c in columns}, dtype="string")


@settings(max_examples=40, deadline=None)
@given(text_frames())
def test_arbitrary_text_cells_never_crash_and_rows_add_up(frame: pd.DataFrame) -> None:
    result = ingest(frame)
    assert len(result.events) + len(result.rejects) == len(frame) == result.report.rows_read
    _check_canonical(result.events)
    rows = result.rejects[C.SourceRow].tolist()
    assert rows == sorted(set(rows)) and all(0 <= r < len(frame) for r in rows)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text_frames())
def test_arbitrary_csv_cells_never_crash(tmp_path: Path, frame: pd.DataFrame) -> None:
    path = tmp_path / "any.csv"
    frame.to_csv(path, index=False)
    result = ingest(path)
    assert len(result.events) + len(result.rejects) == len(frame)
