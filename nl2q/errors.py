"""User-facing errors: one line that says what is wrong and what to do."""

from __future__ import annotations


class Nl2qError(Exception):
    """An error the caller can act on; ``hint`` says how."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class SchemaError(Nl2qError):
    """The schema source is missing, unreadable or of an unknown kind."""


class ModelError(Nl2qError):
    """The model cannot be loaded or run."""


class GrammarRejected(Nl2qError):
    """The decoding backend refused a grammar."""


class DialectError(Nl2qError):
    """Unknown dialect or a dialect that does not fit the target."""


class NotApproved(Nl2qError):
    """An output that needs a person's approval to run for real did not get it."""


class MissingExtra(Nl2qError):
    """A feature needs an optional dependency group that is not installed."""


def require(module: str, extra: str, feature: str = "") -> None:
    """Fail with one line naming the extra when ``module`` is not importable."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked or half-installed module
        found = False
    if not found:
        what = f"{feature} needs" if feature else "needs"
        raise MissingExtra(f"{what} {module}, which is not installed", f"pip install 'nl2q[{extra}]'")
