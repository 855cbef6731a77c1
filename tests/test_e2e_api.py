"""The README's API example with the real default model, on the fixture ops API served on 127.0.0.1: a question
answered by a validated call and the service's real response; an unrelated question gets no call."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import api_server
from nl2q import Compiler

pytestmark = pytest.mark.model
ops_api_url = api_server.ops_api_url
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compiler():
    c = Compiler()
    yield c
    c.close()


def test_a_question_is_answered_by_a_validated_call_and_the_real_response(compiler, ops_api_url):
    source = {"api": ops_api_url + "/openapi.json", "live": True}
    result = compiler.compile("Show the critical alerts that are still active", schema=source, target="api")
    assert result.valid, result.explain()
    calls = json.loads(result.query)
    operations = compiler.bind(source, "api").api.operations
    assert calls and all(c["operation"] in operations for c in calls)
    dry = result.dry_run
    assert dry.ok and dry.mode == "run" and dry.engine == "http"
    assert all(e.kind == "http.request" and e.target.startswith(f"GET {ops_api_url}/") for e in dry.effects)
    assert not [d for d in result.diagnostics if d.code == "execute.warning"]  # the response matched the spec
    assert shlex.split(result.renderings["curl"])[2].startswith(f"{ops_api_url}/")


def test_an_unrelated_question_gets_no_call(compiler, ops_api_url):
    result = compiler.compile("What will the weather be like in Lisbon tomorrow?",
                              schema={"api": ops_api_url + "/openapi.json"}, target="api")
    assert result.valid and json.loads(result.query) == []
    assert "api.no_match" in [d.code for d in result.diagnostics]
    assert result.dry_run is None or not result.dry_run.effects


def test_the_cli_shows_the_request_and_the_response(ops_api_url):
    out = subprocess.run([sys.executable, "-m", "nl2q.cli", "ask", "Show the critical alerts that are still active",
                          "--api", ops_api_url + "/openapi.json", "--live", "yes"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "shown as HTTP" in out.stdout and "HTTP/1.1\nHost: 127.0.0.1:" in out.stdout
    assert "row(s)" in out.stdout and "on http)" in out.stdout
