"""A schema as the prompt shows it: an indented outline of keys, types and allowed values, cut to a budget."""

from __future__ import annotations

from typing import Any

from .schema import Schema, resolve


def outline(schema: Schema, max_lines: int = 60, width: int = 8, depth: int = 7) -> str:
    """Keys in the generation schema's order (required first), at most ``width`` per object, shallow keys before
    deep ones when ``max_lines`` cuts; what was left out is counted on the last line, so a cut outline never
    passes for the whole schema."""
    defs = schema.get("$defs", {})
    rows: list[tuple[int, str]] = []  # (depth, line) in tree order
    hidden = 0

    def walk(node: Schema, level: int, path: frozenset[str]) -> None:
        nonlocal hidden
        node = resolve(node, defs)
        if node.get("type") == "array" or "items" in node:
            node = resolve(node.get("items") or {}, defs)
        props = node.get("properties") or {}
        required = set(node.get("required", []))
        if level >= depth:
            hidden += len(props)
            return
        for i, (name, sub) in enumerate(props.items()):
            if i >= width:
                hidden += len(props) - i
                return
            rows.append((level, f"{'  ' * level}{name}: {describe(sub, defs)}{' (required)' if name in required else ''}"))
            ref = sub.get("$ref", "")
            if ref not in path:
                walk(sub, level + 1, path | {ref})

    walk(schema, 0, frozenset())
    keep = set(sorted(range(len(rows)), key=lambda i: (rows[i][0], i))[:max_lines])
    hidden += len(rows) - len(keep)
    lines = [line for i, (_, line) in enumerate(rows) if i in keep]
    if hidden:
        lines.append(f"... {hidden} more keys not shown")
    return "\n".join(lines)


def describe(node: Schema, defs: dict[str, Any]) -> str:
    """``string``, ``integer``, ``list of object``, ``one of "a", "b"``, ``"apps/v1"``."""
    node = resolve(node, defs)
    if "const" in node:
        return repr_value(node["const"])
    if "enum" in node:
        values = [repr_value(v) for v in node["enum"][:6]]
        return "one of " + ", ".join(values) + (", ..." if len(node["enum"]) > 6 else "")
    kind = node.get("type")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array" or "items" in node:
        return f"list of {describe(node.get('items') or {}, defs)}"
    if kind is None and ("oneOf" in node or "anyOf" in node):
        return " or ".join(dict.fromkeys(describe(b, defs) for b in node.get("oneOf", node.get("anyOf", []))))
    values = node.get("additionalProperties") or next(iter((node.get("patternProperties") or {}).values()), None)
    if kind == "object" and not node.get("properties") and isinstance(values, dict):
        return f"map of {describe(values, defs)}"
    return kind or "any"


def repr_value(value: Any) -> str:
    import json

    return json.dumps(value)


def skeleton(schema: Schema, keys: frozenset[str] = frozenset(), depth: int = 8) -> Any:
    """A minimal document of ``schema`` for the prompt: required keys and ``keys``, placeholders in ``<...>``,
    fixed values (``kind``) as they are. It shows the shape; the constraint and the checks do the rest."""
    defs = schema.get("$defs", {})

    def build(node: Schema, name: str, level: int) -> Any:
        node = resolve(node, defs)
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return node["enum"][0]
        kind = node.get("type")
        kind = kind[0] if isinstance(kind, list) else kind
        if kind == "array" or "items" in node:
            return [build(node.get("items") or {}, name.rstrip("s"), level + 1)] if level < depth else []
        if kind == "object" or "properties" in node:
            props = node.get("properties") or {}
            wanted = [n for n in props if n in set(node.get("required", ())) | keys]
            if not props and level < depth:
                return {"app": "<app>"}
            return {n: build(props[n], n, level + 1) for n in wanted} if level < depth else {}
        if "oneOf" in node or "anyOf" in node:
            return build((node.get("oneOf") or node.get("anyOf"))[0], name, level)
        return {"integer": 1, "number": 1, "boolean": True}.get(kind or "", f"<{name or 'value'}>")

    return build(schema, "", 0)
