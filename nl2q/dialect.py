"""Dialect profiles: one small data file per engine, over one grammar per target."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .errors import DialectError
from .resources import data_dir


@dataclass(frozen=True)
class Dialect:
    """What differs between engines of one target language; everything else is shared."""

    name: str
    target: str
    title: str
    executor: str
    sqlglot: str | None = None
    functions: tuple[str, ...] = ()
    nullary_functions: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    atoms: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def allowed_functions(self) -> frozenset[str]:
        return frozenset(f.upper() for f in self.functions + self.nullary_functions)


_FIELDS = {"name", "target", "title", "executor", "sqlglot", "functions", "nullary_functions", "types", "atoms"}


@cache
def get_dialect(name: str) -> Dialect:
    """Load ``dialects/<name>.toml``."""
    path = data_dir("dialects") / f"{name.lower()}.toml"
    if not path.is_file():
        raise DialectError(f"unknown dialect {name!r}", f"choose one of: {', '.join(available_dialects())}")
    raw = tomllib.loads(path.read_text())
    known = {k: v for k, v in raw.items() if k in _FIELDS}
    for key in ("functions", "nullary_functions", "types"):
        known[key] = tuple(known.get(key, ()))
    return Dialect(**known, extra={k: v for k, v in raw.items() if k not in _FIELDS})


def available_dialects(target: str | None = None) -> list[str]:
    names = sorted(p.stem for p in data_dir("dialects").glob("*.toml"))
    return [n for n in names if target is None or get_dialect(n).target == target]
