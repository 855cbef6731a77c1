"""Dialect profiles: one TOML file per engine, loaded into the target's typed profile class.

A profile holds facts (functions, constructs, reserved words, indexing); code reads its
fields, never the engine's name. An unknown or mistyped key is an error naming the file
and the key, so a typo cannot silently switch a feature off.

A profile may say ``extends = "other"`` (a profile of the same target in the same directory):
the other file's tables are merged under this one's (tables key by key, this file winning;
a list or a value is replaced whole), so a variant states only how it differs and cannot drift
from its base unnoticed. ``name`` and ``title`` are never inherited.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import DialectError

P = TypeVar("P", bound="Profile")
_OWN_KEYS = ("name", "title")  # a profile's identity: never taken from the profile it extends


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
    raw = _read(path, ())
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


def _read(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The file's table with the profile it ``extends`` merged underneath (this file winning)."""
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise DialectError(f"{path}: not valid TOML: {e}", "fix the file's syntax") from None
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str) or not re.fullmatch(r"[a-z0-9_-]+", base):
        raise DialectError(f"{path}: extends must name a profile, not {base!r}", 'e.g. extends = "bash"')
    parent = path.parent / f"{base}.toml"
    if parent.resolve() in (*seen, path.resolve()):
        raise DialectError(f"{path}: extends {base!r}, which leads back to {path.name}", "profiles may not extend in a cycle")
    if not parent.is_file():
        raise DialectError(f"{path}: extends {base!r}, but there is no {parent.name} beside it",
                           "extend a profile shipped in the same directory")
    inherited = _read(parent, (*seen, path.resolve()))
    if raw.get("target") != inherited.get("target"):
        raise DialectError(f"{path}: extends {base!r}, a {inherited.get('target')} profile, but names target "
                           f"{raw.get('target')!r}", "extend a profile of the same target, and name that target here too")
    for key in _OWN_KEYS:
        inherited.pop(key, None)
    return _merge(inherited, raw)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: tables merge key by key, anything else in ``over`` replaces ``base``'s."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


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
