"""The config target through the pipeline's interface: kinds, constraints, checks, dry runs, renderings."""

from __future__ import annotations

import json

import pytest
import yaml

from nl2q import Compiler, Policy, ScriptedModel, Stages
from nl2q.errors import Nl2qError
from nl2q.grammar import validate as llguidance_accepts
from nl2q.targets import get_target

TARGET = get_target("config")

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
              "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                             "ports": [{"containerPort": 80}],
                                                             "readinessProbe": {"httpGet": {"path": "/healthz",
                                                                                            "port": 80}}}]}}}}
RULES = {"groups": [{"name": "pods", "rules": [{"alert": "PodRestarting", "for": "5m",
                                                "expr": "increase(kube_pod_container_status_restarts_total[10m]) > 3",
                                                "labels": {"severity": "warning"},
                                                "annotations": {"summary": "{{ $labels.pod }} restarts"}}]}]}
METRICS = {"metrics": {"kube_pod_container_status_restarts_total": {"type": "counter", "labels": ["pod", "namespace"]},
                       "up": {"type": "gauge", "labels": ["job", "instance"]}}}


def check(source, doc, policy=Policy()):
    bound = TARGET.bind(source)
    text = doc if isinstance(doc, str) else json.dumps(doc, indent=2)
    return bound.check(text, policy).diagnostics


def codes(diags, errors_only=True):
    return [d.code for d in diags if d.is_error or not errors_only]


@pytest.mark.parametrize("question,family,kind", [
    ("Alert when a pod restarts more than 3 times in 10 minutes", "prometheus", None),
    ("a Deployment of nginx:1.27 with 3 replicas and a readiness probe on /healthz", "kubernetes", "Deployment"),
    ("a config map holding LOG_LEVEL=debug", "kubernetes", "ConfigMap"),
    ("a docker compose file with postgres and redis", "compose", None),
])
def test_the_kind_is_inferred_from_the_question_and_the_result_says_so(question, family, kind):
    narrowed = TARGET.bind("auto").for_question(question)
    assert narrowed.kind is not None and narrowed.kind.family == family
    if kind:
        assert narrowed.kind.kind == kind
    assert any(d.code == "config.kind" and narrowed.kind.label in d.message for d in narrowed.notes)


def test_a_question_naming_no_kind_is_held_to_json_and_says_so():
    narrowed = TARGET.bind("auto").for_question("make it faster")
    assert narrowed.kind is None
    assert any(d.code == "config.kind" and d.severity == "warning" for d in narrowed.notes)


def test_unknown_kinds_fail_with_a_suggestion():
    with pytest.raises(Nl2qError) as e:
        TARGET.bind("Deploymnet")
    assert "Deployment" in e.value.hint


@pytest.mark.parametrize("source", ["Deployment", "Service", "CronJob", "compose",
                                    {"kind": "prometheus-rule", "metrics": METRICS}, "prometheus-rule"])
def test_every_kinds_constraint_is_accepted_by_llguidance(source):
    bound = TARGET.bind(source).for_question("a web server with 2 replicas")
    llguidance_accepts(bound.constraint)


def test_the_kubernetes_constraint_is_cut_to_the_question_and_says_so():
    bound = TARGET.bind("Deployment")
    plain = bound.for_question("nginx with 3 replicas")
    probed = bound.for_question("nginx with 3 replicas and a readiness probe and tolerations")
    assert any(d.code == "config.schema_cut" for d in plain.notes)
    assert "tolerations" not in plain.constraint.text and "tolerations" in probed.constraint.text
    assert "readinessProbe" in probed.constraint.text


def test_a_valid_deployment_passes_and_a_deep_typo_names_the_key_and_its_fix():
    assert codes(check("Deployment", DEPLOYMENT)) == []
    typo = json.loads(json.dumps(DEPLOYMENT))
    typo["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    diags = [d for d in check("Deployment", typo) if d.is_error]
    assert diags[0].code == "schema.unknown_key" and "imagePullPolcy" in diags[0].message
    assert "imagePullPolicy" in diags[0].hint and diags[0].line is not None


def test_an_unknown_key_inside_a_oneof_branch_is_named_not_the_other_branchs_required_key():
    """Alerting and recording rules are a oneOf: raw jsonschema blames the branch, we name the key."""
    bad = json.loads(json.dumps(RULES))
    bad["groups"][0]["rules"][0]["anotations"] = bad["groups"][0]["rules"][0].pop("annotations")
    diags = [d for d in check({"kind": "prometheus-rule", "metrics": METRICS}, bad) if d.is_error]
    assert [d.code for d in diags] == ["schema.unknown_key"]
    assert "anotations" in diags[0].message and "annotations" in diags[0].hint
    assert "record" not in diags[0].message


def test_promql_names_are_checked_against_the_bound_metrics():
    bad = json.loads(json.dumps(RULES))
    bad["groups"][0]["rules"][0]["expr"] = "increase(kube_pod_container_status_restart_total[10m]) > 3"
    text = json.dumps(bad, indent=2)
    diags = [d for d in check({"kind": "prometheus-rule", "metrics": METRICS}, text) if d.is_error]
    assert diags and diags[0].code == "schema.unknown_metric"
    assert "kube_pod_container_status_restarts_total" in diags[0].hint
    assert text[diags[0].start:diags[0].end] == "kube_pod_container_status_restart_total"


def test_selector_and_template_labels_must_agree():
    bad = json.loads(json.dumps(DEPLOYMENT))
    bad["spec"]["selector"]["matchLabels"] = {"app": "api"}
    assert "kubernetes.selector" in codes(check("Deployment", bad))


def test_privilege_is_a_warning_by_default_and_refused_under_a_strict_policy():
    privileged = json.loads(json.dumps(DEPLOYMENT))
    privileged["spec"]["template"]["spec"]["hostNetwork"] = True
    lenient = check("Deployment", privileged)
    assert codes(lenient) == [] and "policy.privileged" in codes(lenient, errors_only=False)
    strict = check("Deployment", privileged, Policy(allow_privilege=False))
    assert "policy.privileged" in codes(strict)


def test_a_person_s_yaml_is_checked_as_the_kind_its_keys_name():
    text = yaml.safe_dump(DEPLOYMENT, sort_keys=False)
    assert codes(check("auto", text)) == []
    rules = yaml.safe_dump(RULES, sort_keys=False)
    assert codes(check("auto", rules)) == []


def test_the_dry_runs_are_the_real_tools():
    bound = TARGET.bind("Deployment")
    dry = bound.dry_run(json.dumps(DEPLOYMENT), Policy(), False)
    assert dry.ok and "kubernetes-validate" in dry.engine
    rules = TARGET.bind({"kind": "prometheus-rule", "metrics": METRICS})
    dry = rules.dry_run(json.dumps(RULES), Policy(), False)
    assert dry.ok and dry.engine.startswith("promtool")
    broken = json.loads(json.dumps(RULES))
    broken["groups"][0]["rules"][0]["expr"] = "increase(kube_pod_container_status_restarts_total[10m] > 3"
    dry = rules.dry_run(json.dumps(broken), Policy(), False)
    assert not dry.ok and "parse" in (dry.error or "")


def test_the_result_carries_the_yaml_people_read_and_it_round_trips_exactly():
    result = Compiler(ScriptedModel([])).run(json.dumps(DEPLOYMENT), schema="Deployment", target="config")
    assert result.valid, result.explain()
    assert yaml.safe_load(result.renderings["yaml"]) == DEPLOYMENT


def test_a_scripted_round_trip_repairs_a_typo_into_a_valid_rule_file():
    """Plumbing: the unknown-key diagnostic reaches the repair prompt, the fixed file is dry-run by promtool."""
    bad = json.loads(json.dumps(RULES))
    bad["groups"][0]["rules"][0]["anotations"] = bad["groups"][0]["rules"][0].pop("annotations")
    model = ScriptedModel([json.dumps(bad), json.dumps(RULES)])
    result = Compiler(model).compile("alert when a pod restarts more than 3 times in 10 minutes",
                                     schema={"kind": "prometheus-rule", "metrics": METRICS}, target="config",
                                     stages=Stages(constrained=False))
    assert [r.valid for r in result.rounds] == [False, True]
    assert "anotations" in model.calls[1][-1]["content"]
    assert result.dry_run is not None and result.dry_run.engine.startswith("promtool")
    assert result.dialect == "prometheus"


OPENAPI = {"openapi": "3.1.0", "info": {"title": "ops", "version": "1"}, "paths": {},
           "components": {"schemas": {
               "Matcher": {"type": "object", "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                           "required": ["name", "value"], "additionalProperties": False},
               "Silence": {"type": "object", "properties": {
                   "matchers": {"type": "array", "items": {"$ref": "#/components/schemas/Matcher"}, "minItems": 1},
                   "comment": {"type": "string"}, "duration": {"type": "string", "enum": ["1h", "4h", "1d"]}},
                   "required": ["matchers", "duration"], "additionalProperties": False}}}}


def test_an_openapi_component_is_a_kind_with_its_references_resolved():
    source = {"kind": "jsonschema", "schema": OPENAPI, "component": "Silence"}
    bound = TARGET.bind(source)
    llguidance_accepts(bound.constraint)
    good = {"matchers": [{"name": "alertname", "value": "NodeDown"}], "duration": "4h"}
    assert codes(check(source, good)) == []
    bad = {"matchers": [{"name": "alertname", "valeu": "NodeDown"}], "duration": "4 hours"}
    found = {d.code: d for d in check(source, bad) if d.is_error}
    assert "valeu" in found["schema.unknown_key"].message and "value" in found["schema.unknown_key"].hint
    assert "schema.enum" in found
    with pytest.raises(Nl2qError) as e:
        TARGET.bind({"kind": "jsonschema", "schema": OPENAPI, "component": "Silenec"})
    assert "Silence" in e.value.hint


def test_a_compose_file_says_when_docker_compose_could_not_dry_run_it():
    from nl2q.targets.config.compose import compose_config

    compose = {"services": {"web": {"image": "nginx:1.27", "ports": ["8080:80"], "restart": "always"}}}
    result = Compiler(ScriptedModel([])).run(json.dumps(compose), schema="compose", target="config")
    assert result.valid, result.explain()
    if compose_config("services: {}", 5.0) is None:
        assert result.dry_run.mode == "skipped"
        assert any(d.code == "execute.skipped" and "compose-spec" in d.message for d in result.diagnostics)
    else:
        assert result.dry_run.ok and result.dry_run.engine.startswith("docker compose")
