"""Products similar to a given one (content and co-purchase neighbours): "customers also liked".

The business rules apply here too; the candidates are the neighbours the content model keeps per product
(``k_neighbours``, 50 by default), so under strict rules an answer can hold fewer than ``k``."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Path, Query

from ...columns import Columns
from ..deps import BundleDep, RulesDep, SettingsDep, UnavailableDep
from ..errors import NotAvailable, check_limit
from ..live import allowed_items
from ..schemas import MAX_ID_LENGTH, MAX_K, SimilarItem, SimilarProducts, error_responses

router = APIRouter(prefix="/v1/products", tags=["products"], responses=error_responses(404, 503))


@router.get("/{product_id}/similar")
def similar_products(
    served: BundleDep,
    settings: SettingsDep,
    unavailable: UnavailableDep,
    rules: RulesDep,
    product_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
) -> SimilarProducts:
    """The ``k`` products most similar to ``product_id``; 404 if the catalogue does not have it."""
    check_limit(k, settings.max_k, ("query", "k"))
    model = served.bundle.recommender
    if not model.finds_similar_products:
        raise NotAvailable(f"this bundle's model ({type(model).__name__}) does not find similar products; "
                           "serve a bundle of the hybrid or content model")
    allowed = allowed_items(served, rules, unavailable)
    frame = model.similar_products(product_id, k if allowed is None else len(served.item_ids))
    if allowed is not None:
        frame = frame[[bool(allowed[served.product_index[p]]) for p in frame[Columns.Item]]].head(k)
        frame[Columns.Rank] = range(1, len(frame) + 1)
    columns = [frame[c].tolist() for c in (Columns.Rank, Columns.Item, Columns.ItemName, Columns.Score)]
    items = [
        SimilarItem(rank=rank, product_id=str(item), product_name=str(name), score=score)
        for rank, item, name, score in zip(*columns, strict=True)
        if math.isfinite(score)
    ]
    return SimilarProducts(product_id=product_id, items=items)
