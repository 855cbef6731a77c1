"""A checked call as the exact request it would send, and that request as people read it (HTTP, curl, Python)."""

from __future__ import annotations

import json
import shlex
from typing import Any, Iterable
from urllib.parse import quote

from .check import Call
from .schema import ApiSpec

PLACEHOLDER_BASE = "http://api.invalid"  # where a spec that names no server is shown as calling; never reached


def base_url(spec: ApiSpec) -> str:
    return spec.base_url or PLACEHOLDER_BASE


def build(call: Call, spec: ApiSpec, base: str | None = None) -> Any:
    """The ``httpx.Request`` of ``call``: path parameters filled in (percent-encoded), query parameters in the
    order the spec lists them (lists repeated, booleans as ``true``/``false``), headers, a JSON body."""
    import httpx

    op = call.operation
    path = op.path or "/"
    query: list[tuple[str, str]] = []
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    for p in op.parameters:
        if p.name not in call.parameters:
            continue
        value = call.parameters[p.name]
        if p.location == "path":
            path = path.replace("{" + p.name + "}", quote(_text(value), safe=""))
        elif p.location == "query":
            query += [(p.name, _text(v)) for v in (value if isinstance(value, list) else [value])]
        elif p.location == "header":
            headers[p.name] = _text(value)
        elif p.location == "cookie":
            cookies[p.name] = _text(value)
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    content = None
    if call.has_body:
        content = json.dumps(call.body, ensure_ascii=False).encode()
        headers["Content-Type"] = "application/json"
    url = httpx.URL((base or base_url(spec)).rstrip("/") + path, params=query or None)
    return httpx.Request(op.method or "POST", url, headers=headers, content=content)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


# ------------------------------------------------------------------ openapi-core


def openapi_core_of(spec: ApiSpec) -> Any:
    """openapi-core's ``OpenAPI`` of the spec, calling the bound base URL (see :attr:`ApiSpec.validator`)."""
    from openapi_core import Config, OpenAPI

    assert spec.openapi is not None
    servers = [s.get("url") for s in spec.openapi.get("servers") or []]
    first = [spec.base_url] if spec.base_url and spec.base_url not in servers else []
    document = {**spec.openapi, "servers": [{"url": u} for u in first] + (spec.openapi.get("servers") or [])
                or [{"url": base_url(spec)}]}
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))


def openapi_core_request(request: Any) -> Any:
    """An ``httpx.Request`` as openapi-core reads one."""
    from openapi_core.testing import MockRequest
    from werkzeug.datastructures import Headers, ImmutableMultiDict

    url = request.url
    content = request.content if request.content else None
    path = url.raw_path.decode().split("?", 1)[0]  # still percent-encoded: a "/" in a value stays inside its segment
    return MockRequest(f"{url.scheme}://{url.netloc.decode()}", request.method.lower(), path,
                       args=ImmutableMultiDict(list(url.params.multi_items())),
                       headers=Headers(list(request.headers.items())), data=content,
                       content_type=request.headers.get("content-type", "application/json"))


def openapi_core_response(response: Any, content: bytes) -> Any:
    from openapi_core.testing import MockResponse

    return MockResponse(content, status_code=response.status_code,
                        content_type=(response.headers.get("content-type") or "application/json").split(";")[0])


# ------------------------------------------------------------------ renderings


def http_text(request: Any) -> str:
    """The request as it goes on the wire (HTTP/1.1)."""
    url = request.url
    target = url.raw_path.decode()
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {url.netloc.decode()}"]
    lines += [f"{k.title()}: {v}" for k, v in request.headers.items() if k.lower() not in ("host", "content-length")]
    body = request.content.decode() if request.content else ""
    return "\n".join(lines) + ("\n\n" + body if body else "")


def curl(request: Any) -> str:
    parts = ["curl", "-sS"] + (["-X", request.method] if request.method != "GET" else []) + [shlex.quote(str(request.url))]
    for k, v in request.headers.items():
        if k.lower() not in ("host", "content-length", "accept", "accept-encoding", "connection", "user-agent"):
            parts += ["-H", shlex.quote(f"{k}: {v}")]
    if request.content:
        parts += ["--data", shlex.quote(request.content.decode())]
    return " ".join(parts)


def python_http(request: Any) -> str:
    args = [repr(str(request.url))]
    if request.content:
        args.append(f"json={json.loads(request.content)!r}")
    headers = {k: v for k, v in request.headers.items()
               if k.lower() not in ("host", "content-length", "content-type", "accept", "accept-encoding",
                                    "connection", "user-agent")}
    if headers:
        args.append(f"headers={headers!r}")
    return f"httpx.request({request.method!r}, {', '.join(args)})"


def python_call(call: Call) -> str:
    """A function call as Python: ``math.factorial(number=5)``."""
    args = [f"{k}={v!r}" for k, v in call.parameters.items()]
    return f"{call.operation.name}({', '.join(args)})"


def renderings(calls: Iterable[Call], spec: ApiSpec) -> dict[str, str]:
    calls = list(calls)
    if not calls:
        return {"calls": "(no call: no operation fits the question)"}
    if spec.kind != "openapi":
        return {"python": "\n".join(python_call(c) for c in calls)}
    requests = [build(c, spec) for c in calls]
    return {"http": "\n\n".join(http_text(r) for r in requests), "curl": "\n".join(curl(r) for r in requests),
            "python": "import httpx\n" + "\n".join(python_http(r) for r in requests)}
