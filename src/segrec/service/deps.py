"""Dependencies shared by the routers, as ``Annotated`` aliases (tests override :func:`get_served`).

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, a hop that
costs more than these lookups.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import StringConstraints

from .live import EventsFeed
from .schemas import MAX_ID_LENGTH, MAX_RULE_VALUES, Rules
from .settings import Settings
from .state import BundleHolder, Served

_bearer = HTTPBearer(auto_error=False, description="SEGREC_ADMIN_TOKEN")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_holder(request: Request) -> BundleHolder:
    return request.app.state.holder


async def get_served(request: Request) -> Served:
    """The bundle this request is served from, taken once: a reload mid-request does not affect it."""
    served = request.app.state.holder.current
    if served is None:
        raise HTTPException(503, "no bundle loaded yet")
    return served


async def get_feed(request: Request) -> EventsFeed:
    """The event store and its feed; 503 when the service runs without one."""
    feed = request.app.state.feed
    if feed is None:
        raise HTTPException(503, "no event store: set SEGREC_EVENTS (or serve a bundle from a writable directory)")
    return feed


async def get_unavailable(request: Request) -> frozenset[str]:
    feed = request.app.state.feed
    return feed.unavailable if feed is not None else frozenset()


_IDS = "repeat the parameter for several values"
_Value = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
_Values = Annotated[list[_Value] | None, Query(max_length=MAX_RULE_VALUES)]


async def get_rules(
    exclude: Annotated[_Values, Query(description=f"product ids never to recommend; {_IDS}")] = None,
    categories: Annotated[_Values, Query(description=f"only products of these categories; {_IDS}")] = None,
    exclude_categories: Annotated[_Values, Query(description=f"no product of these categories; {_IDS}")] = None,
    min_price: Annotated[float | None, Query(ge=0, le=1e12, description="only products at or above this price")] = None,
    max_price: Annotated[float | None, Query(ge=0, le=1e12, description="only products at or below this price")] = None,
) -> Rules | None:
    """The business rules given as query parameters (None when there are none: the fast path)."""
    if exclude is None and categories is None and exclude_categories is None and min_price is None and max_price is None:
        return None
    return Rules.model_construct(exclude=exclude, categories=categories, exclude_categories=exclude_categories,
                                 min_price=min_price, max_price=max_price)


SettingsDep = Annotated[Settings, Depends(get_settings)]
FeedDep = Annotated[EventsFeed, Depends(get_feed)]
UnavailableDep = Annotated[frozenset[str], Depends(get_unavailable)]
RulesDep = Annotated[Rules | None, Depends(get_rules)]
HolderDep = Annotated[BundleHolder, Depends(get_holder)]
BundleDep = Annotated[Served, Depends(get_served)]


async def require_admin(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """403 when no token is configured (reload disabled), 401 without credentials, 403 with a wrong token."""
    if settings.admin_token is None or not settings.admin_token.get_secret_value():
        raise HTTPException(403, "reload disabled: set SEGREC_ADMIN_TOKEN to enable it")
    if credentials is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    expected = settings.admin_token.get_secret_value().encode()
    if not secrets.compare_digest(credentials.credentials.encode(), expected):
        raise HTTPException(403, "invalid admin token")


AdminDep = Annotated[None, Depends(require_admin)]
