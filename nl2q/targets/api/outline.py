"""Operations as the prompt shows them: one line each, then a line per parameter with its type and description."""

from __future__ import annotations

import json
from typing import Any, Iterable

from .schema import DOC_ID, Operation, Schema, clip

FORMAT = ('Answer with a JSON array of calls, each {"operation": <name>, "parameters": {<name>: <value>, ...}%s}. '
          "Give every required parameter, only values the question states or implies, and one call per thing asked. "
          "When no operation can answer the question, answer [].")


def outline(ops: Iterable[Operation], document: Schema, chars: int) -> str:
    ops = list(ops)
    lines: list[str] = []
    for op in ops:
        said = clip(op.summary or op.description, chars)
        lines.append(f"{op.name}: {op.signature if op.http else 'function'}" + (f". {said}" if said else ""))
        for p in op.parameters:
            where = f"{p.location}, " if p.location != "argument" else ""
            note = f": {clip(p.description, chars)}" if p.description else ""
            lines.append(f"  {p.name} ({where}{type_text(p.schema, document)}{', required' if p.required else ''})"
                         f"{note}")
        if op.body is not None:
            lines.append(f"  body ({'required' if op.body_required else 'optional'}): "
                         f"{type_text(op.body, document, depth=2)}")
    if not ops:
        return "No operation fits the question: answer []."
    body = any(op.body is not None for op in ops)
    first = ops[0]
    shape = {p.name: f"<{p.name}>" for p in first.parameters if p.required}
    example = json.dumps([{"operation": first.name, "parameters": shape}])
    return ("Operations, the likeliest first:\n" + "\n".join(lines) + "\n\n"
            + FORMAT % (', "body": <JSON body>' if body else "") + f"\nFor example: {example}")


def type_text(schema: Schema, document: Schema, depth: int = 1) -> str:
    """``integer 1..500, default 50``, ``one of fra1|ams2``, ``{matchers: {...}, duration_minutes: integer}``."""
    s = resolve(schema, document)
    for key in ("anyOf", "oneOf"):
        if key in s:
            parts = [resolve(b, document) for b in s[key] if resolve(b, document).get("type") != "null"]
            if len(parts) == 1:
                s = {**parts[0], **{k: v for k, v in s.items() if k != key}}
            else:
                return " or ".join(type_text(b, document, depth) for b in parts)
    if "const" in s:
        return f"always {s['const']!r}"
    if "enum" in s:
        return "one of " + "|".join(str(v) for v in s["enum"][:24]) + (" ..." if len(s["enum"]) > 24 else "")
    kind = s.get("type")
    kind = "/".join(t for t in kind if t != "null") if isinstance(kind, list) else kind
    if kind == "array" or "items" in s:
        return f"list of {type_text(s['items'], document, depth) if isinstance(s.get('items'), dict) else 'values'}"
    if kind == "object" or "properties" in s:
        props = s.get("properties") or {}
        if not props:
            return "object"
        if depth <= 0:
            return "{" + ", ".join(props) + "}"
        required = set(s.get("required") or ())
        return "{" + ", ".join(f"{n}{'' if n in required else '?'}: {type_text(v, document, depth - 1)}"
                               for n, v in props.items()) + "}"
    text = str(kind or "any value")
    low, high = s.get("minimum", s.get("exclusiveMinimum")), s.get("maximum", s.get("exclusiveMaximum"))
    if low is not None or high is not None:
        text += f" {_number(low)}..{_number(high)}"
    if "format" in s:
        text += f" ({s['format']})"
    if "default" in s and s["default"] is not None:
        text += f", default {s['default']!r}"
    return text


def resolve(schema: Any, document: Schema) -> Schema:
    """``schema`` with a ``$ref`` into the source document followed (a few levels)."""
    for _ in range(8):
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        if not isinstance(ref, str) or not ref.removeprefix(DOC_ID).startswith("#/"):
            break
        target: Any = document
        for part in ref.removeprefix(DOC_ID)[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema if isinstance(schema, dict) else {}


def _number(value: Any) -> str:
    if value is None:
        return ""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
