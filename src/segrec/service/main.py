"""The FastAPI application: settings from the environment, bundle loaded in the lifespan, one router per
resource, errors as JSON, access log and metrics middlewares.

Run it with ``segrec serve BUNDLE`` or ``uvicorn --factory segrec.service.main:create_app`` (with
``SEGREC_BUNDLE`` set). ``SIGHUP`` reloads the bundle in the background (single worker; with ``--workers N``
uvicorn's supervisor restarts the workers on SIGHUP instead, which also loads the new bundle).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from .. import __version__
from ..events import EventStore, default_location, open_store
from .errors import install_error_handlers
from .fastpath import CachedRecommendations
from .folder import FoldProcess
from .live import EventsFeed
from .metrics import Metrics
from .middleware import AccessLog, BodySizeLimit
from .routers import ROUTERS, customers, dashboard
from .routers.recommend import warm_folds
from .settings import Settings
from .state import BundleHolder, Served, load_live

logger = logging.getLogger("segrec.service")


def create_app(settings: Settings | None = None, *, served: Served | None = None) -> FastAPI:
    """Build the app; ``served`` skips loading from ``settings.bundle`` (tests, embedding)."""
    settings = settings or Settings()
    metrics = Metrics()
    holder = BundleHolder(settings.bundle, metrics, precompute_k=settings.precompute_k)
    if served is not None:
        holder.swap(served)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store, feed = _open_store(settings), None
        folder = app.state.folder = FoldProcess() if settings.fold_process else None

        def warm(served: Served, users: list[str]) -> None:
            where, count = warm_folds(served, users, folder)
            if count:
                metrics.folds.labels(where).inc(count)

        if store is not None:
            holder.store = store
            feed = app.state.feed = EventsFeed(store, holder, settings.events_poll_seconds,
                                               on_error=metrics.event_store_errors.inc, warm=warm)
            if holder.current is not None and holder.current.live is None:  # given at construction (tests)
                holder.swap(dataclasses.replace(holder.current, live=load_live(holder.current.bundle, store)))
        if holder.current is None and settings.bundle is not None:
            holder.submit().result()  # a bad bundle stops the start-up here, with the BundleError's message
        if feed is not None:
            feed.sync()
            if folder is not None and holder.current is not None and holder.current.foldin is not None:
                folder.prepare(holder.current.bundle.path, holder.current.bundle.manifest)
            feed.start()
        remove = _install_sighup(holder)
        try:
            yield
        finally:
            remove()
            if feed is not None:
                feed.stop()
                app.state.feed = None
            if folder is not None:
                folder.close()
            holder.close()
            if store is not None:
                store.close()

    app = FastAPIOffline(  # FastAPI with /docs and /redoc assets from the installed package, not a CDN
        title="segrec",
        version=__version__,
        summary="Customer segments and product recommendations, served in real time.",
        lifespan=lifespan,
        static_url="/static-docs",
    )
    app.state.settings, app.state.holder, app.state.metrics = settings, holder, metrics
    app.state.feed = None  # EventsFeed once the lifespan opened the event store
    app.state.folder = None  # FoldProcess in the lifespan, with SEGREC_FOLD_PROCESS (the default)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(customers.router)  # the dashboard's customer figures, drill-down and CSV exports
    app.include_router(dashboard.router)  # the HTML dashboard at / (and its /static assets)
    install_error_handlers(app)
    app.add_middleware(CachedRecommendations)  # innermost: answers cached GETs before the routing
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLog, metrics=metrics, enabled=settings.access_log)  # last added = outermost
    return app


def _open_store(settings: Settings) -> EventStore | None:
    """The configured event store (``SEGREC_EVENTS``), else ``events.duckdb`` beside the bundle; None without
    either (the event endpoints then answer 503)."""
    location = settings.events or default_location(settings.bundle)
    return open_store(location) if location is not None else None


def _install_sighup(holder: BundleHolder) -> Callable[[], None]:
    """Reload on SIGHUP when the loop runs in the main thread (uvicorn); a no-op elsewhere (TestClient)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, holder.reload_in_background)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError):
        return lambda: None
    return lambda: loop.remove_signal_handler(signal.SIGHUP)
