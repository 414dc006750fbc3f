"""Exceptions and warnings raised by segrec.

Messages name the object at fault and, where there is one, the fix. The CLI maps :class:`InputError` to exit
code 2 and other :class:`SegrecError` to exit code 1, so a script can tell bad input from a failed run.
"""

from __future__ import annotations


class SegrecError(Exception):
    """Base class of segrec's own errors."""


class InputError(SegrecError, ValueError):
    """The user's input (file, table, argument) cannot be used as given."""


class EncodingError(InputError):
    """A text source is not in the encoding it was read with (UTF-8 unless ``--encoding`` says otherwise)."""


class MissingColumnError(InputError):
    """A required canonical column is absent from the source table."""

    def __init__(self, missing: list[str], found: list[str]) -> None:
        self.missing = list(missing)
        self.found = list(found)
        super().__init__(
            f"missing required column(s) {', '.join(map(repr, self.missing))}; "
            f"found columns: {', '.join(map(repr, self.found)) or '(none)'}. "
            "Map a column with --map 'Your Column=user_id' or a TOML mapping file."
        )


class RowError(InputError):
    """A row failed validation while running in strict mode."""

    def __init__(self, row: int, column: str, reason: str, value: object = None) -> None:
        self.row, self.column, self.reason, self.value = row, column, reason, value
        super().__init__(f"row {row}, column {column!r}: {reason} (value: {value!r})")


class TooFewCustomersError(InputError):
    """Too few customers to segment: how many were found and how many segmentation needs."""

    def __init__(self, found: int, needed: int, ks: list[int]) -> None:
        self.found, self.needed = found, needed
        super().__init__(
            f"{found} customer{'s' if found != 1 else ''} found; segmentation needs at least {needed}: K-Means is "
            f"compared over at least two numbers of segments (k = {ks[0]} and {ks[1]}) and each k needs more "
            "customers than segments. Add more purchase history; `segrec run` goes on without segments."
        )


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit`` (same bases as scikit-learn's)."""


class BundleError(SegrecError):
    """A model bundle is missing, corrupt, tampered with, or of an unsupported version."""


class SegrecWarning(UserWarning):
    """Base category of segrec's warnings."""


class RejectedRowsWarning(SegrecWarning):
    """Some input rows were rejected during ingestion (they are kept in the rejects frame)."""


class UnstableSegmentationWarning(SegrecWarning):
    """Segment labels change too much across seeds or resamples (mean ARI below the threshold)."""


class UnknownUserError(InputError, KeyError):
    """A user id is not in the fitted model (the API answers such users with cold start instead)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownProductError(InputError, KeyError):
    """A product id is not in the catalogue (the API answers 404)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
