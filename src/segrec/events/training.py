"""The stored events as training rows: ``segrec train SOURCE --events STORE`` closes the loop.

Purchases become canonical purchase lines (through the same ingestion as any file); views and carts stay in the
store (the canonical schema is purchase lines). Products get their name, category and description from
SOURCE's rows where SOURCE knows them, so API events do not out-vote the catalogue's text with bare ids. The
store's last seq is returned: the bundle records it, and the API then folds in only the events after it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..columns import Columns
from ..data.read import ingest
from .store import open_store

__all__ = ["StoredPurchases", "stored_purchases"]

C = Columns
_TEXT = (C.ItemName, C.Category, C.Description)


@dataclass(frozen=True)
class StoredPurchases:
    events: pd.DataFrame  # canonical purchase lines
    through_seq: int  # the store's last seq when read
    stored: int  # events of every type in the store up to it

    def manifest(self, location: str) -> dict:
        """What the bundle's manifest records (``params.events``)."""
        return {"store": location, "through_seq": self.through_seq, "purchases": len(self.events),
                "events": self.stored}


def stored_purchases(location: str | Path, catalogue_from: pd.DataFrame | None = None) -> StoredPurchases:
    """The store's purchases as canonical events (text of known products from ``catalogue_from``)."""
    with open_store(location) as store, tempfile.TemporaryDirectory(prefix="segrec-events-") as tmp:
        path = Path(tmp) / "events.parquet"
        through = store.export(path)
        frame = pd.read_parquet(path)
    stored = len(frame)
    frame = frame[frame[C.EventType] == "purchase"]
    columns = [C.User, C.Item, C.Date, C.Quantity, C.Price, C.Order]
    if frame.empty:
        return StoredPurchases(pd.DataFrame(columns=columns), through, stored)
    events = ingest(frame[columns].reset_index(drop=True)).events
    if catalogue_from is not None and not catalogue_from.empty:
        text = catalogue_from[[C.Item, *_TEXT]].drop_duplicates(C.Item, keep="last").set_index(C.Item)
        known = events[C.Item].isin(text.index)
        for column in _TEXT:
            events[column] = events[column].astype(object)
            events.loc[known, column] = text.loc[events.loc[known, C.Item], column].to_numpy()
    return StoredPurchases(events, through, stored)
