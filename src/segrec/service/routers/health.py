"""Liveness, readiness and Prometheus metrics: what an orchestrator and a scraper poll."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..deps import BundleDep
from ..metrics import CONTENT_TYPE_LATEST
from ..schemas import Health, Ready, error_responses

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> Health:
    """The process answers (liveness); says nothing about the bundle."""
    return Health()


@router.get("/ready", responses=error_responses(503))
async def ready(served: BundleDep) -> Ready:
    """A bundle is loaded and served (readiness), with its version and data fingerprint."""
    return Ready(bundle=served.info)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(request: Request) -> Response:
    """Request counts by route template and status, latency histogram, reloads (Prometheus text format)."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
