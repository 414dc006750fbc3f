"""The two recommendation modes, defined once for the models, evaluation, the CLI, the API and the report.

``discover`` never recommends what the customer already bought; ``buy-again`` does (the customer's own past
purchases compete with new products). JSON documents (``evaluation.json``, the hybrid's tuning) key the
buy-again results as ``buy_again``: :func:`mode_key` gives that spelling.

>>> MODES
('discover', 'buy-again')
>>> mode_key("buy-again")
'buy_again'
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args

__all__ = ["BUY_AGAIN", "DISCOVER", "MODES", "Mode", "ModeChoice", "mode_key"]

#: The type of a mode argument (pydantic and type checkers read it).
Mode = Literal["discover", "buy-again"]
MODES: tuple[str, ...] = get_args(Mode)
DISCOVER, BUY_AGAIN = MODES
#: The same names as an enum, for Typer options (``--mode``).
ModeChoice = StrEnum("ModeChoice", {mode.replace("-", "_"): mode for mode in MODES})


def mode_key(mode: str) -> str:
    """The key of ``mode`` in JSON documents: ``buy_again`` for ``buy-again`` (a valid identifier)."""
    return mode.replace("-", "_")
