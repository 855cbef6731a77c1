"""Kubernetes manifests and compose files: the checks the schema cannot make (each fires on a broken case and
stays quiet on its fix), privilege findings, quantities, and the real validators (kubernetes-validate, kubectl
against a cluster that is not there, docker compose when installed)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import textwrap
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from nl2q.targets.config import compose, kubernetes as k8s
from nl2q.types import Diagnostic


def _locator(node: yaml.Node) -> k8s.Locate:
    """Spans of every value by path, from PyYAML's node marks (what document.py provides for real)."""
    spans: dict[tuple[str | int, ...], dict[str, int]] = {}

    def walk(n: yaml.Node, path: tuple[str | int, ...]) -> None:
        spans[path] = {"start": n.start_mark.index, "end": n.end_mark.index,
                       "line": n.start_mark.line + 1, "col": n.start_mark.column + 1}
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                walk(value, path + (key.value,))
        elif isinstance(n, yaml.SequenceNode):
            for i, value in enumerate(n.value):
                walk(value, path + (i,))

    walk(node, ())
    return spans.get


def load(text: str) -> tuple[Any, k8s.Locate]:
    text = textwrap.dedent(text)
    return yaml.safe_load(text), _locator(yaml.compose(text))


def load_all(text: str) -> tuple[list[Any], list[k8s.Locate]]:
    text = textwrap.dedent(text)
    return list(yaml.safe_load_all(text)), [_locator(n) for n in yaml.compose_all(text)]


def codes(found: list[Diagnostic]) -> list[str]:
    return [d.code for d in found]


def k8s_codes(text: str) -> list[str]:
    return codes(k8s.semantic_checks(*load(text)))


def deployment(labels: str = "{app: web}", selector: str = "matchLabels: {app: web}", container: str = "") -> str:
    container = container or "- {name: web, image: 'nginx:1.27', ports: [{containerPort: 80, name: http}]}"
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  selector:
    {selector}
  template:
    metadata:
      labels: {labels}
    spec:
      containers:
      {container}
"""


GOOD = deployment()


def test_a_sound_deployment_gets_no_findings() -> None:
    assert k8s_codes(GOOD) == []
    assert k8s.privilege_findings(yaml.safe_load(GOOD), refuse=True) == []


# --- each semantic check: broken case fires, the fix is quiet ---------------------------------------------

CASES = [  # (what, broken, fixed, code, severity)
    ("selector misses labels", deployment(labels="{app: webapp}"), deployment(labels="{app: webapp, x: y}",
     selector="matchLabels: {app: webapp}"), "kubernetes.selector", "error"),
    ("In expression misses", deployment(selector="matchExpressions: [{key: app, operator: In, values: [api]}]"),
     deployment(selector="matchExpressions: [{key: app, operator: In, values: [api, web]}]"), "kubernetes.selector",
     "error"),
    ("empty selector", deployment(selector="matchLabels: {}"), GOOD, "kubernetes.selector", "error"),
    ("duplicate container name", deployment(container="- {name: web, image: 'a:1'}\n      - {name: web, image: 'b:1'}"),
     deployment(container="- {name: web, image: 'a:1'}\n      - {name: sidecar, image: 'b:1'}"),
     "kubernetes.duplicate_container", "error"),
    ("duplicate containerPort", deployment(container="- {name: web, image: 'a:1', ports: [{containerPort: 80}, "
                                                     "{containerPort: 80}]}"),
     deployment(container="- {name: web, image: 'a:1', ports: [{containerPort: 80}, {containerPort: 80, "
                          "protocol: UDP}]}"), "kubernetes.duplicate_port", "warning"),
    ("duplicate port name", deployment(container="- {name: web, image: 'a:1', ports: [{containerPort: 80, name: http}, "
                                                  "{containerPort: 81, name: http}]}"),
     deployment(container="- {name: web, image: 'a:1', ports: [{containerPort: 80, name: http}, {containerPort: 81, "
                          "name: http-alt}]}"), "kubernetes.duplicate_port", "error"),
    ("probe names an undeclared port", deployment(container="- {name: web, image: 'a:1', ports: [{containerPort: 80, "
                                                           "name: http}], livenessProbe: {httpGet: {port: htp}}}"),
     deployment(container="- {name: web, image: 'a:1', ports: [{containerPort: 80, name: http}], "
                          "livenessProbe: {httpGet: {port: http}}}"), "kubernetes.probe_port", "error"),
    ("probe on an undeclared number", deployment(container="- {name: web, image: 'a:1', ports: [{containerPort: 80}], "
                                                          "readinessProbe: {tcpSocket: {port: 8080}}}"),
     deployment(container="- {name: web, image: 'a:1', ports: [{containerPort: 80}], "
                          "readinessProbe: {tcpSocket: {port: 80}}}"), "kubernetes.probe_port", "warning"),
    ("malformed quantity", deployment(container="- {name: web, image: 'a:1', resources: {limits: {memory: 512mb}}}"),
     deployment(container="- {name: web, image: 'a:1', resources: {limits: {memory: 512Mi}}}"), "kubernetes.quantity",
     "error"),
    ("requests above limits", deployment(container="- {name: web, image: 'a:1', resources: {requests: {cpu: '2'}, "
                                                  "limits: {cpu: 1500m}}}"),
     deployment(container="- {name: web, image: 'a:1', resources: {requests: {cpu: 1500m}, limits: {cpu: '2'}}}"),
     "kubernetes.requests_over_limits", "error"),
    ("untagged image", deployment(container="- {name: web, image: 'localhost:5000/web'}"),
     deployment(container="- {name: web, image: 'localhost:5000/web:2.1'}"), "kubernetes.image_latest", "warning"),
    ("latest image", deployment(container="- {name: web, image: 'nginx:latest'}"),
     deployment(container="- {name: web, image: 'nginx@sha256:0a1b'}"), "kubernetes.image_latest", "warning"),
    ("statefulset without serviceName",
     GOOD.replace("kind: Deployment", "kind: StatefulSet"),
     GOOD.replace("kind: Deployment", "kind: StatefulSet").replace("spec:\n  selector", "spec:\n  serviceName: web\n  selector"),
     "kubernetes.statefulset_service", "warning"),
]


@pytest.mark.parametrize("what,broken,fixed,code,severity", CASES, ids=[c[0] for c in CASES])
def test_check_fires_on_the_broken_case_only(what: str, broken: str, fixed: str, code: str, severity: str) -> None:
    found = [d for d in k8s.semantic_checks(*load(broken)) if d.code == code]
    assert [d.severity for d in found] == [severity], k8s.semantic_checks(*load(broken))
    assert found[0].line is not None and found[0].message
    assert code not in k8s_codes(fixed)


def test_a_cronjob_is_checked_through_its_job_template() -> None:
    text = """
    apiVersion: batch/v1
    kind: CronJob
    metadata: {name: nightly}
    spec:
      schedule: "0 3 * * *"
      jobTemplate:
        spec:
          selector: {matchLabels: {job: nightly}}
          template:
            metadata: {labels: {job: nighty}}
            spec:
              restartPolicy: Never
              containers: [{name: run, image: 'busybox:1.36', resources: {requests: {memory: 1GB}}}]
    """
    found = k8s.semantic_checks(*load(text))
    assert sorted(codes(found)) == ["kubernetes.quantity", "kubernetes.selector"]
    selector = next(d for d in found if d.code == "kubernetes.selector")
    assert "spec.jobTemplate.spec.selector" in selector.message and "job=nightly" in selector.message
    assert "'1Gi'" in next(d for d in found if d.code == "kubernetes.quantity").hint


def test_a_finding_points_at_its_field() -> None:
    text = textwrap.dedent(deployment(container="- {name: web, image: 'nginx'}"))
    (found,) = k8s.semantic_checks(yaml.safe_load(text), _locator(yaml.compose(text)))
    assert found.message.startswith("spec.template.spec.containers[0].image 'nginx'")
    assert text[found.start:found.end] == "'nginx'"
    assert text.splitlines()[found.line - 1][found.col - 1:].startswith("'nginx'")


@pytest.mark.parametrize("selector,labels,misses", [
    ({"matchLabels": {"app": "web"}}, {"app": "web", "tier": "x"}, []),
    ({"matchLabels": {"app": "web"}}, {"app": "api"}, ["app=web"]),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}, {"tier": "db"}, ["tier NotIn (db)"]),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}, {}, []),
    ({"matchExpressions": [{"key": "canary", "operator": "Exists"}]}, {"app": "web"}, ["canary Exists"]),
    ({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}, {"canary": "1"}, ["canary DoesNotExist"]),
    ({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}, {"app": "web"}, []),
])
def test_label_selector_semantics(selector: dict, labels: dict, misses: list[str]) -> None:
    assert k8s.selector_misses(selector, labels) == misses


def test_a_service_selecting_no_pod_in_the_file_is_reported() -> None:
    service = "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: %s}, ports: [{port: 80}]}\n"
    docs, locators = load_all(GOOD + service % "wbe")
    (found,) = k8s.cross_checks(docs, lambda i: locators[i])
    assert found.code == "kubernetes.service_selector" and found.severity == "warning" and "app: wbe" in found.message
    assert found.line is not None and found.line > GOOD.count("\n")
    docs, locators = load_all(GOOD + service % "web")
    assert k8s.cross_checks(docs, lambda i: locators[i]) == []
    alone, _ = load_all(service % "wbe")
    assert k8s.cross_checks(alone, lambda i: None) == []


# --- quantities -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    ("100m", Fraction(1, 10)), ("0.5", Fraction(1, 2)), ("1Gi", 2**30), ("1e3", 1000), ("500Mi", 500 * 2**20),
    ("1.5", Fraction(3, 2)), ("2", 2), (".5", Fraction(1, 2)), ("1.", 1), ("+1k", 1000), ("1E-2", Fraction(1, 100)),
    ("10n", Fraction(1, 10**8)), ("3E", 3 * 10**18), (1, 1), (0.25, Fraction(1, 4)),
])
def test_valid_quantities(text: Any, value: Fraction) -> None:
    assert k8s.parse_quantity(text) == value


@pytest.mark.parametrize("text,fix", [
    ("512mb", "512Mi"), ("1GB", "1Gi"), ("2gi", "2Gi"), ("1 Gi", "1Gi"), ("2 cores", "2"),
    ("abc", None), ("1.2.3", None), ("", None), ("1e", None), ("Mi", None), (True, None),
])
def test_invalid_quantities_and_their_fixes(text: Any, fix: str | None) -> None:
    with pytest.raises(ValueError):
        k8s.parse_quantity(text)
    assert k8s.quantity_fix(text) == fix
    if fix is not None:
        k8s.parse_quantity(fix)


@pytest.mark.parametrize("small,large", [("1000Mi", "1Gi"), ("500m", "1"), ("999m", "1"), ("1G", "1Gi"), ("1k", "1Ki")])
def test_quantity_ordering(small: str, large: str) -> None:
    assert k8s.parse_quantity(small) < k8s.parse_quantity(large)


# --- privilege --------------------------------------------------------------------------------------------

PRIVILEGED_POD = """
apiVersion: v1
kind: Pod
metadata: {name: debug}
spec:
  hostNetwork: true
  hostPID: true
  securityContext: {runAsUser: 0}
  volumes:
  - {name: sock, hostPath: {path: /var/run/docker.sock}}
  - {name: logs, hostPath: {path: /var/log/app}}
  containers:
  - name: debug
    image: 'busybox:1.36'
    ports: [{containerPort: 80, hostPort: 8080}]
    securityContext:
      privileged: true
      allowPrivilegeEscalation: true
      runAsNonRoot: false
      capabilities: {add: [SYS_ADMIN, CAP_NET_ADMIN, NET_BIND_SERVICE]}
"""


def test_each_privileged_setting_is_a_finding() -> None:
    found = k8s.privilege_findings(*load(PRIVILEGED_POD), refuse=False)
    assert {d.code for d in found} == {"policy.privileged"} and {d.stage for d in found} == {"policy"}
    assert {d.severity for d in found} == {"warning"}
    text = "\n".join(d.message for d in found)
    for said in ("hostNetwork", "hostPID", "runAsUser: 0", "/var/run/docker.sock", "/var/log/app", "hostPort",
                 "privileged: true", "allowPrivilegeEscalation", "runAsNonRoot: false", "SYS_ADMIN", "NET_ADMIN"):
        assert said in text, said
    assert "NET_BIND_SERVICE" not in text
    assert len(found) == 11 and all("\n" not in d.message and "grants" in d.message for d in found)


def test_a_strict_policy_refuses_privilege_and_says_how_to_allow_it() -> None:
    found = k8s.privilege_findings(*load(PRIVILEGED_POD), refuse=True)
    assert found and {d.severity for d in found} == {"error"}
    assert all("Policy(allow_privilege=True)" in d.hint for d in found)
    assert all(d.line is not None for d in found)


def test_dropping_the_settings_clears_the_findings() -> None:
    tame = PRIVILEGED_POD.replace("true", "false").replace("runAsUser: 0", "runAsUser: 1000").replace(
        "runAsNonRoot: false", "runAsNonRoot: true").replace("hostPort: 8080", "name: http")
    tame = tame.split("  volumes:")[0] + "  containers:" + tame.split("  containers:")[1]
    tame = tame.replace("SYS_ADMIN, CAP_NET_ADMIN, ", "")
    assert k8s.privilege_findings(*load(tame), refuse=True) == []


RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ops}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
- {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind, escalate]}
- {apiGroups: [""], resources: [users], verbs: [impersonate]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: ci, namespace: build}]
"""


def test_rbac_grants_are_findings() -> None:
    (role, binding), (at_role, at_binding) = load_all(RBAC)
    found = k8s.privilege_findings(role, at_role, refuse=False)
    text = "\n".join(d.message for d in found)
    assert len(found) == 7, text
    for said in ("rules[0].verbs has '*'", "rules[0].resources", "rules[0].apiGroups", "get/list secrets",
                 "'bind'", "'escalate'", "'impersonate'"):
        assert said in text, said
    assert "every namespace" in text
    (admin,) = k8s.privilege_findings(binding, at_binding, refuse=True)
    assert "ServiceAccount ci" in admin.message and "whole cluster" in admin.message and admin.is_error


def test_narrow_rbac_is_not_a_finding() -> None:
    narrow = RBAC.replace('"*"', "apps").replace("[*]", "[deployments]").replace("secrets", "configmaps")
    narrow = narrow.replace("bind, escalate", "get").replace("impersonate", "list").replace("cluster-admin", "view")
    for doc in yaml.safe_load_all(narrow):
        assert k8s.privilege_findings(doc, refuse=True) == []


# --- kubernetes-validate ----------------------------------------------------------------------------------

def test_strict_validate_passes_a_good_deployment() -> None:
    assert k8s.strict_validate(yaml.safe_load(GOOD), "1.33") == []


def test_strict_validate_rejects_a_typo_key_and_suggests_the_field() -> None:
    text = textwrap.dedent(GOOD.replace("spec:\n  selector", "spec:\n  replica: 2\n  selector"))
    (found,) = k8s.strict_validate(yaml.safe_load(text), "1.33", _locator(yaml.compose(text)))
    assert found.code == "kubernetes.invalid" and found.stage == "execute" and found.is_error
    assert "spec.replica" in found.message and "'replicas'" in found.hint
    assert text.splitlines()[found.line - 1].strip().startswith("replica:")


def test_a_custom_resource_does_not_pass_silently() -> None:
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "r"},
            "spec": {"groups": []}}
    (found,) = k8s.strict_validate(rule, "1.33")
    assert found.code == "kubernetes.no_schema" and found.is_error
    assert "PrometheusRule" in found.message and "1.33" in found.message and "CRD" in found.hint


def test_a_retired_api_version_suggests_the_served_one() -> None:
    old = yaml.safe_load(GOOD.replace("apps/v1", "extensions/v1beta1"))
    (found,) = k8s.strict_validate(old, "1.33")
    assert found.code == "kubernetes.no_schema" and "extensions/v1beta1" in found.message
    assert "apiVersion: apps/v1" in found.hint
    (typo,) = k8s.strict_validate(yaml.safe_load(GOOD.replace("kind: Deployment", "kind: Deploymnet")), "1.33")
    assert "kind: Deployment" in typo.hint


def test_an_unsupported_version_lists_the_supported_ones() -> None:
    (found,) = k8s.strict_validate(yaml.safe_load(GOOD), "1.12")
    assert found.code == "kubernetes.version" and "1.25" in found.message and "1.37" in found.message


def test_kinds_are_what_kubernetes_validate_can_find() -> None:
    import kubernetes_validate

    table = k8s.kinds("1.33")
    assert table["Deployment"] == ["apps/v1"] and table["Pod"] == ["v1"]
    assert set(table["HorizontalPodAutoscaler"]) == {"autoscaling/v1", "autoscaling/v2"}
    assert "PrometheusRule" not in table and "DeploymentSpec" not in table
    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / "v1.33.0-local-strict"
    assert all((folder / k8s.schema_file(kind, api)).is_file() for kind, apis in table.items() for api in apis)
    for kind in ("ClusterRoleBinding", "Ingress", "CronJob"):  # the library itself finds a schema for them
        for api in table[kind]:
            try:
                kubernetes_validate.validate({"apiVersion": api, "kind": kind}, "1.33", strict=True)
            except kubernetes_validate.ValidationError:
                pass
    assert k8s.kinds("1.33.4") == table


# --- kubectl against a cluster that is not there ------------------------------------------------------------

def _kubeconfig(tmp_path: Path, port: int) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "here",
        "clusters": [{"name": "here", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "users": [{"name": "me", "user": {"token": "x"}}],
        "contexts": [{"name": "here", "context": {"cluster": "here", "user": "me"}}]}))
    return str(path)


def test_no_cluster_configured_means_no_dry_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert k8s.kubectl_dry_run(GOOD, kubeconfig=None, context=None, timeout=5) is None


def test_kubectl_against_a_closed_port_fails_clearly(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    began = time.monotonic()
    run = k8s.kubectl_dry_run(GOOD, kubeconfig=_kubeconfig(tmp_path, port), context=None, timeout=5)
    assert run is not None and not run.ok and run.engine == "kubectl"
    assert "nothing is listening" in run.error and f"127.0.0.1:{port}" in run.error
    assert time.monotonic() - began < 5


def test_kubectl_against_a_silent_server_stops_at_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(0)  # accepts connections into the backlog, never answers
        began = time.monotonic()
        run = k8s.kubectl_dry_run(GOOD, kubeconfig=_kubeconfig(tmp_path, s.getsockname()[1]), context="here",
                                  timeout=1.5)
        elapsed = time.monotonic() - began
    assert run is not None and not run.ok and "1.5s" in run.error
    assert elapsed < 4


# --- compose ----------------------------------------------------------------------------------------------

COMPOSE = """
services:
  web:
    image: 'nginx:1.27'
    ports: ["8080:80", "127.0.0.1:8443:443/tcp"]
    depends_on: [api]
    restart: unless-stopped
    networks: [front]
  api:
    image: 'api:2'
    ports: [{target: 9000, published: "9000", protocol: tcp}]
    depends_on: {db: {condition: service_healthy}}
    volumes: ["data:/var/lib/api", "./conf:/etc/api:ro"]
    restart: "on-failure:3"
    networks: {front: {}, back: {}}
  db:
    image: 'postgres:16'
    ports: ["5432"]
    restart: no
volumes: {data: {}}
networks: {front: {}, back: {}}
"""


def compose_codes(text: str) -> list[str]:
    return codes(compose.semantic_checks(*load(text)))


def test_a_sound_compose_file_gets_no_findings() -> None:
    assert compose_codes(COMPOSE) == []
    assert compose.privilege_findings(yaml.safe_load(COMPOSE), refuse=True) == []


COMPOSE_CASES = [  # (what, replace, with, code)
    ("restart sometimes", "restart: unless-stopped", "restart: sometimes", "compose.restart"),
    ("depends_on a missing service", "depends_on: [api]", "depends_on: [apx]", "compose.depends_on"),
    ("depends_on map form", "db: {condition", "dbx: {condition", "compose.depends_on"),
    ("undeclared volume", "data:/var/lib/api", "dta:/var/lib/api", "compose.volume"),
    ("undeclared network", "networks: [front]", "networks: [frnt]", "compose.network"),
    ("port clash", 'published: "9000"', 'published: "8080"', "compose.port_clash"),
    ("port clash on a wildcard", '"5432"', '"0.0.0.0:8443:5432"', "compose.port_clash"),
    ("malformed port", '"8080:80"', '"8080:80:90"', "compose.port"),
    ("port out of range", '"8080:80"', '"80800:80"', "compose.port"),
]


@pytest.mark.parametrize("what,old,new,code", COMPOSE_CASES, ids=[c[0] for c in COMPOSE_CASES])
def test_compose_check_fires_on_the_broken_case(what: str, old: str, new: str, code: str) -> None:
    assert old in COMPOSE
    text = textwrap.dedent(COMPOSE.replace(old, new))
    (found,) = compose.semantic_checks(yaml.safe_load(text), _locator(yaml.compose(text)))
    assert found.code == code and found.is_error and found.line is not None


def test_compose_messages_suggest_the_fix() -> None:
    found = compose.semantic_checks(*load(COMPOSE.replace("unless-stopped", "sometimes").replace("[api]", "[apx]")))
    by_code = {d.code: d for d in found}
    assert "'sometimes'" in by_code["compose.restart"].message and "unless-stopped" in by_code["compose.restart"].hint
    assert "'api'" in by_code["compose.depends_on"].hint
    (restart,) = compose.semantic_checks({"services": {"w": {"restart": "allways"}}})
    assert "Did you mean 'always'" in restart.hint
    (clash,) = compose.semantic_checks(*load(COMPOSE.replace('published: "9000"', 'published: "8080"')))
    assert "service 'web'" in clash.message and "services.web.ports[0]" in clash.message


@pytest.mark.parametrize("entry,binding", [
    ("80", compose.Binding("", None, (80, 80), "tcp")),
    ("8080:80", compose.Binding("", (8080, 8080), (80, 80), "tcp")),
    ("127.0.0.1:8080:80/udp", compose.Binding("127.0.0.1", (8080, 8080), (80, 80), "udp")),
    ("127.0.0.1::80", compose.Binding("127.0.0.1", None, (80, 80), "tcp")),
    ("[::1]:6000:6001", compose.Binding("::1", (6000, 6000), (6001, 6001), "tcp")),
    ("9090-9091:8080-8081", compose.Binding("", (9090, 9091), (8080, 8081), "tcp")),
    (3000, compose.Binding("", None, (3000, 3000), "tcp")),
    ({"target": 80, "published": "8000-8005", "host_ip": "10.0.0.1"}, compose.Binding("10.0.0.1", (8000, 8005), (80, 80), "tcp")),
])
def test_port_entries_parse(entry: Any, binding: compose.Binding) -> None:
    assert compose.parse_port(entry) == binding


@pytest.mark.parametrize("entry", ["8080:80:90", "http", "80/icmp", "9090-9091:8080-8089", "0:80", "90-80:80",
                                   {"published": 80}])
def test_malformed_port_entries_are_rejected(entry: Any) -> None:
    with pytest.raises(ValueError):
        compose.parse_port(entry)


def test_ranges_and_random_host_ports_do_not_clash() -> None:
    text = COMPOSE.replace('"5432"', '"8000-8100:5432"').replace('"9000"', '"8080-8081"')
    assert compose_codes(text) == []  # compose picks one free port of 8000-8100; 8080-8081 needs a free one too


COMPOSE_PRIVILEGED = """
services:
  agent:
    image: 'agent:1'
    privileged: true
    network_mode: host
    pid: host
    cap_add: [SYS_PTRACE, NET_BIND_SERVICE]
    volumes: ["/var/run/docker.sock:/var/run/docker.sock:ro", "/:/host", "/etc/:/host-etc", "/etc/localtime:/etc/localtime:ro"]
"""


def test_compose_privilege_findings() -> None:
    found = compose.privilege_findings(*load(COMPOSE_PRIVILEGED), refuse=False)
    text = "\n".join(d.message for d in found)
    assert len(found) == 7, text
    for said in ("privileged: true", "network_mode: host", "pid: host", "SYS_PTRACE", "docker.sock read-only",
                 "host's /:", "host's /etc"):
        assert said in text, said
    assert "NET_BIND_SERVICE" not in text and "localtime" not in text
    refused = compose.privilege_findings(*load(COMPOSE_PRIVILEGED), refuse=True)
    assert {d.severity for d in refused} == {"error"} and all("allow_privilege" in d.hint for d in refused)
    assert all(d.line is not None for d in refused)


def test_compose_config_runs_only_where_the_plugin_works() -> None:
    run = compose.compose_config(textwrap.dedent(COMPOSE), timeout=10)
    if run is None:
        docker = shutil.which("docker")
        assert docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0
        return
    assert run.ok, run.error
    bad = compose.compose_config("services: {web: {image: 1, bogus: 2}}\n", timeout=10)
    assert bad is not None and not bad.ok and bad.error
