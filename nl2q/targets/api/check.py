"""Checks of a call list: its shape, each call against its operation's schemas, the request against the spec
(openapi-core), and the policy (what may change state, what needs a person, which hosts calls may reach).

Every diagnostic points at the text of the call it is about; a name that does not exist gets the closest ones
and the spec's own description of what was probably meant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from ...check import did_you_mean, hidden_characters, input_bounds
from ...policy import Policy
from ...types import Diagnostic
from ..config.document import Document, DocumentError, Span, load_documents
from .grammar import call_schema
from .profile import ApiProfile
from .schema import ApiSpec, Operation, clip


@dataclass(frozen=True)
class Call:
    """One checked call: the operation and the arguments as written; ``index`` is its place in the list."""

    operation: Operation
    parameters: Mapping[str, Any]
    body: Any = None
    has_body: bool = False
    index: int = 0

    @property
    def label(self) -> str:
        return f"{self.operation.name} ({self.operation.signature})" if self.operation.http else self.operation.name


@dataclass
class CallCheck:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    single: bool = False  # the text is one call object, not a list of calls
    doc: Document | None = None
    complete: bool = False  # every call was read and checked as a request: the policy applies to them

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def parse_calls(text: str, spec: ApiSpec) -> tuple[Document | None, list[Diagnostic]]:
    """The call list's document, or the diagnostics that say why there is none (not JSON, not a list of calls)."""
    early = input_bounds(text) + hidden_characters(text)
    if any(d.is_error for d in early):
        return None, early
    try:
        docs = load_documents(text)
    except DocumentError as e:
        return None, [e.diagnostic()]
    if len(docs) != 1:
        return None, [Diagnostic("api.shape", f"{len(docs)} documents where one call list was expected",
                                 hint="write one JSON array holding every call")]
    doc = docs[0]
    if not isinstance(doc.data, list):
        hint = "wrap the call in [ ]" if isinstance(doc.data, dict) and "operation" in doc.data else \
            'write a JSON array of calls: [{"operation": ..., "parameters": {...}}], or [] for no call'
        return None, [_at(doc, (), "api.shape", "the answer is not a list of calls", hint)]
    return doc, []


def check_calls(text: str, spec: ApiSpec, profile: ApiProfile, validators: "Validators") -> CallCheck:
    """Everything about a call list that no policy changes (the policy's part is :func:`policy_diagnostics`)."""
    out = CallCheck()
    doc, problems = parse_calls(text, spec)
    out.doc = doc
    if doc is None:
        out.diagnostics = problems
        out.single = [d.code for d in problems] == ["api.shape"] and _one_call(text)
        return out
    if len(doc.data) > profile.max_calls:
        out.diagnostics.append(_at(doc, (), "api.too_many_calls", f"{len(doc.data)} calls; at most {profile.max_calls} "
                                   "are made from one question", "ask for fewer things at once"))
        return out
    ops: list[Operation | None] = []
    for i, item in enumerate(doc.data):
        op = _operation(doc, i, item, spec, out.diagnostics)
        ops.append(op)
    out.diagnostics += validators.validate(doc, ops)
    if not out.ok:
        return out
    seen: dict[str, int] = {}
    for i, (op, item) in enumerate(zip(ops, doc.data)):
        assert op is not None
        out.calls.append(Call(op, dict(item.get("parameters") or {}), item.get("body"), "body" in item, i))
        key = json.dumps([op.name, item.get("parameters") or {}, item.get("body")], sort_keys=True)
        if key in seen:
            out.diagnostics.append(_at(doc, (i,), "api.duplicate_call", f"call {i + 1} repeats call {seen[key] + 1} "
                                       "exactly", "drop the repeated call, or give it the arguments it was meant to "
                                                  "have"))
        seen.setdefault(key, i)
    if not out.ok:
        return out
    if spec.kind == "openapi":
        out.diagnostics += header_diagnostics(doc, out.calls)
        if out.ok:
            out.diagnostics += request_diagnostics(doc, out.calls, spec)
    out.complete = True
    return out


def _one_call(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("operation"), str)


def _operation(doc: Document, i: int, item: Any, spec: ApiSpec, diags: list[Diagnostic]) -> Operation | None:
    if not isinstance(item, dict):
        diags.append(_at(doc, (i,), "api.shape", f"call {i + 1} is not an object",
                         'each call is {"operation": ..., "parameters": {...}}'))
        return None
    name = item.get("operation")
    if not isinstance(name, str):
        diags.append(_at(doc, (i,), "schema.missing_key", f"call {i + 1} does not name its operation",
                         'add "operation": the name of one of the operations listed'))
        return None
    op = spec.operations.get(name)
    if op is None:
        diags.append(unknown_operation(doc, (i, "operation"), name, spec))
    return op


def unknown_operation(doc: Document, path: tuple[Any, ...], name: str, spec: ApiSpec) -> Diagnostic:
    close = did_you_mean(name, spec.operations)
    if close:
        best = spec.operations[close[0]]
        said = best.summary or best.description
        hint = "did you mean " + " or ".join(f"`{c}`" for c in close) + "?" + \
            f" ({best.name}: {best.signature}{': ' + clip(said, 120) if said else ''})"
    else:
        names = list(spec.operations)
        hint = "operations: " + ", ".join(f"`{n}`" for n in names[:12]) + (f" and {len(names) - 12} more"
                                                                           if len(names) > 12 else "")
    return _at(doc, path, "schema.unknown_operation", f"no operation is named `{name}`", hint)


class Validators:
    """One JSON-Schema validator per tuple of operations a call list names, built once (parameter schemas of a
    large spec take milliseconds to compile)."""

    def __init__(self, spec: ApiSpec) -> None:
        from ..config.schema import registry_for

        self.spec = spec
        self.registry = registry_for(spec.document)
        self._schemas: dict[tuple[str | None, ...], dict[str, Any]] = {}

    def validate(self, doc: Document, ops: list[Operation | None]) -> list[Diagnostic]:
        from ..config.validate import validate

        if not ops:
            return []
        key = tuple(op.name if op else None for op in ops)
        schema = self._schemas.get(key)
        if schema is None:
            if len(self._schemas) > 256:
                self._schemas.clear()
            schema = self._schemas[key] = {"type": "array", "items": False,
                                           "prefixItems": [call_schema(op) if op else {} for op in ops]}
        return validate(doc, schema, registry=self.registry)


# ------------------------------------------------------------------ against the spec (openapi-core)


def request_diagnostics(doc: Document, calls: list[Call], spec: ApiSpec) -> list[Diagnostic]:
    """What openapi-core, the validator OpenAPI services use, says of each request as it would be sent."""
    from .request import build, openapi_core_request

    found: list[Diagnostic] = []
    for call in calls:
        request = build(call, spec)
        result = spec.validator.unmarshal_request(openapi_core_request(request))
        for error in result.errors:
            found += _request_error(doc, call, error)
    return found


def header_diagnostics(doc: Document, calls: list[Call]) -> list[Diagnostic]:
    """A header or cookie value holding a control character: a CR/LF would start a header of its own."""
    found = []
    for call in calls:
        for p in call.operation.parameters:
            value = call.parameters.get(p.name)
            if p.location in ("header", "cookie") and isinstance(value, str) \
                    and any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
                found.append(_at(doc, (call.index, "parameters", p.name), "policy.header_injection",
                                 f"the {p.location} `{p.name}` holds a control character (a line break would start "
                                 "another header)", "write the value on one line, without control characters"))
    return found


def _request_error(doc: Document, call: Call, error: Exception) -> list[Diagnostic]:
    cause = error.__cause__
    details = [e.message for e in getattr(cause, "schema_errors", None) or ()] or [str(cause or "")]
    name = getattr(error, "name", None)
    if name is not None:  # a parameter
        path: tuple[Any, ...] = (call.index, "parameters", name)
        param = call.operation.parameter(name)
        said = f" ({name}: {param.description})" if param and param.description else ""
        message = f"{getattr(error, 'location', '')} parameter `{name}` of {call.operation.name}: {error}"
        if details and details[0]:
            message += f": {'; '.join(details)}"
        return [_at(doc, path, "api.request", message, f"give `{name}` a value the spec allows{said}")]
    path = (call.index, "body") if "body" in type(error).__name__.lower() else (call.index,)
    message = f"the {call.operation.signature} request: {error}" + (f": {'; '.join(details)}" if details[0] else "")
    return [_at(doc, path, "api.request", message, "make the request match the operation's definition")]


# ------------------------------------------------------------------ policy


def policy_diagnostics(checked: CallCheck, spec: ApiSpec, profile: ApiProfile,
                       policy: Policy) -> tuple[list[Diagnostic], bool]:
    """What ``policy`` says of a checked call list, and whether it writes."""
    found: list[Diagnostic] = []
    writes = False
    host = allowed_host(spec, policy)
    doc = checked.doc
    assert doc is not None
    for call in checked.calls:
        op = call.operation
        where = (call.index, "operation")
        if op.http and host is not None:
            found.append(_at(doc, where, "policy.host", host, "add the host to the policy's allowed_hosts, or "
                                                              "bind a base URL on an allowed host"))
        tier = effect(op, profile, policy)
        if tier == "read_only":
            continue
        writes = True
        verb = "destroys" if tier == "destructive" else "changes"
        if not policy.allow_writes:
            found.append(_at(doc, where, "policy.write", f"{call.label} {verb} state; the policy is read-only",
                             "pass allow_writes=True (--allow-writes) to let it through; it still runs only with "
                             "a person's approval"))
        else:
            found.append(_at(doc, where, "policy.approval", f"{call.label} {verb} state: it runs only once a "
                             "person approves it", "", severity="warning"))
    return found, writes


def effect(op: Operation, profile: ApiProfile, policy: Policy) -> str:
    """``read_only``, ``changes_state`` or ``destructive``: by the method (a function: by the policy's list only,
    since nl2q never runs one) and the policy's own list of destructive operations."""
    if op.name in policy.destructive_operations or op.method in profile.destructive_methods:
        return "destructive"
    if op.http and op.method not in profile.safe_methods:
        return "changes_state"
    return "read_only"


def allowed_host(spec: ApiSpec, policy: Policy) -> str | None:
    """Why the bound base URL may not be called (its host is not in ``policy.allowed_hosts``); None when it may."""
    if policy.allowed_hosts is None or not spec.base_url:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(spec.base_url)
    if parts.hostname in policy.allowed_hosts or parts.netloc in policy.allowed_hosts:
        return None
    return f"calls would go to {parts.netloc}, which is not in the policy's allowed hosts " \
           f"({', '.join(policy.allowed_hosts) or 'none'})"


# ------------------------------------------------------------------ helpers


def _at(doc: Document, path: tuple[Any, ...], code: str, message: str, hint: str = "",
        severity: str = "error") -> Diagnostic:
    span: Span = doc.span(path)
    return Diagnostic(code, message, severity=severity, line=span.line, col=span.col, start=span.start, end=span.end,
                      hint=hint, stage="policy" if code.startswith("policy.") else "check")  # type: ignore[arg-type]

