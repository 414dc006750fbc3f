"""The canonical event schema as data, and the resolution of a source's column names onto it.

Shops name their columns in many ways ("User ID", "customer_id", "CustomerID"). Names are compared after
:func:`normalise_name` (case, spaces, underscores, hyphens and dots ignored), so the seed-style human names and the
canonical names resolve without help; a short, documented :data:`ALIASES` table covers the usual synonyms, and an
explicit mapping ``{source column: canonical column}`` (from ``--map 'A=B'`` or a TOML file) overrides both.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..columns import Columns
from ..exceptions import InputError, MissingColumnError

C = Columns


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column: its pandas dtype, unit, whether it is required, and its default when absent."""

    name: str
    dtype: str
    unit: str
    required: bool
    default: str
    description: str


def _spec(name: str, dtype: str, unit: str, default: str, description: str) -> ColumnSpec:
    return ColumnSpec(name, dtype, unit, name in C.Required, default, description)


# The contract of columns.py's table, as data (order = Columns.Canonical).
SCHEMA: dict[str, ColumnSpec] = {
    s.name: s
    for s in (
        _spec(C.User, "string", "", "required", "customer identifier"),
        _spec(C.Item, "string", "", "required", "product identifier"),
        _spec(C.ItemName, "string", "", "product_id", "product name"),
        _spec(C.Category, "string", "", '"unknown"', "product category"),
        _spec(C.Price, "float64", "currency", "total_spending / quantity, else NA", "unit price (>= 0)"),
        _spec(C.Date, "datetime64[ns]", "naive local time", "required", "time of purchase"),
        _spec(C.Quantity, "int64", "units", "1", "units bought (> 0)"),
        _spec(C.Spending, "float64", "currency", "price * quantity", "amount paid for the line"),
        _spec(C.Clicks, "float64", "clicks", "NA", "clicks in the session that led to the purchase"),
        _spec(C.TimeSpent, "float64", "minutes", "NA", "time spent in that session"),
        _spec(C.AbandonedCart, "boolean", "", "NA", "whether a cart was abandoned in that session"),
        _spec(C.Engagement, "float64", "clicks/minute", "clicks / time_spent (NA when time_spent <= 0)",
              "engagement in that session"),
        _spec(C.Age, "float64", "years", "NA", "customer age (0..120)"),
        _spec(C.Gender, "string", "", "NA", "free text, e.g. F, M, X"),
        _spec(C.Location, "string", "", "NA", "country / region / city"),
        _spec(C.Income, "float64", "currency/year", "NA", "yearly income (0..1e9)"),
        _spec(C.Order, "string", "", "NA (downstream: one order per user and day)", "invoice / basket id"),
        _spec(C.Description, "string", "", '""', "free product text"),
    )
}
assert tuple(SCHEMA) == C.Canonical

STRING_COLUMNS = tuple(n for n, s in SCHEMA.items() if s.dtype == "string")
NUMBER_COLUMNS = tuple(n for n, s in SCHEMA.items() if s.dtype in ("float64", "int64"))
# Columns filled from a default when absent, with the columns the default is computed from.
DERIVED_FROM: dict[str, tuple[str, ...]] = {
    C.ItemName: (C.Item,),
    C.Category: (),
    C.Description: (),
    C.Quantity: (),
    C.Price: (C.Spending,),
    C.Spending: (C.Price,),
    C.Engagement: (C.Clicks, C.TimeSpent),
}

# Common synonyms, keyed by normalised name. Kept short on purpose: anything else goes through --map.
ALIASES: dict[str, str] = {
    "customerid": C.User,
    "customer": C.User,
    "clientid": C.User,
    "itemid": C.Item,
    "sku": C.Item,
    "stockcode": C.Item,
    "orderdate": C.Date,
    "invoicedate": C.Date,
    "date": C.Date,
    "orderid": C.Order,
    "invoiceno": C.Order,
    "invoice": C.Order,
    "unitprice": C.Price,
    "qty": C.Quantity,
    "country": C.Location,
}

_IGNORED = re.compile(r"[\s_\-.]+")


def normalise_name(name: str) -> str:
    """Compare column names without case, spaces, underscores, hyphens or dots: "User ID" == "user_id"."""
    return _IGNORED.sub("", str(name)).casefold()


_CANONICAL_BY_NORM = {normalise_name(n): n for n in C.Canonical}


def canonical_name(name: str) -> str | None:
    """The canonical column ``name`` stands for (canonical spelling in any style, or an alias), else None."""
    norm = normalise_name(name)
    return _CANONICAL_BY_NORM.get(norm) or ALIASES.get(norm)


@dataclass(frozen=True)
class Resolution:
    """How a source's columns map onto the canonical schema."""

    mapped: dict[str, str]  # source column -> canonical column
    dropped: list[str] = field(default_factory=list)  # source columns not used

    @property
    def source_of(self) -> dict[str, str]:
        """Canonical column -> source column."""
        return {c: s for s, c in self.mapped.items()}


def resolve_columns(found: Sequence[str], mapping: Mapping[str, str] | None = None) -> Resolution:
    """Map the ``found`` source columns onto canonical ones; an explicit ``mapping`` wins over names and aliases.

    Raises :class:`InputError` for a mapping that names an absent source column or an unknown canonical one, or
    when two columns claim the same canonical column; :class:`MissingColumnError` when a required one is left.
    """
    found = [str(f) for f in found]
    explicit: dict[str, str] = {}
    for src, target in (mapping or {}).items():
        if src not in found:
            raise InputError(
                f"mapping names column {src!r}, which is not in the source; found: {', '.join(map(repr, found))}"
            )
        canon = _CANONICAL_BY_NORM.get(normalise_name(target))
        if canon is None:
            raise InputError(
                f"mapping {src!r} -> {target!r}: {target!r} is not a canonical column; "
                f"choose one of {', '.join(C.Canonical)}"
            )
        explicit[src] = canon
    claimed = _claims(explicit)
    mapped, dropped = dict(explicit), []
    for src in found:
        if src in explicit:
            continue
        canon = canonical_name(src)
        if canon is None or (canon in claimed and claimed[canon] in explicit):
            dropped.append(src)
            continue
        if canon in claimed:
            raise InputError(
                f"columns {claimed[canon]!r} and {src!r} both look like {canon!r}; "
                f"choose one with --map '{src}={canon}' (or the other)"
            )
        claimed[canon] = src
        mapped[src] = canon
    missing = [c for c in C.Required if c not in claimed]
    if missing:
        raise MissingColumnError(missing, found)
    return Resolution(mapped=mapped, dropped=dropped)


def _claims(explicit: Mapping[str, str]) -> dict[str, str]:
    claimed: dict[str, str] = {}
    for src, canon in explicit.items():
        if canon in claimed:
            raise InputError(f"mapping sends both {claimed[canon]!r} and {src!r} to {canon!r}")
        claimed[canon] = src
    return claimed


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """Parse ``["Source Name=user_id", ...]`` (as given to ``--map``) into a mapping."""
    mapping: dict[str, str] = {}
    for item in items:
        src, sep, target = item.rpartition("=")
        if not sep or not src.strip() or not target.strip():
            raise InputError(f"--map {item!r}: expected 'Source Column=canonical_column'")
        mapping[src.strip()] = target.strip()
    return mapping


def read_mapping_file(path: str | Path) -> dict[str, str]:
    """Read a TOML mapping file whose ``[columns]`` table maps ``"Source Name" = "user_id"``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"mapping file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read mapping file {path}: {exc}") from None
    table = data.get("columns")
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise InputError(f'mapping file {path} needs a [columns] table of "Source Name" = "canonical_name" lines')
    return dict(table)
