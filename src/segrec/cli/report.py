"""``segrec report``: render the self-contained HTML report of a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ._errors import user_errors

console = Console()


def report(
    out_dir: Annotated[Path, typer.Argument(help="Run directory written by `segrec run` (or `segrec segment`).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="HTML file to write; default: OUT_DIR/report.html.")
    ] = None,
) -> None:
    """Write one HTML page with the data summary, segments, recommender quality and examples."""
    from ..report.build import build_report

    with user_errors():
        path = build_report(out_dir, path=output)
    console.print(f"wrote {escape(str(path.resolve()))}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``."""
    app.command("report")(report)
