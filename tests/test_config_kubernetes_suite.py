"""The Kubernetes suite format: question, reference manifest, checks; scored through the harness's interface."""

from __future__ import annotations

import json

import pytest

from nl2q.errors import Nl2qError
from nl2q.evaluate.suites import get_suite

REFERENCE = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        readinessProbe: {httpGet: {path: /healthz, port: 80}}
"""
CHECKS = [{"path": "spec.replicas", "equals": 3},
          {"path": "spec.template.spec.containers[0].image", "matches": "^nginx:1\\.27$"},
          {"path": "spec.template.spec.containers[0].readinessProbe.httpGet.path", "equals": "/healthz"}]


@pytest.fixture
def suite(tmp_path):
    (tmp_path / "kubernetes").mkdir()
    line = {"id": "web", "question": "a Deployment of nginx:1.27 with 3 replicas and a readiness probe on /healthz",
            "reference": REFERENCE, "checks": CHECKS, "kubernetes_version": "1.33"}
    (tmp_path / "kubernetes" / "items.jsonl").write_text(json.dumps(line) + "\n")
    return get_suite("kubernetes-manifests", tmp_path)


def test_items_carry_the_question_the_kind_and_a_source_the_target_binds(suite):
    [item] = suite.items()
    assert item.database == "Deployment" and "replicas" in item.question
    assert suite.schema_for(item) == {"kind": "apps/v1/Deployment", "kubernetes_version": "1.33"}
    from nl2q.targets import get_target

    bound = get_target("config").bind(suite.schema_for(item))
    assert bound.kind.kind == "Deployment" and bound.kind.version == "1.33"


def test_a_prediction_is_right_when_it_passes_the_checks_the_reference_passes(suite):
    [item] = suite.items()
    gold = suite.execute_gold(item)
    assert gold.ok and all(passed for _, passed in gold.rows)
    same = json.loads(item.gold)
    assert suite.compare(gold, suite.execute_prediction(item, json.dumps(same)), False)
    fewer = json.loads(item.gold)
    fewer["spec"]["replicas"] = 1
    assert not suite.compare(gold, suite.execute_prediction(item, json.dumps(fewer)), False)
    assert suite.similarity(item, json.dumps(fewer)) == {"checks_passed": pytest.approx(2 / 3)}
    assert not suite.execute_prediction(item, "- not a mapping").ok


def test_malformed_data_is_a_clear_error(tmp_path):
    (tmp_path / "kubernetes").mkdir()
    (tmp_path / "kubernetes" / "bad.jsonl").write_text(json.dumps({"question": "q", "reference": REFERENCE}) + "\n")
    with pytest.raises(Nl2qError) as e:
        get_suite("kubernetes-manifests", tmp_path).items()
    assert "checks" in e.value.message
    with pytest.raises(Nl2qError):
        get_suite("kubernetes-manifests", tmp_path / "missing")
