"""The call list as a JSON Schema: one source for the decoder's constraint and the checker's validation.

An answer is a JSON array of calls, each ``{"operation": name, "parameters": {...}, "body": ...}``, and ``[]``
when no operation fits. Each call's schema is the operation's own parameter and body schemas, so the
decoder can only name a real operation and give it arguments of the names, types and values it takes.
"""

from __future__ import annotations

from typing import Iterable

from ...types import Constraint
from ..config.schema import LoadedSchema, Limits, bundle, for_generation, registry_for
from .profile import ApiProfile
from .schema import ApiSpec, Operation, Schema

CALLS_ID = "urn:nl2q:calls"
KEY_ORDER = ("operation", "parameters", "body")


def call_schema(op: Operation, *, generation: bool = False) -> Schema:
    """One call of ``op``. For generation ``parameters`` is always written (``{}`` when there are none), so every
    call has one shape; a person may leave it out."""
    params = {p.name: {**p.schema, **({"description": p.description} if p.description and "description" not in
                                      p.schema else {})} for p in op.parameters}
    if generation:  # a required name is never written empty (GET /hosts/ is not getHost)
        for p in op.parameters:
            if p.required and p.schema.get("type") == "string" and not {"enum", "const", "minLength"} & set(p.schema):
                params[p.name]["minLength"] = 1
    parameters: Schema = {"type": "object", "properties": params, "additionalProperties": False}
    required = [p.name for p in op.parameters if p.required]
    if required:
        parameters["required"] = required
    props: Schema = {"operation": {"const": op.name}, "parameters": parameters}
    need = ["operation"] + (["parameters"] if required or generation else [])
    if op.body is not None:
        props["body"] = {**op.body, **({"description": op.body_description} if op.body_description else {})}
        need += ["body"] if op.body_required else []
    return {"type": "object", "properties": props, "required": need, "additionalProperties": False}


def calls_schema(ops: Iterable[Operation], max_calls: int, *, generation: bool = False) -> Schema:
    """Any number of calls (up to ``max_calls``), each of one of ``ops``; ``[]`` for no call."""
    branches = [call_schema(op, generation=generation) for op in ops]
    items: Schema = branches[0] if len(branches) == 1 else {"anyOf": branches}
    return {"$id": CALLS_ID, "type": "array", "items": items, "maxItems": max_calls} if branches else \
        {"$id": CALLS_ID, "type": "array", "maxItems": 0}


def loaded(spec: ApiSpec, schema: Schema) -> LoadedSchema:
    """``schema`` with its references resolving into the source document."""
    return LoadedSchema(schema, registry_for(spec.document), spec.title)


def generation_schema(spec: ApiSpec, ops: Iterable[Operation], profile: ApiProfile) -> Schema:
    """The call list the decoder is held to: references bundled in, strings and lists bounded, objects closed."""
    limits = Limits(max_string=profile.max_string_length or None, max_items=profile.max_items or None,
                    text=profile.text_pattern or None)
    bundled = bundle(loaded(spec, calls_schema(ops, profile.max_calls, generation=True)))
    return for_generation(bundled, order=KEY_ORDER, limits=limits)


def constraint(spec: ApiSpec, ops: Iterable[Operation], profile: ApiProfile) -> Constraint:
    from ..config.kinds import json_constraint

    return json_constraint(generation_schema(spec, ops, profile))


__all__ = ["call_schema", "calls_schema", "constraint", "generation_schema", "loaded", "KEY_ORDER", "Schema"]
