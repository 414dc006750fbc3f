"""The UCI Online Retail file: raw facts from the data README, and what the adapter keeps and rejects."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from segrec.columns import Columns
from segrec.data.adapters.online_retail import NON_PRODUCT_CODES
from segrec.data.read import IngestResult, ingest

C = Columns
pytestmark = pytest.mark.real_data


def test_raw_facts_match_the_data_readme(online_retail_path: Path) -> None:
    with duckdb.connect() as con:
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{online_retail_path}')")
        facts = con.execute("""
            SELECT count(*), count(DISTINCT InvoiceNo),
                   count(DISTINCT InvoiceNo) FILTER (WHERE starts_with(InvoiceNo, 'C')),
                   count(*) FILTER (WHERE starts_with(InvoiceNo, 'C')),
                   count(DISTINCT InvoiceNo) FILTER (WHERE starts_with(InvoiceNo, 'A')),
                   count(DISTINCT StockCode), count(CustomerID), count(DISTINCT CustomerID),
                   count(DISTINCT Country), round(sum(Quantity * UnitPrice), 2),
                   count(*) FILTER (WHERE Description = 'nan')
            FROM t""").fetchall()[0]
        assert facts == (541_909, 25_900, 3_836, 9_288, 3, 4_070, 406_829, 4_372, 38, 9_747_747.93, 1_454)
        distinct = con.execute("SELECT count(*) FROM (SELECT DISTINCT * FROM t)").fetchall()[0][0]
        assert 541_909 - distinct == 5_268
        kept = con.execute("""
            SELECT count(*), count(DISTINCT CustomerID), count(DISTINCT StockCode) FROM t
            WHERE CustomerID IS NOT NULL AND Quantity > 0 AND UnitPrice > 0""").fetchall()[0]
        assert kept == (397_884, 4_338, 3_665)


@pytest.fixture(scope="module")
def adapted(online_retail_path: Path) -> IngestResult:
    return ingest(online_retail_path, format="online-retail")


def test_adapter_keeps_purchases_and_reports_every_rejected_row(adapted: IngestResult) -> None:
    result = adapted
    report, events, rejects = result.report, result.events, result.rejects
    assert report.rows_read == 541_909
    assert report.rejected_by_reason == {
        "cancellation": 9_288,
        "adjustment": 3,
        "missing_user_id": 134_694,
        "nonpositive_price": 40,
        "non_product_code": 1_547,
    }
    # README: 397,884 rows / 4,338 customers / 3,665 products with a customer, Quantity > 0, UnitPrice > 0;
    # the non-product codes (POST, M, C2, DOT, BANK CHARGES, PADS among them) take 1,547 rows and 4 customers.
    assert report.rows_accepted == 397_884 - 1_547 == len(events)
    assert (report.n_users, report.n_products) == (4_334, 3_659)
    assert report.duplicate_rows == 5_268
    assert (report.date_min, report.date_max) == ("2010-12-01 08:26:00", "2011-12-09 12:50:00")
    assert len(rejects) == report.rows_rejected and rejects[C.SourceRow].is_monotonic_increasing
    assert events[C.User].str.fullmatch(r"\d{5}").all()  # 17850.0 -> "17850"
    assert not events[C.Item].str.upper().isin(NON_PRODUCT_CODES).any()
    assert (events[C.Quantity] > 0).all() and (events[C.Price] > 0).all()
    assert set(events[C.Category]) == {"unknown"}
    assert not events[C.ItemName].isna().any() and not (events[C.ItemName] == "nan").any()
    assert events[C.Spending].sum() == pytest.approx((events[C.Price] * events[C.Quantity]).sum())
    cancelled = rejects[rejects[C.RejectReason] == "cancellation"]
    assert cancelled["InvoiceNo"].str.startswith("C").all()


def test_nan_descriptions_get_the_codes_usual_name(adapted: IngestResult) -> None:
    rejects = adapted.rejects
    nameless = rejects[rejects["Description"] == "nan"]
    assert len(nameless) > 0
    assert (nameless[C.ItemName] != "nan").all()
    post = rejects[(rejects["StockCode"] == "POST") & (rejects["Description"] == "nan")]
    assert set(post[C.ItemName]) <= {"POSTAGE"}
