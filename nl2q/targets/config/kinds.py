"""The kinds of config nl2q writes: one class per kind, overriding only what differs.

A kind knows its validation schema, the generation schema (or grammar) the decoder is held to,
what its prompt shows, the checks its schema cannot express, and the real tool that dry-runs it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from ...policy import Policy
from ...types import Constraint, Diagnostic, DryRun
from .profile import ConfigProfile
from .schema import (LoadedSchema, Schema, bundle, compose_schema, constraint_options, for_generation,
                     kubernetes_schema, prometheus_rules_schema, prune, resolve)

if TYPE_CHECKING:
    from .document import Document
    from .metrics import MetricSet

# The assistant turn opens a ```json fence: a document ends with a newline and the closing fence.
END = '_END: /\\n```/'
Locate = Callable[[tuple[str | int, ...]], "dict[str, int] | None"]


class ConfigKind(ABC):
    """One kind of config document. ``family`` names the dialect profile it is checked under."""

    family: ClassVar[str]
    label: str = ""

    def __init__(self, profile: ConfigProfile) -> None:
        self.profile = profile

    @abstractmethod
    def validation(self) -> LoadedSchema:
        """The real schema the document must pass."""

    @cached_property
    def generation(self) -> Schema:
        """The validation schema as the decoder sees it (see :func:`.schema.for_generation`)."""
        return for_generation(bundle(self.validation()), drop=frozenset(self.profile.never_generated),
                              require=self.required(), limits=self.profile.limits())

    def required(self) -> dict[str, Any]:
        """Top-level keys the generated document always has, with their fixed value (None: any)."""
        return {}

    @cached_property
    def constraint(self) -> Constraint:
        return self._constraint(self.generation)

    def _constraint(self, schema: Schema) -> Constraint:
        return json_constraint(schema)

    def for_question(self, question: str) -> tuple[Constraint, Schema, list[Diagnostic]]:
        """The constraint for one question: with the profile's ``core_keys``, the generation schema cut to the
        keys that are required, core or named by the question (and a note saying so); else the whole one."""
        if not self.profile.core_keys:
            return self.constraint, self.generation, []
        schema, kept, total = prune(self.generation, frozenset(self.profile.core_keys), question)
        if kept == total:
            return self.constraint, self.generation, []
        note = Diagnostic("config.schema_cut", f"the decoder was held to {kept} of the schema's {total} keys: the "
                          "required ones, the common ones and those the question names; the output is checked "
                          "against the whole schema", severity="info",
                          hint="name a key in the question (e.g. 'tolerations') to let the decoder write it",
                          stage="decode")
        return self._constraint(schema), schema, [note]

    def schema_text(self, question: str, schema: Schema | None = None) -> str:
        from .outline import outline, skeleton

        schema = self.generation if schema is None else schema
        shape = json.dumps(skeleton(schema, frozenset(self.profile.skeleton_keys)))
        return (f"{self.label}, written as JSON, shaped like this (fill in the <...>, add what the question asks):\n"
                f"{shape}\n\nIts keys:\n{outline(schema, self.profile.outline_lines)}")

    def semantic(self, doc: "Document", policy: Policy) -> list[Diagnostic]:
        """What the schema cannot express; none by default."""
        return []

    def dry_run(self, doc: "Document", policy: Policy) -> DryRun | None:
        """The real tool's verdict; None when no tool can run this kind here."""
        return None

    def matches(self, data: Any) -> bool:
        """Whether a document looks like this kind (to check a person's document against the right schema)."""
        return True


def json_constraint(schema: Schema) -> Constraint:
    """One JSON document of ``schema`` (with llguidance's options), then the closing fence."""
    return Constraint("lark", f"start: document\ndocument: %json {json.dumps(constraint_options(schema))} _END\n{END}\n")


def locator(doc: "Document") -> Locate:
    """Where a path is written in ``doc``: the value's span, else its key's."""

    def locate(path: tuple[str | int, ...]) -> dict[str, int] | None:
        span = doc.values.get(path) or doc.keys.get(path)
        return None if span is None else {"start": span.start, "end": span.end, "line": span.line, "col": span.col}

    return locate


# ------------------------------------------------------------------ Prometheus


class PrometheusRules(ConfigKind):
    """A Prometheus rule file. The decoder writes ``expr`` in PromQL's own grammar over the bound metrics,
    so the JSON document and the query inside it are both held to their languages."""

    family = "prometheus"
    label = "Prometheus rule file"

    def __init__(self, profile: ConfigProfile, metrics: "MetricSet | None" = None) -> None:
        super().__init__(profile)
        self.metrics = metrics

    def validation(self) -> LoadedSchema:
        return prometheus_rules_schema()

    @cached_property
    def constraint(self) -> Constraint:
        from .promql import promql_rules

        names = sorted(self.metrics.names) if self.metrics else []
        labels = sorted(self.metrics.label_names) if self.metrics else []
        return Constraint("lark", RULE_FILE.replace("%PROMQL%", promql_rules(names, labels, in_json=True, decode=True)))

    def schema_text(self, question: str, schema: Schema | None = None) -> str:
        shape = ('{"groups": [{"name": "<group>", "rules": [{"alert": "<AlertName>", "expr": "<PromQL>", "for": "5m", '
                 '"labels": {"severity": "warning"}, "annotations": {"summary": "...", "description": "..."}}]}]}')
        metrics = self.metrics.render(question) if self.metrics else "(no metric list given: any metric name)"
        return f"A Prometheus rule file written as JSON, shaped like:\n{shape}\n\nMetrics:\n{metrics}"

    def semantic(self, doc: "Document", policy: Policy) -> list[Diagnostic]:
        from .rules import check_rule_file

        return check_rule_file(doc, self.metrics)

    def dry_run(self, doc: "Document", policy: Policy) -> DryRun | None:
        from .rules import promtool_dry_run

        return promtool_dry_run(doc, policy)

    def matches(self, data: Any) -> bool:
        return isinstance(data, dict) and "groups" in data


RULE_FILE = r"""start: rule_file _END
rule_file: "{" _NL? "\"groups\"" _COLON "[" _NL? group (_COMMA group)~0..2 _NL? "]" _NL? "}"
group: "{" _NL? "\"name\"" _COLON JSON_STRING _COMMA "\"rules\"" _COLON "[" _NL? rule (_COMMA rule)~0..4 _NL? "]" _NL? "}"
rule: alerting_rule | recording_rule
alerting_rule: "{" _NL? "\"alert\"" _COLON ALERT_NAME _COMMA expr (_COMMA "\"for\"" _COLON "\"" PQ_DURATION "\"")? (_COMMA "\"labels\"" _COLON labels)? (_COMMA "\"annotations\"" _COLON labels)? _NL? "}"
recording_rule: "{" _NL? "\"record\"" _COLON RECORD_NAME _COMMA expr (_COMMA "\"labels\"" _COLON labels)? _NL? "}"
expr: "\"expr\"" _COLON "\"" promql "\""
labels: "{" _NL? (label (_COMMA label)~0..5)? _NL? "}"
label: LABEL_KEY _COLON JSON_STRING
ALERT_NAME: /"[A-Z][A-Za-z0-9_]{0,60}"/
RECORD_NAME: /"[a-zA-Z_:][a-zA-Z0-9_:]{0,60}"/
LABEL_KEY: /"[a-zA-Z_][a-zA-Z0-9_]{0,40}"/
JSON_STRING: /"(\\["\\\/bfnrt]|[ !#-\[\]-~\u00C0-\u024F]){0,160}"/
_COLON: /: ?/
_COMMA: /,\n? {0,12}/
_NL: /\n {0,12}/
""" + END + "\n%PROMQL%\n"


# ------------------------------------------------------------------ Kubernetes


class KubernetesResource(ConfigKind):
    """One Kubernetes kind at one apiVersion, held to kubernetes-validate's strict schema of a Kubernetes version."""

    family = "kubernetes"

    def __init__(self, profile: ConfigProfile, kind: str, api_version: str, version: str,
                 kubeconfig: str | None = None, context: str | None = None) -> None:
        super().__init__(profile)
        self.kind, self.api_version, self.version = kind, api_version, version
        self.kubeconfig, self.context = kubeconfig, context
        self.label = f"Kubernetes {kind} ({api_version}, Kubernetes {version})"

    def validation(self) -> LoadedSchema:
        return kubernetes_schema(self.kind, self.api_version, self.version)

    def required(self) -> dict[str, Any]:
        props = resolve(self.validation().schema, {}).get("properties", {})
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": None,
                **{k: None for k in ("spec", "data", "rules", "subjects", "roleRef") if k in props}}

    def semantic(self, doc: "Document", policy: Policy) -> list[Diagnostic]:
        from .kubernetes import privilege_findings, semantic_checks

        locate = locator(doc)
        return semantic_checks(doc.data, locate) + privilege_findings(doc.data, locate, refuse=not policy.allow_privilege)

    def dry_run(self, doc: "Document", policy: Policy) -> DryRun | None:
        from .kubernetes import kubectl_dry_run, strict_validate

        if self.kubeconfig:
            return kubectl_dry_run(doc.text, kubeconfig=self.kubeconfig, context=self.context, timeout=policy.timeout_s)
        return _verdict("kubernetes-validate --strict", strict_validate(doc.data, self.version),
                        f"{self.kind} passed kubernetes-validate --strict against Kubernetes {self.version}")

    def matches(self, data: Any) -> bool:
        return isinstance(data, dict) and data.get("kind") == self.kind


def _verdict(engine: str, diagnostics: list[Diagnostic], passed: str) -> DryRun:
    errors = [d for d in diagnostics if d.is_error]
    return DryRun(ok=not errors, engine=engine, mode="run", error="; ".join(d.message for d in errors) or None,
                  output=passed if not errors else None)


# ------------------------------------------------------------------ compose


class Compose(ConfigKind):
    """A docker compose file, held to the compose-spec schema."""

    family = "compose"
    label = "docker compose file"

    def validation(self) -> LoadedSchema:
        return compose_schema()

    def required(self) -> dict[str, Any]:
        return {"services": None}

    def semantic(self, doc: "Document", policy: Policy) -> list[Diagnostic]:
        from .compose import privilege_findings, semantic_checks

        locate = locator(doc)
        return semantic_checks(doc.data, locate) + privilege_findings(doc.data, locate, refuse=not policy.allow_privilege)

    def dry_run(self, doc: "Document", policy: Policy) -> DryRun | None:
        from .compose import compose_config

        ran = compose_config(doc.text, policy.timeout_s)
        return ran or DryRun(ok=True, engine="docker compose", mode="skipped",
                             plan="docker compose does not run here; the file was checked against the compose-spec "
                                  "schema and nl2q's own checks only")

    def matches(self, data: Any) -> bool:
        return isinstance(data, dict) and "services" in data


# ------------------------------------------------------------------ any JSON Schema


class JsonSchemaDocument(ConfigKind):
    """A document of a schema the caller gives (a JSON Schema, or an OpenAPI component)."""

    family = "jsonschema"

    def __init__(self, profile: ConfigProfile, loaded: LoadedSchema) -> None:
        super().__init__(profile)
        self.loaded = loaded
        self.label = f"a document of {loaded.origin}"

    def validation(self) -> LoadedSchema:
        return self.loaded
