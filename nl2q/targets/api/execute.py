"""Dry runs and real runs of checked calls.

The default dry run sends nothing: an ``httpx.MockTransport`` receives each request as the client would send
it, validates it against the spec (openapi-core) and records it. Opt-in (``live``), read-only requests go
for real to the bound base URL with a timeout and a size cap, and the response is validated against the
spec's response schema. A real run (:meth:`nl2q.Compiler.execute`) sends every call, in order, after approval.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from ...policy import Policy
from ...types import DryRun, Effect
from .check import Call
from .request import build, http_text, openapi_core_request, openapi_core_response, python_call
from .schema import ApiSpec, clip

RECORDED = "httpx-mock"
OUTPUT_CHARS = 4000


def record(calls: list[Call], spec: ApiSpec) -> DryRun:
    """Each request through a transport that validates and records it, and answers ``202`` without sending."""
    t0 = time.perf_counter()
    if spec.kind != "openapi":
        effects = [Effect("function.call", python_call(c), "checked against its definition; nl2q does not run "
                                                          "functions") for c in calls]
        return DryRun(True, "jsonschema", "record", effects=effects, elapsed_ms=(time.perf_counter() - t0) * 1000)
    import httpx

    seen: list[tuple[Any, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        result = spec.validator.unmarshal_request(openapi_core_request(request))
        seen.append((request, [str(e) for e in result.errors]))
        return httpx.Response(202, json={"recorded": True})

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        for call in calls:
            client.send(build(call, spec))
    problems = [f"{r.method} {r.url.path}: {'; '.join(errs)}" for r, errs in seen if errs]
    effects = [Effect("http.request", f"{r.method} {r.url}", "recorded, not sent") for r, _ in seen]
    return DryRun(not problems, RECORDED, "record", effects=effects, error="; ".join(problems) or None,
                  output="\n\n".join(http_text(r) for r, _ in seen)[:OUTPUT_CHARS],
                  elapsed_ms=(time.perf_counter() - t0) * 1000)


def send(calls: list[Call], spec: ApiSpec, policy: Policy, *, mode: str, timeout_s: float,
         only: Callable[[Call], bool] = lambda c: True) -> DryRun:
    """The calls ``only`` admits sent for real (the rest recorded), each response read up to the policy's size cap
    and validated against the spec. The first status >= 400 stops the run and is its error."""
    import httpx

    t0 = time.perf_counter()
    effects: list[Effect] = []
    warnings: list[str] = []
    outputs: list[str] = []
    last: Any = None
    capped = False
    error = None
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        for call in calls:
            request = build(call, spec)
            if not only(call):
                effects.append(Effect("http.request", f"{request.method} {request.url}", "changes state: recorded, "
                                                                                      "not sent in a dry run"))
                continue
            try:
                response = client.send(request, stream=True)
                content, capped_here = _read_capped(response, policy.max_response_bytes)
            except httpx.HTTPError as e:
                error = f"{request.method} {request.url}: {type(e).__name__}: {e}"
                break
            capped |= capped_here
            effects.append(Effect("http.request", f"{request.method} {request.url}",
                                  f"{response.status_code} {response.reason_phrase}, {len(content):,} bytes"
                                  + (" (cut at the size cap)" if capped_here else "")))
            if response.status_code >= 400:
                error = f"{request.method} {request.url.path} returned {response.status_code} " \
                        f"{response.reason_phrase}: {content[:300].decode(errors='replace')}"
                break
            if capped_here:
                warnings.append(f"the response to {call.operation.name} was cut at {policy.max_response_bytes:,} "
                                "bytes and not validated")
            else:
                warnings += _response_problems(call, spec, request, response, content)
            last = _json(content)
            outputs.append(content.decode(errors="replace"))
    columns, rows, count = _table(last, policy.preview_rows)
    return DryRun(error is None, "http", mode, columns=columns, rows=rows,
                  row_count=count if columns or last == [] else None,
                  capped=capped, error=error, effects=effects, warnings=warnings,
                  output=None if columns else "\n".join(outputs)[:OUTPUT_CHARS] or None, elapsed_ms=(time.perf_counter() - t0) * 1000)


def _read_capped(response: Any, cap: int) -> tuple[bytes, bool]:
    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > cap:
                return data[:cap], True
    finally:
        response.close()
    return data, False


def _response_problems(call: Call, spec: ApiSpec, request: Any, response: Any, content: bytes) -> list[str]:
    result = spec.validator.unmarshal_response(openapi_core_request(request), openapi_core_response(response, content))
    out = []
    for e in result.errors:
        details = [x.message for x in getattr(e.__cause__, "schema_errors", None) or getattr(e, "schema_errors", None)
                   or ()]
        said = "; ".join(clip(d, 160) for d in details[:3]) or clip(str(e), 160)
        out.append(f"the {response.status_code} response to {call.operation.name} does not match the spec's response "
                   f"schema: {said}" + (f" (and {len(details) - 3} more)" if len(details) > 3 else ""))
    return out


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def _table(value: Any, max_rows: int) -> tuple[list[str], list[list[Any]], int]:
    """A JSON response as rows when it is a list of objects (or one object), the first ``max_rows`` of them for a
    person to scan, and how many there are."""
    items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    if not items or not all(isinstance(x, dict) for x in items):
        return [], [], len(items)
    columns = list(dict.fromkeys(k for x in items for k in x))
    rows = [[x.get(c) if not isinstance(x.get(c), (dict, list)) else json.dumps(x.get(c)) for c in columns]
            for x in items[:max_rows]]
    return columns, rows, len(items)
