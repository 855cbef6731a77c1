"""The API target against the fixture ops API (a real FastAPI service on 127.0.0.1): binding a spec from its URL,
the checks and their diagnostics, the policy, the recorded and the live dry run, approval and real runs.

No model here: outputs are a person's call lists (``Compiler.run``), as the search box and the CLI's [e]dit send them.
"""

from __future__ import annotations

import json
import shlex

import httpx
import pytest

import api_server
from nl2q import Compiler, NotApproved, Policy, ScriptedModel
from nl2q.errors import Nl2qError
from nl2q.targets import get_target

ops_api_url = api_server.ops_api_url


def call(operation: str, body: object = None, **parameters: object) -> str:
    one: dict = {"operation": operation, "parameters": parameters}
    if body is not None:
        one["body"] = body
    return json.dumps([one])


SILENCE = {"matchers": {"hostname": "web-fra1-007"}, "duration_minutes": 60, "comment": "disk swap", "created_by": "sre"}


@pytest.fixture(scope="module")
def source(ops_api_url):
    return {"api": ops_api_url + "/openapi.json"}


@pytest.fixture(scope="module")
def bound(source):
    return get_target("api").bind(source)


def compiler(policy: Policy = Policy()) -> Compiler:
    return Compiler(ScriptedModel([]), policy=policy)


def codes(text: str, bound, policy: Policy = Policy()) -> list[str]:
    return [d.code for d in bound.check(text, policy).diagnostics if d.is_error]


def test_a_spec_fetched_from_a_service_calls_that_service(bound, ops_api_url):
    assert bound.api.kind == "openapi" and bound.dialect.name == "openapi"
    assert bound.api.base_url == ops_api_url
    assert {"listHosts", "getHost", "createSilence", "deleteSilence"} <= set(bound.api.operations)
    assert bound.api.operations["getHost"].signature == "GET /hosts/{hostname}"


def test_valid_calls_pass_and_name_real_operations(bound):
    assert codes(call("listHosts", datacenter="fra1", limit=5), bound) == []
    assert codes(call("getHost", hostname="web-fra1-007"), bound) == []
    assert codes("[]", bound) == []


def test_an_unknown_operation_gets_the_closest_with_its_summary(bound):
    d = bound.check(call("listHost"), Policy()).diagnostics[0]
    assert d.code == "schema.unknown_operation" and "`listHosts`" in d.hint and "GET /hosts" in d.hint
    assert d.line == 1 and json.loads(call("listHost"))[0]["operation"] in call("listHost")[d.start:d.end]


def test_an_unknown_parameter_gets_did_you_mean_and_the_specs_description(bound):
    text = call("listHosts", datacentre="fra1")
    d = next(d for d in bound.check(text, Policy()).diagnostics if d.is_error)
    described = bound.api.operations["listHosts"].parameter("datacenter").description
    assert d.code == "schema.unknown_key" and "`datacenter`" in d.hint and described.rstrip(".") in d.hint
    assert text[d.start:d.end].strip('"') == "datacentre"


def test_values_types_and_required_parameters_are_checked(bound):
    assert codes(call("listHosts", datacenter="mars"), bound) == ["schema.enum"]
    assert codes(call("listHosts", limit="ten"), bound) == ["schema.type"]
    assert codes(call("listHosts", limit=900), bound) == ["schema.value"]
    missing = bound.check(call("getHost"), Policy()).diagnostics
    assert [d.code for d in missing] == ["schema.missing_key"] and "hostname" in missing[0].message
    assert codes(call("createSilence", {**SILENCE, "duration_minutes": 0}), bound, Policy(allow_writes=True)) \
        == ["schema.value"]


def test_the_answer_must_be_a_list_of_calls(bound):
    d = bound.check(json.dumps({"hosts": "all"}), Policy()).diagnostics[0]
    assert d.code == "api.shape" and "JSON array of calls" in d.hint
    single = bound.check(json.dumps({"operation": "listHosts", "parameters": {}}), Policy())
    assert single.rewritten is not None and single.rewritten.startswith("[{")
    assert codes('[{"operation": "listHosts", "parameters": {}', bound) == ["syntax.document"]


def test_a_single_call_without_its_list_is_read_as_a_list_of_one(source):
    single = json.dumps({"operation": "listHosts", "parameters": {"limit": 2}})
    result = compiler().run(single, schema=source, target="api")
    assert result.valid and json.loads(result.query) == [json.loads(single)]
    assert [d.code for d in result.diagnostics] == ["api.wrapped"]
    bad = compiler().run(json.dumps({"operation": "listHosts", "parameters": {"limit": 0}}), schema=source, target="api")
    assert not bad.valid and "schema.value" in [d.code for d in bad.diagnostics]


def test_openapi_core_validates_the_request_as_it_would_be_sent(bound):
    from nl2q.targets.api.check import Call, request_diagnostics
    from nl2q.targets.config.document import load_documents

    op = bound.api.operations["listHosts"]
    text = call("listHosts", limit=900)
    doc = load_documents(text)[0]
    found = request_diagnostics(doc, [Call(op, {"limit": 900})], bound.api)
    assert found and found[0].code == "api.request" and "limit" in found[0].message
    assert text[found[0].start:found[0].end] == "900"
    assert request_diagnostics(doc, [Call(op, {"limit": 5})], bound.api) == []


def test_writes_are_refused_read_only_and_need_approval_when_allowed(bound):
    write = call("createSilence", SILENCE)
    refused = bound.check(write, Policy())
    assert refused.writes and [d.code for d in refused.diagnostics if d.is_error] == ["policy.write"]
    allowed = bound.check(write, Policy(allow_writes=True))
    assert not [d for d in allowed.diagnostics if d.is_error]
    assert [d.code for d in allowed.diagnostics] == ["policy.approval"]
    assert bound.approval(write, Policy(allow_writes=True)).tier == "changes_state"
    assert bound.approval(call("deleteSilence", silence_id="sil-1"), Policy(allow_writes=True)).tier == "destructive"
    listed = Policy(allow_writes=True, destructive_operations=("createSilence",))
    assert bound.approval(write, listed).tier == "destructive"
    reads = bound.approval(call("listHosts"), Policy())
    assert reads.tier == "read_only" and not reads.required


def test_calls_go_only_to_allowed_hosts(bound):
    assert codes(call("listHosts"), bound, Policy(allowed_hosts=("api.example.com",))) == ["policy.host"]
    assert codes(call("listHosts"), bound, Policy(allowed_hosts=("127.0.0.1",))) == []


def test_the_default_dry_run_records_the_exact_request_and_sends_nothing(source, ops_api_url):
    c = compiler(Policy(allow_writes=True))
    result = c.run(call("createSilence", SILENCE), schema=source, target="api")
    assert result.valid and result.dry_run.mode == "record" and result.dry_run.ok
    assert [e.target for e in result.dry_run.effects] == [f"POST {ops_api_url}/silences"]
    assert httpx.get(ops_api_url + "/silences").json() == []  # recorded, not sent
    curl = shlex.split(result.renderings["curl"])
    assert curl[:4] == ["curl", "-sS", "-X", "POST"] and curl[4] == f"{ops_api_url}/silences"
    assert json.loads(curl[curl.index("--data") + 1]) == SILENCE
    assert result.renderings["http"].startswith("POST /silences HTTP/1.1\nHost: 127.0.0.1:")


def test_a_live_dry_run_reads_for_real_and_validates_the_response(source):
    live = {**source, "live": True}
    result = compiler().run(call("listHosts", datacenter="fra1", limit=3), schema=live, target="api")
    assert result.valid and result.dry_run.mode == "run"
    rows = [dict(zip(result.dry_run.columns, r)) for r in result.dry_run.rows]
    assert len(rows) == 3 and {r["datacenter"] for r in rows} == {"fra1"}
    assert result.dry_run.warnings == []


def test_a_live_error_status_is_an_execute_error_the_model_can_repair(source):
    result = compiler().run(call("getHost", hostname="no-such-host"), schema={**source, "live": True}, target="api")
    assert not result.valid
    d = next(d for d in result.diagnostics if d.is_error)
    assert d.code == "execute.error" and "404" in d.message and "no-such-host" in d.message


def test_a_response_that_breaks_the_spec_is_said(ops_api_url):
    spec = httpx.get(ops_api_url + "/openapi.json").json()
    spec["components"]["schemas"]["Host"]["properties"]["cpu_count"] = {"type": "string"}
    result = compiler().run(call("listHosts", limit=1), schema={"api": spec, "base_url": ops_api_url, "live": True},
                            target="api")
    warnings = [d for d in result.diagnostics if d.code == "execute.warning"]
    assert warnings and "cpu_count" not in result.query and "is not of type 'string'" in warnings[0].message


def test_a_response_over_the_size_cap_is_cut_and_said(source):
    result = Compiler(ScriptedModel([]), policy=Policy(max_response_bytes=200)).run(
        call("listHosts", limit=50), schema={**source, "live": True}, target="api")
    assert result.dry_run.capped and any("cut at 200 bytes" in d.message for d in result.diagnostics)


def test_a_write_runs_only_with_a_persons_approval(source, ops_api_url):
    c = compiler(Policy(allow_writes=True))
    result = c.run(call("createSilence", SILENCE), schema=source, target="api")
    with pytest.raises(NotApproved):
        c.execute(result, schema=source)
    seen = []
    with pytest.raises(NotApproved):
        c.execute(result, schema=source, approve=lambda request: seen.append(request) or False)
    assert seen[0].tier == "changes_state" and seen[0].text == result.query and seen[0].where == ops_api_url
    assert httpx.get(ops_api_url + "/silences").json() == []
    executed = c.execute(result, schema=source, approve=lambda request: True)
    assert executed.approved_by == "person" and executed.outcome.ok and executed.outcome.mode == "real"
    silences = httpx.get(ops_api_url + "/silences").json()
    assert len(silences) == 1 and silences[0]["matchers"]["hostname"] == "web-fra1-007"
    deleted = c.run(call("deleteSilence", silence_id=silences[0]["id"]), schema=source, target="api")
    c.execute(deleted, schema=source, approve=lambda request: request.tier == "destructive")
    assert httpx.get(ops_api_url + "/silences").json() == []


def test_a_read_runs_for_real_without_asking(source):
    c = compiler()
    result = c.run(call("getOncall", team="payments"), schema=source, target="api")
    executed = c.execute(result, schema=source)
    outcome = executed.outcome
    assert executed.approved_by == "policy" and dict(zip(outcome.columns, outcome.rows[0]))["team"] == "payments"


# ------------------------------------------------------------------ sources without a service


FUNCTIONS = {"functions": [
    {"name": "math.hypot", "description": "Euclidean norm of a point", "parameters": {"type": "dict", "properties": {
        "x": {"type": "integer", "description": "x coordinate"}, "y": {"type": "integer", "description": "y"},
        "z": {"type": "float", "description": "z coordinate, optional"}}, "required": ["x", "y"]}},
    {"name": "geo.route", "description": "Route between two places", "parameters": {"type": "dict", "properties": {
        "stops": {"type": "tuple", "items": {"type": "string"}}, "mode": {"type": "string", "enum": ["car", "bike"]},
        "options": {"type": "any"}}, "required": ["stops"]}}]}


def test_function_definitions_in_bfcl_form_bind_and_check():
    bound = get_target("api").bind(FUNCTIONS)
    assert bound.dialect.name == "functions"
    ok = '[{"operation": "math.hypot", "parameters": {"x": 3, "y": 4, "z": 1.5}}]'
    assert codes(ok, bound) == []
    assert codes('[{"operation": "math.hypot", "parameters": {"x": 3.5, "y": 4}}]', bound) == ["schema.type"]
    assert codes('[{"operation": "geo.route", "parameters": {"stops": ["a", "b"], "mode": "walk"}}]', bound) \
        == ["schema.enum"]
    assert codes('[{"operation": "geo.route", "parameters": {"stops": ["a"], "options": {"any": [1]}}}]', bound) == []
    assert bound.renderings(ok) == {"python": "math.hypot(x=3, y=4, z=1.5)"}
    dry = bound.dry_run(ok, Policy(), False)
    assert dry.ok and dry.effects[0].target == "math.hypot(x=3, y=4, z=1.5)"
    assert bound.approval(ok, Policy()) is None  # nl2q never runs a function


def test_openapi_30_nullable_and_boolean_exclusive_bounds_become_json_schema():
    spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "servers": [{"url": "http://t.test"}],
            "paths": {"/x": {"get": {"operationId": "getX", "parameters": [
                {"name": "n", "in": "query", "schema": {"type": "integer", "minimum": 0, "exclusiveMinimum": True}},
                {"name": "tag", "in": "query", "schema": {"type": "string", "nullable": True}}],
                "responses": {"200": {"description": "ok"}}}}}}
    bound = get_target("api").bind(spec)
    params = {p.name: p.schema for p in bound.api.operations["getX"].parameters}
    assert params["n"] == {"type": "integer", "exclusiveMinimum": 0} and params["tag"]["type"] == ["string", "null"]
    assert codes('[{"operation": "getX", "parameters": {"n": 0}}]', bound) == ["schema.value"]
    assert codes('[{"operation": "getX", "parameters": {"n": 1}}]', bound) == []


def large_spec(n: int) -> dict:
    words = ["host", "disk", "alert", "team", "queue", "cert", "dns", "route", "quota", "backup", "node", "volume"]
    paths = {}
    for i in range(n):
        noun = f"{words[i % len(words)]}{i}"
        paths[f"/{noun}"] = {"get": {"operationId": f"list_{noun}", "summary": f"List every {words[i % len(words)]} "
                                     f"of group {i}", "responses": {"200": {"description": "ok"}}}}
    return {"openapi": "3.1.0", "info": {"title": "big", "version": "1"}, "servers": [{"url": "http://big.test"}],
            "paths": paths}


def test_a_large_spec_is_cut_to_the_operations_like_the_question_and_says_so():
    bound = get_target("api").bind(large_spec(300))
    narrowed = bound.for_question("list every backup of group 129")
    assert len(narrowed.ops) == bound.dialect.max_operations < len(bound.api)
    assert narrowed.ops[0].name == "list_backup129"
    note = narrowed.notes[0]
    assert note.code == "api.spec_cut" and f"of {len(bound.api)} operations" in note.message
    assert "list_backup129" in narrowed.schema_text("") and "list_host0" not in narrowed.schema_text("")
    left_out = '[{"operation": "list_host0", "parameters": {}}]'
    assert codes(left_out, narrowed) == []  # checked against the whole spec, not the cut
    assert narrowed.constraint.text != bound.constraint.text


def test_a_question_sharing_no_word_with_any_operation_gets_no_call():
    bound = get_target("api").bind(FUNCTIONS)
    narrowed = bound.for_question("What will the weather be in Paris tomorrow?")
    assert narrowed.ops == () and narrowed.notes[0].code == "api.no_match"
    assert '"maxItems": 0' in narrowed.constraint.text
    assert bound.for_question("the norm of the point (3, 4)").ops[0].name == "math.hypot"


def test_bad_sources_get_clear_errors(tmp_path):
    target = get_target("api")
    with pytest.raises(Nl2qError, match="not found"):
        target.bind(str(tmp_path / "missing.yaml"))
    with pytest.raises(Nl2qError, match="OpenAPI 2.0 is not supported"):
        target.bind({"swagger": "2.0", "paths": {}})
    with pytest.raises(Nl2qError, match="defined twice"):
        target.bind({"functions": [{"name": "f"}, {"name": "f"}]})
    with pytest.raises(Nl2qError, match="could not fetch"):
        target.bind("http://127.0.0.1:9/openapi.json")
    with pytest.raises(Nl2qError, match="unknown API source key 'base_ur'"):
        target.bind({"api": FUNCTIONS, "base_ur": "x"})


def test_values_cannot_smuggle_headers_or_leave_their_path_segment():
    spec = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "servers": [{"url": "http://t.test"}],
            "paths": {"/x/{id}": {"get": {"operationId": "getX", "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "X-Trace", "in": "header", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok"}}}}}}
    c = compiler()
    smuggled = c.run(json.dumps([{"operation": "getX", "parameters": {"id": "a", "X-Trace": "a\r\nHost: evil"}}]),
                     schema=spec, target="api")
    assert not smuggled.valid and smuggled.errors[0].code == "policy.header_injection"
    assert smuggled.renderings == {} and smuggled.dry_run is None
    escaped = c.run(call("getX", id="../../admin"), schema=spec, target="api")
    assert escaped.valid and escaped.renderings["http"].startswith("GET /x/..%2F..%2Fadmin HTTP/1.1")


def test_a_call_repeated_exactly_is_an_error_a_different_one_is_not():
    bound = get_target("api").bind(FUNCTIONS)
    twice = '[{"operation": "math.hypot", "parameters": {"x": 3, "y": 4}}, ' \
            '{"operation": "math.hypot", "parameters": {"y": 4, "x": 3}}]'
    d = [d for d in bound.check(twice, Policy()).diagnostics if d.is_error]
    assert [x.code for x in d] == ["api.duplicate_call"] and twice[d[0].start:].startswith('{"operation": "math.hypot", "parameters": {"y"')
    assert codes('[{"operation": "math.hypot", "parameters": {"x": 3, "y": 4}}, '
                 '{"operation": "math.hypot", "parameters": {"x": 5, "y": 12}}]', bound) == []


def test_free_strings_are_generated_without_json_structure_characters():
    from nl2q.targets.api.grammar import generation_schema

    bound = get_target("api").bind(FUNCTIONS)
    schema = generation_schema(bound.api, bound.api.operations.values(), bound.dialect)
    route = next(b for b in schema["items"]["anyOf"] if b["properties"]["operation"]["const"] == "geo.route")
    pattern = route["properties"]["parameters"]["properties"]["stops"]["items"]["pattern"]
    import re

    assert re.fullmatch(pattern, "Lisbon, Portugal (PT) #1") and not re.fullmatch(pattern, 'a"}]')
    assert codes('[{"operation": "geo.route", "parameters": {"stops": ["a {b}"]}}]', bound) == []  # a person may
