"""Canonical schema and column-name resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import HUMAN_NAMES
from segrec.columns import Columns
from segrec.data.schema import (
    ALIASES,
    SCHEMA,
    canonical_name,
    normalise_name,
    parse_mapping,
    read_mapping_file,
    resolve_columns,
)
from segrec.exceptions import InputError, MissingColumnError

C = Columns


def test_schema_follows_the_contract() -> None:
    assert tuple(SCHEMA) == C.Canonical
    assert [n for n, s in SCHEMA.items() if s.required] == list(C.Required)
    assert SCHEMA[C.Date].dtype == "datetime64[ns]"
    assert SCHEMA[C.Quantity].dtype == "int64"
    assert SCHEMA[C.AbandonedCart].dtype == "boolean"
    assert {SCHEMA[c].dtype for c in (C.User, C.Item, C.Order, C.Gender, C.Location)} == {"string"}
    assert all(canonical_name(alias) == target for alias, target in ALIASES.items())


@pytest.mark.parametrize("canon", C.Canonical)
def test_human_and_canonical_names_resolve(canon: str) -> None:
    assert canonical_name(canon) == canon
    if canon in HUMAN_NAMES:
        assert canonical_name(HUMAN_NAMES[canon]) == canon


@pytest.mark.parametrize(
    ("name", "canon"),
    [("CustomerID", C.User), ("customer_id", C.User), ("SKU", C.Item), ("Item-ID", C.Item),
     ("order.date", C.Date), ("InvoiceNo", C.Order), ("Unit Price", C.Price), ("qty", C.Quantity)],
)
def test_aliases(name: str, canon: str) -> None:
    assert canonical_name(name) == canon


def _restyle(draw: st.DrawFn, name: str) -> str:
    words = name.split("_")
    sep = draw(st.sampled_from(["_", " ", "-", ".", "", "  "]))
    cased = [draw(st.sampled_from([w, w.upper(), w.title()])) for w in words]
    return sep.join(cased)


@st.composite
def restyled_columns(draw: st.DrawFn) -> list[tuple[str, str]]:
    canon = draw(st.lists(st.sampled_from(C.Canonical), unique=True, min_size=0, max_size=len(C.Canonical)))
    chosen = list(dict.fromkeys([*C.Required, *canon]))
    styled = [(_restyle(draw, c), c) for c in chosen]
    return draw(st.permutations(styled))


@given(restyled_columns())
def test_resolution_ignores_order_case_and_separators(columns: list[tuple[str, str]]) -> None:
    resolution = resolve_columns([s for s, _ in columns])
    assert resolution.mapped == dict(columns)
    assert resolution.dropped == []


def test_unknown_columns_are_dropped_not_errors() -> None:
    res = resolve_columns(["User ID", "Product ID", "Purchase Date", "Loyalty Tier"])
    assert res.dropped == ["Loyalty Tier"]


def test_missing_required_column_names_it_and_the_columns_found() -> None:
    with pytest.raises(MissingColumnError) as info:
        resolve_columns(["User ID", "Purchase Date", "Colour"])
    assert info.value.missing == [C.Item]
    assert "product_id" in str(info.value) and "'Colour'" in str(info.value)


def test_explicit_mapping_overrides_names() -> None:
    res = resolve_columns(["Client", "user_id", "Item", "When"], {"Client": "user_id", "Item": "Product ID", "When": C.Date})
    assert res.mapped == {"Client": C.User, "Item": C.Item, "When": C.Date}
    assert res.dropped == ["user_id"]


@pytest.mark.parametrize(
    ("mapping", "match"),
    [({"Nope": C.User}, "'Nope', which is not in the source"), ({"Client": "shoe_size"}, "not a canonical column"),
     ({"Client": C.User, "Item": C.User}, "both")],
)
def test_bad_mappings_are_input_errors(mapping: dict[str, str], match: str) -> None:
    with pytest.raises(InputError, match=match):
        resolve_columns(["Client", "Item", "purchase_date"], mapping)


def test_two_columns_claiming_one_canonical_is_an_error() -> None:
    with pytest.raises(InputError, match="both look like 'user_id'"):
        resolve_columns(["user_id", "User ID", "product_id", "purchase_date"])


def test_parse_mapping_and_toml_file(tmp_path: Path) -> None:
    assert parse_mapping(["Customer = user_id", "a=b=product_id"]) == {"Customer": "user_id", "a=b": "product_id"}
    with pytest.raises(InputError, match="expected"):
        parse_mapping(["user_id"])
    path = tmp_path / "map.toml"
    path.write_text('[columns]\n"Customer No" = "user_id"\nSKU = "product_id"\n')
    assert read_mapping_file(path) == {"Customer No": "user_id", "SKU": "product_id"}
    path.write_text("columns = 3\n")
    with pytest.raises(InputError, match=r"\[columns\] table"):
        read_mapping_file(path)
    with pytest.raises(InputError, match="not found"):
        read_mapping_file(tmp_path / "absent.toml")


def test_normalise_name() -> None:
    assert normalise_name(" User_ID ") == normalise_name("user-id") == normalise_name("User.Id") == "userid"
