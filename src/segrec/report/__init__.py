"""The HTML report of a run directory: :func:`build_report` (``build``), its sections (``segments``,
``recommender``), the run-directory reader (``reader``), number formats, plain-word labels, the PNG figures
(``plots/``) and the Jinja template (``templates/``).

>>> from segrec.report import build_report
"""

from .build import REPORT_NAME, build_report

__all__ = ["REPORT_NAME", "build_report"]
