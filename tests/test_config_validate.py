"""Config documents and schema diagnostics, against the real schemas people validate with: GitHub
workflows and compose-spec (as vendored by check-jsonschema), Kubernetes (kubernetes-validate's strict
schemas), a SchemaStore-style Prometheus rule file."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.resources import files
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

from nl2q.targets.config.document import (
    Document, DocumentError, Path, load_documents, path_text, to_yaml,
)
from nl2q.targets.config.validate import CAP, validate

VENDOR = files("check_jsonschema") / "builtin_schemas" / "vendor"
K8S = files("kubernetes_validate") / "kubernetes-json-schema" / "v1.37.0-local-strict"


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def one(text: str) -> Document:
    docs = load_documents(text)
    assert len(docs) == 1
    return docs[0]


def at(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data


# --- schemas, compiled once per module ------------------------------------------------------------------

@pytest.fixture(scope="module")
def workflow_schema() -> dict:
    return json.loads((VENDOR / "github-workflows.json").read_text())


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    return json.loads((VENDOR / "compose-spec.json").read_text())


@pytest.fixture(scope="module")
def k8s() -> tuple[dict, Registry]:
    """The Deployment schema and a registry holding it and _definitions.json, the way
    kubernetes_validate.utils.validate builds one."""
    schema = json.loads((K8S / "deployment-apps-v1.json").read_text())
    definitions = json.loads((K8S / "_definitions.json").read_text())
    return schema, Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())


# A trimmed copy of SchemaStore's prometheus.rules.json: a rule is a recording rule or an alerting rule.
PROMETHEUS_RULES = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": ["object", "null"],
    "additionalProperties": False,
    "properties": {"groups": {"type": ["array", "null"], "items": {
        "type": "object", "required": ["name"], "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "description": "The name of the group. Must be unique within a file."},
            "interval": {"$ref": "#/definitions/duration"},
            "rules": {"type": ["array", "null"], "items": {"oneOf": [
                {"$ref": "#/definitions/recording_rule"}, {"$ref": "#/definitions/alerting_rule"}]}},
        }}}},
    "definitions": {
        "duration": {"type": ["string", "null"], "minLength": 1,
                     "pattern": "^([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"},
        "labels": {"type": ["object", "null"], "additionalProperties": False,
                   "patternProperties": {"^[a-zA-Z_][a-zA-Z0-9_]*$": {"type": "string"}}},
        "recording_rule": {
            "type": "object", "required": ["record", "expr"], "additionalProperties": False,
            "properties": {
                "record": {"type": "string", "description": "The name of the time series to output to."},
                "expr": {"type": "string", "description": "The PromQL expression to evaluate."},
                "labels": {"$ref": "#/definitions/labels"},
            }},
        "alerting_rule": {
            "type": "object", "required": ["alert", "expr"], "additionalProperties": False,
            "properties": {
                "alert": {"type": "string", "description": "The name of the alert."},
                "expr": {"type": "string", "description": "The PromQL expression to evaluate."},
                "for": {"$ref": "#/definitions/duration"},
                "labels": {"$ref": "#/definitions/labels"},
                "annotations": {"description": "Annotations to add to each alert.",
                                "$ref": "#/definitions/labels"},
            }},
    },
}


# --- (a) GitHub workflow: a typo next to `uses:` -------------------------------------------------------

WORKFLOW = """\
name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        wiht:
          fetch-depth: 0
      - run: make test
"""


def test_workflow_typo_raw_jsonschema_reports_the_combinator(workflow_schema):
    """What raw jsonschema says, for the record: the one error is the job's oneOf failing as a whole; its
    context mixes the meant branch's complaint with the other branch's misleading "'uses' is a required
    property"; best_match digs out the right complaint but has no line and no fix."""
    data = one(WORKFLOW).data
    errors = list(jsonschema.validators.validator_for(workflow_schema)(workflow_schema).iter_errors(data))
    assert len(errors) == 1
    assert errors[0].validator == "oneOf" and list(errors[0].absolute_path) == ["jobs", "build"]
    assert errors[0].message.endswith("is not valid under any of the given schemas")
    assert "'uses' is a required property" in [c.message for c in errors[0].context]
    best = best_match(errors)
    assert best.message == "Additional properties are not allowed ('wiht' was unexpected)"
    assert list(best.absolute_path) == ["jobs", "build", "steps", 0]


def test_workflow_typo_names_the_key_its_line_and_the_fix(workflow_schema):
    doc = one(WORKFLOW)
    assert "on" in doc.data, "YAML 1.1 reads a bare `on` as true; a config key must stay the text written"
    [d] = validate(doc, workflow_schema)
    assert d.code == "schema.unknown_key"
    assert "`wiht`" in d.message and "jobs.build.steps[0]" in d.message
    assert (d.line, d.col) == (line_of(WORKFLOW, "wiht"), 9)
    assert WORKFLOW[d.start:d.end] == "wiht"
    assert "`with`" in d.hint and "input parameters" in d.hint
    assert "required" not in d.message


def test_check_jsonschema_leads_with_the_other_branch(tmp_path):
    """check-jsonschema rejects the file too, but its "Best Match" is the reusable-workflow branch's
    "'uses' is a required property" at the job; the typo only shows as its "Best Deep Match"."""
    workflow = tmp_path / "ci.yaml"
    workflow.write_text(WORKFLOW)
    ran = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                          str(workflow)], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 1
    lines = [line.strip() for line in ran.stdout.splitlines()]
    assert lines[lines.index("Best Match:") + 1] == "$.jobs.build: 'uses' is a required property"
    assert "'wiht' was unexpected" in lines[lines.index("Best Deep Match:") + 1]


def test_workflow_step_without_an_action_names_the_choice(workflow_schema):
    text = WORKFLOW.replace("      - run: make test\n", "      - name: lint\n        usess: ./lint\n")
    diags = validate(one(text), workflow_schema)
    by_code = {d.code: d for d in diags}
    assert set(by_code) == {"schema.unknown_key", "schema.missing_key"}
    assert "`usess`" in by_code["schema.unknown_key"].message and "`uses`" in by_code["schema.unknown_key"].hint
    needs = by_code["schema.missing_key"]
    assert "jobs.build.steps[1] needs one of" in needs.message and "`uses`" in needs.message and "`run`" in needs.message
    assert needs.line == line_of(text, "- name: lint")


def test_workflow_any_of_types_are_named_together(workflow_schema):
    text = WORKFLOW.replace("wiht", "with").replace("      - run: make test\n", "      - run: make test\n        if: [always]\n")
    [d] = validate(one(text), workflow_schema)
    assert d.code == "schema.type"
    assert d.message == "expected boolean, number or string at jobs.build.steps[1].if, got array"
    assert text[d.start:d.end] == "[always]"


def test_a_ready_validator_is_accepted(workflow_schema):
    validator = jsonschema.Draft7Validator(workflow_schema)
    [d] = validate(one(WORKFLOW), validator)
    assert d.code == "schema.unknown_key" and "`with`" in d.hint


# --- (b) Prometheus rules: recording vs alerting rule in a oneOf -------------------------------------------

RULES = """\
groups:
  - name: example
    rules:
      - record: job:http_errors:rate5m
        expr: sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))
      - alert: HighErrorRate
        expr: job:http_errors:rate5m > 0.1
        for: 10m
        labels:
          severity: page
        anotations:
          summary: High error rate on {{ $labels.job }}
"""


def test_prometheus_alerting_rule_typo_is_reported_in_the_alerting_branch():
    data = one(RULES).data
    raw = list(jsonschema.Draft7Validator(PROMETHEUS_RULES).iter_errors(data))
    assert [e.validator for e in raw] == ["oneOf"]
    assert "'record' is a required property" in [c.message for c in raw[0].context]

    [d] = validate(one(RULES), PROMETHEUS_RULES)
    assert d.code == "schema.unknown_key"
    assert d.message == "unknown key `anotations` in groups[0].rules[1]"
    assert d.line == line_of(RULES, "anotations") and RULES[d.start:d.end] == "anotations"
    assert "did you mean `annotations`?" in d.hint and "Annotations to add to each alert" in d.hint


def test_prometheus_branch_follows_the_keys_written():
    recording = RULES.replace("        anotations:\n          summary: High error rate on {{ $labels.job }}\n", "")
    recording = recording.replace("        expr: sum by", "        lables: {team: web}\n        expr: sum by")
    [d] = validate(one(recording), PROMETHEUS_RULES)
    assert d.message == "unknown key `lables` in groups[0].rules[0]" and "`labels`" in d.hint

    bare = "groups:\n  - name: g\n    rules:\n      - expr: up == 0\n"
    [d] = validate(one(bare), PROMETHEUS_RULES)
    assert d.code == "schema.missing_key" and "`record` or `alert`" in d.message and d.line == 4


def test_prometheus_value_errors_inside_the_meant_branch():
    text = RULES.replace("for: 10m", "for: 10 minutes").replace("anotations", "annotations")
    [d] = validate(one(text), PROMETHEUS_RULES)
    assert d.code == "schema.value" and "groups[0].rules[1].for" in d.message and "pattern" in d.message
    assert text[d.start:d.end] == "10 minutes"


# --- (c) Kubernetes Deployment against the strict schema -----------------------------------------------

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:1.25
          imagePullPolicy: IfNotPresent
"""


def test_valid_deployment_passes_here_and_in_kubernetes_validate(k8s):
    import kubernetes_validate

    schema, registry = k8s
    doc = one(DEPLOYMENT)
    assert validate(doc, schema, registry=registry) == []
    kubernetes_validate.validate(doc.data, "1.37", strict=True)


def test_deployment_typo_deep_in_a_container_and_a_quoted_number(k8s):
    import kubernetes_validate

    schema, registry = k8s
    text = DEPLOYMENT.replace("imagePullPolicy:", "imagePullPolcy:").replace("replicas: 3", 'replicas: "3"')
    doc = one(text)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc.data, "1.37", strict=True)
    typo, quoted = sorted(validate(doc, schema, registry=registry), key=lambda d: d.code, reverse=True)
    assert typo.code == "schema.unknown_key"
    assert typo.message == "unknown key `imagePullPolcy` in spec.template.spec.containers[0]"
    assert typo.line == line_of(text, "imagePullPolcy") and typo.col == 11
    assert typo.hint.startswith("did you mean `imagePullPolicy`?") and "Image pull policy" in typo.hint
    assert quoted.code == "schema.type"
    assert quoted.message == 'expected integer or null at spec.replicas, got string "3"'
    assert quoted.line == line_of(text, "replicas") and text[quoted.start:quoted.end] == '"3"'
    assert "drop the quotes" in quoted.hint


def test_deployment_missing_key_points_at_its_parent(k8s):
    schema, registry = k8s
    text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template: {}\n"
    [d] = validate(one(text), schema, registry=registry)
    assert d.code == "schema.missing_key" and d.message == "missing required key `selector` in spec"
    assert text[d.start:d.end] == "spec" and "Label selector" in d.hint


# --- (d) compose-spec ----------------------------------------------------------------------------------

COMPOSE = """\
services:
  web:
    image: nginx:1.25
    restart: sometimes
    ports:
      - "8080:80"
"""


def test_compose_restart_is_a_free_string_in_the_schema(compose_schema, tmp_path):
    """check-jsonschema accepts `restart: sometimes` because compose-spec types `restart` as a bare string
    and lists the options only in prose (Compose itself rejects the value when it starts the service)."""
    restart = compose_schema["$defs"]["service"]["properties"]["restart"]
    assert restart["type"] == "string" and "enum" not in restart and "unless-stopped" in restart["description"]
    assert validate(one(COMPOSE), compose_schema) == []
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    ran = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                          str(tmp_path / "compose.yaml")], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_compose_service_key_typo(compose_schema):
    text = COMPOSE.replace("image:", "imagee:")
    [d] = validate(one(text), compose_schema)
    assert d.code == "schema.unknown_key" and d.message == "unknown key `imagee` in services.web"
    assert d.line == 3 and text[d.start:d.end] == "imagee"
    assert d.hint.startswith("did you mean `image`?")


def test_compose_failed_sibling_does_not_make_known_keys_unknown(compose_schema):
    """jsonschema calls `ports` "unevaluated" once the allOf part naming it fails elsewhere: only the real
    error is reported."""
    text = COMPOSE.replace("restart: sometimes", "healthcheck:\n      interval: 10")
    [d] = validate(one(text), compose_schema)
    assert d.code == "schema.type" and "services.web.healthcheck.interval" in d.message
    assert '"10"' in d.hint


# --- diagnostics: order, duplicates, cap ---------------------------------------------------------------

def test_diagnostics_sorted_unique_and_capped(k8s):
    schema, registry = k8s
    extra = "".join(f"  extra{n:02d}: 1\n" for n in range(CAP + 5))
    text = DEPLOYMENT.replace("spec:\n  replicas: 3\n", "spec:\n" + extra + "  replicas: 3\n")
    diags = validate(one(text), schema, registry=registry)
    assert len(diags) == CAP + 1
    assert diags[-1].severity == "info" and "5 more" in diags[-1].message
    errors = diags[:-1]
    assert [d.start for d in errors] == sorted(d.start for d in errors)
    assert len({(d.start, d.message) for d in errors}) == CAP
    assert all(text[d.start:d.end] == f"extra{n:02d}" for n, d in enumerate(errors))


def test_json_document_positions(k8s):
    schema, registry = k8s
    data = yaml.safe_load(DEPLOYMENT)
    data["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    text = json.dumps(data, indent=2)
    [d] = validate(one(text), schema, registry=registry)
    assert text[d.start:d.end] == '"imagePullPolcy"' and d.line == line_of(text, "imagePullPolcy")


# --- (e) documents -------------------------------------------------------------------------------------

keys = st.text(max_size=8) | st.sampled_from(["on", "yes", "1", "null", "a.b", ": x", "#k", " k", "é"])
strings = st.text(max_size=20) | st.sampled_from(
    ["yes", "on", "1e3", "08", "null", "", ": x", "#x", " lead", "trail ", "two\nlines", "end\n", "ünï ☃", "~"])
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | strings
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=20)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_spans(doc: Document, reparse) -> None:
    for path, span in doc.values.items():
        value = at(doc.data, path)
        if not isinstance(value, (dict, list)):
            assert reparse(doc.text[span.start:span.end]) == value, path
        assert doc.text.count("\n", 0, span.start) + 1 == span.line
    for path, span in doc.keys.items():
        assert reparse(doc.text[span.start:span.end]) == path[-1]
        assert path[:-1] in doc.values


@PROPERTY
@given(json_values)
def test_to_yaml_round_trips_exactly(value):
    text = to_yaml(value)
    assert yaml.safe_load(text) == value
    assert [d.data for d in load_documents(text)] == [value]


@PROPERTY
@given(json_values, st.sampled_from([2, None]))
def test_json_spans_are_exact(value, indent):
    value = {"v": value}
    doc = one(json.dumps(value, indent=indent, ensure_ascii=indent is None))
    assert doc.data == value and doc.format == "json"
    check_spans(doc, json.loads)
    for path, span in doc.values.items():
        assert json.loads(doc.text[span.start:span.end]) == at(value, path)


@PROPERTY
@given(json_values)
def test_yaml_spans_are_exact(value):
    doc = one(to_yaml(value))
    assert doc.data == value and doc.format == ("json" if value in ([], {}) else "yaml")
    check_spans(doc, yaml.safe_load)


def test_to_yaml_is_for_people():
    text = to_yaml({"kind": "ConfigMap", "data": {"script": "set -e\nmake test\n", "flag": "yes", "n": "08", "on": 1},
                    "list": [1, {"a": None}], "empty": {}})
    assert text == (
        "kind: ConfigMap\n"
        "data:\n"
        "  script: |\n"
        "    set -e\n"
        "    make test\n"
        "  flag: 'yes'\n"
        "  'n': '08'\n"
        "  'on': 1\n"
        "list:\n"
        "- 1\n"
        "- a: null\n"
        "empty: {}\n")


@pytest.mark.parametrize("tricky", ["yes", "on", "1e3", "08", "null", "", ": x", "#x", " a ", "x\r\ny", "a\u2028b",
                                    "\x85", "tab\there", "- item", "? k", "---", "...", "0x1F", "1:20", "2024-01-01",
                                    "☃\n  indented\n", " lead\nline", "trailing  \nspaces"])
def test_to_yaml_tricky_strings(tricky):
    for value in (tricky, {tricky: tricky}, [tricky]):
        assert yaml.safe_load(to_yaml(value)) == value


def test_multi_document_yaml_spans_index_the_whole_text():
    text = "a: 1\n---\nb:\n  - x\n  - 'y'\n---\n"
    first, second = load_documents(text)
    assert first.data == {"a": 1} and second.data == {"b": ["x", "y"]}
    span = second.values[("b", 1)]
    assert text[span.start:span.end] == "'y'" and (span.line, span.col) == (5, 5)
    assert second.text is text


def test_yaml_keys_stay_text_and_non_json_scalars_stay_as_written():
    doc = one("on: push\n1: one\nwhen: 2024-01-01\nmerge:\n  <<: &base {x: 1, y: 2}\n  y: 3\n")
    assert doc.data == {"on": "push", "1": "one", "when": "2024-01-01", "merge": {"x": 1, "y": 3}}


@pytest.mark.parametrize("text, line, first", [
    ('{\n  "name": "a",\n  "image": "x",\n  "name": "b"\n}', 4, 2),
    ("name: a\nimage: x\nname: b\n", 3, 1),
    ("spec:\n  containers:\n    - name: a\n      name: b\n", 4, 3),
])
def test_duplicate_keys_are_errors(text, line, first):
    with pytest.raises(DocumentError) as caught:
        load_documents(text)
    e = caught.value
    assert e.code == "schema.duplicate_key" and e.line == line
    assert "`name`" in e.message and f"line {line}" in e.message and f"first on line {first}" in e.message


def reject(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


@pytest.mark.parametrize("text, hint", [
    ('{\n  "a": 1,\n  "b": [1, 2,],\n}', "trailing comma (line 3, col 13)"),
    ('{\n  "a": 1,\n}', "trailing comma (line 2, col 9)"),
    ('{\n  "a": 1\n  "b": 2\n}', "a comma is missing"),
    ("{\n  'a': 1\n}", "double quotes"),
    ('{"a": True}', "write `true`"),
    ('{"a": "x"}}', "after the end of the JSON value"),
    ('{"a": [1, 2', "before every `{` and `[` is closed"),
    ('{"a": NaN}', "not JSON"),
])
def test_json_syntax_errors_carry_the_parser_position(text, hint):
    with pytest.raises(DocumentError) as caught:
        load_documents(text)
    e = caught.value
    assert hint in e.message
    try:
        json.loads(text, parse_constant=reject)
    except json.JSONDecodeError as parsed:
        assert (e.line, e.col, e.start) == (parsed.lineno, parsed.colno, parsed.pos)
    except ValueError:
        assert text[e.start:e.end] == "NaN"
    assert e.diagnostic().line == e.line


@pytest.mark.parametrize("text, line, hint", [
    ("a:\n\tb: 1\n", 2, "tab"),
    ("a: b: c\n", 1, "quote a value"),
    ("a:\n  - x\n  y: 1\n", 3, "indentation"),
    ("a: [1, 2\n", 2, "never closed"),
    ("a: !Ref x\n", 1, "`!Ref`"),
])
def test_yaml_syntax_errors(text, line, hint):
    with pytest.raises(DocumentError) as caught:
        load_documents(text)
    assert caught.value.line == line and hint in caught.value.message


def test_path_text():
    assert path_text(("spec", "template", "spec", "containers", 0, "image")) == "spec.template.spec.containers[0].image"
    assert path_text(("metadata", "annotations", "kubernetes.io/change-cause")) == \
        'metadata.annotations["kubernetes.io/change-cause"]'
    assert path_text((0, "a b")) == '[0]["a b"]' and path_text(()) == ""

