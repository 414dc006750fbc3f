"""Adapters for well-known public datasets whose quirks need more than a column mapping."""

from __future__ import annotations

from .online_retail import NON_PRODUCT_CODES, read_online_retail

__all__ = ["NON_PRODUCT_CODES", "read_online_retail"]
