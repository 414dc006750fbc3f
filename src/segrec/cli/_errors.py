"""Map segrec's exceptions to exit codes and one-line messages (shared by every command)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from ..exceptions import InputError, SegrecError

err_console = Console(stderr=True, soft_wrap=True)

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn segrec errors into a red one-line message and an exit code instead of a traceback."""
    try:
        yield
    except InputError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except SegrecError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_FAILURE) from None
