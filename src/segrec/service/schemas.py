"""Request and response models: every constraint is declared here, so bad input is a 422 and the OpenAPI
schema tells clients the limits.

Field names are the canonical column names of :mod:`segrec.columns` (checked by the tests), so a customer
described to the API is described as in the data.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

#: Hard upper limits declared in the schema; settings may only lower them.
MAX_K = 100
MAX_BATCH = 1000
MAX_PRODUCTS = 50
MAX_ID_LENGTH = 128



def _json_number(value: Any) -> Any:
    """JSON Schema counts 10.0 as an integer but "10" and true as no number: so do the request models."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be a valid integer")
    return value


#: An integer as JSON Schema defines it (request models are otherwise strict: no "10" for 10).
Integer = Annotated[int, BeforeValidator(_json_number), Strict(False)]
Mode = Literal["discover", "buy-again"]
UserId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
ProductId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
Money = Annotated[float, Field(ge=0, le=1e12)]
Count = Annotated[float, Field(ge=0, le=1e9)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class _Response(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)


# --- requests ----------------------------------------------------------------------------------------------
class CustomerAttributes(_Request):
    """What is known about a new customer; every field is optional."""

    age: float | None = Field(None, ge=0, le=120, description="years")
    gender: str | None = Field(None, min_length=1, max_length=32)
    location: str | None = Field(None, min_length=1, max_length=64)
    income: Money | None = Field(None, description="yearly income in the shop's currency")
    segment: Integer | None = Field(None, ge=0, le=1000, description="segment id, when already assigned")


class BatchRecommendationRequest(_Request):
    """Recommendations for known customers (unknown ids get the cold-start answer)."""

    user_ids: list[UserId] = Field(min_length=1, max_length=MAX_BATCH)
    k: Integer = Field(10, ge=1, le=MAX_K)
    mode: Mode = "discover"


class ColdStartRequest(_Request):
    """A customer without history: demographics and/or a few products they looked at or bought."""

    customer: CustomerAttributes | None = None
    product_ids: list[ProductId] | None = Field(None, min_length=1, max_length=MAX_PRODUCTS)
    k: Integer = Field(10, ge=1, le=MAX_K)


class SegmentFeatures(_Request):
    """A customer's behaviour and demographics; missing features get the training medians."""

    total_spending: Money | None = None
    frequency: Count | None = Field(None, description="number of orders")
    recency_days: Count | None = None
    tenure_days: Count | None = None
    avg_basket: Money | None = None
    age: float | None = Field(None, ge=0, le=120)
    income: Money | None = None
    clicks: Count | None = None
    time_spent: Count | None = Field(None, description="minutes per session")
    engagement_score: Count | None = None
    abandoned_cart_rate: float | None = Field(None, ge=0, le=1)


class ReloadRequest(_Request):
    """Reload the bundle at ``path`` (default: the path currently served)."""

    path: str | None = Field(None, min_length=1, max_length=4096)


# --- responses ---------------------------------------------------------------------------------------------
#: What a recommendation's ``score`` is, as the OpenAPI schema tells clients (issue 15: scores that seemed to
#: contradict ranks).
SCORE_MEANING = (
    "The model's relevance of the product for this customer before the last, diversity step that sets `rank`. "
    "Compare it only within one answer: its scale differs between modes (buy-again blends other signals than "
    "discover), cold start and models, and it need not fall with rank, because the list trades a little relevance "
    "for variety (a product much like one ranked above it moves down). Order by `rank`."
)


class RecommendedItem(_Response):
    rank: int = Field(ge=1, description="position in the list: order by this")
    product_id: str
    product_name: str
    score: float = Field(description=SCORE_MEANING)
    reason: str


class UserRecommendations(_Response):
    user_id: str | None = Field(description="null for an anonymous cold-start customer")
    mode: Mode
    cold_start: bool = Field(description="true when the answer is not personalised by the customer's history")
    items: list[RecommendedItem]
    notes: list[str] = Field(default_factory=list, description="e.g. unknown product ids that were ignored")


class RecommendationsResponse(_Response):
    results: list[UserRecommendations]


class SimilarItem(_Response):
    rank: int = Field(ge=1)
    product_id: str
    product_name: str
    score: float


class SimilarProducts(_Response):
    product_id: str
    items: list[SimilarItem]


class SegmentAssignment(_Response):
    segment: int
    segment_name: str | None = None
    action: str | None = None
    imputed: list[str] = Field(default_factory=list, description="features filled with the training medians")


class UserSegment(_Response):
    user_id: str
    segment: int
    segment_name: str | None = None
    action: str | None = None


class SegmentProfile(_Response):
    segment: int
    segment_name: str | None = None
    action: str | None = None
    rule: str | None = None
    size: int | None = None
    share: float | None = None
    revenue: float | None = None
    revenue_share: float | None = None
    top_categories: str | None = None
    features: dict[str, float | None] = Field(default_factory=dict, description="mean_* and median_* per feature")


class SegmentProfiles(_Response):
    segments: list[SegmentProfile]


class BundleInfo(_Response):
    path: str | None
    format_version: int
    segrec_version: str | None
    created_at: str | None
    data_fingerprint: str | None
    model: str
    users: int
    items: int
    loaded_at: str


class Health(_Response):
    status: Literal["ok"] = "ok"


class Ready(_Response):
    status: Literal["ready"] = "ready"
    bundle: BundleInfo


class ReloadResult(_Response):
    status: Literal["reloaded"] = "reloaded"
    bundle: BundleInfo


class ErrorMessage(_Response):
    detail: Any


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error codes a route can answer (every error body is ``{"detail": ...}``)."""
    return {code: {"model": ErrorMessage, "description": _ERROR_TEXT[code]} for code in codes}


_ERROR_TEXT = {
    400: "malformed request body (not UTF-8 JSON text)",
    401: "missing credentials",
    403: "forbidden (wrong token, or reload disabled)",
    404: "unknown product, user or segment data",
    409: "bundle refused (the previous one keeps serving) or another reload in progress",
    413: "request body too large",
    503: "no bundle loaded",
}
