"""Customers as the dashboard shows them: one customer's own figures, a segment's members, and CSV exports.

Everything comes from the bundle: the per-customer table ``segrec run`` saved with the segments (spend, orders,
days since last order, RFM group, ...) and the purchase matrix (last purchases). A bundle saved without those
columns answers with what it has (the segment only). Ids may contain any character, ``/`` included: the
routes take the id as a path, so ``a/b`` is a customer id, not a missing page.
"""

from __future__ import annotations

import io
import weakref
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ..._json import to_jsonable
from ...columns import Columns
from ..deps import BundleDep
from ..errors import NotAvailable
from ..schemas import MAX_ID_LENGTH, MAX_K, Mode, error_responses
from ..state import Served

router = APIRouter(prefix="/v1", tags=["customers"], responses=error_responses(404, 503))

C = Columns
#: The per-customer figures served (when the bundle's segments table has them), in display order.
FIGURES = (C.Spending, C.Frequency, C.Recency, C.AvgBasket, C.Tenure, C.RFMScore, C.RFMGroup)
SortKey = Literal["user_id", "total_spending", "frequency", "recency_days", "avg_basket", "rfm_score"]
LAST_PURCHASES = 8
MAX_PAGE = 500


class _Response(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)


class Purchase(_Response):
    product_id: str
    product_name: str
    times: int = Field(description="purchase lines of this product by this customer")
    days_before_end: int | None = Field(description="days from the last purchase of it to the data's last day")


class CustomerProfile(_Response):
    user_id: str
    segment: int | None = None
    segment_name: str | None = None
    figures: dict[str, float | str | None] = Field(
        default_factory=dict, description="the customer's own total_spending, frequency (orders), recency_days, "
        "avg_basket, tenure_days, rfm_score and rfm_group, as segmentation computed them")
    segment_medians: dict[str, float | None] = Field(default_factory=dict,
                                                     description="the same figures' medians in the segment")
    last_purchases: list[Purchase] = Field(default_factory=list, description="most recent first")


class SegmentMembers(_Response):
    segment: int
    total: int = Field(description="members of the segment")
    sort: str
    order: Literal["asc", "desc"]
    offset: int
    customers: list[dict[str, float | str | None]]


class ColdStartOptions(_Response):
    locations: list[str] = Field(description="locations seen in training (the only ones cold start can use)")
    genders: list[str] = Field(description="genders seen in training")


@dataclass(frozen=True)
class _Customers:
    """The bundle's per-customer table, indexed by user id (built once per loaded bundle)."""

    table: pd.DataFrame

    @classmethod
    def of(cls, served: Served) -> _Customers:
        cached = _TABLES.get(served)
        if cached is None:
            frame = served.bundle.segments
            if frame is None or C.Segment not in frame:
                raise NotAvailable("this bundle has no segments; build it with `segrec run`")
            table = frame.assign(**{C.User: frame[C.User].astype(str)}).set_index(C.User)
            cached = _TABLES[served] = cls(table[[c for c in (C.Segment, C.SegmentName, *FIGURES) if c in table]])
        return cached

    def members(self, segment: int) -> pd.DataFrame:
        part = self.table[self.table[C.Segment] == segment]
        if part.empty:
            raise NotAvailable(f"segment {segment} has no members in this bundle")
        return part


_TABLES: weakref.WeakKeyDictionary[Served, _Customers] = weakref.WeakKeyDictionary()
UserPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, description="customer id (any characters)")]


@router.get("/users/{user_id:path}/profile")
def customer_profile(served: BundleDep, user_id: UserPath) -> CustomerProfile:
    """The customer's own figures beside their segment's medians, and their last purchases."""
    purchases = _last_purchases(served, user_id)
    try:
        customers = _Customers.of(served)
    except NotAvailable:
        customers = None
    if customers is None or user_id not in customers.table.index:
        if not purchases:
            raise NotAvailable(f"no customer {user_id!r} in this bundle (a new customer, or an unknown id)")
        return CustomerProfile(user_id=user_id, last_purchases=purchases)
    row = customers.table.loc[user_id]
    segment = int(row[C.Segment])
    members = customers.members(segment)
    numeric = [c for c in FIGURES if c in members and c != C.RFMGroup and pd.api.types.is_numeric_dtype(members[c])]
    return CustomerProfile(
        user_id=user_id, segment=segment, segment_name=served.segment_label(segment)[0],
        figures={c: to_jsonable(row[c]) for c in FIGURES if c in row.index},
        segment_medians={c: to_jsonable(float(members[c].median())) for c in numeric},
        last_purchases=purchases,
    )


def _last_purchases(served: Served, user_id: str) -> list[Purchase]:
    index = served.user_index.get(user_id)
    if index is None:
        return []
    dataset = served.bundle.dataset
    row = dataset.purchases[index]
    items, times = row.indices, row.data
    days = None
    if dataset.recency_days is not None:  # same pattern as purchases: days to the data's last day, plus one
        recency = dataset.recency_days[index]
        days = dict(zip(recency.indices.tolist(), (recency.data - 1).astype(int).tolist(), strict=True))
    order = np.argsort([days.get(int(i), 0) for i in items], kind="stable") if days else np.arange(len(items))
    return [Purchase(product_id=served.item_ids[int(items[j])], product_name=served.item_names[int(items[j])],
                     times=int(times[j]), days_before_end=None if days is None else days.get(int(items[j])))
            for j in order[:LAST_PURCHASES]]


@router.get("/segments/{segment}/customers")
def segment_members(
    served: BundleDep,
    segment: int,
    sort: SortKey = "total_spending",
    order: Literal["asc", "desc"] = "desc",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> SegmentMembers:
    """One page of a segment's members with their figures, sorted (the drill-down of the dashboard)."""
    members = _sorted(_Customers.of(served).members(segment), sort, order)
    page = members.iloc[offset:offset + limit].drop(columns=[C.Segment, C.SegmentName], errors="ignore")
    records = [{C.User: str(user), **{k: to_jsonable(v) for k, v in values.items()}}
               for user, values in page.to_dict("index").items()]
    return SegmentMembers(segment=segment, total=len(members), sort=sort, order=order, offset=offset,
                          customers=records)


def _sorted(members: pd.DataFrame, sort: str, order: str) -> pd.DataFrame:
    ascending = order == "asc"
    if sort == C.User:
        return members.sort_index(ascending=ascending)
    if sort not in members:
        raise NotAvailable(f"this bundle's segments table has no {sort!r} column")
    return members.sort_values(sort, ascending=ascending, kind="stable", na_position="last")


@router.get("/segments/{segment}/customers.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "every member, one row each"}})
def segment_members_csv(served: BundleDep, segment: int, sort: SortKey = "total_spending",
                        order: Literal["asc", "desc"] = "desc") -> Response:
    """Every member of the segment with their figures, as CSV."""
    members = _sorted(_Customers.of(served).members(segment), sort, order)
    return _csv(members.reset_index(), f"segment-{segment}-customers.csv")


@router.get("/segments/{segment}/recommendations.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "k rows per member"}})
def segment_recommendations_csv(served: BundleDep, segment: int,
                                k: Annotated[int, Query(ge=1, le=MAX_K)] = 10, mode: Mode = "discover") -> Response:
    """Every member's top-``k`` (user_id, rank, product_id, product_name, score, reason), as CSV: a campaign list."""
    members = _Customers.of(served).members(segment).index
    known = [u for u in members if u in served.user_index]
    frame = served.bundle.recommender.recommend(known, k, filter_seen=mode == "discover")
    if C.ItemName not in frame:
        frame[C.ItemName] = frame[C.Item].astype(str).map(served.name_of)
    columns = [c for c in C.Recommendations if c in frame]
    return _csv(frame[columns], f"segment-{segment}-recommendations-{mode}.csv")


def _csv(frame: pd.DataFrame, name: str) -> Response:
    text = io.StringIO()
    frame.to_csv(text, index=False)
    return Response(text.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/cold-start/options")
def cold_start_options(served: BundleDep) -> ColdStartOptions:
    """The locations and genders the model saw in training: other values change nothing in cold start."""
    attributes = served.bundle.dataset.user_attributes

    def seen(column: str) -> list[str]:
        if column not in attributes:
            return []
        return sorted({str(v) for v in attributes[column].dropna() if str(v).strip()})

    return ColdStartOptions(locations=seen(C.Location), genders=seen(C.Gender))
