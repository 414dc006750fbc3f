"""The dashboard: one HTML page and its script and style, served from the package (no CDN, no build step).

The page only calls the public JSON API (``/v1/...``), so it shows exactly what any client gets. Assets are
read once and served with their type; only the three known file names are served, so no path from the URL
ever reaches the file system.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["dashboard"], include_in_schema=False)

_ASSETS = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}
_CACHE = {"Cache-Control": "no-cache"}  # revalidate: a redeployed package must not keep serving an old script


@cache
def _read(name: str) -> bytes:
    return files("segrec").joinpath("static", name).read_bytes()


@router.get("/", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    """Segment overview, customer lookup, similar products and a cold-start form."""
    return HTMLResponse(_read("dashboard.html"), headers=_CACHE)


@router.get("/static/{name}")
async def asset(name: str) -> Response:
    """The dashboard's script and style sheet."""
    if name not in _ASSETS:
        raise HTTPException(404, f"no static file {name!r}")
    return Response(_read(name), media_type=_ASSETS[name], headers=_CACHE)
