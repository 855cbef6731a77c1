"""What calls are made against: the operations of an OpenAPI document or a list of function definitions.

Both become one model, :class:`ApiSpec`: named operations with typed parameters (and, for HTTP, a method,
a path and a JSON body). Parameter schemas are kept as JSON Schema (2020-12) with their ``$ref`` s pointing
into the source document, so the decoder's constraint and the checker read the same definitions.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping
from urllib.parse import urljoin, urlsplit

from ...errors import Nl2qError

Schema = dict[str, Any]
DOC_ID = "urn:nl2q:api"  # the source document's id: parameter schemas refer into it
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,127}$")
FETCH_TIMEOUT_S = 10.0
MAX_SPEC_BYTES = 20_000_000

# BFCL and tool-calling definitions write Python's and Java's type names where JSON Schema has its own
_TYPE_NAMES = {"dict": "object", "float": "number", "double": "number", "long": "integer", "int": "integer",
               "tuple": "array", "list": "array", "str": "string", "bool": "boolean", "char": "string",
               "hashmap": "object", "map": "object", "bigint": "integer"}


@dataclass(frozen=True)
class Parameter:
    name: str
    location: Literal["path", "query", "header", "cookie", "argument"]
    schema: Schema
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Operation:
    """One thing a call can name: an HTTP operation (``method`` and ``path`` set) or a function."""

    name: str
    summary: str = ""
    description: str = ""
    parameters: tuple[Parameter, ...] = ()
    method: str | None = None  # upper case
    path: str | None = None
    body: Schema | None = None  # the JSON request body's schema
    body_required: bool = False
    body_description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)  # the definition's x- keys (x-api-call, ...)

    @property
    def http(self) -> bool:
        return self.method is not None

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def signature(self) -> str:
        """``GET /hosts/{hostname}`` or ``name(a, b)``: how the operation is named to a person."""
        if self.http:
            return f"{self.method} {self.path}"
        return f"{self.name}({', '.join(p.name for p in self.parameters)})"

    @property
    def text(self) -> str:
        """Everything a question could share words with: name, summary, description, parameter names and texts."""
        return " ".join([self.name, self.path or "", self.summary, self.description,
                         *(f"{p.name} {p.description} {_values(p.schema)}" for p in self.parameters),
                         self.body_description, _values(self.body or {})])


@dataclass(frozen=True)
class ApiSpec:
    """The operations of one source. ``document`` is the source with ``$id`` :data:`DOC_ID` (refs resolve in it)."""

    kind: Literal["openapi", "functions"]
    title: str
    operations: Mapping[str, Operation]
    document: Schema
    base_url: str | None = None  # where HTTP calls go: the first server, resolved against the document's URL
    openapi: Schema | None = None  # the OpenAPI document as given (openapi-core reads it)

    def __len__(self) -> int:
        return len(self.operations)

    @cached_property
    def index(self) -> "_Index":
        """The operations' words for :func:`relevant`, counted once per spec rather than per question."""
        from collections import Counter

        counts = [Counter(terms(op.text)) for op in self.operations.values()]
        lengths = [sum(c.values()) for c in counts]
        return _Index(counts, lengths, Counter(t for c in counts for t in c),
                      sum(lengths) / max(len(counts), 1) or 1.0)

    @cached_property
    def validator(self) -> Any:
        """openapi-core's reader of the document (OpenAPI sources), built on first use and kept with the spec."""
        from .request import openapi_core_of

        return openapi_core_of(self)


# ------------------------------------------------------------------ reading a source


def load_spec(source: Any, base_url: str | None = None) -> ApiSpec:
    """An OpenAPI document (dict, file, ``http(s)://`` URL) or function definitions (a list, ``{"functions": [...]}``,
    OpenAI-style ``{"type": "function", "function": {...}}`` tools, or a JSON/YAML file of them)."""
    where = None
    if isinstance(source, (str, Path)):
        where = str(source)
        source = _fetch(where) if re.match(r"https?://", where) else _read(Path(where))
    if isinstance(source, Mapping) and ("openapi" in source or "swagger" in source):
        return openapi_spec(source, base_url or None, where)
    if isinstance(source, Mapping) and "functions" in source:
        source = source["functions"]
    if isinstance(source, list):
        return functions_spec(source)
    raise Nl2qError("an API source is an OpenAPI 3 document or a list of function definitions",
                    "pass an OpenAPI file or URL, or {'functions': [{'name': ..., 'parameters': {...}}, ...]}")


def _read(path: Path) -> Any:
    import yaml

    if not path.is_file():
        raise Nl2qError(f"API source {path} not found", "pass an OpenAPI document (.json, .yaml), its URL, or a "
                                                        "JSON file of function definitions")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise Nl2qError(f"{path} is not JSON or YAML: {e}", "fix the file") from None


def _fetch(url: str) -> Any:
    import httpx

    try:
        with httpx.Client(timeout=FETCH_TIMEOUT_S, follow_redirects=True) as client, client.stream("GET", url) as r:
            r.raise_for_status()
            data = b""
            for chunk in r.iter_bytes():
                data += chunk
                if len(data) > MAX_SPEC_BYTES:
                    raise Nl2qError(f"{url} is larger than {MAX_SPEC_BYTES:,} bytes", "save the document and cut it")
    except httpx.HTTPError as e:
        raise Nl2qError(f"could not fetch the API document {url}: {e}", "check the URL and that the service is up") \
            from None
    import yaml

    try:
        return yaml.safe_load(data.decode("utf-8", errors="replace"))
    except yaml.YAMLError as e:
        raise Nl2qError(f"{url} did not return JSON or YAML: {e}", "point at the OpenAPI document itself") from None


# ------------------------------------------------------------------ OpenAPI


def openapi_spec(doc: Mapping[str, Any], base_url: str | None = None, where: str | None = None) -> ApiSpec:
    version = str(doc.get("openapi") or doc.get("swagger") or "")
    if not version.startswith("3."):
        raise Nl2qError(f"OpenAPI {version or '(no version)'} is not supported", "convert the document to OpenAPI 3.0 "
                                                                                "or 3.1 (swagger2openapi does)")
    v30 = version.startswith("3.0")
    document = {"$id": DOC_ID, **_json_schema(copy.deepcopy(dict(doc)), v30)}
    ops: dict[str, Operation] = {}
    for path, item in (doc.get("paths") or {}).items():
        item = _deref(doc, item)
        shared = item.get("parameters") or []
        for method in METHODS:
            if method not in item:
                continue
            op = _deref(doc, item[method])
            name = str(op.get("operationId") or _operation_name(method, path))
            if name in ops:
                raise Nl2qError(f"operationId {name!r} is used twice", "operation ids must be unique (OpenAPI requires it)")
            params: dict[tuple[str, str], Parameter] = {}
            for raw in [*shared, *(op.get("parameters") or [])]:
                p = _deref(doc, raw)
                if "schema" not in p and "content" in p:
                    p = {**p, "schema": next(iter(p["content"].values()), {}).get("schema", {})}
                params[(p["name"], p["in"])] = Parameter(
                    p["name"], p["in"], _rebase(_json_schema(copy.deepcopy(p.get("schema") or {}), v30)),
                    bool(p.get("required") or p["in"] == "path"), _one_line(p.get("description", "")))
            body, body_required, body_text = None, False, ""
            if "requestBody" in op:
                rb = _deref(doc, op["requestBody"])
                content = rb.get("content") or {}
                media = next((m for m in content if m.split(";")[0].strip() in ("application/json", "*/*")
                              or m.endswith("+json")), None)
                if media is None:
                    body_text = f"(a {', '.join(content)} body, which nl2q does not write)"
                else:
                    body = _rebase(_json_schema(copy.deepcopy(content[media].get("schema") or {}), v30))
                    body_required = bool(rb.get("required"))
                    body_text = _one_line(rb.get("description", ""))
            ops[name] = Operation(name, _one_line(op.get("summary", "")), _one_line(op.get("description", "")),
                                  tuple(params.values()), method.upper(), path, body, body_required, body_text,
                                  {k: v for k, v in op.items() if k.startswith("x-")})
    if not ops:
        raise Nl2qError("the OpenAPI document has no operations", "its paths must name at least one method")
    info = doc.get("info") or {}
    return ApiSpec("openapi", str(info.get("title") or "HTTP API"), ops, document,
                   base_url or _server(doc, where), dict(doc))


def _operation_name(method: str, path: str) -> str:
    """A name for an operation without an operationId: ``get /hosts/{name}`` -> ``get_hosts_name``."""
    return "_".join([method, *(w for w in re.split(r"[^A-Za-z0-9]+", path) if w)])


def _server(doc: Mapping[str, Any], where: str | None) -> str | None:
    """The first server's URL, its variables at their defaults, relative ones resolved against the document's URL."""
    servers = doc.get("servers") or []
    url = ""
    if servers:
        url = str(servers[0].get("url") or "")
        for name, var in (servers[0].get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(var.get("default", "")))
    if where and re.match(r"https?://", where):
        origin = urlsplit(where)
        return urljoin(f"{origin.scheme}://{origin.netloc}/", url or "/").rstrip("/") or None
    return url.rstrip("/") if re.match(r"https?://", url) else None


def _deref(doc: Mapping[str, Any], node: Any) -> Any:
    """A ``$ref`` to a parameter, request body or path item followed within ``doc`` (schemas keep theirs)."""
    for _ in range(16):
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/")):
            return node
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise Nl2qError(f"the OpenAPI document's reference {node['$ref']} leads nowhere", "fix the $ref")
            target = target[part]
        node = target
    return node


def _rebase(node: Any) -> Any:
    """Local ``$ref`` s (``#/components/...``) made to point into the source document by its id."""
    if isinstance(node, list):
        return [_rebase(x) for x in node]
    if not isinstance(node, dict):
        return node
    return {k: (DOC_ID + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase(v))
            for k, v in node.items()}


def _json_schema(node: Any, v30: bool) -> Any:
    """OpenAPI 3.0's schema dialect in JSON Schema 2020-12 terms: ``nullable``, boolean ``exclusiveMinimum``."""
    if isinstance(node, list):
        return [_json_schema(x, v30) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v, v30) for k, v in node.items()}
    if v30:
        if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if isinstance(out.get(bound), bool):
                if out.pop(bound) and limit in out:
                    out[bound] = out.pop(limit)
    return out


# ------------------------------------------------------------------ function definitions


def functions_spec(definitions: Iterable[Any], title: str = "functions") -> ApiSpec:
    ops: dict[str, Operation] = {}
    for i, raw in enumerate(definitions):
        d = raw.get("function", raw) if isinstance(raw, Mapping) and raw.get("type") == "function" else raw
        if not isinstance(d, Mapping) or not isinstance(d.get("name"), str):
            raise Nl2qError(f"function definition {i} has no name", "each definition is {'name': ..., 'description': "
                                                                    "..., 'parameters': {JSON Schema object}}")
        name = d["name"]
        if not NAME.match(name):
            raise Nl2qError(f"function name {name!r} is not a name a call can use",
                            "names are letters, digits and _ . - / (at most 128), starting with a letter, digit or _")
        if name in ops:
            raise Nl2qError(f"function {name!r} is defined twice", "give each function one definition")
        schema = function_schema(d.get("parameters") or {"type": "object", "properties": {}})
        required = set(schema.get("required") or ())
        params = tuple(Parameter(n, "argument", s, n in required, _one_line(s.get("description", "")))
                       for n, s in (schema.get("properties") or {}).items())
        ops[name] = Operation(name, "", _one_line(d.get("description", "")), params,
                              extra={k: v for k, v in d.items() if k.startswith("x-")})
    document = {"$id": DOC_ID}
    return ApiSpec("functions", title, ops, document)


def function_schema(node: Any) -> Any:
    """A function's parameter schema in JSON Schema terms: BFCL's ``dict``, ``float``, ``tuple``, ``any``, Java's
    ``String``; ``required`` names that are not properties dropped (BFCL has a few)."""
    if isinstance(node, list):
        return [function_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: (function_schema(v) if k not in ("enum", "const", "default", "examples", "required") else v)
           for k, v in node.items()}
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: function_schema(v) for k, v in node["properties"].items()}
    kind = out.get("type")
    if isinstance(kind, str):
        low = kind.lower()
        if low == "any":
            out.pop("type")
        else:
            out["type"] = _TYPE_NAMES.get(low, low)
            if out["type"] not in ("object", "array", "string", "number", "integer", "boolean", "null"):
                out.pop("type")
    if out.get("type") == "object" or "properties" in out:
        out.setdefault("type", "object")
        props = out.get("properties") or {}
        if "required" in out:
            out["required"] = [r for r in out["required"] if r in props] if props else out["required"]
    if out.get("type") == "array" and "items" in out and not isinstance(out["items"], dict):
        out.pop("items")
    if isinstance(out.get("enum"), list) and "type" in out and not all(_is(v, out["type"]) for v in out["enum"]):
        if out["type"] == "array":  # an enum of the items' values written on the list
            out["items"] = {**out.get("items", {}), "enum": out.pop("enum")}
            out["items"].pop("type", None)
        else:  # "1" and "dontcare" for an integer: the values say what is meant, not the type
            out.pop("type")
    return out


def _is(value: Any, kind: str) -> bool:
    import jsonschema

    return jsonschema.Draft202012Validator.TYPE_CHECKER.is_type(value, kind)


def _values(schema: Any) -> str:
    """The names and enum values a schema holds, as words (a datacenter's name in a question matches its filter)."""
    if isinstance(schema, list):
        return " ".join(_values(x) for x in schema)
    if not isinstance(schema, dict):
        return ""
    words = [str(v) for v in schema.get("enum", []) if isinstance(v, str)]
    words += [str(k) for k in (schema.get("properties") or {})]
    words += [str(schema.get("description", ""))]
    return " ".join(words + [_values(v) for k, v in schema.items() if k in ("properties", "items", "anyOf", "oneOf")
                             or isinstance(v, dict) and k not in ("enum", "const", "default")])


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())



# ------------------------------------------------------------------ relevance


_STOP = frozenset("a an and are as at be by can do does for from get give has have how i in is it its me my of on "
                  "or please show that the this to what when where which who why will with you your all any".split())


def terms(text: str) -> list[str]:
    """Lower-case word stems of ``text``, camelCase and snake_case split: ``listHosts`` -> list, host."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", text)
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in (x.lower() for x in words) if w not in _STOP]


@dataclass(frozen=True)
class _Index:
    counts: list[Any]  # per operation, a Counter of its terms
    lengths: list[int]
    df: Any  # Counter: how many operations hold each term
    avg: float


def relevant(spec: ApiSpec, question: str, k: int) -> list[tuple[Operation, float]]:
    """The ``k`` operations most like ``question`` by BM25 over their names, paths and descriptions, best first
    (ties in the spec's order); scores of 0 share no word with the question."""
    import math

    index = spec.index
    n = len(index.counts)
    asked = set(terms(question))
    scored = []
    for i, (op, counts, length) in enumerate(zip(spec.operations.values(), index.counts, index.lengths)):
        score = 0.0
        for t in asked & counts.keys():
            idf = math.log(1 + (n - index.df[t] + 0.5) / (index.df[t] + 0.5))
            tf = counts[t]
            score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / index.avg))
        scored.append((-score, i, op))
    scored.sort()
    return [(op, -s) for s, _, op in scored[:k]]


def clip(text: str, n: int) -> str:
    """``text`` cut to ``n`` characters, an ellipsis saying so."""
    return text if len(text) <= n else text[: n - 1] + "…"
