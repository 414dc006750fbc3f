"""Errors as JSON ``{"detail": ...}`` with the right code, never a 500 for bad input.

422 bodies keep FastAPI's validation format (a list of ``{loc, msg, type}``), also for limits checked at run
time and for bad input found by the model, so clients parse one shape.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..exceptions import InputError, UnknownProductError, UnknownUserError

logger = logging.getLogger("segrec.service")


class NotAvailable(LookupError):
    """The bundle lacks what the request needs (no segments, no segmenter, no profiles): 404."""


def check_limit(value: int, limit: int, loc: tuple[str, ...]) -> None:
    """422 in FastAPI's format when a deployment lowered a limit below the schema's."""
    if value > limit:
        raise RequestValidationError([{
            "type": "less_than_equal", "loc": loc, "msg": f"Input should be less than or equal to {limit}",
            "input": value, "ctx": {"le": limit},
        }])


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _bad_input(request: Request, exc: Exception) -> JSONResponse:
    detail = [{"type": "value_error", "loc": ["body"], "msg": str(exc), "input": None}]
    return JSONResponse({"detail": detail}, status_code=422)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    for cls in (UnknownProductError, UnknownUserError, NotAvailable):
        app.add_exception_handler(cls, _not_found)
    app.add_exception_handler(InputError, _bad_input)
    app.add_exception_handler(Exception, _internal)
