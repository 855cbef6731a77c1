"""Names of a schema read as English, for questions drawn from the schema (the search box's examples)."""

from __future__ import annotations

import re


def words(name: str) -> str:
    """``HostGroup`` -> ``host group``; ``RUNS_ON`` -> ``runs on``; ``cpu_count`` -> ``cpu count``."""
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", name.replace("_", " "))
    return " ".join(p.lower() for p in parts) or name


def plural(noun: str) -> str:
    if noun.endswith("s"):
        return noun
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    if re.search(r"(x|ch|sh)$", noun):
        return noun + "es"
    return noun + "s"


def singular(noun: str) -> str:
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


def interleave(*groups: list[str]) -> list[str]:
    """The first of each group, then the second of each, ...; without repeats."""
    out: list[str] = []
    for i in range(max((len(g) for g in groups), default=0)):
        out += [g[i] for g in groups if i < len(g) and g[i] not in out]
    return out
