"""segrec: customer segments and personalised product recommendations from purchase history."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .columns import Columns

try:
    __version__ = version("segrec")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["Columns", "__version__"]
