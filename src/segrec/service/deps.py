"""Dependencies shared by the routers, as ``Annotated`` aliases (tests override :func:`get_served`).

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, a hop that
costs more than these lookups.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .live import EventsFeed
from .schemas import RuleQuery, Rules
from .settings import Settings
from .state import BundleHolder, Served

_bearer = HTTPBearer(auto_error=False, description="SEGREC_ADMIN_TOKEN")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_holder(request: Request) -> BundleHolder:
    return request.app.state.holder


async def get_served(request: Request) -> Served:
    """The bundle this request is served from, taken once: a reload mid-request does not affect it."""
    return serving(request)[0]


async def get_feed(request: Request) -> EventsFeed:
    """The event store and its feed; 503 when the service runs without one."""
    feed = request.app.state.feed
    if feed is None:
        raise HTTPException(503, "no event store: set SEGREC_EVENTS (or serve a bundle from a writable directory)")
    return feed


async def get_unavailable(request: Request) -> frozenset[str]:
    return unavailable_of(request.app.state)


def unavailable_of(state: Any) -> frozenset[str]:
    """The availability list held by the app's event feed (empty without an event store)."""
    feed = state.feed
    return feed.unavailable if feed is not None else frozenset()


async def get_rules(query: Annotated[RuleQuery, Query()]) -> Rules | None:
    """The business rules given as query parameters (None when there are none: the fast path)."""
    return query.rules()


def serving(request: Request) -> tuple[Served, Settings, frozenset[str]]:
    """What :func:`get_served`, :func:`get_settings` and :func:`get_unavailable` give, read in one call: the
    hottest endpoint reads them so, as each dependency costs FastAPI a resolution per request."""
    served = request.app.state.holder.current
    if served is None:
        raise HTTPException(503, "no bundle loaded yet")
    return served, request.app.state.settings, unavailable_of(request.app.state)


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
