"""The README's config examples with the real default model: a rule file promtool checks, a strict-valid Deployment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nl2q import Compiler

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compiler():
    c = Compiler()
    yield c
    c.close()


def test_an_alerting_rule_over_bound_metrics_is_valid_and_promtool_checked(compiler):
    source = {"kind": "prometheus-rule", "metrics": str(ROOT / "fixtures" / "node_metrics.yaml")}
    result = compiler.compile("alert when a node's load is above 4 for 10 minutes", schema=source, target="config")
    assert result.valid, result.explain()
    assert result.dialect == "prometheus"
    assert result.dry_run is not None and result.dry_run.ok and result.dry_run.engine == "promtool"
    assert "SUCCESS" in result.dry_run.output
    rules = yaml.safe_load(result.renderings["yaml"])
    names = set(yaml.safe_load((ROOT / "fixtures" / "node_metrics.yaml").read_text())["metrics"])
    from nl2q.targets.config.promql import selectors

    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {s.metric for s in selectors(rule["expr"])} <= names  # only metrics that exist


def test_a_deployment_is_strict_valid(compiler):
    result = compiler.compile("a Deployment of nginx:1.27 with 3 replicas and a readiness probe on /healthz",
                              schema="Deployment", target="config")
    assert result.valid, result.explain()
    manifest = yaml.safe_load(result.renderings["yaml"])
    assert manifest["kind"] == "Deployment" and manifest["apiVersion"] == "apps/v1"
    assert result.dry_run.ok and result.dry_run.engine == "kubernetes-validate --strict"
    import kubernetes_validate

    kubernetes_validate.validate(manifest, "1.37", strict=True)  # the real validator, once more, on the YAML

