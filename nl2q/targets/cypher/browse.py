"""What a person browsing a graph needs: the schema as data, questions to start from, the graph in a
result's rows, and the query that fetches a node's neighbours (checked and run like any other)."""

from __future__ import annotations

import json
import re
from typing import Any

from ...errors import Nl2qError
from ..phrasing import interleave, plural, words
from .schema import GraphSchema

CAPTION_KEYS = ("name", "title", "hostname", "summary", "email", "id")
NEIGHBOUR_LIMIT = 25


def describe(schema: GraphSchema) -> dict[str, Any]:
    return {
        "target": "cypher",
        "labels": [{"name": n.name, "properties": _props(n.properties)} for n in schema.labels.values()],
        "relationships": [{"name": r.name, "endpoints": [list(e) for e in r.endpoints],
                           "properties": _props(r.properties)} for r in schema.rels.values()],
    }


def _props(props: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "type": v} for k, v in props.items()]


def _relation(rel: str, end: str) -> str:
    """How ``(:A)-[:REL]->(:B)`` reads after "the B it ...": ``runs on``, ``was caused by``, ``is a member of``."""
    ws = [w for w in words(rel).split() if w != words(end)]
    if not ws:
        return "relates to"
    if ws[0].endswith("ed"):
        return ("is " if ws[-1] in ("in", "at") else "was ") + " ".join(ws)
    if len(ws) == 2 and ws[1] in ("of", "for"):
        return f"is {'an' if ws[0][0] in 'aeiou' else 'a'} {ws[0]} {ws[1]}"
    return " ".join(ws)


def sample_questions(schema: GraphSchema, n: int = 6) -> list[str]:
    """Questions drawn from the schema's own labels, relationships and properties, for a person to start from."""
    joins, counts, tops = [], [], []
    for r in schema.rels.values():
        for a, b in r.endpoints[:1]:
            joins.append(f"List each {words(a)} and the {words(b)} it {_relation(r.name, b)}.")
    for label in schema.labels.values():
        categorical = [p for p, t in label.properties.items() if t.upper() == "STRING" and p in _CATEGORICAL]
        if categorical:
            counts.append(f"How many {plural(words(label.name))} are there for each {words(categorical[0])}?")
        numeric = [p for p, t in label.properties.items() if t.upper() in ("INTEGER", "INT64", "FLOAT", "DOUBLE")]
        if numeric:
            tops.append(f"Which {words(label.name)} has the highest {words(numeric[0])}?")
    return interleave(joins, counts, tops)[:n]


_CATEGORICAL = {"status", "severity", "kind", "type", "environment", "region", "language", "tier", "os", "category",
                "priority", "state", "role", "genre", "country"}


def graph_of(rows: list[list[Any]]) -> dict[str, Any] | None:
    """The nodes and relationships in a result's rows (values as :func:`~.execute.plain` makes them);
    None when the rows hold no nodes. Relationships whose ends are not in the result are left out."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[str, dict[str, Any]] = {}

    def visit(value: Any) -> None:
        if isinstance(value, list):
            for v in value:
                visit(v)
        elif isinstance(value, dict):
            if "_labels" in value and "_id" in value:
                props = {k: v for k, v in value.items() if not k.startswith("_")}
                label = value["_labels"][0] if value["_labels"] else ""
                nodes.setdefault(str(value["_id"]), {"id": str(value["_id"]), "label": label,
                                                     "caption": caption(props, label), "properties": props})
            elif "_type" in value and "_start" in value and "_end" in value:
                props = {k: v for k, v in value.items() if not k.startswith("_")}
                eid = str(value.get("_id") or f"{value['_start']}-{value['_type']}-{value['_end']}")
                edges.setdefault(eid, {"id": eid, "type": value["_type"], "source": str(value["_start"]),
                                       "target": str(value["_end"]), "properties": props})
            else:
                for v in value.values():
                    visit(v)

    visit(rows)
    if not nodes:
        return None
    return {"nodes": list(nodes.values()),
            "edges": [e for e in edges.values() if e["source"] in nodes and e["target"] in nodes]}


def caption(props: dict[str, Any], label: str) -> str:
    for key in CAPTION_KEYS:
        if props.get(key) not in (None, ""):
            return str(props[key])
    return label


def neighbours_query(schema: GraphSchema, node: dict[str, Any], limit: int = NEIGHBOUR_LIMIT) -> str:
    """``MATCH (n:Label)-[r]-(m) WHERE <n's key> RETURN n, r, m LIMIT k`` for a node of a result.

    The node is found by its ``id`` property when its label has one, else by every scalar property
    the schema declares. The values come from the page, so they are written as literals here and the
    query is checked like any other before it runs.
    """
    label = node.get("label")
    props = node.get("properties")
    if not isinstance(label, str) or label not in schema.labels or not isinstance(props, dict):
        raise Nl2qError(f"unknown node label {label!r}", "expand a node shown in a result of this graph")
    declared = schema.labels[label].properties
    keys = ["id"] if "id" in declared and props.get("id") is not None else [
        k for k in declared if isinstance(props.get(k), (str, int, float, bool))]
    if not keys:
        raise Nl2qError(f"the {label} node has no property to find it by", "return the node's properties with it")
    where = " AND ".join(f"n.{_name(k)} = {literal(props[k])}" for k in keys)
    return f"MATCH (n:{_name(label)})-[r]-(m) WHERE {where} RETURN n, r, m LIMIT {int(limit)}"


def _name(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else "`" + name.replace("`", "``") + "`"


def literal(value: Any) -> str:
    """A Cypher literal for a scalar from the page."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise Nl2qError(f"cannot match on a value of type {type(value).__name__}", "match on a string or number property")
