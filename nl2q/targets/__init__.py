"""The target registry: built-in targets and those other packages register.

A third-party package adds a target by declaring an entry point, the way sqlglot
dialects plug in::

    [project.entry-points."nl2q.targets"]
    spl = "my_package.spl:SplTarget"

Targets are imported only when first asked for.
"""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points
from typing import Any

from ..errors import Nl2qError
from ..profile import Profile
from .base import Bound, Checked, Target, TargetSpec

GROUP = "nl2q.targets"
_BUILTIN = {"sql": "nl2q.targets.sql:SqlTarget", "cypher": "nl2q.targets.cypher:CypherTarget",
            "shell": "nl2q.targets.shell:ShellTarget", "spl": "nl2q.targets.spl:SplTarget",
            "config": "nl2q.targets.config:ConfigTarget", "api": "nl2q.targets.api:ApiTarget"}
_LOADED: dict[str, Target] = {}
_LOCK = threading.Lock()


def _declared() -> dict[str, Any]:
    """name -> 'module:attr' string or an EntryPoint; entry points may add targets, not replace built-ins."""
    found: dict[str, Any] = {ep.name.lower(): ep for ep in entry_points(group=GROUP)}
    found.update(_BUILTIN)
    return found


def available() -> list[str]:
    """Names of every target that can be loaded."""
    return sorted(set(_declared()) | set(_LOADED))


def register(target: Target) -> Target:
    """Register a target instance under its spec's name (for code that does not ship an entry point)."""
    with _LOCK:
        _LOADED[target.name.lower()] = target
    return target


def get_target(name: str) -> Target:
    key = name.lower()
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        ref = _declared().get(key)
        if ref is None:
            raise Nl2qError(f"unknown target {name!r}", f"choose one of: {', '.join(available())}")
        cls = _load(ref)
        target = cls() if isinstance(cls, type) else cls
        if not isinstance(target, Target):
            raise Nl2qError(f"target {name!r} ({ref}) is not an nl2q Target", "its entry point must name a Target subclass")
        _LOADED[key] = target
        return target


def get_dialect(name: str) -> Profile:
    """A dialect profile by name alone (``dialects/<name>.toml``), typed by the target it names."""
    import tomllib

    from ..errors import DialectError
    from ..resources import data_dir

    path = data_dir("dialects") / f"{name.lower()}.toml"
    if not path.is_file():
        every = sorted(p.stem for p in data_dir("dialects").glob("*.toml"))
        raise DialectError(f"unknown dialect {name!r}", f"choose one of: {', '.join(every)}")
    target = tomllib.loads(path.read_text()).get("target")
    if not isinstance(target, str):
        raise DialectError(f"{path}: no target key", "every profile names its target, e.g. target = \"sql\"")
    return get_target(target).profile(name)


def _load(ref: Any) -> Any:
    if isinstance(ref, str):
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)
    return ref.load()


__all__ = ["Bound", "Checked", "Target", "TargetSpec", "available", "get_dialect", "get_target", "register", "GROUP"]
