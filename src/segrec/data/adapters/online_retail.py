"""UCI "Online Retail" (Chen, 2015; doi:10.24432/C5BW33, CC BY 4.0) as canonical events (``format="online-retail"``).

The file mixes purchases with cancellations, returns, fees and manual adjustments. Those rows are not dropped
silently: each gets a reject reason, so they land in the rejects file and in the report's counts. Reasons, in
the order they are tried: ``cancellation`` (InvoiceNo starting "C"), ``adjustment`` (InvoiceNo starting "A"),
the generic ``missing_user_id`` ... ``unparsable_boolean`` checks, ``return`` (Quantity <= 0),
``nonpositive_price`` (UnitPrice <= 0), ``non_product_code`` (see :data:`NON_PRODUCT_CODES`), then the remaining
generic checks.

Mapping: CustomerID -> user_id (17850.0 -> "17850"), StockCode -> product_id, Description -> description and
product_name, InvoiceDate -> purchase_date, UnitPrice -> price, InvoiceNo -> order_id, Country -> location,
Quantity -> quantity. 1,454 descriptions are the literal text "nan": the product name is then the most common
description of that StockCode, else the code. The data has no categories and none is invented: category is
"unknown". Exact duplicate lines are kept (they are real repeated lines) and counted in the report.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ...columns import Columns
from ...exceptions import InputError
from ..validation import DEFAULT_CHECKS, Check, SourceQuery, one_of

C = Columns

# StockCodes that are fees, postage, discounts, samples or manual entries, not products (checked on the data:
# POSTAGE, DOTCOM POSTAGE, Manual, CARRIAGE, Discount, SAMPLES, Bank Charges, AMAZON FEE, CRUK Commission,
# PADS TO MATCH ALL CUSHIONS (a 0.001 filler line), Adjust bad debt). Compared upper-case; plus gift vouchers.
NON_PRODUCT_CODES = ("POST", "DOT", "M", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "B")
GIFT_VOUCHER_PREFIX = "GIFT_"  # gift_0001_10 ... gift_0001_50: vouchers, not products

COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
MAPPING = {
    "InvoiceNo": C.Order,
    "StockCode": C.Item,
    "Description": C.Description,
    C.ItemName: C.ItemName,  # added by the adapter: Description, "nan" filled
    "Quantity": C.Quantity,
    "InvoiceDate": C.Date,
    "UnitPrice": C.Price,
    "CustomerID": C.User,
    "Country": C.Location,
}



def _checks() -> tuple[Check, ...]:
    head = (
        Check("cancellation", C.Order, f"starts_with({C.Order}, 'C')"),
        Check("adjustment", C.Order, f"starts_with({C.Order}, 'A')"),
    )
    tail = (
        Check("return", C.Quantity, f"{C.Quantity} <= 0"),
        Check("nonpositive_price", C.Price, f"{C.Price} <= 0"),
        Check(
            "non_product_code",
            C.Item,
            f"{one_of(f'upper({C.Item})', NON_PRODUCT_CODES)} OR starts_with(upper({C.Item}), '{GIFT_VOUCHER_PREFIX}')",
        ),
    )
    cut = next(i for i, ch in enumerate(DEFAULT_CHECKS) if ch.reason == "negative_price")
    return (*head, *DEFAULT_CHECKS[:cut], *tail, *DEFAULT_CHECKS[cut:])


CHECKS = _checks()


def read_online_retail(con: duckdb.DuckDBPyConnection, path: Path) -> SourceQuery:
    """Present the Online Retail file to validation: product names filled, adapter checks, duplicates counted."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read {path} as the Online Retail Parquet file: {exc}") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(f"{path} is not the Online Retail file: missing {missing}; found {table.column_names}")
    frame = table.select(list(COLUMNS)).to_pandas()
    names, filled = _product_names(frame)
    frame[C.ItemName] = names
    con.register("__source", frame)
    duplicates = con.execute(
        f"SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT {', '.join(COLUMNS)} FROM __source)) FROM __source"
    ).fetchall()[0][0]
    notes = (
        "Online Retail has no categories: category is 'unknown' (none invented)",
        f"{filled} rows with description 'nan' got the StockCode's most common description (else the code) as name",
        f"{duplicates} exact duplicate rows kept (real repeated lines)",
        f"non-product codes rejected: {', '.join(NON_PRODUCT_CODES)}, {GIFT_VOUCHER_PREFIX.lower()}*",
    )
    return SourceQuery(
        "SELECT * FROM __source", str(path), "online-retail", MAPPING, CHECKS, notes, int(duplicates)
    )


def _product_names(frame: pd.DataFrame) -> tuple[pd.Series, int]:
    """Description, or for "nan" ones the StockCode's most common description (ties: alphabetical), else the code."""
    code, text = frame["StockCode"], frame["Description"].str.strip()
    missing = text.isna() | (text == "nan") | (text == "")
    pairs = pd.DataFrame({"code": code[~missing], "text": text[~missing]}).value_counts().reset_index()
    best = pairs.sort_values(["count", "text"], ascending=[False, True]).drop_duplicates("code")
    fill = code[missing].map(best.set_index("code")["text"]).fillna(code[missing])
    return text.mask(missing, fill), int(missing.sum())
