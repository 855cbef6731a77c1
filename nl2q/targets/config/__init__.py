"""Config files: Prometheus rule files, Kubernetes manifests, compose files and documents of any JSON Schema.

The decoder writes JSON held to the kind's schema (and PromQL's grammar inside ``expr``); the checker
validates against the real schema with diagnostics that name the key that is wrong, adds what the
schema cannot say, and the dry run is the tool operators trust (promtool, kubernetes-validate,
kubectl). People read the document as YAML. nl2q never applies a config.
"""

from __future__ import annotations

import json
import random
import re
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ...errors import Nl2qError
from ...policy import Policy
from ...types import Constraint, Diagnostic, DryRun
from ..base import Bound, Checked, Conformance, Target, TargetSpec, known_keys
from .kinds import Compose, ConfigKind, JsonSchemaDocument, KubernetesResource, PrometheusRules, json_constraint
from .profile import ConfigProfile

CONFIG = TargetSpec(name="config", noun="config", fence="json", has_rows=False, source_flag="kind",
                    source_help="config: the kind to write: prometheus-rule, compose, a Kubernetes kind (Deployment, "
                                "apps/v1/Deployment) or kubernetes (the kind from the question), a JSON Schema or "
                                "OpenAPI file (api.yaml#Component); auto: inferred from the question",
                    source_default="auto", default_dialect="kubernetes", min_new_tokens=512,
                    source_options=(("metrics", "Prometheus rules: the metrics that exist, from a server URL "
                                                "(http://host:9090) or a file (a /metrics scrape, JSON or YAML)"),
                                    ("kubernetes_version", "Kubernetes: the version whose schemas apply (default: the "
                                                           "newest kubernetes-validate has)"),
                                    ("kubeconfig", "Kubernetes: a kubeconfig; the dry run is then kubectl apply "
                                                   "--dry-run=server on that cluster")))

FAMILIES = ("prometheus", "kubernetes", "compose")
_PROMETHEUS = {"prometheus", "prometheus-rule", "prometheus-rules", "rules", "alert", "alerting-rule"}
_COMPOSE = {"compose", "docker-compose", "compose-spec"}
_KUBERNETES = {"kubernetes", "k8s", "manifest"}


@dataclass(frozen=True)
class ConfigSource:
    """What a config is written against: a kind (or ``auto``), and the running system when given."""

    kind: str = "auto"
    metrics: Any = None  # Prometheus: a server URL, a metrics file, a dict or a MetricSet
    kubernetes_version: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    schema: Any = None  # a JSON Schema (dict or path) or an OpenAPI document, for kind "jsonschema"
    component: str | None = None  # the OpenAPI component to write

    @classmethod
    def of(cls, source: Any) -> "ConfigSource":
        if isinstance(source, ConfigSource):
            return source
        if isinstance(source, Mapping):
            known_keys(source, cls.__dataclass_fields__, "config")
            return cls(**dict(source))
        if isinstance(source, Path) or isinstance(source, str) and re.search(r"\.(json|ya?ml)(#\w+)?$", source):
            path, _, component = str(source).partition("#")
            return cls(kind="jsonschema", schema=path, component=component or None)
        if isinstance(source, str):
            return cls(kind=source)
        raise Nl2qError(f"a config source cannot be a {type(source).__name__}",
                        "pass a kind name (prometheus-rule, Deployment, compose), a schema file, or a dict")


class ConfigBound(Bound):
    """A config source bound; :meth:`for_question` narrows an open one (``auto``, ``kubernetes``) to one kind."""

    spec = CONFIG

    def __init__(self, target: "ConfigTarget", source: ConfigSource, kind: ConfigKind | None,
                 notes: list[Diagnostic] | None = None, view: tuple[Constraint, Any] | None = None) -> None:
        """``view``: the constraint and generation schema of one question (set on a narrowed bound)."""
        self._target = target
        self.source = source
        self.kind = kind
        self.dialect = kind.profile if kind else target.profile("kubernetes")
        if view is not None:
            self.constraint, self._schema = view
        else:
            self.constraint = kind.constraint if kind else json_constraint({"type": "object"})
            self._schema = None
        self._view = view
        self._notes = notes or []
        self._narrowed: dict[tuple[str, str], ConfigBound] = {}
        self._kinds: dict[str, ConfigKind] = {}  # kinds a document named, built (schemas read) once per bound

    @property
    def notes(self) -> list[Diagnostic]:
        return list(self._notes)

    # ------------------------------------------------------------------ narrowing

    def for_question(self, question: str) -> "ConfigBound":
        """The kind the question asks for (when the source left it open) and the constraint cut to it."""
        if self._view is not None or self.kind is None and self._notes:
            return self
        kind, notes = self.kind, []
        if kind is None or self.source.kind.lower() in _KUBERNETES:
            kind, notes = self._infer(question)
            if kind is None:
                return self._undecided(notes)
        constraint, schema, cut = kind.for_question(question)
        key = (kind.label, constraint.key)
        if key not in self._narrowed:
            self._narrowed[key] = ConfigBound(self._target, self.source, kind, [*notes, *cut], (constraint, schema))
        return self._narrowed[key]

    def _infer(self, question: str) -> tuple[ConfigKind | None, list[Diagnostic]]:
        family = "kubernetes" if self.source.kind.lower() in _KUBERNETES else self._target.family_for(question)
        kinds = self._target.kubernetes_kinds_in(question, self.source) if family == "kubernetes" else []
        if family is None or family == "kubernetes" and not kinds:
            return None, []
        kind = self._target.kind_for(kinds[0] if kinds else family, self.source)
        said = f"wrote a {kind.label}, inferred from the question" + (
            f"; other kinds it names ({', '.join(kinds[1:])}) were left out: ask for them one at a time"
            if len(kinds) > 1 else "")
        return kind, [Diagnostic("config.kind", said, severity="warning" if len(kinds) > 1 else "info",
                                 hint="pass the kind (--kind) to choose another", stage="decode")]

    def _undecided(self, notes: list[Diagnostic]) -> "ConfigBound":
        """No kind in the question: any JSON object, checked as whatever kind its own keys name; said so."""
        note = Diagnostic("config.kind", "could not tell from the question which kind of config to write; the "
                          "output was held to JSON only and checked as the kind its keys name", severity="warning",
                          hint="pass the kind (--kind prometheus-rule, --kind Deployment, --kind compose)", stage="decode")
        return ConfigBound(self._target, self.source, None, [*notes, note], (self.constraint, None))

    # ------------------------------------------------------------------ the pipeline's interface

    def schema_text(self, question: str) -> str:
        if self.kind is None:
            return "any JSON object"
        return self.kind.schema_text(question, self._schema)

    def check(self, text: str, policy: Policy) -> Checked:
        from ...check import hidden_characters, input_bounds
        from .document import DocumentError
        from .validate import validate

        early = input_bounds(text) + hidden_characters(text)
        if any(d.is_error for d in early):
            return Checked(early)
        try:
            docs = _documents(text)
        except DocumentError as e:
            return Checked([e.diagnostic()])
        if len(docs) != 1:
            return Checked([Diagnostic("config.documents", f"{len(docs)} documents where one was expected",
                                       hint="write one document; ask for each kind separately")])
        doc = docs[0]
        kind = self._kind_of(doc.data)
        if kind is None:
            return Checked([Diagnostic("config.kind", "cannot tell which kind of config this document is",
                                       hint="give apiVersion and kind (Kubernetes), groups (Prometheus rules) or "
                                            "services (compose)")])
        loaded = kind.validation()
        diags = validate(doc, loaded.schema, registry=loaded.registry)
        if not any(d.is_error for d in diags):
            diags += kind.semantic(doc, policy)
        return Checked(diags)

    def _kind_of(self, data: Any) -> ConfigKind | None:
        """The kind a document is checked as: the bound one, else the one its own keys name."""
        if self.kind is not None and (self.kind.matches(data) or self.source.kind != "auto"):
            return self.kind
        if not isinstance(data, dict):
            return None
        try:
            if isinstance(data.get("kind"), str) and isinstance(data.get("apiVersion"), str):
                return self._named(f"{data['apiVersion']}/{data['kind']}")
            for family in ("prometheus", "compose"):
                kind = self._named(family)
                if kind.matches(data):
                    return kind
        except Nl2qError:
            return None
        return None

    def _named(self, name: str) -> ConfigKind:
        if name not in self._kinds:
            self._kinds[name] = self._target.kind_for(name, self.source)
        return self._kinds[name]

    def dry_run(self, text: str, policy: Policy, writes: bool) -> DryRun | None:
        doc = _documents(text)[0]
        kind = self._kind_of(doc.data)
        return kind.dry_run(doc, policy) if kind is not None else None

    def outcome_diagnostics(self, dry: DryRun, text: str = "") -> list[Diagnostic]:
        if dry.mode == "skipped":
            return [Diagnostic("execute.skipped", f"not dry-run: {dry.plan}", severity="info", stage="execute")]
        return super().outcome_diagnostics(dry, text)

    def normalise(self, text: str) -> str:
        try:
            return json.dumps(json.loads(text), sort_keys=True)
        except ValueError:
            return text.strip()

    def renderings(self, text: str) -> dict[str, str]:
        from .document import DocumentError, to_yaml

        try:
            return {"yaml": "---\n".join(to_yaml(d.data) for d in _documents(text))}
        except DocumentError:
            return {}

    def describe(self) -> dict[str, Any]:
        return {"target": "config", "kind": self.kind.label if self.kind else "auto"}


class ConfigTarget(Target):
    """Configs checked against their schemas and by the tools operators use; never applied."""

    spec = CONFIG
    profile_type = ConfigProfile

    def bind(self, source: Any, dialect: str | None = None) -> Bound:
        src = ConfigSource.of(source)
        name = src.kind.lower()
        if name == "auto" or name in _KUBERNETES:
            return ConfigBound(self, src, None)
        kind = self.kind_for(src.kind, src)
        if dialect and dialect.lower() != kind.family:
            raise Nl2qError(f"kind {src.kind} is a {kind.family} config, not {dialect}", f"omit --dialect or use {kind.family}")
        return ConfigBound(self, src, kind)

    def kind_for(self, name: str, source: ConfigSource) -> ConfigKind:
        """The kind a name means: a family, a Kubernetes kind (``Deployment``, ``apps/v1/Deployment``), ``jsonschema``."""
        low = name.lower()
        if low in _PROMETHEUS:
            return PrometheusRules(self.profile("prometheus"), self._metrics(source))
        if low in _COMPOSE:
            return Compose(self.profile("compose"))
        if low == "jsonschema":
            if source.schema is None:
                raise Nl2qError("kind jsonschema needs a schema", "pass {'kind': 'jsonschema', 'schema': path or dict}")
            from .schema import user_schema

            return JsonSchemaDocument(self.profile("jsonschema"), user_schema(source.schema, source.component))
        return self._kubernetes(name, source)

    def _kubernetes(self, name: str, source: ConfigSource) -> KubernetesResource:
        from .kubernetes import kinds as kubernetes_kinds
        from .schema import latest_kubernetes

        profile = self.profile("kubernetes")
        version = source.kubernetes_version or profile.kubernetes_version or latest_kubernetes()
        api_version, _, kind = name.rpartition("/")
        available = kubernetes_kinds(version)
        by_lower = {k.lower(): k for k in available}
        kind = (profile.aliases or {}).get(kind.lower(), by_lower.get(kind.lower(), kind))
        if kind not in available:
            from ...check import suggestion

            raise Nl2qError(f"unknown config kind {name!r}", suggestion(kind, available, "Kubernetes kind")
                            or "use prometheus-rule, compose, jsonschema or a Kubernetes kind such as Deployment")
        versions = available[kind]
        if api_version and api_version not in versions:
            raise Nl2qError(f"Kubernetes {version} has no {kind} in {api_version}", f"use one of: {', '.join(versions)}")
        return KubernetesResource(profile, kind, api_version or versions[0], version, source.kubeconfig, source.context)

    def _metrics(self, source: ConfigSource) -> Any:
        if source.metrics is None:
            return None
        from .metrics import load_metrics

        return load_metrics(source.metrics)

    # ------------------------------------------------------------------ reading a question

    def family_for(self, question: str) -> str | None:
        """The family whose words the question uses most (a Kubernetes kind's name counts for kubernetes)."""
        words = re.findall(r"[a-z0-9-]+", question.lower())
        scores = {f: sum(w in set(self.profile(f).question_words) for w in words) for f in FAMILIES}
        scores["kubernetes"] += 2 * len(self.kubernetes_kinds_in(question, ConfigSource()))
        best = max(scores.values())
        top = [f for f, s in scores.items() if s == best]
        return top[0] if best > 0 and len(top) == 1 else None

    def kubernetes_kinds_in(self, question: str, source: ConfigSource) -> list[str]:
        """Kubernetes kinds a question names (``Deployment``, ``config map``, ``svc``), in the order named."""
        from .kubernetes import kinds as kubernetes_kinds
        from .schema import latest_kubernetes

        profile = self.profile("kubernetes")
        available = kubernetes_kinds(source.kubernetes_version or profile.kubernetes_version or latest_kubernetes())
        lookup = {k.lower(): k for k in available if not k.endswith("List")}
        lookup.update({a: k for a, k in (profile.aliases or {}).items()})
        words = re.findall(r"[a-z0-9]+", question.lower())
        found: list[str] = []
        for i in range(len(words)):
            for n in (3, 2, 1):
                joined = "".join(words[i:i + n])
                for form in (joined, joined[:-1] if joined.endswith("s") else None):
                    if form and form in lookup and lookup[form] not in found and _worth_naming(form, n):
                        found.append(lookup[form])
        return found

    def conformance(self) -> Conformance:
        rule = {"groups": [{"name": "api", "rules": [{"alert": "ApiDown", "expr": "up == 0", "for": "5m",
                                                      "labels": {"severity": "critical"}}]}]}
        deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                      "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                               "template": {"metadata": {"labels": {"app": "web"}},
                                            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}
        privileged = json.loads(json.dumps(deployment))
        privileged["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
        host = json.loads(json.dumps(deployment))
        host["spec"]["template"]["spec"]["volumes"] = [{"name": "root", "hostPath": {"path": "/"}}]
        return Conformance(
            source="auto",
            random_source=_random_rules_source,
            random_sources={"kubernetes": lambda rng: rng.choice(["ConfigMap", "Service", "Namespace", "Secret"]),
                            "compose": lambda rng: "compose",
                            "jsonschema": _random_schema_source},
            valid=(json.dumps(rule), json.dumps(deployment, indent=2)),
            writes=(json.dumps(privileged), json.dumps(host)),
            policy=Policy(allow_privilege=False),
            different=((json.dumps({"groups": [{"name": "a", "rules": [{"alert": "A", "expr": "up == 0"}]}]}),
                        json.dumps({"groups": [{"name": "a", "rules": [{"alert": "A", "expr": "up == 1"}]}]})),),
            same=((json.dumps({"groups": [{"name": "a", "rules": [{"alert": "A", "expr": "up == 0"}]}]}),
                   '{"groups": [ {"name": "a",\n "rules": [{"alert": "A", "expr": "up == 0"}]}]}'),),
        )


@lru_cache(maxsize=32)
def _documents(text: str) -> list[Any]:
    """``text`` parsed with positions, once: the check, the dry run and the rendering of a round share it."""
    from .document import load_documents

    return load_documents(text)


def _worth_naming(form: str, words: int) -> bool:
    """One-word kinds that are also everyday words count only when written as the kind (checked by the caller
    through the profile's aliases); multi-word or long names count always."""
    return words > 1 or len(form) > 3


def _random_rules_source(rng: random.Random) -> dict[str, Any]:
    pool = ["up", "http_requests_total", "node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "process_open_fds"]
    labels = ["job", "instance", "code", "mode", "device"]
    names = rng.sample(pool, rng.randint(1, len(pool)))
    return {"kind": "prometheus-rule", "metrics": {"metrics": {
        n: {"type": "counter" if n.endswith("_total") else "gauge", "labels": rng.sample(labels, rng.randint(0, 3))}
        for n in names}}}


__all__ = ["ConfigBound", "ConfigSource", "ConfigTarget", "CONFIG"]


def _random_schema_source(rng: random.Random) -> dict[str, Any]:
    props = {"name": {"type": "string", "minLength": 1}, "replicas": {"type": "integer", "minimum": 0},
             "enabled": {"type": "boolean"}, "mode": {"enum": ["fast", "safe"]},
             "tags": {"type": "array", "items": {"type": "string"}}}
    chosen = dict(rng.sample(sorted(props.items()), rng.randint(1, len(props))))
    return {"kind": "jsonschema", "schema": {"type": "object", "properties": chosen, "additionalProperties": False,
                                             "required": sorted(rng.sample(sorted(chosen), rng.randint(0, len(chosen))))}}
