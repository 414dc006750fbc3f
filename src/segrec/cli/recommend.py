"""``segrec recommend``: show one customer's recommendations from any bundle the API serves (a hybrid, or
ALS trained on Spark), asking the model's capability flags what it can answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..bundle import load_bundle
from ..columns import Columns
from ..exceptions import InputError
from ..modes import DISCOVER, ModeChoice
from ._bundle import resolve_bundle
from ._errors import user_errors

console = Console()


def recommend(
    model_dir: Annotated[Path, typer.Argument(help="A bundle, or the --out directory of `segrec train` or `segrec run`.",
                                               show_default=False)],
    user: Annotated[str, typer.Option("--user", "-u", help="Customer id.")],
    k: Annotated[int, typer.Option("-k", "--k", help="Number of recommendations.")] = 10,
    mode: Annotated[ModeChoice, typer.Option(help="discover: only new products; buy-again: bought ones compete.")] = (
        ModeChoice.discover),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records instead of a table.")] = False,
) -> None:
    """Recommend products to one customer (an unknown customer gets the cold-start list)."""
    with user_errors():
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        model = load_bundle(resolve_bundle(model_dir)).recommender
        known = model.dataset_.user_index([user])[0] >= 0
        if known:
            frame = model.recommend([user], k, filter_seen=mode == DISCOVER).drop(columns=Columns.User)
        elif model.recommends_cold_users:
            frame = model.recommend_cold(k=k)
        else:
            raise InputError(f"unknown customer {user!r}: this bundle's model ({type(model).__name__}) has no "
                             "cold start; serve a hybrid bundle (`segrec train`) to answer new customers")
        # a model without product names or reasons (ALS from Spark) leaves those cells empty
        frame = frame.assign(**{c: "" for c in (Columns.ItemName, Columns.Reason) if c not in frame.columns})
        if as_json:
            typer.echo(json.dumps({"user_id": user, "known": bool(known), "mode": mode.value,
                                   "recommendations": frame.to_dict(orient="records")}, indent=2))
            return
        title = f"{k} recommendations for {user} ({mode.value})" + ("" if known else ": unknown customer, cold start")
        table = Table(title=escape(title), title_justify="left", caption="relevance: the model's score before the "
                      "diversity step that sets the rank (compare within one list only)", caption_justify="left")
        for column in (Columns.Rank, Columns.Item, Columns.ItemName, "relevance", Columns.Reason):
            table.add_column(column, justify="right" if column in (Columns.Rank, "relevance") else "left")
        for row in frame.itertuples(index=False):
            rec = row._asdict()
            table.add_row(str(rec[Columns.Rank]), escape(str(rec[Columns.Item])), escape(str(rec[Columns.ItemName])),
                          f"{rec[Columns.Score]:.3f}", escape(str(rec[Columns.Reason])))
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``recommend`` command to ``app``."""
    app.command("recommend")(recommend)
