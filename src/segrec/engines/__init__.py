"""Execution engines: ``local`` (pandas + scikit-learn + implicit/LightFM, the default) and ``spark`` (PySpark,
for data that outgrows one machine). Both implement :class:`segrec.pipeline.engine.Engine`, so ``segrec run``
is one pipeline whichever runs it.

``HAS_SPARK`` says whether the optional extra is installed; :func:`get_engine` is the one way to get an engine,
so the CLI never imports pyspark unless ``--engine spark`` is asked for. Without the extra, the Spark engine is a
stub whose error names the fix (``pip install segrec[spark]``).

>>> get_engine("local").name
'local'
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import InputError, SegrecError

if TYPE_CHECKING:
    from .local import LocalEngine

__all__ = ["ENGINES", "HAS_SPARK", "LocalEngine", "MissingExtraError", "get_engine"]

#: True when pyspark is importable (``pip install segrec[spark]``); Java is checked when a session starts.
HAS_SPARK = importlib.util.find_spec("pyspark") is not None
ENGINES = ("local", "spark")


class MissingExtraError(SegrecError):
    """An optional backend was asked for but its extra is not installed."""


class _SparkStub:
    """Stands in for the Spark engine when pyspark is missing."""

    name = "spark"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise MissingExtraError(
            "the spark engine needs pyspark, which is not installed: pip install segrec[spark] "
            "(and Java 17 on PATH or JAVA_HOME)"
        )


def __getattr__(name: str) -> Any:
    """``LocalEngine`` on first use: the package stays light for the CLI's option parsing."""
    if name == "LocalEngine":
        from .local import LocalEngine

        return LocalEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_engine(name: str = "local", *, master: str = "local[*]",
               conf: Mapping[str, str] | Sequence[str] | None = None) -> Any:
    """The engine called ``name``; ``master`` and ``conf`` (Spark properties: a mapping, or ``KEY=VALUE``
    strings as ``--spark-conf`` gives them) only matter for ``spark``."""
    if name not in ENGINES:
        raise InputError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    if name == "local":
        from .local import LocalEngine

        return LocalEngine()
    if not HAS_SPARK:
        return _SparkStub()
    from .spark import SparkEngine
    from .spark.session import parse_conf

    return SparkEngine(master=master, conf=dict(conf) if isinstance(conf, Mapping) else parse_conf(list(conf or ())))
