"""The ``segrec run`` pipeline: validate -> segment -> evaluate -> train -> report, one orchestration for every
engine (:class:`~segrec.pipeline.engine.Engine`: the local one and Spark).

:func:`run` is what ``segrec run`` does, as a Python function (also ``segrec.run``); :func:`read`,
:func:`segment`, :func:`evaluate` and :func:`train` are its stages, which ``segrec segment``/``train``/
``evaluate`` run alone.

>>> from segrec.pipeline import run, STAGES
>>> STAGES
('validate', 'segment', 'evaluate', 'train', 'report')
"""

from .engine import Engine
from .runner import STAGES, RunResult, evaluate, evaluation_summary, read, resolve_engine, run, segment, train

__all__ = ["STAGES", "Engine", "RunResult", "evaluate", "evaluation_summary", "read", "resolve_engine", "run",
           "segment", "train"]
