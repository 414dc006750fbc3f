"""The ``segrec`` command line: a thin Typer app, one module per command.

Each command module exposes ``register(app)``. Failures are mapped to exit codes: 2 for bad input
(:class:`~segrec.exceptions.InputError`), 1 for any other segrec error; never a traceback for a user mistake.
"""

from __future__ import annotations

import importlib

import typer

from ._memory import keep_freed_memory

app = typer.Typer(
    name="segrec",
    help="Customer segments and product recommendations from a shop's purchase history.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules registering a command, in the order `segrec --help` lists them.
COMMANDS = (
    "run",
    "generate",
    "validate",
    "segment",
    "train",
    "recommend",
    "evaluate",
    "serve",
    "report",
)

for _name in COMMANDS:
    importlib.import_module(f"{__name__}.{_name}").register(app)


@app.callback()
def _batch_memory(ctx: typer.Context) -> None:
    # every command but the long-running server reuses freed memory instead of zero-filling fresh pages
    if ctx.invoked_subcommand != "serve":
        keep_freed_memory()


def main() -> None:
    """Entry point of the ``segrec`` console script."""
    app()
