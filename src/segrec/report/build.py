"""The run report: one self-contained HTML page that a manager can open, read in five minutes and forward.

:func:`build_report` reads what ``segrec run`` wrote into a directory and renders ``report.html`` there:
headline numbers, the data, the segments, the recommender against its baselines, example recommendations
and how to reproduce the run. Plots are embedded as base64 PNGs and the CSS is inline, so the file opens from
``file://`` or an e-mail attachment with nothing else. Every input is optional: a section whose input is
missing says so instead of failing (a run without evaluation, data without demographics).

Inputs (all in the run directory): ``validation.json``, ``segmentation.json``, ``segments.parquet``, the
segmentation PNGs, ``evaluation.json``, ``recommendations.parquet`` and ``bundle/manifest.json``.
Each section is built in its own module: :mod:`._report_run` (the run directory, the data, how to reproduce),
:mod:`._report_segments`, :mod:`._report_recommender` (quality and examples), with the number formats of
:mod:`._report_format`; this module adds the headline and the takeaways and renders the template.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .._atomic import atomic_write_text
from ..exceptions import InputError
from ..run_dir import RunFiles
from .format import metric, money, num, pct, signed_pct
from .reader import RunDir, data_section, reproduce_section
from .recommender import examples_section, recommender_section
from .segments import segmentation_section

__all__ = ["REPORT_NAME", "build_report", "report_context"]

REPORT_NAME = RunFiles.Report  # the name tests and callers know it by


def build_report(out_dir: str | os.PathLike[str], *, path: str | os.PathLike[str] | None = None) -> Path:
    """Render the report of the run in ``out_dir`` to ``path`` (default ``out_dir/report.html``), atomically."""
    out = Path(out_dir)
    if not out.is_dir():
        raise InputError(f"no run directory at {out}; run `segrec run SOURCE --out {out}` first")
    html = render(report_context(out))
    target = Path(path) if path is not None else out / REPORT_NAME
    atomic_write_text(target, html)
    return target


def report_context(out: Path) -> dict[str, Any]:
    """Everything the template shows, from the files in ``out`` (each section says when its input is missing)."""
    run = RunDir(out)
    data = data_section(run)
    segmentation = segmentation_section(run)
    recommender = recommender_section(run)
    context = {
        "title": f"segrec report: {out.resolve().name}",
        "data": data,
        "segmentation": segmentation,
        "recommender": recommender,
        "examples": examples_section(run),
        "reproduce": reproduce_section(run),
    }
    context["headline"] = _headline(data, segmentation, recommender)
    context["takeaways"] = _takeaways(data, segmentation, recommender)
    return context


def render(context: Mapping[str, Any]) -> str:
    """The HTML text of the report (Jinja2, autoescaped)."""
    env = Environment(loader=PackageLoader("segrec.report", "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=num, money=money, pct=pct, metric=metric, signed=signed_pct)
    return env.get_template("report.html.j2").render(**context)


def _headline(data: dict[str, Any], seg: dict[str, Any], rec: dict[str, Any]) -> list[dict[str, str]]:
    customers = data.get("customers") if data["available"] else seg.get("customers")
    cards = [{"label": "Customers", "value": num(customers),
              "note": f"{data['date_min']} to {data['date_max']}" if data["available"] else ""}]
    if seg["available"]:
        cards.append({"label": "Revenue", "value": money(seg["revenue"]), "note": "in the shop's currency"})
        cards.append({"label": "Segments", "value": num(seg["k"]),
                      "note": "stable across reruns" if seg.get("stable") else "check stability below"})
    lift = rec.get("lift") if rec["available"] else None
    if lift:
        strongest = rec.get("strongest")
        against = (f"; {signed_pct(strongest['precision'])} vs the strongest other model in the same test "
                   f"({strongest['against']})") if strongest else ""
        cards.append({"label": "Recommendation lift", "value": signed_pct(lift["precision"]),
                      "note": f"{lift['label']} (served) vs the best-sellers list, precision@{rec['k']}{against}",
                      "strongest": signed_pct(strongest["precision"]) if strongest else None,
                      "strongest_model": strongest["against"] if strongest else None})
    return cards


def _takeaways(data: dict[str, Any], seg: dict[str, Any], rec: dict[str, Any]) -> list[str]:
    out = []
    if seg["available"] and seg["profiles"]:
        top = max(seg["profiles"], key=lambda p: p["revenue_share"] or 0)
        out.append(f"“{top['name']}” are {pct(top['share'])} of customers but bring {pct(top['revenue_share'])} "
                   f"of revenue. Suggested: {top['action']}")
    lift = rec.get("lift") if rec["available"] else None
    if lift:
        direction = "more" if lift["precision"] >= 0 else "fewer"
        line = (f"The served recommender ({lift['label']}) puts {abs(lift['precision']):.0%} {direction} "
                f"products customers actually bought next in its top {rec['k']} than a best-sellers list")
        strongest = rec.get("strongest")
        if strongest:
            line += (f", and {signed_pct(strongest['precision'])} against the strongest other model of the same "
                     f"test ({strongest['against']})")
        out.append(line + ".")
    if data["available"] and data["rows_rejected"]:
        reason = data["rejected_by_reason"][0][0] if data["rejected_by_reason"] else "various reasons"
        out.append(f"{num(data['rows_rejected'])} of {num(data['rows_read'])} rows "
                   f"({pct(data['rejected_share'])}) were set aside while checking the data, mostly: {reason}.")
    return out
