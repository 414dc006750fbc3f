"""Execution engines: ``local`` (pandas + scikit-learn + implicit/LightFM, the default) and ``spark`` (PySpark,
for data that outgrows one machine).

``HAS_SPARK`` says whether the optional extra is installed; :func:`get_engine` is the one way to get an engine,
so the CLI never imports pyspark unless ``--engine spark`` is asked for. Without the extra, the Spark engine is a
stub whose error names the fix (``pip install segrec[spark]``).

>>> get_engine("local").name
'local'
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..exceptions import InputError, SegrecError

__all__ = ["ENGINES", "HAS_SPARK", "LocalEngine", "MissingExtraError", "get_engine"]

#: True when pyspark is importable (``pip install segrec[spark]``); Java is checked when a session starts.
HAS_SPARK = importlib.util.find_spec("pyspark") is not None
ENGINES = ("local", "spark")


class MissingExtraError(SegrecError):
    """An optional backend was asked for but its extra is not installed."""


@dataclass(frozen=True)
class LocalEngine:
    """The single-machine engine: the functions ``segrec`` runs by default, under one name."""

    name: str = "local"

    def features(self, events: Any, **options: Any) -> Any:
        from ..features.customers import build_customer_features

        return build_customer_features(events, **options)

    def segment(self, events: Any, out_dir: Any = None, **options: Any) -> Any:
        from .local.segment import run_segmentation

        return run_segmentation(events, out_dir, **options)


class _SparkStub:
    """Stands in for the Spark engine when pyspark is missing."""

    name = "spark"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise MissingExtraError(
            "the spark engine needs pyspark, which is not installed: pip install segrec[spark] "
            "(and Java 17 on PATH or JAVA_HOME)"
        )


def get_engine(name: str = "local", *, master: str = "local[*]", conf: Mapping[str, str] | None = None) -> Any:
    """The engine called ``name``; ``master`` and ``conf`` (Spark properties) only matter for ``spark``."""
    if name not in ENGINES:
        raise InputError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    if name == "local":
        return LocalEngine()
    if not HAS_SPARK:
        return _SparkStub()
    from .spark import SparkEngine

    return SparkEngine(master=master, conf=dict(conf or {}))
