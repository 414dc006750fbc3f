"""``segrec serve BUNDLE``: the real-time API under uvicorn.

The bundle is verified (format, version, checksums) before uvicorn starts, so a bad path or a damaged bundle
is a one-line error and exit code 1, not a traceback from a worker. Settings other than the bundle path come
from the environment (``SEGREC_ADMIN_TOKEN``, ``SEGREC_MAX_K``, ... see :mod:`segrec.service.settings`).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from uvicorn.config import LOGGING_CONFIG

from ..bundle import verify_bundle
from ._bundle import resolve_bundle
from ._errors import user_errors

console = Console(stderr=True)


def serve(
    bundle: Annotated[Path, typer.Argument(help="A bundle, or the --out directory of `segrec train` or `segrec run`.",
                                           show_default=False)],
    host: Annotated[str, typer.Option(help="Interface to bind; keep 127.0.0.1 unless behind a proxy.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each loads the bundle).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve recommendations and segments over HTTP (OpenAPI docs at /docs); SIGHUP reloads the bundle."""
    with user_errors():
        bundle = resolve_bundle(bundle)
        manifest = verify_bundle(bundle)
    console.print(f"serving bundle {bundle} (created {manifest.get('created_at')}, "
                  f"data {manifest.get('data_fingerprint')}) on http://{host}:{port}")
    os.environ["SEGREC_BUNDLE"] = str(bundle.resolve())  # read by the workers' Settings
    uvicorn.run(
        "segrec.service.main:create_app", factory=True, host=host, port=port, workers=workers,
        log_level=log_level, access_log=False, log_config=log_config(), timeout_graceful_shutdown=10,
    )


def log_config() -> dict[str, Any]:
    """uvicorn's logging plus segrec's loggers: access lines are already JSON, so printed as they are."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["message"] = {"format": "%(message)s"}
    config["handlers"]["segrec"] = {"class": "logging.StreamHandler", "formatter": "message",
                                    "stream": "ext://sys.stderr"}
    config["loggers"]["segrec"] = {"handlers": ["segrec"], "level": "INFO", "propagate": False}
    return config


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""
    app.command("serve")(serve)
