"""Events received by the API (purchases, views, carts): checked like file rows, stored durably, read back by
the service (fold-in) and by training (``segrec train --events``)."""

from ._checks import EVENT_TYPES, RowProblem, check_events
from .store import AppendResult, Changes, EventStore, StoreUnavailable, default_location, open_store

__all__ = ["EVENT_TYPES", "AppendResult", "Changes", "EventStore", "RowProblem", "StoreUnavailable",
           "check_events", "default_location", "open_store"]
