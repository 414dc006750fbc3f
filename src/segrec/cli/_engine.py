"""``--engine``, ``--spark-master`` and ``--spark-conf``: the options every data command shares. The commands
pass them to :func:`segrec.pipeline.resolve_engine` and run the same code for every engine.

``segrec segment shop.parquet --out seg --engine spark --spark-master local[4] --spark-conf spark.driver.memory=8g``
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..engines import ENGINES

EngineOpt = Annotated[str, typer.Option("--engine", help=f"Where the work runs: {' | '.join(ENGINES)} "
                                        "(spark needs `pip install segrec\\[spark]` and Java 17).")]  # "\\[": a literal [ in rich markup
SparkMasterOpt = Annotated[str, typer.Option("--spark-master", help="Spark master URL: local[*], "
                                             "spark://host:7077, yarn, k8s://...")]
SparkConfOpt = Annotated[list[str] | None, typer.Option("--spark-conf", help="Spark property KEY=VALUE, e.g. "
                                                        "spark.executor.memory=8g (repeatable).")]
