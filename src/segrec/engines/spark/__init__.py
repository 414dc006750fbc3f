"""The Spark engine (``pip install segrec[spark]``, Java 17): the same features, segments and bundle as the
local engine, computed with PySpark so the data can outgrow one machine.

>>> from segrec.engines import get_engine
>>> engine = get_engine("spark", master="local[2]")  # doctest: +SKIP
"""

from .engine import SparkEngine
from .session import JavaError, check_java, spark_session

__all__ = ["JavaError", "SparkEngine", "check_java", "spark_session"]
