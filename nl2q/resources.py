"""Locate the data nl2q ships: grammars/ and dialects/."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """``grammars`` or ``dialects``: inside the wheel, or beside the package in a checkout."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"nl2q data directory {name!r} is missing; reinstall nl2q")
