"""Graph schemas: node labels with typed properties, relationship types with their endpoints.

Cypher names are case-sensitive, so lookups here are exact; did-you-mean hints are the
checker's business.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import SchemaError


@dataclass
class NodeLabel:
    name: str
    properties: dict[str, str] = field(default_factory=dict)  # property -> type (STRING, INTEGER, FLOAT, ...)


@dataclass
class RelType:
    name: str
    endpoints: list[tuple[str, str]] = field(default_factory=list)  # allowed (from label, to label) pairs
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class GraphSchema:
    labels: dict[str, NodeLabel]
    rels: dict[str, RelType]

    def property_keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for item in [*self.labels.values(), *self.rels.values()]:
            keys.update(dict.fromkeys(item.properties))
        return list(keys)

    def fits(self, rel: str, start: str | None, end: str | None) -> bool:
        """Whether (start)-[rel]->(end) is allowed; None is an unknown label."""
        r = self.rels.get(rel)
        if r is None:
            return False
        return any((start is None or a == start) and (end is None or b == end) for a, b in r.endpoints)

    def render(self, note: str = "") -> str:
        """Compact text for prompts: one line per label and per relationship pattern."""
        lines = ["Node labels and their properties:"]
        for n in self.labels.values():
            props = ", ".join(f"{k}: {v}" for k, v in n.properties.items())
            lines.append(f"(:{n.name} {{{props}}})" if props else f"(:{n.name})")
        lines.append("Relationships (direction matters):")
        for r in self.rels.values():
            props = ", ".join(f"{k}: {v}" for k, v in r.properties.items())
            for a, b in r.endpoints:
                lines.append(f"(:{a})-[:{r.name}{' {' + props + '}' if props else ''}]->(:{b})")
        if note:
            lines.append(note)
        return "\n".join(lines)

    def subset(self, question: str, max_labels: int = 12) -> tuple["GraphSchema", bool]:
        """The labels a question is most likely about, their neighbours and relationships.

        Returns the schema unchanged (and False) when it is small enough to show whole.
        """
        if len(self.labels) <= max_labels:
            return self, False
        words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9]+", question)}

        def score(name: str, props: dict[str, str]) -> int:
            parts = {p.lower() for p in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name)} | {name.lower()}
            parts |= {p.rstrip("s") for p in parts}
            hits = len(parts & (words | {w.rstrip("s") for w in words})) * 3
            return hits + sum(1 for p in props if p.lower() in words)

        ranked = sorted(self.labels.values(), key=lambda n: -score(n.name, n.properties))
        keep = {n.name for n in ranked[: max_labels // 2] if score(n.name, n.properties) > 0}
        for r in sorted(self.rels.values(), key=lambda r: -score(r.name, r.properties)):
            if score(r.name, r.properties) > 0:
                keep |= {x for pair in r.endpoints for x in pair}
        for r in self.rels.values():  # one hop out from what the question names
            for a, b in r.endpoints:
                if len(keep) >= max_labels:
                    break
                if a in keep or b in keep:
                    keep |= {a, b}
        if not keep:
            keep = {n.name for n in ranked[:max_labels]}
        labels = {k: v for k, v in self.labels.items() if k in keep}
        rels = {}
        for name, r in self.rels.items():
            pairs = [(a, b) for a, b in r.endpoints if a in keep and b in keep]
            if pairs:
                rels[name] = RelType(name, pairs, r.properties)
        return GraphSchema(labels, rels), True

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": {n.name: n.properties for n in self.labels.values()},
            "relationships": {r.name: {"endpoints": [list(p) for p in r.endpoints], "properties": r.properties}
                              for r in self.rels.values()},
        }


def from_dict(data: dict[str, Any]) -> GraphSchema:
    """The file format: ``{nodes: {Label: {prop: TYPE}}, relationships: {TYPE: {endpoints: [[A, B]], properties: {}}}}``."""
    if not isinstance(data, dict) or "nodes" not in data:
        raise SchemaError("a graph schema needs a 'nodes' mapping", "see GraphSchema.to_dict() for the format")
    labels = {name: NodeLabel(name, {str(k): str(v) for k, v in (props or {}).items()})
              for name, props in data["nodes"].items()}
    rels = {}
    for name, spec in (data.get("relationships") or {}).items():
        endpoints = [tuple(p) for p in spec.get("endpoints", [])]
        for a, b in endpoints:
            if a not in labels or b not in labels:
                raise SchemaError(f"relationship {name} connects unknown label {a if a not in labels else b!r}",
                                  "declare every endpoint label under 'nodes'")
        rels[name] = RelType(name, endpoints, {str(k): str(v) for k, v in (spec.get("properties") or {}).items()})
    return GraphSchema(labels, rels)


def from_file(path: str | Path) -> GraphSchema:
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"graph schema file not found: {path}")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    return from_dict(data)
