"""Request and response models: every constraint is declared here, so bad input is a 422 and the OpenAPI
schema tells clients the limits.

Field names are the canonical column names of :mod:`segrec.columns` (checked by the tests), so a customer
described to the API is described as in the data.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

from ..modes import Mode

#: Hard upper limits declared in the schema; settings may only lower them.
MAX_K = 100
MAX_BATCH = 1000
MAX_PRODUCTS = 50
MAX_ID_LENGTH = 128
#: Events per POST /v1/events (more: 413); the request body limit (SEGREC_MAX_BODY_BYTES) applies as well.
MAX_EVENTS = 1000
MAX_RULE_VALUES = 500  # ids or categories in one rule
MAX_USER_EVENTS = 200  # GET /v1/users/{id}/events?limit=



def _json_number(value: Any) -> Any:
    """JSON Schema counts 10.0 as an integer but "10" and true as no number: so do the request models."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be a valid integer")
    return value


#: An integer as JSON Schema defines it (request models are otherwise strict: no "10" for 10).
Integer = Annotated[int, BeforeValidator(_json_number), Strict(False)]
#: Constraints first: a BeforeValidator in front of them would hide them from the OpenAPI schema in a union.
SegmentId = Annotated[int, Field(ge=0, le=1000), BeforeValidator(_json_number), Strict(False)]
UserId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
ProductId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
Money = Annotated[float, Field(ge=0, le=1e12)]
Count = Annotated[float, Field(ge=0, le=1e9)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class _Response(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)


# --- requests ----------------------------------------------------------------------------------------------
class Rules(_Request):
    """Business rules applied to every answer: an answer still holds ``k`` products whenever ``k`` pass them.

    Products marked unavailable (``PUT /admin/availability``) are never recommended, whatever the request says.
    """

    exclude: list[ProductId] | None = Field(None, max_length=MAX_RULE_VALUES,
                                            description="product ids never to recommend in this answer")
    categories: list[Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]] | None = Field(
        None, max_length=MAX_RULE_VALUES, description="only products of these categories")
    exclude_categories: list[Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]] | None = Field(
        None, max_length=MAX_RULE_VALUES, description="no product of these categories")
    min_price: Money | None = Field(None, description="only products at or above this price (unknown price: out)")
    max_price: Money | None = Field(None, description="only products at or below this price (unknown price: out)")


_IDS = "repeat the parameter for several values"
_QueryValue = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]


class RuleQuery(BaseModel):
    """The business rules as query parameters. One model, so FastAPI checks them in one validation: as five
    separate parameters (and the dependencies around them) they were about a third of a cached answer's CPU."""

    model_config = ConfigDict(allow_inf_nan=False)

    exclude: list[_QueryValue] | None = Field(None, max_length=MAX_RULE_VALUES,
                                              description=f"product ids never to recommend; {_IDS}")
    categories: list[_QueryValue] | None = Field(None, max_length=MAX_RULE_VALUES,
                                                 description=f"only products of these categories; {_IDS}")
    exclude_categories: list[_QueryValue] | None = Field(None, max_length=MAX_RULE_VALUES,
                                                         description=f"no product of these categories; {_IDS}")
    min_price: float | None = Field(None, ge=0, le=1e12, description="only products at or above this price")
    max_price: float | None = Field(None, ge=0, le=1e12, description="only products at or below this price")

    def rules(self) -> Rules | None:
        """The rules (None when there are none: the fast path)."""
        if (self.exclude is None and self.categories is None and self.exclude_categories is None
                and self.min_price is None and self.max_price is None):
            return None
        return Rules.model_construct(exclude=self.exclude, categories=self.categories,
                                     exclude_categories=self.exclude_categories, min_price=self.min_price,
                                     max_price=self.max_price)


class RecommendationQuery(RuleQuery):
    """Query parameters of one customer's recommendations: the rules, ``k`` and the mode."""

    k: int = Field(10, ge=1, le=MAX_K, description="number of products")
    mode: Mode = Field("discover", description="discover: never what the customer bought; buy-again: may be")


class CustomerAttributes(_Request):
    """What is known about a new customer; every field is optional."""

    age: float | None = Field(None, ge=0, le=120, description="years")
    gender: str | None = Field(None, min_length=1, max_length=32)
    location: str | None = Field(None, min_length=1, max_length=64)
    income: Money | None = Field(None, description="yearly income in the shop's currency")
    segment: SegmentId | None = Field(None, description="segment id, when already assigned")


class BatchRecommendationRequest(Rules):
    """Recommendations for known customers (unknown ids get the cold-start answer), under the business rules."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"user_ids": ["C00042", "C00107"], "k": 5, "mode": "discover"},
        {"user_ids": ["C00042"], "k": 5, "categories": ["Kitchen"], "max_price": 20, "exclude": ["P0107"]},
    ]})

    user_ids: list[UserId] = Field(min_length=1, max_length=MAX_BATCH)
    k: Integer = Field(10, ge=1, le=MAX_K)
    mode: Mode = "discover"


class ColdStartRequest(Rules):
    """A customer without history: demographics and/or a few products they looked at or bought."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"customer": {"age": 34, "location": "France"}, "product_ids": ["P0107"], "k": 5},
    ]})

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


class Event(_Request):
    """One customer event; checked with the same rules as a row of a purchase file."""

    user_id: Annotated[str, Field(max_length=MAX_ID_LENGTH)]
    product_id: Annotated[str, Field(max_length=MAX_ID_LENGTH)]
    event_type: Literal["purchase", "view", "cart"] = "purchase"
    timestamp: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="shop local time, ISO 8601 or a format purchase files may use (an offset is ignored, "
                          "as in file ingestion); default: when the server receives it")
    quantity: float | None = Field(None, description="units, a whole number > 0 (default 1)")
    price: float | None = Field(None, description="unit price >= 0")
    order_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)] | None = None
    event_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)] | None = Field(
        None, description="your id of the event: a retried request does not store it twice")


class EventBatch(_Request):
    """Up to 1,000 events (413 above), applied whole or refused whole."""

    events: list[Event] = Field(min_length=1)

    model_config = ConfigDict(json_schema_extra={"examples": [{"events": [
        {"user_id": "C00042", "product_id": "P0107", "event_type": "purchase", "timestamp": "2026-11-29T10:15:00",
         "quantity": 2, "price": 12.5, "order_id": "O-9001", "event_id": "O-9001-1"},
        {"user_id": "C00042", "product_id": "P0311", "event_type": "view", "event_id": "web-77123"},
    ]}]})


class Availability(_Request):
    """The products that must not be recommended (sold out, withdrawn); replaces the previous list."""

    unavailable: list[ProductId] = Field(max_length=100_000)

    model_config = ConfigDict(json_schema_extra={"examples": [{"unavailable": ["P0107", "P0311"]}]})


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
    personalised_from_events: bool = Field(
        False, description="true when the answer folds in events received after the bundle was built")
    items: list[RecommendedItem]
    notes: list[str] = Field(default_factory=list, description="e.g. unknown product ids that were ignored")

    model_config = ConfigDict(allow_inf_nan=False, json_schema_extra={"examples": [{
        "user_id": "C00042", "mode": "discover", "cold_start": False, "personalised_from_events": True,
        "items": [{"rank": 1, "product_id": "P0311", "product_name": "Eco Kettle", "score": 2.41,
                   "reason": "similar to Eco Teapot"}], "notes": []}]})


class RecommendationsResponse(_Response):
    results: list[UserRecommendations]

    model_config = ConfigDict(json_schema_extra={"examples": [{"results": [{
        "user_id": "C00042", "mode": "discover", "cold_start": False, "personalised_from_events": True,
        "items": [{"rank": 1, "product_id": "P0311", "product_name": "Eco Kettle", "score": 2.41,
                   "reason": "similar to Eco Teapot"}], "notes": []}]}]})


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


class EventsAccepted(_Response):
    model_config = ConfigDict(json_schema_extra={"examples": [{"accepted": 2, "duplicates": 0,
                                                               "unknown_products": 0}]})

    accepted: int = Field(description="events stored by this request")
    duplicates: int = Field(description="events skipped: their event_id was already stored (or repeated)")
    unknown_products: int = Field(description="events of products the served bundle does not know (stored)")


class StoredEvent(_Response):
    event_id: str | None
    event_type: str
    product_id: str
    product_name: str | None = Field(description="null when the served bundle does not know the product")
    timestamp: str
    quantity: int
    price: float | None
    order_id: str | None
    received_at: str


class UserEvents(_Response):
    model_config = ConfigDict(json_schema_extra={"examples": [{"user_id": "C00042", "events": [{
        "event_id": "O-9001-1", "event_type": "purchase", "product_id": "P0107", "product_name": "Eco Teapot",
        "timestamp": "2026-11-29T10:15:00", "quantity": 2, "price": 12.5, "order_id": "O-9001",
        "received_at": "2026-11-29T10:15:01.204"}]}]})

    user_id: str
    events: list[StoredEvent] = Field(description="newest first")


class AvailabilityState(_Response):
    unavailable: list[str]
    unknown: list[str] = Field(default_factory=list, description="ids the served bundle does not know (kept)")


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
    413: "request body too large, or more events than one request may carry",
    503: "no bundle loaded, or the event store cannot be reached (retry)",
}
