"""JSON Schema diagnostics that say what is really wrong, where it is written, and the likely fix.

jsonschema finds the errors; this module only chooses which to report and words them. Its raw output
misleads in two ways: a failed ``oneOf``/``anyOf`` is reported as the combinator failing (or by the first
branch's complaint) when the author meant one particular branch, and messages carry no position or fix.
"""

from __future__ import annotations

import ast
import json
import re
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import jsonschema
import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator

from ...check import did_you_mean
from ...types import Diagnostic
from .document import Document, Path, Span, path_text

CAP = 20
_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_VALUE_REASONS: dict[str, Callable[[Any], str]] = {
    "pattern": lambda v: f"does not match the pattern `{v}`",
    "format": lambda v: f"is not a valid {v}",
    "minimum": lambda v: f"is less than the minimum {v}",
    "maximum": lambda v: f"is more than the maximum {v}",
    "exclusiveMinimum": lambda v: f"must be more than {v}",
    "exclusiveMaximum": lambda v: f"must be less than {v}",
    "multipleOf": lambda v: f"is not a multiple of {v}",
    "minLength": lambda v: f"is shorter than {v} characters",
    "maxLength": lambda v: f"is longer than {v} characters",
    "minItems": lambda v: f"has fewer than {v} items",
    "maxItems": lambda v: f"has more than {v} items",
    "uniqueItems": lambda v: "has repeated items",
    "minProperties": lambda v: f"has fewer than {v} keys",
    "maxProperties": lambda v: f"has more than {v} keys",
}
_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"), (dict, "object"),
)


def validate(doc: Document, schema: dict[str, Any] | Validator, *,
             registry: referencing.Registry | None = None) -> list[Diagnostic]:
    """Every schema error in ``doc``, worded and placed, sorted by position, at most CAP and then one info
    line counting the rest. ``schema`` is a schema (Draft 2020-12 unless its ``$schema`` says otherwise;
    validators are cached per schema object, so do not mutate one after use) or a ready validator."""
    compiled = _compile(schema, registry)
    explain = _Explain(doc, compiled.refs)
    found = {_identity(d): d for e in compiled.validator.iter_errors(doc.data) for d in explain.error(e)}
    ordered = sorted(found.values(), key=lambda d: (d.start or 0, d.end or 0, d.code, d.message))
    if len(ordered) <= CAP:
        return ordered
    more = len(ordered) - CAP
    return ordered[:CAP] + [Diagnostic("schema.truncated", f"{more} more schema problem{'s' * (more > 1)} not "
                                       "shown: fix these and check again", severity="info")]


def _identity(d: Diagnostic) -> tuple[Any, ...]:
    return d.code, d.start, d.end, d.message


# --- compiling and reading schemas ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Compiled:
    schema: Any
    registry: referencing.Registry | None
    validator: Validator
    refs: _Refs


_CACHE: OrderedDict[tuple[int, int], _Compiled] = OrderedDict()


def _compile(schema: dict[str, Any] | Validator, registry: referencing.Registry | None) -> _Compiled:
    """A validator with format checking on, once per (schema, registry) object pair."""
    key = (id(schema), id(registry))
    hit = _CACHE.get(key)
    if hit is not None and hit.schema is schema and hit.registry is registry:
        _CACHE.move_to_end(key)
        return hit
    if isinstance(schema, dict):
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        extra = {"registry": registry} if registry is not None else {}
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER, **extra)
    else:
        validator = schema
    _CACHE[key] = hit = _Compiled(schema, registry, validator, _Refs(validator.schema, registry))
    while len(_CACHE) > 16:
        _CACHE.popitem(last=False)
    return hit


class _Refs:
    """``$ref`` lookups for reading property names and descriptions off the subschema an error names.
    An error does not say which resource its subschema sits in, so a relative ref is tried against the
    root schema first, then each resource of the registry."""

    def __init__(self, schema: Any, registry: referencing.Registry | None) -> None:
        dialect = schema.get("$schema", _DIALECT) if isinstance(schema, dict) else _DIALECT
        spec = referencing.jsonschema.specification_with(dialect, default=referencing.jsonschema.DRAFT202012)
        root = spec.create_resource(schema)
        base = root.id() or ""
        self.registry = (registry or referencing.Registry()).with_resource(base, root)
        self.bases = list(dict.fromkeys([base, *(registry or ())]))

    def resolve(self, sub: Any) -> Any:
        """``sub`` with its ``$ref`` followed; keywords beside the ref (a ``description``) win."""
        for _ in range(16):
            if not isinstance(sub, dict) or not isinstance(sub.get("$ref"), str):
                return sub
            target = self._lookup(sub["$ref"])
            if not isinstance(target, dict):
                return sub
            sub = {**target, **{k: v for k, v in sub.items() if k != "$ref"}}
        return sub

    def _lookup(self, ref: str) -> Any:
        for base in self.bases:
            try:
                return self.registry.resolver(base_uri=base).lookup(ref).contents
            except referencing.exceptions.Unresolvable:
                continue
        return None

    def properties(self, schema: Any) -> dict[str, Any]:
        return self.known(schema)[0]

    def known(self, schema: Any, depth: int = 0) -> tuple[dict[str, Any], list[str]]:
        """Property name -> subschema, and the patternProperties, from the schema and whatever ``allOf``/
        ``anyOf``/``oneOf``/``then``/``else``/``$ref`` bring in: every key the schema knows. (jsonschema
        calls a known key "unevaluated" when the subschema naming it failed for another reason.)"""
        schema = self.resolve(schema)
        if not isinstance(schema, dict) or depth > 8:
            return {}, []
        props: dict[str, Any] = {}
        patterns: list[str] = []
        subs = [*schema.get("allOf", ()), *schema.get("anyOf", ()), *schema.get("oneOf", ()),
                schema.get("then"), schema.get("else")]
        for sub in subs:
            more, more_patterns = self.known(sub, depth + 1)
            props.update(more)
            patterns += more_patterns
        props.update(schema.get("properties") or {})
        return props, list(dict.fromkeys([*patterns, *(schema.get("patternProperties") or {})]))

    def describe(self, sub: Any) -> str:
        """The first sentence of the subschema's description, or ``""``."""
        text = (self.resolve(sub) or {}).get("description") if isinstance(sub, dict) else None
        if not isinstance(text, str) or not text.strip():
            return ""
        first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]
        return _clip(first, 160)


# --- wording --------------------------------------------------------------------------------------------

def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _show(value: Any) -> str:
    return _clip(json.dumps(value, ensure_ascii=False, default=str), 48)


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _json_type(value: Any) -> str:
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "null")


def _at(path: Path) -> str:
    return f"at {path_text(path)}" if path else "at the top level"


def _in(path: Path) -> str:
    return f"in {path_text(path)}" if path else "at the top level"


def _ticks(names: Iterable[Any], limit: int = 12) -> str:
    names = [str(n) for n in names]
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _either(names: list[str]) -> str:
    return _or([f"`{n}`" for n in names])


def _types(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _unexpected(message: str, instance: dict[str, Any]) -> list[str]:
    """The keys jsonschema lists in ``(... 'x', 'y' were unexpected)`` (unevaluatedProperties)."""
    m = re.search(r"\((.*) (?:was|were) unexpected\)$", message, re.S)
    try:
        listed = ast.literal_eval(f"[{m.group(1)}]") if m else []
    except (ValueError, SyntaxError):
        return []
    return [k for k in listed if k in instance]


def _quoted_type(text: str, expected: list[str]) -> bool:
    """Does ``text`` read as one of the ``expected`` types when unquoted (``"3"`` for an integer)?"""
    try:
        value = json.loads(text)
    except ValueError:
        return False
    kind = _json_type(value)
    return kind in expected or (kind == "integer" and "number" in expected)


# --- errors to diagnostics ------------------------------------------------------------------------------

class _Explain:
    """Turns one jsonschema error into the diagnostics that say what the author got wrong."""

    def __init__(self, doc: Document, refs: _Refs) -> None:
        self.doc, self.refs = doc, refs

    def error(self, e: ValidationError) -> Iterator[Diagnostic]:
        yield from _HANDLERS.get(str(e.validator), _Explain.invalid)(self, e)

    def diag(self, code: str, message: str, span: Span, hint: str = "") -> Diagnostic:
        return Diagnostic(code, message, line=span.line, col=span.col, start=span.start, end=span.end,
                          hint=hint.strip())

    def object_span(self, path: Path) -> Span:
        """Where to point for something missing from the object at ``path``: its key, else its first line."""
        span = self.doc.span(path, key=True)
        newline = self.doc.text.find("\n", span.start, span.end)
        return span if newline < 0 else Span(span.start, newline, span.line, span.col)

    def unknown_keys(self, e: ValidationError) -> Iterator[Diagnostic]:
        if e.validator_value is not False or not isinstance(e.instance, dict):
            yield from self.invalid(e)
            return
        if e.validator == "additionalProperties":
            allowed, patterns = dict(e.schema.get("properties") or {}), list(e.schema.get("patternProperties") or {})
            extras = list(e.instance)
        else:
            allowed, patterns = self.refs.known(e.schema)
            extras = _unexpected(e.message, e.instance)
        path = tuple(e.absolute_path)
        for key in extras:
            if key not in allowed and not any(re.search(p, key) for p in patterns):
                yield self.unknown_key(path, key, allowed, patterns)

    def unknown_key(self, path: Path, key: str, allowed: dict[str, Any], patterns: list[str]) -> Diagnostic:
        close = did_you_mean(key, allowed)
        if close:
            said = self.refs.describe(allowed[close[0]])
            hint = f"did you mean {_either(close)}?" + (f" ({close[0]}: {said})" if said else "")
        else:
            hint = ("allowed keys: " + _ticks(allowed)) if allowed else "this mapping takes no other keys"
            hint += ("; also keys matching " + _ticks(patterns, 3)) if patterns else ""
        return self.diag("schema.unknown_key", f"unknown key `{key}` {_in(path)}",
                         self.doc.span(path + (key,), key=True), hint)

    def missing(self, e: ValidationError) -> Iterator[Diagnostic]:
        if not isinstance(e.instance, dict):
            return
        path = tuple(e.absolute_path)
        props = self.refs.properties(e.schema)
        for name in e.validator_value:
            if name not in e.instance:
                said = self.refs.describe(props.get(name))
                hint = f"add `{name}`" + (f": {said}" if said else "")
                yield self.diag("schema.missing_key", f"missing required key `{name}` {_in(path)}",
                                self.object_span(path), hint)

    def wrong_type(self, e: ValidationError) -> Iterator[Diagnostic]:
        yield self.type_diag(tuple(e.absolute_path), _types(e.validator_value), e.instance)

    def type_diag(self, path: Path, expected: list[str], value: Any) -> Diagnostic:
        got = _json_type(value)
        shown = f" {_show(value)}" if got not in ("array", "object") else ""
        span = self.doc.span(path)
        message = f"expected {_or(expected)} {_at(path)}, got {got}{shown}"
        return self.diag("schema.type", message, span, self.type_hint(expected, value, span))

    def type_hint(self, expected: list[str], value: Any, span: Span) -> str:
        written = self.doc.text[span.start:span.end]
        if value is None and not written.strip():
            return "the value is empty: write one after the `:`"
        if isinstance(value, str) and _quoted_type(value, expected):
            return f"drop the quotes: write {value}, not {_show(value)}"
        if "string" in expected and not isinstance(value, (list, dict)):
            return (f"quote it: write {json.dumps(written, ensure_ascii=False)} "
                    f"(unquoted, `{_clip(written, 30)}` reads as {_a(_json_type(value))})")
        if "array" in expected:
            return "write a list: one `- item` per line in YAML, `[...]` in JSON"
        if "object" in expected:
            return "write a mapping: `key: value` lines in YAML, `{...}` in JSON"
        return ""

    def enum(self, e: ValidationError) -> Iterator[Diagnostic]:
        allowed = [e.validator_value] if e.validator == "const" else list(e.validator_value)
        path = tuple(e.absolute_path)
        close = did_you_mean(e.instance, [str(a) for a in allowed]) if isinstance(e.instance, str) else []
        hint = f"did you mean {_either(close)}? " if close else ""
        message = f"{_show(e.instance)} is not allowed {_at(path)}: expected " + (
            _show(allowed[0]) if len(allowed) == 1 else "one of " + _ticks(map(_plain, allowed)))
        yield self.diag("schema.enum", message, self.doc.span(path), hint)

    def value(self, e: ValidationError) -> Iterator[Diagnostic]:
        path = tuple(e.absolute_path)
        reason = _VALUE_REASONS[str(e.validator)](e.validator_value)
        hint = self.refs.describe(e.schema)
        yield self.diag("schema.value", f"{_show(e.instance)} {_at(path)} {reason}", self.doc.span(path), hint)

    def invalid(self, e: ValidationError) -> Iterator[Diagnostic]:
        path = tuple(e.absolute_path)
        yield self.diag("schema.invalid", f"{_clip(e.message, 200)} ({_at(path)})", self.doc.span(path))

    def branch(self, e: ValidationError) -> Iterator[Diagnostic]:
        """A failed oneOf/anyOf: the errors of the branch the author meant (see ``rank``)."""
        groups: dict[int, list[ValidationError]] = defaultdict(list)
        for c in e.context or ():
            groups[c.relative_schema_path[0]].append(c)
        if not groups:
            yield from self.invalid(e)
            return
        if all(len(errs) == 1 and errs[0].validator == "type" and not errs[0].path for errs in groups.values()):
            expected = [t for i in sorted(groups) for t in _types(groups[i][0].validator_value)]
            yield self.type_diag(tuple(e.absolute_path), list(dict.fromkeys(expected)), e.instance)
            return
        best = _best_branch(e)
        ranks = {i: self.rank(e, i, errs) + (i == best,) for i, errs in groups.items()}
        order = sorted(groups, key=ranks.__getitem__, reverse=True)
        if _only_required(groups) and len(order) > 1 and ranks[order[0]][:3] == ranks[order[1]][:3]:
            yield self.needs_one_of(e, [groups[i] for i in sorted(groups)])
            return
        for c in groups[order[0]]:
            yield from self.error(c)

    def rank(self, e: ValidationError, i: int, errs: list[ValidationError]) -> tuple[Any, ...]:
        """How likely branch ``i`` is the one meant, highest first: its ``const``/``enum`` discriminators
        match; it knows the most of the keys written; the value has its type; its errors are deepest, then
        fewest. (Ties go to the branch holding jsonschema's best_match.)"""
        branch = self.refs.resolve(e.validator_value[i])
        props = self.refs.properties(branch)
        written = set(e.instance) if isinstance(e.instance, dict) else set()
        wrong = {c.path[0] for c in errs if len(c.path) == 1 and c.validator in ("const", "enum")}
        fixed = [n for n in written & set(props) if {"const", "enum"} & set(self.refs.resolve(props[n]) or {})]
        discriminators = sum(-1 if n in wrong else 1 for n in fixed)
        known = set(props) | set(branch.get("required", ()) if isinstance(branch, dict) else ())
        typed = not any(c.validator == "type" and not c.path for c in errs)
        depth = max(len(c.path) for c in errs)
        return discriminators, len(known & written), typed, depth, -len(errs)

    def needs_one_of(self, e: ValidationError, branches: list[list[ValidationError]]) -> Diagnostic:
        """Every branch only lacks its own keys and none is closer: name the choice, not one arbitrary branch."""
        path = tuple(e.absolute_path)
        options = [" + ".join(n for c in errs for n in c.validator_value if n not in e.instance)
                   for errs in branches]
        message = f"{path_text(path) or 'the document'} needs one of the keys {_either(list(dict.fromkeys(options)))}"
        return self.diag("schema.missing_key", message, self.object_span(path), "add the one this entry is meant to be")


def _only_required(groups: dict[int, list[ValidationError]]) -> bool:
    return all(c.validator == "required" and not c.path for errs in groups.values() for c in errs)


def _best_branch(e: ValidationError) -> int | None:
    """The branch holding jsonschema's best_match among the combinator's errors."""
    best = best_match(e.context or ())
    while best is not None and best.parent is not e:
        best = best.parent
    return best.relative_schema_path[0] if best is not None else None


_HANDLERS: dict[str, Callable[[_Explain, ValidationError], Iterable[Diagnostic]]] = {
    "additionalProperties": _Explain.unknown_keys,
    "unevaluatedProperties": _Explain.unknown_keys,
    "required": _Explain.missing,
    "type": _Explain.wrong_type,
    "enum": _Explain.enum,
    "const": _Explain.enum,
    "oneOf": _Explain.branch,
    "anyOf": _Explain.branch,
    **dict.fromkeys(_VALUE_REASONS, _Explain.value),
}
