"""Cypher-specific evaluation metrics: whether a query orders its result, and how graph values compare."""

from __future__ import annotations

import re
from typing import Any, Callable


def cypher_orders(query: str) -> bool:
    """Whether the final RETURN of a Cypher query is ordered."""
    text = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", query)
    last = [m.end() for m in re.finditer(r"\bRETURN\b", text, re.I)]
    tail = text[last[-1]:] if last else text
    return re.search(r"\bORDER\s+BY\b", tail, re.I) is not None


def graph_value(v: Any, norm: Callable[[Any], Any]) -> Any:
    """The neo4j driver's Node, Relationship and Path as comparable tuples (``norm`` normalises what they hold);
    NotImplemented for anything else."""
    try:
        import neo4j.graph as g
    except ImportError:  # pragma: no cover
        return NotImplemented
    if isinstance(v, g.Node):
        return ("node", norm(dict(v)))
    if isinstance(v, g.Relationship):
        return ("rel", v.type, norm(dict(v)))
    if isinstance(v, g.Path):
        return ("path", tuple(norm(n) for n in v.nodes), tuple(norm(r) for r in v.relationships))
    return NotImplemented
