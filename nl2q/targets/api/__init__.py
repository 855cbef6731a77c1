"""API calls: OpenAPI operations and plain function definitions, as a JSON list of calls.

The decoder can only name a real operation and give it the arguments its parameter and body schemas allow
(or answer ``[]``, no call). The checker validates each call against the same schemas and each request
against the spec with openapi-core; the policy lets only safe methods through unless writes are allowed, and
a write or a DELETE runs for real only once a person approves it. The dry run sends nothing unless asked to.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping

from ...errors import Nl2qError
from ...policy import Policy
from ...types import Approval, Constraint, Diagnostic, DryRun
from ..base import Bound, Checked, Conformance, Target, TargetSpec, known_keys
from .profile import ApiProfile
from .schema import ApiSpec, Operation, load_spec

API = TargetSpec(name="api", noun="call list", fence="json", has_rows=True, source_flag="api",
                 source_help="api: an OpenAPI document (file or http(s) URL) or a JSON/YAML file of function "
                             "definitions", default_dialect="openapi",
                 source_options=(("base_url", "api: where calls go (default: the spec's first server, or the origin "
                                              "of the URL it was fetched from)"),
                                 ("live", "api: 'yes' to make read-only calls for real in the dry run, and validate "
                                          "their responses (default: requests are validated and recorded, not sent)")))
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ApiSource:
    """What calls are made against: the spec, where calls go, whether a dry run may send read-only calls."""

    api: Any
    base_url: str | None = None
    live: bool = False

    @classmethod
    def of(cls, source: Any) -> "ApiSource":
        if isinstance(source, ApiSource):
            return source
        if isinstance(source, Mapping) and "api" in source:
            known_keys(source, cls.__dataclass_fields__, "API")
            live = source.get("live", False)
            return cls(source["api"], source.get("base_url") or None,
                       live if isinstance(live, bool) else str(live).lower() in _TRUE)
        return cls(source)


class ApiBound(Bound):
    """One spec bound; :meth:`for_question` cuts a large one to the operations a question needs."""

    spec = API

    def __init__(self, target: "ApiTarget", api: ApiSpec, profile: ApiProfile, source: ApiSource,
                 ops: tuple[Operation, ...] | None = None, notes: list[Diagnostic] | None = None,
                 parent: "ApiBound | None" = None) -> None:
        """``parent``: the whole spec's bound, whose validators and checked texts a narrowed bound shares (the
        output of a cut is checked against the whole spec)."""
        from .check import Validators

        self._target = target
        self.api = api
        self.dialect = profile
        self.source = source
        self.ops = ops if ops is not None else tuple(api.operations.values())
        self.narrowed = ops is not None
        self._notes = notes or []
        self._narrowed: dict[tuple[str, ...], ApiBound] = {}
        self._validators = parent._validators if parent else Validators(api)
        self._checks: dict[str, Any] = parent._checks if parent else {}
        self.has_data = source.live

    @cached_property
    def constraint(self) -> Constraint:  # type: ignore[override]
        from .grammar import constraint

        return constraint(self.api, self.ops, self.dialect)

    @property
    def notes(self) -> list[Diagnostic]:
        return list(self._notes)

    def for_question(self, question: str) -> "ApiBound":
        """The operations in the order of their likeness to the question (a small model favours what it reads
        first), cut to the profile's ``max_operations``; none when no operation shares a word with the question
        and the profile says that means no call."""
        if self.narrowed:
            return self
        from .schema import relevant

        ranked = relevant(self.api, question, self.dialect.max_operations)
        kept = tuple(op for op, _ in ranked)
        notes = []
        if self.dialect.no_call_without_overlap and ranked and ranked[0][1] <= 0:
            kept = ()
            notes.append(Diagnostic("api.no_match", "no operation shares a word with the question, so the answer "
                                    "was held to no call ([])", severity="info", stage="decode",
                                    hint="use the API's own words (an operation, a parameter) if a call was meant"))
        elif len(kept) < len(self.ops):
            notes.append(Diagnostic("api.spec_cut", f"the prompt and the decoder were held to the {len(kept)} of "
                                    f"{len(self.api)} operations most like the question; the output is checked "
                                    "against all of them", severity="info", stage="decode",
                                    hint="name the operation (or its words) in the question if the one you need "
                                         "was left out"))
        key = tuple(op.name for op in kept)
        found = self._narrowed.get(key)
        if found is None:  # threads may race to build one: each gets a correct bound, one is kept
            if len(self._narrowed) > 256:
                self._narrowed.clear()
            found = self._narrowed[key] = ApiBound(self._target, self.api, self.dialect, self.source, kept, notes,
                                                   parent=self)
        return found

    # ------------------------------------------------------------------ the pipeline's interface

    def schema_text(self, question: str) -> str:
        from .outline import outline

        return outline(self.ops, self.api.document, self.dialect.description_chars)

    def _check(self, text: str) -> Any:
        """The policy-free check of ``text``, once: the check, dry run, approval and rendering of a round share it."""
        from .check import check_calls

        found = self._checks.get(text)
        if found is None:
            if len(self._checks) > 64:
                self._checks.clear()
            found = self._checks[text] = check_calls(text, self.api, self.dialect, self._validators)
        return found

    def _policy(self, text: str, policy: Policy) -> tuple[list[Diagnostic], bool]:
        from .check import policy_diagnostics

        result = self._check(text)
        return policy_diagnostics(result, self.api, self.dialect, policy) if result.complete else ([], False)

    def check(self, text: str, policy: Policy) -> Checked:
        result = self._check(text)
        if [d.code for d in result.diagnostics] == ["api.shape"] and result.single:
            wrapped = f"[{text.strip()}]"
            note = Diagnostic("api.wrapped", "one call was written without the list around it: it was read as a "
                              "list of one call", severity="info", hint="write [ ] around the calls")
            return Checked([note], self._policy(wrapped, policy)[1], rewritten=wrapped)
        found, writes = self._policy(text, policy)
        return Checked(result.diagnostics + found, writes)

    def dry_run(self, text: str, policy: Policy, writes: bool) -> DryRun | None:
        from .check import effect
        from .execute import record, send

        calls = self._check(text).calls
        if self.source.live and self.api.kind == "openapi" and calls:
            return send(calls, self.api, policy, mode="run", timeout_s=policy.timeout_s,
                        only=lambda c: effect(c.operation, self.dialect, policy) == "read_only")
        return record(calls, self.api)

    def approval(self, text: str, policy: Policy) -> Approval | None:
        from .check import effect

        if self.api.kind != "openapi":
            return None
        calls = self._check(text).calls
        tiers = [effect(c.operation, self.dialect, policy) for c in calls]
        tier = "destructive" if "destructive" in tiers else "changes_state" if "changes_state" in tiers else "read_only"
        reasons = tuple(f"{c.label} {'destroys' if t == 'destructive' else 'changes'} state"
                        for c, t in zip(calls, tiers) if t != "read_only") or ("every call only reads",)
        from .request import base_url

        return Approval("api", text, tier, reasons, tier != "read_only", where=base_url(self.api))

    def execute(self, text: str, policy: Policy) -> DryRun:
        """Every call sent, in order, to the bound base URL; the first failing status stops the run."""
        from .execute import send

        if not self.api.base_url:
            raise Nl2qError("the API document names no server to send calls to", "pass base_url (--base-url URL)")
        calls = self._check(text).calls
        return send(calls, self.api, policy, mode="real", timeout_s=min(policy.run_timeout_s, 30.0))

    def renderings(self, text: str) -> dict[str, str]:
        from .request import renderings

        result = self._check(text)
        if result.ok and result.calls:  # valid but for who may run it: a refused write is shown as what it would send
            return renderings(result.calls, self.api)
        return renderings([], self.api) if result.doc is not None and result.doc.data == [] else {}

    def normalise(self, text: str) -> str:
        try:
            return json.dumps(json.loads(text), sort_keys=True)
        except ValueError:
            return text.strip()

    def describe(self) -> dict[str, Any]:
        return {"target": "api", "kind": self.api.kind, "title": self.api.title, "base_url": self.api.base_url,
                "operations": [{"name": op.name, "signature": op.signature, "summary": op.summary or op.description}
                               for op in self.api.operations.values()]}


class ApiTarget(Target):
    """HTTP APIs described by OpenAPI, and functions described by JSON Schema."""

    spec = API
    profile_type = ApiProfile

    def bind(self, source: Any, dialect: str | None = None) -> Bound:
        from ...errors import require

        require("httpx", "api", "the api target")
        src = ApiSource.of(source)
        api = load_spec(src.api, src.base_url)
        if api.kind == "openapi":
            require("openapi_core", "api", "OpenAPI request validation")
        profile = self.profile(dialect or ("openapi" if api.kind == "openapi" else "functions"))
        if src.live and not api.base_url:
            raise Nl2qError("a live dry run needs a base URL the document does not give", "pass base_url")
        assert isinstance(profile, ApiProfile)
        return ApiBound(self, api, profile, src)

    def conformance(self) -> Conformance:
        spec = _conformance_spec()
        return Conformance(
            source=spec,
            random_source=_random_openapi,
            random_sources={"functions": _random_functions},
            valid=('[{"operation": "listHosts", "parameters": {"datacenter": "fra1", "limit": 5}}]',
                   '[{"operation": "getHost", "parameters": {"hostname": "web-1"}}, '
                   '{"operation": "listHosts", "parameters": {}}]', "[]"),
            writes=('[{"operation": "createSilence", "parameters": {}, "body": {"hostname": "web-1", "minutes": 30}}]',
                    '[{"operation": "deleteSilence", "parameters": {"silence_id": "s1"}}]'),
            different=(('[{"operation": "listHosts", "parameters": {"datacenter": "fra1"}}]',
                        '[{"operation": "listHosts", "parameters": {"datacenter": "ams2"}}]'),),
            same=(('[{"operation": "listHosts", "parameters": {"limit": 5, "datacenter": "fra1"}}]',
                   '[ {"operation": "listHosts",\n "parameters": {"datacenter": "fra1", "limit": 5}}]'),),
        )


def _conformance_spec() -> dict[str, Any]:
    host = {"name": "hostname", "in": "path", "required": True, "description": "The host's name",
            "schema": {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"}}
    ok = {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "array"}}}}}
    return {"openapi": "3.1.0", "info": {"title": "ops", "version": "1"}, "servers": [{"url": "http://ops.test"}],
            "paths": {
                "/hosts": {"get": {"operationId": "listHosts", "summary": "List hosts", "parameters": [
                    {"name": "datacenter", "in": "query", "description": "Only hosts in this datacenter",
                     "schema": {"enum": ["fra1", "ams2"]}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50}}],
                    "responses": ok}},
                "/hosts/{hostname}": {"get": {"operationId": "getHost", "summary": "One host", "parameters": [host],
                                              "responses": ok}},
                "/silences": {"post": {"operationId": "createSilence", "summary": "Silence a host's alerts",
                                       "requestBody": {"required": True, "content": {"application/json": {"schema": {
                                           "type": "object", "required": ["hostname", "minutes"], "properties": {
                                               "hostname": {"type": "string", "maxLength": 40},
                                               "minutes": {"type": "integer", "minimum": 1, "maximum": 1440}}}}}},
                                       "responses": {"201": {"description": "created"}}}},
                "/silences/{silence_id}": {"delete": {"operationId": "deleteSilence", "parameters": [
                    {"name": "silence_id", "in": "path", "required": True, "schema": {"type": "string",
                                                                                      "pattern": "^[a-z0-9-]{1,20}$"}}],
                    "responses": {"204": {"description": "deleted"}}}}}}


_WORDS = ["host", "service", "alert", "team", "deploy", "metric", "disk", "node"]


def _random_openapi(rng: random.Random) -> dict[str, Any]:
    """A random read-only OpenAPI document: a few GET operations with typed query and path parameters."""
    kinds = [{"type": "integer", "minimum": 0, "maximum": 100}, {"type": "boolean"}, {"enum": ["a", "b", "c"]},
             {"type": "string", "pattern": "^[a-z0-9]{1,12}$"}, {"type": "number"},
             {"type": "array", "items": {"enum": ["x", "y"]}, "maxItems": 3}]
    paths: dict[str, Any] = {}
    for word in rng.sample(_WORDS, rng.randint(1, 4)):
        params = [{"name": f"{w}_{i}", "in": "query", "required": rng.random() < 0.3, "schema": rng.choice(kinds)}
                  for i, w in enumerate(rng.sample(_WORDS, rng.randint(0, 3)))]
        paths[f"/{word}s"] = {"get": {"operationId": f"list_{word}s", "parameters": params,
                                      "responses": {"200": {"description": "ok"}}}}
        paths[f"/{word}s/{{id}}"] = {"get": {"operationId": f"get_{word}", "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[a-z0-9]{1,8}$"}}],
            "responses": {"200": {"description": "ok"}}}}
    return {"openapi": "3.1.0", "info": {"title": "random", "version": "1"}, "servers": [{"url": "http://random.test"}],
            "paths": paths}


def _random_functions(rng: random.Random) -> dict[str, Any]:
    """Random BFCL-style function definitions (``dict``, ``float``, ``tuple`` and all)."""
    kinds = [{"type": "integer"}, {"type": "float"}, {"type": "string"}, {"type": "boolean"},
             {"type": "string", "enum": ["celsius", "fahrenheit"]}, {"type": "tuple", "items": {"type": "integer"}},
             {"type": "dict", "properties": {"x": {"type": "integer"}}, "required": ["x"]}]
    functions = []
    for word in rng.sample(_WORDS, rng.randint(1, 4)):
        props = {f"{w}_{i}": dict(rng.choice(kinds), description=f"the {w}")
                 for i, w in enumerate(rng.sample(_WORDS, rng.randint(0, 4)))}
        functions.append({"name": f"calc.{word}", "description": f"Compute a {word}",
                          "parameters": {"type": "dict", "properties": props,
                                         "required": sorted(rng.sample(sorted(props), rng.randint(0, len(props))))}})
    return {"functions": functions}


__all__ = ["API", "ApiBound", "ApiSource", "ApiTarget"]
