"""segrec: customer segments and personalised product recommendations from purchase history.

>>> import segrec
>>> segrec.run  # doctest: +ELLIPSIS
<function run at ...>

``segrec.run(source, out=...)`` is ``segrec run`` as a function (:func:`segrec.pipeline.runner.run`); the packages
follow the data: :mod:`segrec.data` -> :mod:`segrec.features` -> :mod:`segrec.segment` / :mod:`segrec.recommend`
-> :mod:`segrec.evaluation` -> :mod:`segrec.bundle` -> :mod:`segrec.service` / :mod:`segrec.report`
(docs/architecture.md).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from .columns import Columns

if TYPE_CHECKING:
    from .pipeline.runner import run

try:
    __version__ = version("segrec")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["Columns", "__version__", "run"]


def __getattr__(name: str) -> Any:
    """``segrec.run`` on first use: ``import segrec`` stays light (no models imported until a run)."""
    if name == "run":
        from .pipeline.runner import run

        return run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
