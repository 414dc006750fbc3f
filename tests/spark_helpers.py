"""Whether the Spark tests can run here: pyspark installed and a Java that Spark accepts."""

from __future__ import annotations

from segrec.engines import HAS_SPARK


def java_ok() -> bool:
    """pyspark is importable and ``check_java`` finds Java 17 (or what the installed Spark needs)."""
    if not HAS_SPARK:
        return False
    from segrec.engines.spark.session import JavaError, check_java

    try:
        check_java()
    except JavaError:
        return False
    return True
