"""Where config schemas come from, and the two forms each takes.

The *validation* schema is the real one (kubernetes-validate's strict Kubernetes schemas, the
compose-spec schema check-jsonschema vendors, the Prometheus rule-file schema we ship, or a user's
JSON Schema / OpenAPI component), with a ``referencing.Registry`` for its ``$ref`` targets. The
*generation* schema is derived from it for the decoder: self-contained (reachable ``$defs`` only),
without server-set fields, without ``null`` alternatives, with keys in the order people write them.
llguidance fixes the key order to the schema's, so that order is a product decision, not an accident.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Mapping

from ...errors import Nl2qError, require
from ...resources import data_dir

Schema = dict[str, Any]
# a free string the decoder writes: printable ASCII and Latin letters, nothing the checks refuse as hidden
VISIBLE = "^[ -~\u00C0-\u024F]*$"
MAP_KEY = "^[A-Za-z0-9_.][A-Za-z0-9_./-]{0,62}$"  # a map's keys, unless the profile says otherwise
CATCH_ALL = {"^.+$", "^.*$", ".*", ".+", "^(.*)$"}

# Keys a person writes first, in this order, wherever they occur; the rest keep the schema's order.
FIRST_KEYS = ("apiVersion", "kind", "metadata", "name", "namespace", "labels", "annotations", "spec", "replicas",
              "selector", "matchLabels", "template", "type", "image", "command", "args", "ports", "containerPort",
              "port", "targetPort", "protocol", "env", "value", "resources", "requests", "limits", "path",
              "readinessProbe", "livenessProbe", "httpGet", "volumeMounts", "mountPath", "volumes",
              "alert", "record", "expr", "for", "rules", "services", "environment")


@dataclass(frozen=True)
class LoadedSchema:
    """A validation schema, the registry its references resolve in, and where it came from."""

    schema: Schema
    registry: Any  # referencing.Registry
    origin: str


def registry_for(*documents: Schema) -> Any:
    """A registry holding each document under its ``$id``."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry = Registry()
    for doc in documents:
        registry = Resource.from_contents(doc, default_specification=DRAFT202012) @ registry
    return registry


# ------------------------------------------------------------------ sources


def prometheus_rules_schema() -> LoadedSchema:
    """Prometheus's rule-file format (groups of alerting and recording rules), shipped as data."""
    schema = json.loads((data_dir("grammars") / "prometheus-rules.schema.json").read_text())
    return LoadedSchema(schema, registry_for(schema), "Prometheus rule file (nl2q, from the Prometheus docs)")


def compose_schema() -> LoadedSchema:
    """The compose-spec schema as check-jsonschema vendors it (what ``check-jsonschema --builtin-schema
    vendor.compose-spec`` validates with)."""
    require("check_jsonschema", "config", "compose files")
    from importlib.resources import files

    schema = json.loads(files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text())
    return LoadedSchema(schema, registry_for(schema), "compose-spec (vendored by check-jsonschema)")


def kubernetes_dir(version: str, strict: bool = True) -> Path:
    """kubernetes-validate's schema directory for a Kubernetes version (the newest not newer than it)."""
    require("kubernetes_validate", "config", "Kubernetes manifests")
    from importlib.resources import files

    from kubernetes_validate.utils import all_versions, major_minor

    wanted = major_minor(version.lstrip("v"))
    known = [v for v in all_versions() if _minor_key(major_minor(v)) <= _minor_key(wanted)]
    if not known:
        raise Nl2qError(f"no Kubernetes schemas for version {version}",
                        f"choose one of {', '.join(major_minor(v) for v in all_versions())}")
    suffix = "-local-strict" if strict else "-local"
    return Path(str(files("kubernetes_validate").joinpath("kubernetes-json-schema", f"v{known[-1]}{suffix}")))


def latest_kubernetes() -> str:
    require("kubernetes_validate", "config", "Kubernetes manifests")
    from kubernetes_validate.utils import latest_version, major_minor

    return major_minor(latest_version())


def _minor_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:2])


@cache
def _kubernetes_definitions(directory: Path) -> Schema:
    return json.loads((directory / "_definitions.json").read_text())


def kubernetes_schema(kind: str, api_version: str, version: str, strict: bool = True) -> LoadedSchema:
    """The schema kubernetes-validate checks ``kind`` at ``api_version`` with, for Kubernetes ``version``."""
    directory = kubernetes_dir(version, strict)
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = directory / f"{kind.lower()}-{group_version}.json"
    if not path.is_file():
        raise Nl2qError(f"no schema for {kind} {api_version} in Kubernetes {directory.name[1:].split('-')[0]}",
                        "check the kind and apiVersion (kubectl api-resources lists them), or pass the CRD's schema")
    schema = json.loads(path.read_text())
    return LoadedSchema(schema, registry_for(schema, _kubernetes_definitions(directory)),
                        f"Kubernetes {directory.name.lstrip('v').split('-')[0]} {'strict ' if strict else ''}schema "
                        "(kubernetes-validate)")


def user_schema(source: Schema | str | Path, component: str | None = None) -> LoadedSchema:
    """A JSON Schema, or one component of an OpenAPI document (``components/schemas/<component>``)."""
    doc = _read(source) if not isinstance(source, Mapping) else dict(source)
    if "openapi" in doc or "swagger" in doc:
        schemas = (doc.get("components") or {}).get("schemas") or doc.get("definitions") or {}
        if component is None or component not in schemas:
            from ...check import suggestion

            raise Nl2qError(f"an OpenAPI document needs a component to generate: {component or '(none given)'} "
                            "is not one of its schemas", suggestion(component or "", schemas, "component")
                            or f"choose one of {', '.join(list(schemas)[:20])}")
        bundled = {"$id": "urn:nl2q:openapi", "components": {"schemas": schemas}, "definitions": doc.get("definitions", {})}
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": f"urn:nl2q:openapi#/components/schemas/{component}"}
        return LoadedSchema(schema, registry_for(bundled), f"OpenAPI component {component}")
    if not isinstance(doc, dict) or not doc:
        raise Nl2qError("the schema is not a JSON Schema object", "pass a JSON Schema (a JSON or YAML object)")
    _check_schema(doc)
    doc = {"$id": "urn:nl2q:schema", **doc}  # references resolve against an id; a user's schema may have none
    return LoadedSchema(doc, registry_for(doc), str(source) if isinstance(source, (str, Path)) else "the given schema")


def _read(path: str | Path) -> Schema:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise Nl2qError(f"schema file {p} not found", "pass a JSON Schema file (.json, .yaml) or a dict")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise Nl2qError(f"{p} is not JSON or YAML: {e}", "fix the file, or pass the schema as a dict") from None


def _check_schema(schema: Schema) -> None:
    from jsonschema import validators
    from jsonschema.exceptions import SchemaError

    try:
        validators.validator_for(schema, default=validators.Draft202012Validator).check_schema(schema)
    except SchemaError as e:
        raise Nl2qError(f"not a valid JSON Schema: {e.message} at {'/'.join(map(str, e.path)) or 'the top'}",
                        "fix the schema (jsonschema's check_schema names the keyword)") from None


# ------------------------------------------------------------------ the generation form


def bundle(loaded: LoadedSchema) -> Schema:
    """A self-contained copy of ``loaded.schema``: every ``$ref`` it reaches resolved through the registry and
    placed under ``$defs`` with a local name, so a backend compiles it without fetching anything."""
    resolver = loaded.registry.resolver(base_uri=loaded.schema.get("$id", ""))
    names: dict[str, str] = {}
    defs: dict[str, Schema] = {}

    def local(node: Any, resolver: Any) -> Any:
        if isinstance(node, list):
            return [local(x, resolver) for x in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                resolved = resolver.lookup(value)
                target = _absolute(resolver, value)
                if target not in names:
                    names[target] = _def_name(value, names)
                    defs[names[target]] = {}
                    defs[names[target]] = local(resolved.contents, resolved.resolver)
                out["$ref"] = f"#/$defs/{names[target]}"
            elif key in ("$id", "$schema", "$defs", "definitions"):
                continue
            else:
                out[key] = local(value, resolver) if key not in ("enum", "const", "default", "examples") else value
        return out

    root = local(loaded.schema, resolver)
    if defs:
        root["$defs"] = defs
    return root


def _absolute(resolver: Any, ref: str) -> str:
    from urllib.parse import urljoin

    return urljoin(resolver._base_uri or "", ref)


def _def_name(ref: str, taken: Mapping[str, str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", ref.rsplit("/", 1)[-1]) or "def"
    name, n = base, 2
    while name in taken.values():
        name, n = f"{base}_{n}", n + 1
    return name


@dataclass(frozen=True)
class Limits:
    """Bounds the decoder is held to beyond the schema's: a small model left a free string loops in it, so
    strings and maps are bounded, and names take the form their system requires."""

    max_string: int | None = None  # maxLength of a string the schema leaves unbounded
    strings: Mapping[str, Schema] | None = None  # property name -> keywords for its string (name: a DNS label)
    map_key: str | None = None  # the pattern a map's keys follow (Kubernetes label keys)
    max_entries: int | None = None  # maxProperties of a map
    maps: Mapping[str, Schema] | None = None  # map property (``Owner.name`` or name) -> keywords for its values
    required: frozenset[str] = frozenset()  # ``Owner.name`` properties made required
    non_empty: frozenset[str] = frozenset()  # ``Owner.name`` lists and maps written with at least one entry
    closed: bool = True  # objects with properties take no others (off inside allOf parts, which others extend)
    max_items: int | None = None  # maxItems of a list the schema leaves unbounded
    text: str | None = None  # the pattern of a free string (default VISIBLE)


def for_generation(schema: Schema, *, drop: frozenset[str] = frozenset(), require: Mapping[str, Any] | None = None,
                   order: tuple[str, ...] = FIRST_KEYS, limits: Limits = Limits()) -> Schema:
    """The bundled ``schema`` as the decoder should see it.

    ``drop``: property names never generated (``status``, server-set metadata). ``require``: top-level
    properties made required, with a ``const`` value when one is given (``kind: Deployment``). ``null``
    alternatives are removed (a person never writes ``replicas: null``), required keys come first, then
    ``order``, then the rest in the schema's own order.
    """
    out = _walk(_flatten_all_of(copy.deepcopy(schema)), drop, order, limits)
    for name, value in (require or {}).items():
        props = out.setdefault("properties", {})
        props[name] = {**props.get(name, {}), **({"const": value} if value is not None else {})}
        props[name].pop("enum", None) if value is not None else None
        out["required"] = [name, *[r for r in out.get("required", []) if r != name]]
        out["properties"] = _ordered(props, out["required"], order)
    if require:
        lead = list(require)
        out["required"] = lead + [r for r in out["required"] if r not in lead]
        out["properties"] = {**{k: out["properties"][k] for k in lead}, **out["properties"]}
    return out


def _walk(node: Any, drop: frozenset[str], order: tuple[str, ...], limits: Limits, name: str = "",
          owner: str = "") -> Any:
    """``owner``: the ``$defs`` entry being walked (its last dotted part qualifies a property in ``limits``)."""
    if isinstance(node, list):
        return [_walk(x, drop, order, limits, name, owner) for x in node]
    if not isinstance(node, dict):
        return node
    node = {k: v for k, v in node.items() if not k.startswith("x-kubernetes") and k not in ("description", "format")
            or k == "format" and v in ("date-time", "uri", "email", "ipv4")}
    if isinstance(node.get("type"), list):
        kept = [t for t in node["type"] if t != "null"]
        node["type"] = kept[0] if len(kept) == 1 else kept
    for key in ("oneOf", "anyOf"):
        if key in node:
            branches = [b for b in node[key] if b != {"type": "null"}]
            node[key] = branches
    qualified = f"{owner.rsplit('.', 1)[-1]}.{name}"
    _bound(node, qualified, name, limits)
    if qualified in limits.non_empty:
        node.setdefault("minItems" if node.get("type") in ("array", ["array", "null"]) else "minProperties", 1)
    for key, value in list(node.items()):
        if key == "$defs" and isinstance(value, dict):
            parts = _all_of_parts(node)
            node[key] = {n: _walk(d, drop, order, replace(limits, closed=n not in parts), "", n) for n, d in value.items()}
        elif key == "properties" and isinstance(value, dict):
            kept = {n: _walk(s, drop, order, limits, n, owner) for n, s in value.items() if n not in drop}
            short = owner.rsplit(".", 1)[-1]
            node["required"] = [r for r in node.get("required", []) if r in kept] + [
                n for n in kept if f"{short}.{n}" in limits.required and n not in node.get("required", [])]
            node[key] = _ordered(kept, node["required"], order)
        elif key in ("enum", "const", "default", "examples", "required"):
            continue
        elif key in ("items", "oneOf", "anyOf", "allOf") and isinstance(value, (dict, list)):
            node[key] = _walk(value, drop, order, limits, name, owner)
        elif isinstance(value, (dict, list)):
            node[key] = _walk(value, drop, order, limits, "", owner)
    if not node.get("required"):
        node.pop("required", None)
    return node


def _flatten_all_of(schema: Schema) -> Schema:
    """Objects composed with ``allOf`` (compose's service = container_spec + workload_spec) merged into one
    object, so a backend that cannot intersect schemas still holds the decoder to the keys they name."""
    defs = schema.get("$defs", {})

    def merge(node: Any) -> Any:
        if isinstance(node, list):
            return [merge(x) for x in node]
        if not isinstance(node, dict):
            return node
        node = {k: merge(v) for k, v in node.items()}
        parts = [resolve(p, defs) for p in node.get("allOf", [])]
        if parts and all(isinstance(p.get("properties"), dict) and not {"allOf", "oneOf", "anyOf"} & set(p)
                         for p in parts):
            props: dict[str, Any] = {}
            required: list[str] = []
            for part in parts:
                props.update(part["properties"])
                required += part.get("required", [])
            props.update(node.get("properties", {}))
            node = {k: v for k, v in node.items() if k not in ("allOf", "unevaluatedProperties")}
            node.update(type="object", properties=props, additionalProperties=False)
            if required or node.get("required"):
                node["required"] = list(dict.fromkeys([*node.get("required", []), *required]))
        return node

    return merge(schema)


def _all_of_parts(schema: Schema) -> set[str]:
    """The ``$defs`` names an ``allOf`` composes: closing them would forbid the keys the other parts add."""
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for x in node:
                visit(x)
        elif isinstance(node, dict):
            for part in node.get("allOf", []):
                if isinstance(part, dict) and part.get("$ref", "").startswith("#/$defs/"):
                    found.add(part["$ref"][len("#/$defs/"):])
            for value in node.values():
                visit(value)

    visit(schema)
    return found


def _types(node: Schema) -> set[str]:
    kind = node.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


def _bound(node: Schema, qualified: str, name: str, limits: Limits) -> None:
    """Apply ``limits`` to one schema node, in place; ``qualified`` is ``Owner.name`` (``ObjectMeta.name``)."""
    if "string" in _types(node) and "enum" not in node and "const" not in node:
        rules = limits.strings or {}
        node.update({k: v for k, v in (rules.get(qualified) or rules.get(name) or {}).items() if k not in node})
        if limits.max_string and "maxLength" not in node:
            node["maxLength"] = limits.max_string
        pattern = node.get("pattern")
        if pattern is None and "format" not in node:
            node["pattern"] = limits.text or VISIBLE
        elif pattern is not None and not (pattern.startswith("^") and pattern.endswith("$")):
            node["pattern"] = f"^[ -~]*(?:{pattern})[ -~]*$"  # unanchored: whatever surrounds it stays visible
    if limits.max_items and "array" in _types(node) and "maxItems" not in node:
        node["maxItems"] = max(limits.max_items, node.get("minItems", 0))
    if "patternProperties" in node:  # extension keys (x-...) are never generated; catch-all keys are plain names
        node["patternProperties"] = {MAP_KEY if p in CATCH_ALL else p: v for p, v in node["patternProperties"].items()
                                     if not p.startswith("^x-")}
        if not node["patternProperties"]:
            del node["patternProperties"]
        elif "additionalProperties" not in node and not {"allOf", "unevaluatedProperties"} & set(node):
            node["additionalProperties"] = False
    if node.get("properties") and "additionalProperties" not in node and limits.closed \
            and not {"allOf", "anyOf", "oneOf", "unevaluatedProperties"} & set(node):
        node["additionalProperties"] = False  # the decoder never invents a key the schema does not name
    if "object" in _types(node) and not node.get("properties") and "patternProperties" not in node \
            and not isinstance(node.get("additionalProperties"), dict) and node.get("additionalProperties") is not False:
        node["additionalProperties"] = {}
    if "object" in _types(node) and not node.get("properties") and isinstance(node.get("additionalProperties"), dict):
        values = node["additionalProperties"]
        extra = (limits.maps or {}).get(qualified) or (limits.maps or {}).get(name) or {}
        if "string" in _types(values):
            values.update({k: v for k, v in extra.items() if k not in values})
        node["patternProperties"] = {limits.map_key or MAP_KEY: node.pop("additionalProperties")}
        node["additionalProperties"] = False
        if limits.max_entries:
            node.setdefault("maxProperties", limits.max_entries)


def _ordered(props: dict[str, Any], required: list[str], order: tuple[str, ...]) -> dict[str, Any]:
    rank = {name: i for i, name in enumerate(order)}
    names = sorted(props, key=lambda n: (n not in required, rank.get(n, len(rank)), list(props).index(n)))
    return {n: props[n] for n in names}


def constraint_options(schema: Schema) -> Schema:
    """``schema`` with llguidance's options for real-world schemas: ``oneOf`` read as ``anyOf`` (IntOrString),
    unknown keywords ignored rather than refused; compact JSON (``{"a": 1, "b": 2}``), half the tokens of an
    indented document and no whitespace for a small model to loop in."""
    return {**schema, "x-guidance": {"lenient": True, "coerce_one_of": True, "whitespace_flexible": False}}


def resolve(node: Schema, defs: Mapping[str, Schema]) -> Schema:
    """``node`` with local ``$ref`` chains and single-branch combinators followed."""
    for _ in range(32):
        if "$ref" in node and node["$ref"].startswith("#/$defs/"):
            node = {**defs.get(node["$ref"][len("#/$defs/"):], {}), **{k: v for k, v in node.items() if k != "$ref"}}
        elif len(node.get("allOf", [])) == 1:
            node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        else:
            return node
    return node


def words_of(name: str) -> set[str]:
    """The words of a key: ``readinessProbe`` -> {readiness, probe}."""
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+", name)}


def prune(schema: Schema, core: frozenset[str], question: str) -> tuple[Schema, int, int]:
    """``schema`` keeping, in every object, the required keys, the ``core`` keys and the keys the question
    names (all words of ``readinessProbe`` in it); returns the schema and how many keys were kept of how many.
    A small model writes better from fewer choices; a key a question needs and does not name is lost, so
    the result says the schema was cut."""
    asked = {w.rstrip("s") for w in re.findall(r"[a-z0-9]+", question.lower())}
    kept = total = 0

    def wanted(name: str, required: set[str]) -> bool:
        return name in required or name in core or bool(words_of(name)) and {
            w.rstrip("s") for w in words_of(name)} <= asked

    def walk(node: Any) -> Any:
        nonlocal kept, total
        if isinstance(node, list):
            return [walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                required = set(node.get("required", ()))
                total += len(value)
                out[key] = {n: walk(s) for n, s in value.items() if wanted(n, required)}
                kept += len(out[key])
            elif key in ("enum", "const", "default", "required"):
                out[key] = value
            else:
                out[key] = walk(value)
        return out

    return walk(schema), kept, total
