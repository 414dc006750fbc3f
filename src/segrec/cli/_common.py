"""Options shared by every command that reads a SOURCE (validate, segment, train, evaluate, run); the reading
options (--decimal, --encoding, --date-format, --dayfirst, --sheet) come with `@with_read_options`.

Use them as annotations so the flags are spelled and documented once::

    def segment(source: SourceArg, format: FormatOpt = None, map: MapOpt = None, map_file: MapFileOpt = None):
        with user_errors():
            result = load_source(source, format, map, map_file)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..data.read import FORMATS, IngestResult, ReadOptions, ingest
from ..data.schema import parse_mapping, read_mapping_file
from ..modes import DISCOVER, MODES, mode_key
from ._errors import err_console, user_errors

_FORMATS = ", ".join(f for f in FORMATS if f != "dataframe")

SourceArg = Annotated[
    str,
    typer.Argument(
        help="Purchase history: a CSV/Parquet/XLSX file, duckdb:///file.db?table=T (or ?query=...), "
        "or postgresql+psycopg://user@host/db?table=T.",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help=f"Source format when the suffix does not tell: {_FORMATS}."),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", "-m", help="Map a source column to a canonical one: 'Customer=user_id' (repeatable)."),
]
MapFileOpt = Annotated[
    Path | None,
    typer.Option("--map-file", help='TOML file whose "columns" table maps "Source Name" = "user_id".'),
]
ValidationOpt = Annotated[
    str | None,
    typer.Option("--validation", help="How the hybrid draws its tuning slice: temporal (the last period), random "
                 "(a share of each customer's products), last-n (each customer's last order) or auto. Default: "
                 "evaluate mirrors its split; train/run use auto (temporal unless the dates cannot carry it)."),
]
StrictOpt = Annotated[
    bool,
    typer.Option("--strict", help="Stop with exit code 2 at the first bad row instead of rejecting it."),
]


def mapping_from_options(map: list[str] | None = None, map_file: Path | None = None) -> dict[str, str]:
    """The column mapping of --map-file, overridden by each --map."""
    mapping = read_mapping_file(map_file) if map_file else {}
    mapping.update(parse_mapping(map or []))
    return mapping


READ_DEFAULTS = ReadOptions()
#: --decimal, --encoding, --date-format, --dayfirst and --sheet: how a source's text is written (ReadOptions).
READ_OPTIONS: dict[str, tuple[Any, Any]] = {
    "decimal": (str, typer.Option("--decimal", help="Decimal separator of numbers written as text: '.' or ',' "
                                  "(3,50; '.' or a space may then group thousands: 1.234,50).")),
    "encoding": (str | None, typer.Option("--encoding", show_default=False, help="Encoding of a CSV file, e.g. "
                 "cp1252 or latin-1. Default: UTF-8; a file that is not UTF-8 is read as cp1252 (then Latin-1) "
                 "with a note.")),
    "date_format": (str | None, typer.Option("--date-format", show_default=False, help="Format of the dates in "
                    "strptime codes, e.g. '%d.%m.%Y %H:%M' (tried before ISO 8601).")),
    "dayfirst": (bool, typer.Option("--dayfirst", help="Read 01/02/2024 as 1 February (default: month first, "
                 "US style).")),
    "sheet": (str | None, typer.Option("--sheet", show_default=False, help="Excel sheet to read, by name or "
              "0-based number; default: the first.")),
}


def with_read_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the :data:`READ_OPTIONS` flags; it receives them as one ``options: ReadOptions``.

    Written by hand because Typer has no option groups: the five flags are declared once here instead of in
    every command that reads a SOURCE.
    """
    signature = inspect.signature(command, eval_str=True)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=getattr(READ_DEFAULTS, name),
                               annotation=Annotated[kind, option]) for name, (kind, option) in READ_OPTIONS.items()]
    kept = [p for p in signature.parameters.values() if p.name != "options"]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        values = {name: kwargs.pop(name) for name in READ_OPTIONS}
        with user_errors():
            options = ReadOptions(**values)
        command(*args, options=options, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*kept, *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}  # type: ignore[attr-defined]
    return wrapper


def load_source(
    source: str,
    format: str | None = None,
    map: list[str] | None = None,
    map_file: Path | None = None,
    *,
    strict: bool = False,
    announce: bool = True,
    options: ReadOptions | None = None,
) -> IngestResult:
    """Ingest SOURCE as the options say; with ``announce``, say on stderr how many rows were rejected, the
    notes (e.g. an encoding detected) and the options that would have read the rejected cells.

    Raises :class:`~segrec.exceptions.InputError` (wrap the call in ``user_errors()``).
    """
    result = ingest(source, mapping_from_options(map, map_file) or None, format, strict=strict, options=options)
    if announce:
        announce_report(result.report.to_dict())
    return result


def announce_report(report: dict[str, Any] | None) -> None:
    """Say on stderr how many rows were rejected, the notes (e.g. an encoding detected) and the options that
    would have read the rejected cells."""
    report = report or {}
    if report.get("rows_rejected"):
        reasons = ", ".join(f"{r}: {n:,}" for r, n in (report.get("rejected_by_reason") or {}).items())
        err_console.print(
            f"[yellow]note:[/] {report['rows_rejected']:,} of {report.get('rows_read', 0):,} rows rejected "
            f"({reasons}); `segrec validate SOURCE --rejects FILE` lists them",
            highlight=False,
        )
    for note in report.get("notes") or ():
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    for hint in report.get("suggestions") or ():
        err_console.print(f"[yellow]hint:[/] {escape(hint)}", highlight=False)


def print_outputs(console: Console, out: Path, outputs: tuple[tuple[str, str], ...], report: Path) -> None:
    """The (label, file name) outputs of a run that exist in ``out``, then the report, one per line."""
    for what, name in outputs:
        if (out / name).exists():
            console.print(f"  {what:<16}{escape(str(out / name))}")
    console.print(f"  {'report':<16}[bold]{escape(str(report))}[/]")


def print_stages(console: Console, stages: dict[str, dict[str, Any]]) -> None:
    """One line per stage: wall and CPU seconds, peak resident memory (what ``run.json`` records)."""
    console.print(f"  {'stage':<10}{'wall':>10} {'CPU':>14} {'peak memory':>16}", highlight=False)
    for name, st in stages.items():
        scope = " (process so far)" if st.get("peak_rss_scope") else ""
        console.print(f"  {name:<10}{st['seconds']:>8.1f} s {st['cpu_seconds']:>8.1f} CPU s "
                      f"{st['peak_rss_mb']:>8,.0f} MB peak{scope}", highlight=False)


def print_tuning(console: Console, result: Any) -> None:
    """How each self-tuning model of an evaluation result drew its validation slice and what it chose there."""
    from ..recommend.hybrid.tuning import describe_tuning  # late: the CLI starts without the models

    mode = mode_key(getattr(result, "mode", DISCOVER))
    why = getattr(result, "split", {}).get("validation", {}).get("reason")
    for model in getattr(result, "models", []):
        if model.tuning:
            console.print(f"[bold]{escape(model.name)}[/]: {escape(describe_tuning(model.tuning, mode, why))}",
                          highlight=False)


def print_model_tuning(console: Console, tuning: dict[str, Any]) -> None:
    """What a trained hybrid chose on its validation slice, one line per mode."""
    from ..recommend.hybrid.tuning import describe_tuning  # late: the CLI starts without the models

    for mode in MODES:
        console.print(f"[bold]{mode}[/]: {escape(describe_tuning(tuning, mode_key(mode)))}", highlight=False)
