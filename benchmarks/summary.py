"""One table of every floor the benchmarks check: figure, floor, now, met (and the load it was measured at).

Reads the ``"floors"`` list of each ``benchmarks/results/*.json`` (each item: figure, floor, now, met, load);
a benchmark that records no floors is not listed. ``make bench`` ends with it. "met" is what was measured on
this machine at that load: on a shared machine a floor in seconds can be missed by the load alone, which the
load column shows (compare the CPU seconds in the "now" column, and the docs' side-by-side figures).

Run: ``.venv/bin/python benchmarks/summary.py [--since SECONDS]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


def rows(since: float | None = None) -> list[dict[str, object]]:
    """The floors of every results file (only files written in the last ``since`` seconds, when given)."""
    found = []
    for path in sorted(RESULTS.glob("*.json")):
        if since is not None and path.stat().st_mtime < time.time() - since:
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        for floor in record.get("floors", []) if isinstance(record, dict) else []:
            found.append({"benchmark": path.stem, **floor})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--since", type=float, help="only results written in the last SECONDS (this make bench)")
    args = parser.parse_args()
    table = Table(title="segrec benchmarks: floors (issue 16)")
    for column in ("benchmark", "figure", "floor", "now", "met", "load"):
        table.add_column(column, justify="right" if column in ("now", "load") else "left")
    for row in rows(args.since):
        met = "[green]yes[/]" if row["met"] else "[red]no[/]"
        table.add_row(str(row["benchmark"]), str(row["figure"]), str(row["floor"]), str(row["now"]), met,
                      str(row.get("load", "")))
    Console(width=max(Console().width, 120)).print(table)


if __name__ == "__main__":
    main()
