"""Customer events in real time: ``POST /v1/events`` stores them (durably, idempotently), and the next
recommendation of each customer reflects them; ``GET /v1/users/{id}/events`` lists a customer's latest.

A request is applied whole or refused whole: every event is checked with the rules of file ingestion first
(422 listing each bad row, its field and the reject reason), then all are stored together; the 200 is sent
once they are synced to disk. Events of products the bundle does not know are stored (the next training learns
them) and counted in ``/metrics``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError

from ...columns import Columns
from ...events import StoreUnavailable
from ..deps import FeedDep
from ..schemas import (
    MAX_EVENTS,
    MAX_ID_LENGTH,
    MAX_USER_EVENTS,
    EventBatch,
    EventsAccepted,
    StoredEvent,
    UserEvents,
    error_responses,
)

C = Columns
router = APIRouter(prefix="/v1", tags=["events"], responses=error_responses(503))
WRITE_TIMEOUT = 60.0  # seconds a POST waits for its batch to be stored

_EXAMPLE_422 = {"detail": [{"type": "negative_price", "loc": ["body", "events", 1, "price"],
                            "msg": "event 1: negative_price", "input": -3.0}]}


@router.post("/events", responses={**error_responses(400, 413),
                                   422: {"description": "bad events: one entry per refused row, nothing stored",
                                         "content": {"application/json": {"example": _EXAMPLE_422}}}})
async def post_events(request: Request, feed: FeedDep, batch: EventBatch) -> EventsAccepted:
    """Store up to 1,000 events (``purchase``, ``view`` or ``cart``), all or none.

    Answered once the events are synced to disk: an acknowledged event survives a crash. An event whose
    ``event_id`` is already stored is skipped and counted in ``duplicates`` (retry a failed request with the same
    ids). The events count in the next recommendation of their customer (on this worker at once, on the others
    within ``SEGREC_EVENTS_POLL_SECONDS``)."""
    if len(batch.events) > MAX_EVENTS:
        raise HTTPException(413, f"{len(batch.events):,} events in one request; at most {MAX_EVENTS:,} are accepted")
    metrics = request.app.state.metrics
    try:  # checked and stored together with the requests that arrive meanwhile (service/writer.py)
        written = await asyncio.wait_for(asyncio.wrap_future(feed.writer.submit([e.model_dump() for e in batch.events])),
                                         WRITE_TIMEOUT)
    except TimeoutError as exc:  # its fate is unknown: the client retries with the same event ids
        metrics.event_store_errors.inc()
        raise HTTPException(503, f"the event store did not answer within {WRITE_TIMEOUT:g} s; retry",
                            headers={"Retry-After": "1"}) from exc
    except StoreUnavailable as exc:
        metrics.event_store_errors.inc()
        raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from exc
    if written.problems:
        for problem in written.problems:
            metrics.events_rejected.labels(problem.reason).inc()
        raise RequestValidationError([
            {"type": p.reason, "loc": ("body", "events", p.row, p.field), "msg": f"event {p.row}: {p.reason}",
             "input": p.value} for p in written.problems])
    served = request.app.state.holder.current
    known = served.product_index if served is not None else {}
    unknown = sum(e[C.Item] not in known for e in written.checked)
    for event in written.checked:
        metrics.events.labels(event[C.EventType]).inc()
    metrics.event_duplicates.inc(written.duplicates)
    metrics.event_unknown_products.inc(unknown)
    return EventsAccepted(accepted=written.inserted, duplicates=written.duplicates, unknown_products=unknown)


@router.get("/users/{user_id}/events")
def user_events(
    request: Request,
    feed: FeedDep,
    user_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    limit: Annotated[int, Query(ge=1, le=MAX_USER_EVENTS, description="number of events")] = 20,
) -> UserEvents:
    """The customer's latest events received by the API, newest first (not the purchases in the bundle)."""
    try:
        rows = feed.store.user_events(user_id, limit)
    except StoreUnavailable as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from exc
    served = request.app.state.holder.current
    names = served.name_of if served is not None else {}
    return UserEvents(user_id=user_id, events=[StoredEvent(
        event_id=r[C.EventId], event_type=r[C.EventType], product_id=r[C.Item], product_name=names.get(r[C.Item]),
        timestamp=r[C.Date].isoformat(), quantity=int(r[C.Quantity]), price=r[C.Price], order_id=r[C.Order],
        received_at=r[C.ReceivedAt].isoformat(timespec="milliseconds")) for r in rows])
