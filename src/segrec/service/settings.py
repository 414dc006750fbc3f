"""Service settings, read from the environment (prefix ``SEGREC_``), so one image serves any bundle.

``max_k`` and ``max_batch`` can only lower the hard limits the OpenAPI schema declares
(:data:`~segrec.service.schemas.MAX_K`, :data:`~segrec.service.schemas.MAX_BATCH`): the documented schema
stays true whatever the deployment sets.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .schemas import MAX_BATCH, MAX_K


class Settings(BaseSettings):
    """``SEGREC_BUNDLE``, ``SEGREC_ADMIN_TOKEN``, ``SEGREC_MAX_K``, ``SEGREC_MAX_BATCH``, ``SEGREC_MAX_BODY_BYTES``,
    ``SEGREC_PRECOMPUTE_K``, ``SEGREC_ACCESS_LOG``, ``SEGREC_EVENTS``, ``SEGREC_EVENTS_POLL_SECONDS``,
    ``SEGREC_FOLD_PROCESS``."""

    model_config = SettingsConfigDict(env_prefix="SEGREC_", extra="ignore")

    bundle: Path | None = Field(None, description="bundle directory loaded at start-up")
    admin_token: SecretStr | None = Field(None, description="bearer token for /admin/reload; unset disables it")
    max_k: int = Field(MAX_K, ge=1, le=MAX_K)
    max_batch: int = Field(MAX_BATCH, ge=1, le=MAX_BATCH)
    precompute_k: int = Field(20, ge=0, le=MAX_K, description="top-k cached per known user at load; 0: live only")
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="larger request bodies get 413")
    access_log: bool = Field(True, description="one JSON line per request on the 'segrec.access' logger")
    events: str | None = Field(None, description="event store: a DuckDB file or a postgresql+psycopg:// URL; "
                                                 "default: events.duckdb beside the bundle directory")
    events_poll_seconds: float = Field(0.1, gt=0, le=60, description="how often a worker reads events that "
                                       "other workers stored (its own are applied at once)")
    fold_process: bool = Field(True, description="fold customers' new events in, in a process of its own (one "
                               "more copy of the bundle in memory) so the fold-in does not slow the requests "
                               "served beside it; false: in a thread of the serving process")
