"""Raw table -> canonical frame: the schema, the one ingestion door (:func:`read_events` / :func:`ingest`), the
validation rules and their SQL, the file and database readers, the ingest report, the adapters for public data
sets and the generated demo shop (:mod:`segrec.data.generate`).

>>> from segrec.data import read_events, ingest
"""

from .ingest_report import IngestReport
from .read import FORMATS, IngestResult, ReadOptions, detect_format, ingest, read_events
from .schema import SCHEMA

__all__ = ["FORMATS", "SCHEMA", "IngestReport", "IngestResult", "ReadOptions", "detect_format", "ingest",
           "read_events"]
