"""Dialect profiles: one TOML file per engine, loaded into the target's typed profile class.

A profile holds facts (functions, constructs, reserved words, indexing); code reads its
fields, never the engine's name. An unknown or mistyped key is an error naming the file
and the key, so a typo cannot silently switch a feature off.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import DialectError

P = TypeVar("P", bound="Profile")


@dataclass(frozen=True)
class Profile:
    """What every engine profile declares; targets subclass it with their own fields."""

    name: str
    target: str
    title: str
    executor: str
    functions: tuple[str, ...] = ()

    @property
    def allowed_functions(self) -> frozenset[str]:
        return frozenset(f.upper() for f in self.functions)


def load_profile(path: Path, cls: type[P]) -> P:
    """Read ``path`` into ``cls``, refusing unknown keys and values of the wrong type."""
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise DialectError(f"{path}: not valid TOML: {e}", "fix the file's syntax") from None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise DialectError(f"{path}: unknown key {key!r} for a {raw.get('target', '?')} profile",
                               f"known keys: {', '.join(fields)}")
        values[key] = _coerce(path, key, value, hints[key])
    missing = [n for n, f in fields.items() if n not in values and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]  # type: ignore[misc]
    if missing:
        raise DialectError(f"{path}: missing key(s) {', '.join(missing)}", "every profile names its engine and target")
    return cls(**values)


def _coerce(path: Path, key: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        for arg in args:
            if arg is type(None) and value is None:
                return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, args[0]) for v in value):
            raise DialectError(f"{path}: {key} must be a list of {args[0].__name__}")
        return tuple(value)
    if origin is dict:
        if not isinstance(value, dict) or (args[1] is not Any and not all(isinstance(v, args[1]) for v in value.values())):
            raise DialectError(f"{path}: {key} must be a table of {args[1].__name__} values")
        return dict(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise DialectError(f"{path}: {key} must be a {hint.__name__}, not {type(value).__name__}")
    return value
