"""An evaluation as a table: one row per model, one column per metric, the best figure in bold.

The same layout renders to the terminal (rich) and to Markdown (``docs/benchmarks.md``), so what the
benchmark prints is what the docs show.
"""

from __future__ import annotations

import math

from rich.table import Table

from .runner import IN_SAMPLE_K, EvaluationResult, metric_names

__all__ = ["IN_SAMPLE_LABEL", "markdown_table", "rich_table", "table_rows"]

IN_SAMPLE_LABEL = "in-sample, not an estimate of future performance"
_SHORT = {"precision": "P", "recall": "R", "ndcg": "NDCG", "map": "MAP", "hit_rate": "HR"}


def _header(name: str) -> str:
    base, at, k = name.partition("@")
    return f"{_SHORT.get(base, base)}{at}{k}"


def table_rows(result: EvaluationResult) -> tuple[list[str], list[list[str]], list[set[int]]]:
    """Headers, formatted cells, and per row the column indices holding a column's best value."""
    names = metric_names(result.k)
    in_sample = any(m.in_sample for m in result.models)
    headers = ["model", *(_header(n) for n in names), "fit s", "score s"]
    if in_sample:
        headers += [f"P@{IN_SAMPLE_K} in-sample*", "AUC in-sample*"]
    best = {n: max((_value(m.metrics, n) for m in result.models), key=_sortable) for n in names}
    rows, bold = [], []
    for model in result.models:
        cells = [model.name]
        marks = set()
        for col, name in enumerate(names, start=1):
            value = _value(model.metrics, name)
            cells.append(_fmt(value, 2 if name == "novelty" else 4))
            if not math.isnan(value) and value == best[name] and len(result.models) > 1:
                marks.add(col)
        cells += [f"{model.fit_seconds:.1f}", f"{model.score_seconds:.1f}"]
        if in_sample:
            extra = model.in_sample or {}
            cells += [_fmt(_value(extra, f"precision@{IN_SAMPLE_K}"), 4), _fmt(_value(extra, "auc"), 4)]
        rows.append(cells)
        bold.append(marks)
    return headers, rows, bold


def rich_table(result: EvaluationResult, title: str | None = None) -> Table:
    headers, rows, bold = table_rows(result)
    table = Table(title=title or _title(result), title_justify="left",
                  caption=f"* {IN_SAMPLE_LABEL}" if any(m.in_sample for m in result.models) else None)
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for cells, marks in zip(rows, bold, strict=True):
        table.add_row(*(f"[bold]{c}[/]" if i in marks else c for i, c in enumerate(cells)))
    return table


def markdown_table(result: EvaluationResult) -> str:
    headers, rows, bold = table_rows(result)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---", *["---:"] * (len(headers) - 1)]) + "|"]
    for cells, marks in zip(rows, bold, strict=True):
        lines.append("| " + " | ".join(f"**{c}**" if i in marks else c for i, c in enumerate(cells)) + " |")
    if any(m.in_sample for m in result.models):
        lines.append(f"\n\\* {IN_SAMPLE_LABEL}: precision@{IN_SAMPLE_K} and AUC on the training purchases, "
                     "nothing excluded (the original project's protocol).")
    return "\n".join(lines)


def _title(result: EvaluationResult) -> str:
    split = result.split
    users = split.get("evaluated_users", {}).get(result.mode, "?")
    detail = {k: split[k] for k in ("cutoff", "test_fraction", "seed", "n") if k in split}
    params = ", ".join(f"{k}={v}" for k, v in detail.items())
    return f"{split.get('method', 'split')} split ({params}), mode {result.mode}, k={result.k}, {users} users evaluated"


def _value(metrics: dict[str, float | None], name: str) -> float:
    value = metrics.get(name)
    return math.nan if value is None else value


def _fmt(value: float, digits: int) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"  # undefined, e.g. diversity without product text


def _sortable(value: float) -> float:
    return -math.inf if math.isnan(value) else value
