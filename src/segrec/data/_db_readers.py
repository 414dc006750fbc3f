"""Readers of databases: a DuckDB file (attached read-only) and PostgreSQL (SQLAlchemy + psycopg 3).

URLs carry the table or the query as an option: ``duckdb:///path.db?table=orders``, ``?query=SELECT ...``;
``postgresql[+psycopg]://user@host/db?table=schema.orders``. Passwords never appear in messages.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import duckdb
import pandas as pd

from ..exceptions import InputError
from ._file_readers import Source, existing_file, register, sql_str, text_objects
from .validation import SourceQuery, first_line


def _url_options(url: str) -> tuple[str, dict[str, str]]:
    """Split ``url`` into its base (other query options kept) and our own ``table`` / ``query`` options."""
    base, _, query = url.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    ours = {k: options.pop(k) for k in ("table", "query") if k in options}
    if len(ours) != 1:
        raise InputError(f"{hide_password(url)}: give exactly one of ?table=NAME or ?query=SELECT ...")
    return (f"{base}?{urlencode(options)}" if options else base), ours


def _quote_name(name: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def read_duckdb(con: duckdb.DuckDBPyConnection, source: Source) -> SourceQuery:
    """A table or a query of a DuckDB database file, attached read-only."""
    text = str(source)
    base, option = _url_options(text if "://" in text else f"duckdb://{text}?{_only_table(text)}")
    path = existing_file(base.split("://", 1)[1].split("?", 1)[0])
    try:
        con.execute(f"ATTACH {sql_str(str(path))} AS __src (READ_ONLY)")
        con.execute("USE __src")
    except duckdb.Error as exc:
        raise InputError(f"cannot open {path} as a DuckDB database: {first_line(exc)}") from None
    sql = option.get("query") or f"SELECT * FROM {_quote_name(option['table'])}"
    return SourceQuery(sql, text, "duckdb")


def _only_table(path: str) -> str:
    """``table=NAME`` for a plain DuckDB path holding exactly one table."""
    with duckdb.connect(str(existing_file(path)), read_only=True) as db:
        tables = [r[0] for r in db.sql("SELECT table_name FROM duckdb_tables()").fetchall()]
    if len(tables) != 1:
        raise InputError(f"{path} holds tables {tables}; name one: duckdb:///{path}?table=NAME")
    return urlencode({"table": tables[0]})


def read_postgresql(con: duckdb.DuckDBPyConnection, source: Source) -> SourceQuery:
    """A table or a query of PostgreSQL through SQLAlchemy (psycopg 3), in a read-only transaction."""
    import sqlalchemy as sa

    text = str(source)
    base, option = _url_options(text)
    scheme, rest = base.split("://", 1)
    if "+" not in scheme:  # plain postgresql:// would pick psycopg2, which is not installed
        base = f"postgresql+psycopg://{rest}"
    name = hide_password(text)
    try:
        engine = sa.create_engine(base, connect_args={"options": "-c default_transaction_read_only=on"})
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise InputError(f"bad PostgreSQL URL {name}: {first_line(exc)}") from None
    try:
        with engine.connect() as db:
            if "query" in option:
                frame = pd.read_sql(sa.text(option["query"]), db)
            else:
                schema, _, table = option["table"].rpartition(".")
                frame = pd.read_sql_table(table, db, schema=schema or None)
    except (sa.exc.SQLAlchemyError, ValueError) as exc:
        raise InputError(f"cannot read {name}: {first_line(exc)}") from None
    finally:
        engine.dispose()
    return register(con, text_objects(frame), name, "postgresql")


def hide_password(url: str) -> str:
    if "://" not in url or "@" not in url.split("?", 1)[0]:
        return url
    scheme, rest = url.split("://", 1)
    creds, _, host = rest.partition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"
