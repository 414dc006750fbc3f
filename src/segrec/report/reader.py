"""The report's view of a run directory: a forgiving reader, what was read (section 1) and how to rerun it.

:class:`RunDir` reads the files ``segrec run`` wrote; a missing or unreadable file reads as ``None``, so every
section can say what is missing instead of failing.
"""

from __future__ import annotations

import base64
import json
import shlex
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..columns import Columns
from ..data.read import detect_format
from ..data.schema import canonical_name
from ..exceptions import InputError
from ..run_dir import RunFiles

__all__ = ["RunDir", "data_section", "data_uri", "reproduce_section", "rerun_command"]

C = Columns
DEMOGRAPHICS = (C.Age, C.Gender, C.Location, C.Income)


class RunDir:
    """Lazy, forgiving access to a run directory: a missing or unreadable file reads as ``None``.

    Each JSON and Parquet file is read once per instance (several sections share one): callers must treat what
    :meth:`json` and :meth:`parquet` return as read-only.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self._read: dict[str, Any] = {}

    def json(self, name: str) -> dict[str, Any] | None:
        if name not in self._read:
            try:
                value = json.loads((self.out / name).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                value = None
            self._read[name] = value if isinstance(value, dict) else None
        return self._read[name]

    def parquet(self, name: str) -> pd.DataFrame | None:
        if name not in self._read:
            try:
                self._read[name] = pd.read_parquet(self.out / name)
            except (OSError, ValueError, ImportError):
                self._read[name] = None
        return self._read[name]

    def skipped(self, stage: str) -> str | None:
        """Why ``segrec run`` skipped ``stage`` (recorded in run.json), or None."""
        reasons = (self.json(RunFiles.Options) or {}).get("skipped") or {}
        return reasons.get(stage) if isinstance(reasons, dict) else None

    def png(self, name: str) -> str | None:
        try:
            return data_uri((self.out / name).read_bytes())
        except OSError:
            return None


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI, so the page embeds it."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def data_section(run: RunDir) -> dict[str, Any]:
    """Rows read, kept and set aside (and why), the period, and the demographic columns the data lacks."""
    report = run.json(RunFiles.Validation)
    if report is None:
        return {"available": False, "missing": "This run has no ingestion report (validation.json), so the "
                                               "counts of rows read and rejected are not shown."}
    read = report.get("rows_read") or 0
    rejected = report.get("rows_rejected") or 0
    missing = [c for c in report.get("columns_missing", []) if c in DEMOGRAPHICS]
    return {
        "available": True, "source": report.get("source"), "format": report.get("format"),
        "rows_read": read, "rows_accepted": report.get("rows_accepted"), "rows_rejected": rejected,
        "rejected_share": rejected / read if read else 0.0,
        "rejected_by_reason": sorted((report.get("rejected_by_reason") or {}).items(), key=lambda kv: -kv[1]),
        "date_min": (report.get("date_min") or "")[:10], "date_max": (report.get("date_max") or "")[:10],
        "days": _days(report.get("date_min"), report.get("date_max")),
        "customers": report.get("n_users"), "products": report.get("n_products"),
        "missing_demographics": missing, "notes": report.get("notes") or [],
    }


def _days(first: str | None, last: str | None) -> int | None:
    try:
        return (pd.Timestamp(last) - pd.Timestamp(first)).days + 1 if first and last else None
    except ValueError:
        return None


def rerun_command(source: str | None, format: str | None, mapped: dict[str, str], out: Path,
                  options: dict[str, Any] | None = None) -> str:
    """The ``segrec run`` command line that reads ``source`` as this run did, shell-quoted.

    ``options`` (what ``segrec run`` recorded in ``run.json``) adds the choices that change the results: the
    seed always, the number of segments, ``-k``, the cut-off, ``--skip-evaluation`` and ``--engine`` when given.

    ``--format`` is given when the suffix would not have chosen it (``online-retail``), and ``--map`` for every
    column whose name alone would not have found its canonical column (what ``--map``/``--map-file`` said).

    Examples
    --------
    >>> rerun_command("my orders.csv", "csv", {"Client": "user_id", "SKU": "product_id"}, Path("out"))
    "segrec run 'my orders.csv' --map Client=user_id --out out"
    >>> rerun_command("retail.parquet", "online-retail", {"CustomerID": "user_id"}, Path("out"))
    'segrec run retail.parquet --format online-retail --out out'
    """
    known = bool(source) and not str(source).startswith("<")
    args = ["segrec", "run", str(source) if known else "SOURCE"]
    if known and format and format != _guessed_format(str(source)):
        args += ["--format", format]
    if format != "online-retail":  # the adapter names its own columns
        args += [arg for name, canonical in mapped.items() if canonical_name(name) != canonical
                 for arg in ("--map", f"{name}={canonical}")]
    return shlex.join([*args, *_option_args(options or {}), "--out", str(out)])


def _option_args(options: dict[str, Any]) -> list[str]:
    """Command-line form of the recorded ``segrec run`` options (defaults left out, except the seed)."""
    args = []
    if options.get("segments_k") is not None:
        args += ["--segments-k", str(options["segments_k"])]
    if options.get("k") not in (None, 10):
        args += ["-k", str(options["k"])]
    if options.get("seed") is not None:
        args += ["--seed", str(options["seed"])]
    if options.get("cutoff"):
        args += ["--cutoff", str(options["cutoff"])]
    if options.get("skip_evaluation"):
        args.append("--skip-evaluation")
    if options.get("engine") not in (None, "local"):
        args += ["--engine", str(options["engine"])]
    for name in ("decimal", "encoding", "date_format", "sheet"):  # how the source was read, when not the default
        if options.get(name) not in (None, "."):
            args += ["--" + name.replace("_", "-"), str(options[name])]
    if options.get("dayfirst"):
        args.append("--dayfirst")
    return args


def _guessed_format(source: str) -> str | None:
    try:
        return detect_format(source)
    except InputError:
        return None


def reproduce_section(run: RunDir) -> dict[str, Any]:
    """The command that reruns the analysis, each stage's seconds and peak memory (``run.json``), the served
    bundle's identity, the data hashes and the versions."""
    data = run.json(RunFiles.Validation) or {}
    evaluation = run.json(RunFiles.Evaluation) or {}
    manifest = run.json(f"{RunFiles.Bundle}/{RunFiles.Manifest}") or {}
    versions = evaluation.get("versions") or {}
    if not versions:
        from ..evaluation.runner import package_versions

        versions = package_versions()
    params = manifest.get("params") or {}
    recorded = run.json(RunFiles.Options) or {}
    return {
        "stages": [{"name": name, **figures} for name, figures in (recorded.get("stages") or {}).items()],
        "command": rerun_command(data.get("source"), data.get("format"), data.get("columns_mapped") or {}, run.out,
                                 recorded.get("options")),
        "versions": versions, "report_version": __version__,
        "bundle": {"created_at": manifest.get("created_at"), "data_fingerprint": manifest.get("data_fingerprint"),
                   "segrec_version": manifest.get("segrec_version"), "model": (manifest.get("model") or {}).get("class"),
                   "params": params} if manifest else None,
        "data_hashes": {k: v for k, v in (evaluation.get("data") or {}).items() if k.endswith("sha256")},
    }
