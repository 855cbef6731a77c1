"""The fixture ops API the ``api`` target is tested against, through a real server: its OpenAPI document is
complete enough to prompt with (operation ids, parameter descriptions, valid 3.1), filters filter, and writes
keep state and refuse bad bodies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import api_server
from api_server import OPS_API, ROOT

ops_api_url = api_server.ops_api_url  # the fixture: fixtures/ops_api.py serving on a free port
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
EXPECTED = {
    ("get", "/hosts"): "listHosts", ("get", "/hosts/{hostname}"): "getHost", ("get", "/services"): "listServices",
    ("get", "/services/{name}"): "getService", ("get", "/deployments"): "listDeployments",
    ("get", "/alerts"): "listAlerts", ("get", "/incidents"): "listIncidents",
    ("get", "/teams/{team}/oncall"): "getOncall", ("get", "/silences"): "listSilences",
    ("post", "/silences"): "createSilence", ("delete", "/silences/{silence_id}"): "deleteSilence",
    ("post", "/services/{name}/scale"): "scaleService", ("post", "/incidents/{incident_id}/page"): "pageOncall",
}


@pytest.fixture(scope="module")
def client(ops_api_url: str):
    with httpx.Client(base_url=ops_api_url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def spec(client: httpx.Client) -> dict:
    response = client.get("/openapi.json")
    response.raise_for_status()
    return response.json()


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield method, path, op


def test_spec_is_openapi_31_with_ids_and_described_parameters(spec: dict) -> None:
    assert spec["openapi"].startswith("3.1")
    assert spec["info"] == {**spec["info"], "title": "nl2q ops API", "version": "1.0"}
    ops = {(method, path): op for method, path, op in _operations(spec)}
    assert {key: op.get("operationId") for key, op in ops.items()} == EXPECTED
    for (method, path), op in ops.items():
        assert op.get("summary"), (method, path)
        for param in op.get("parameters", []):
            assert param.get("description"), (method, path, param["name"])
        if method == "get":
            assert op["responses"]["200"]["content"]["application/json"]["schema"], (method, path)
    datacenter = next(p for p in ops["get", "/hosts"]["parameters"] if p["name"] == "datacenter")
    assert any(s.get("enum") == ["fra1", "ams2", "iad1", "sfo3", "sin1"] for s in datacenter["schema"]["anyOf"])


def test_spec_passes_openapi_spec_validator(spec: dict) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)


def test_list_hosts_filters(client: httpx.Client) -> None:
    everything = client.get("/hosts", params={"limit": 500}).json()
    fra1 = client.get("/hosts", params={"datacenter": "fra1", "limit": 500}).json()
    assert fra1 and all(h["datacenter"] == "fra1" for h in fra1)
    assert len(fra1) < len(everything)
    db_prod = client.get("/hosts", params={"role": "db", "environment": "prod", "limit": 500}).json()
    assert db_prod and all(h["role"] == "db" and h["environment"] == "prod" for h in db_prod)
    assert len(client.get("/hosts", params={"limit": 3}).json()) == 3
    assert client.get("/hosts", params={"datacenter": "mars1"}).status_code == 422
    assert client.get("/hosts", params={"limit": 0}).status_code == 422


def test_get_host_and_unknown_host(client: httpx.Client) -> None:
    first = client.get("/hosts", params={"limit": 1}).json()[0]
    response = client.get(f"/hosts/{first['hostname']}")
    assert response.status_code == 200
    assert {**response.json(), "services": None} == {**first, "services": None}
    missing = client.get("/hosts/web-atlantis-999")
    assert missing.status_code == 404
    assert "web-atlantis-999" in missing.json()["detail"]


def test_reads_are_consistent(client: httpx.Client) -> None:
    checkout = client.get("/services/checkout").json()
    assert checkout["replicas"] == len(checkout["hostnames"]) > 0
    for hostname in checkout["hostnames"]:
        assert "checkout" in client.get(f"/hosts/{hostname}").json()["services"]
    active = client.get("/alerts", params={"active": True, "severity": "critical", "limit": 500}).json()
    assert active and all(a["resolved_at"] is None and a["severity"] == "critical" for a in active)
    open_incidents = client.get("/incidents", params={"open": True}).json()
    assert all(i["resolved_at"] is None for i in open_incidents)
    assert client.get("/teams/sre/oncall").json()["oncall_email"] == "sre-oncall@example.com"
    assert client.get("/services/nonexistent").status_code == 404


def test_silence_lifecycle(client: httpx.Client) -> None:
    body = {"matchers": {"alertname": "HighCPU", "hostname": "web-fra1-007"}, "duration_minutes": 60,
            "comment": "kernel patching", "created_by": "alice"}
    created = client.post("/silences", json=body)
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["id"] and silence["matchers"]["alertname"] == "HighCPU"
    assert silence["id"] in {s["id"] for s in client.get("/silences").json()}
    assert client.delete(f"/silences/{silence['id']}").status_code == 204
    assert silence["id"] not in {s["id"] for s in client.get("/silences").json()}
    again = client.delete(f"/silences/{silence['id']}")
    assert again.status_code == 404 and again.json()["detail"]


@pytest.mark.parametrize("change", [{"duration_minutes": 0}, {"duration_minutes": 1441}, {"matchers": {}},
                                    {"matchers": {"alertname": None}}, {"matchers": {"team": "sre"}}])
def test_bad_silence_body_is_422(client: httpx.Client, change: dict) -> None:
    body = {"matchers": {"service": "checkout"}, "duration_minutes": 30, "comment": "c", "created_by": "bob", **change}
    assert client.post("/silences", json=body).status_code == 422


def test_scale_and_page(client: httpx.Client) -> None:
    scaled = client.post("/services/search/scale", json={"replicas": 7})
    assert scaled.status_code == 200 and scaled.json()["replicas"] == 7
    assert client.get("/services/search").json()["replicas"] == 7
    assert client.post("/services/search/scale", json={"replicas": 51}).status_code == 422
    assert client.post("/services/nonexistent/scale", json={"replicas": 1}).status_code == 404
    incident = client.get("/incidents").json()[0]
    page = client.post(f"/incidents/{incident['id']}/page", json={"message": "please look"})
    assert page.status_code == 200 and page.json()["incident_id"] == incident["id"]
    assert client.post("/incidents/99999/page", json={"message": "x"}).status_code == 404


def test_openapi_subcommand_writes_the_served_document(tmp_path: Path, spec: dict) -> None:
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    for out in outs:
        subprocess.run([sys.executable, str(OPS_API), "openapi", str(out)], cwd=ROOT, check=True,
                       capture_output=True, timeout=60)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert json.loads(outs[0].read_text()) == spec
