"""Metrics that cannot be computed are undefined, not zero: diversity without product text (issue 12, item 4)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from segrec.columns import Columns
from segrec.data.generate import generate_shop
from segrec.data.read import ingest
from segrec.evaluation import (
    evaluate,
    intra_list_diversity,
    item_text_vectors,
    markdown_table,
    random_split,
    rich_table,
)

PLACEHOLDER_CATEGORIES = ["unknown", "Unknown", "", None]


def _textless_catalogue(ids: list[str], categories: list[str | None]) -> pd.DataFrame:
    """What ingestion makes of a shop that gave no product metadata: name = id, category a placeholder."""
    return pd.DataFrame({Columns.Item: ids, Columns.ItemName: ids, Columns.Category: categories,
                         Columns.Description: [""] * len(ids)})


def test_placeholders_are_not_text() -> None:
    catalogue = _textless_catalogue(["85123A", "POST", "p1"], ["unknown", "unknown", "unknown"])
    assert item_text_vectors(catalogue).nnz == 0  # "POST" is a product id that happens to be a word
    assert np.isnan(intra_list_diversity(np.array([[0, 1, 2], [2, 1, -1]]), item_text_vectors(catalogue))).all()


def test_diversity_is_over_the_listed_products_with_text() -> None:
    catalogue = pd.DataFrame({
        Columns.Item: ["a", "b", "c", "d"],
        Columns.ItemName: ["red wool scarf", "red wool scarf", "d", "garden hose"],  # c has no name but its id
        Columns.Category: ["unknown"] * 4,
        Columns.Description: [""] * 4,
    })
    vectors = item_text_vectors(catalogue)
    div = intra_list_diversity(np.array([[0, 1, 2], [0, 2, 3], [2, 3, -1], [0, 2, 2]]), vectors)
    np.testing.assert_allclose(div[:2], [0.0, 1.0], atol=1e-12)  # c is left out, not counted as unlike a and b
    assert np.isnan(div[2:]).all()  # one product with text: no pair to compare


@settings(max_examples=50, deadline=None)
@given(
    ids=st.lists(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=8), min_size=2, max_size=30,
                 unique=True),
    data=st.data(),
)
def test_without_text_diversity_is_undefined_for_every_list(ids: list[str], data: st.DataObject) -> None:
    categories = data.draw(st.lists(st.sampled_from(PLACEHOLDER_CATEGORIES), min_size=len(ids), max_size=len(ids)))
    k = data.draw(st.integers(1, len(ids)))
    n_users = data.draw(st.integers(1, 6))
    top = np.array(data.draw(st.lists(st.lists(st.integers(-1, len(ids) - 1), min_size=k, max_size=k),
                                      min_size=n_users, max_size=n_users)))
    assert np.isnan(intra_list_diversity(top, item_text_vectors(_textless_catalogue(ids, categories)))).all()


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_textless_products_do_not_change_a_lists_diversity(data: st.DataObject) -> None:
    words = ["red", "blue", "wool", "cotton", "scarf", "hat", "garden", "hose", "lamp", "candle"]
    n_text = data.draw(st.integers(2, 8))
    names = [" ".join(data.draw(st.lists(st.sampled_from(words), min_size=1, max_size=3))) for _ in range(n_text)]
    n_bare = data.draw(st.integers(1, 4))
    ids = [f"t{i}" for i in range(n_text)] + [f"{i:05d}" for i in range(n_bare)]
    catalogue = pd.DataFrame({Columns.Item: ids, Columns.ItemName: names + ids[n_text:],
                              Columns.Category: ["unknown"] * len(ids), Columns.Description: [""] * len(ids)})
    vectors = item_text_vectors(catalogue)
    with_text = data.draw(st.lists(st.integers(0, n_text - 1), min_size=2, max_size=5, unique=True))
    bare = data.draw(st.lists(st.integers(n_text, len(ids) - 1), min_size=1, max_size=n_bare, unique=True))
    mixed = data.draw(st.permutations(with_text + bare))
    alone = intra_list_diversity(np.array([with_text]), vectors)
    both = intra_list_diversity(np.array([mixed]), vectors)
    np.testing.assert_allclose(both, alone, atol=1e-12)


def test_a_shop_without_metadata_reports_diversity_as_null_and_n_a() -> None:
    """Through ingestion, as a user with only user, product and quantity (and one date) would arrive."""
    events = generate_shop(customers=200, products=80, months=3, seed=1).events
    raw = events[[Columns.User, Columns.Item, Columns.Quantity]].assign(**{Columns.Date: "2024-06-30"})
    flat = ingest(raw).events
    split = random_split(flat, 0.2, seed=42)
    result = evaluate(split.train, split.test, ["popularity", "ease"], k=5, split_description=split.description)
    for model in result.models:
        assert model.metrics["diversity"] is None
        assert all(v is not None for name, v in model.metrics.items() if name != "diversity")
    payload = json.loads(json.dumps(result.to_dict()))
    assert all(m["metrics"]["diversity"] is None for m in payload["models"])
    lines = markdown_table(result).splitlines()
    column = lines[0].split(" | ").index("diversity")
    assert {line.split(" | ")[column] for line in lines[2:]} == {"n/a"}
    out = io.StringIO()
    Console(file=out, width=200).print(rich_table(result))
    assert out.getvalue().count("n/a") == len(result.models)  # one diversity cell per model row
