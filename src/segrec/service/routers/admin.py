"""Hot swap of the served bundle and the availability list, guarded by ``SEGREC_ADMIN_TOKEN``.

The bundle loads in a worker thread while requests keep being answered from the old one; the swap is one
reference assignment. A bundle that fails its checks is refused with the reason (409) and the old one keeps
serving. ``kill -HUP <pid>`` does the same for the configured path (see :mod:`segrec.service.main`).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException

from ...events import StoreUnavailable
from ...exceptions import BundleError
from ..deps import AdminDep, FeedDep, HolderDep
from ..schemas import Availability, AvailabilityState, ReloadRequest, ReloadResult, error_responses
from ..state import ReloadInProgress

router = APIRouter(prefix="/admin", tags=["admin"], responses=error_responses(400, 401, 403, 409, 413))


@router.post("/reload")
async def reload_bundle(
    _: AdminDep, holder: HolderDep, request: Annotated[ReloadRequest | None, Body()] = None
) -> ReloadResult:
    """Load the bundle at ``path`` (default: the current one) and swap it in when it passes every check."""
    path = request.path if request is not None else None
    try:
        served = await asyncio.wrap_future(holder.submit(path))
    except ReloadInProgress as exc:
        raise HTTPException(409, str(exc)) from exc
    except Exception as exc:  # BundleError, TypeError, or a model that cannot rebuild itself from this state
        reason = str(exc) if isinstance(exc, BundleError) else f"{type(exc).__name__}: {exc}"
        raise HTTPException(409, f"bundle refused, still serving the previous one: {reason}") from exc
    return ReloadResult(bundle=served.info)


@router.put("/availability", responses=error_responses(503))
def set_availability(_: AdminDep, feed: FeedDep, holder: HolderDep, body: Availability) -> AvailabilityState:
    """Replace the list of unavailable products: none of them is recommended by any endpoint, from the next
    request on (on every worker within ``SEGREC_EVENTS_POLL_SECONDS``). Stored with the events: it survives
    restarts and reloads."""
    try:
        feed.store.set_unavailable(body.unavailable)
        feed.sync()
    except StoreUnavailable as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from exc
    return _state(feed.unavailable, holder)


def _state(unavailable: frozenset[str], holder: HolderDep) -> AvailabilityState:
    known = holder.current.product_index if holder.current is not None else {}
    products = sorted(unavailable)
    return AvailabilityState(unavailable=products, unknown=[p for p in products if p not in known])
