"""Starting a SparkSession the way segrec needs it, with a clear error when Java is missing or too old.

Why a builder of our own: pandas UDFs fail unless the workers run the driver's Python (``PYSPARK_PYTHON``);
dates must not shift with the machine's time zone (``spark.sql.session.timeZone=UTC``, which is also how pandas'
naive timestamps round-trip); Arrow makes ``toPandas`` of the small result tables fast. Everything else is
passed through: ``master`` (``local[*]``, ``spark://host:7077``, ``yarn``, ``k8s://...``) and any ``conf``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...exceptions import SegrecError

__all__ = ["DEFAULT_CONF", "JavaError", "check_java", "java_major", "local_conf", "local_threads", "persistent_rdds",
           "release_rdds", "spark_session"]

#: Properties set unless the caller's ``conf`` overrides them.
DEFAULT_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}
_FIX = ("install OpenJDK 17 (e.g. `apt-get install openjdk-17-jre-headless`) and put its `java` on PATH or set "
        "JAVA_HOME")


class JavaError(SegrecError):
    """Spark cannot start: no ``java`` found, or one older than Spark needs."""


def required_java() -> int:
    """Java release the installed pyspark needs: 17 for Spark 4, 8 for Spark 3."""
    try:
        import pyspark

        return 17 if int(pyspark.__version__.split(".")[0]) >= 4 else 8
    except (ImportError, ValueError):
        return 17


def java_major(version_output: str) -> int | None:
    """Major release from ``java -version`` output ("1.8.0_392" -> 8, "17.0.9" -> 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java(environ: Mapping[str, str] | None = None) -> str | None:
    """``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else ``java`` on ``PATH``."""
    env = os.environ if environ is None else environ
    home = env.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() else None
    return shutil.which("java", path=env.get("PATH", ""))


def check_java(environ: Mapping[str, str] | None = None, *, minimum: int | None = None) -> int:
    """Return the Java major release Spark would use; raise :class:`JavaError` naming Java 17 otherwise."""
    minimum = required_java() if minimum is None else minimum
    env = os.environ if environ is None else environ
    java = find_java(env)
    if java is None:
        where = f"JAVA_HOME={env['JAVA_HOME']} has no bin/java" if env.get("JAVA_HOME") else "no `java` on PATH"
        raise JavaError(f"the spark engine needs Java {minimum}+ (Java 17 recommended): {where}; {_FIX}")
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JavaError(f"cannot run {java} -version ({exc}); the spark engine needs Java 17; {_FIX}") from exc
    major = java_major(done.stderr + done.stdout)
    if major is None or major < minimum:
        found = f"Java {major}" if major is not None else "an unrecognised Java"
        raise JavaError(f"the spark engine needs Java {minimum}+ (Java 17 recommended), found {found} at {java}; {_FIX}")
    return major


def spark_session(master: str = "local[*]", conf: Mapping[str, str] | None = None, *, app_name: str = "segrec",
                  check: bool = True) -> Any:
    """Get or create the SparkSession; ``conf`` entries win over :data:`DEFAULT_CONF`."""
    if check:
        check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**DEFAULT_CONF, **local_conf(master), **dict(conf or {})}.items():
        builder = builder.config(key, str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def local_threads(master: str) -> int | None:
    """Threads of a ``local``, ``local[N]``, ``local[*]`` or ``local[N,F]`` master; None for a cluster."""
    match = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", master.strip())
    if match is None:
        return None
    count = match.group(1)
    return 1 if count is None else (os.cpu_count() or 1) if count == "*" else max(1, int(count))


def local_conf(master: str) -> dict[str, str]:
    """Shuffle partitions sized to the local threads (two per thread) instead of Spark's 200.

    Spark's 200 suit a cluster; on one machine every shuffle of the k sweep, the profiles and ALS then runs
    200 tiny tasks: ``segrec run --engine spark`` on an 800-customer shop had not finished segmenting after
    7 minutes on a loaded 2-core machine, and took 2 min 23 s in all with 4 partitions. A ``conf`` entry wins.
    """
    threads = local_threads(master)
    if threads is None:
        return {}
    partitions = str(max(2, 2 * threads))
    return {"spark.sql.shuffle.partitions": partitions, "spark.default.parallelism": partitions}


def parse_conf(items: list[str] | None) -> dict[str, str]:
    """``["spark.executor.memory=8g", ...]`` (as given to ``--spark-conf``) into a dict."""
    from ...exceptions import InputError

    conf: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--spark-conf {item!r}: expected KEY=VALUE, e.g. spark.executor.memory=8g")
        conf[key.strip()] = value.strip()
    return conf


def persistent_rdds(spark: Any) -> set[int]:
    """Ids of the RDDs the session holds in its cache now (DataFrame caches included once materialised)."""
    return {int(i) for i in spark.sparkContext._jsc.getPersistentRDDs().keySet()}


def release_rdds(spark: Any, keep: set[int]) -> None:
    """Unpersist every cached RDD not in ``keep``: for caches Spark makes itself and gives no handle to
    (``pyspark.ml`` ALS keeps its final user and item factors cached for the life of the model)."""
    cached = spark.sparkContext._jsc.getPersistentRDDs()
    for key in list(cached.keySet()):
        if int(key) not in keep:
            cached.get(key).unpersist(False)
