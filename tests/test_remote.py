"""Remote backends without a server: the request each server dialect is sent (against its documented
shape), parsing of recorded real llama-server responses, retries, auth and grammar refusals.

The same paths against a live llama-server are in tests/test_llama_server.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from nl2q import Compiler
from nl2q.errors import GrammarRejected, ModelError
from nl2q.models import Compiled, Sampling, load_model
from nl2q.models.config import configured
from nl2q.models.remote import ChatServer, Endpoint, continuation
from nl2q.models.remote.llamacpp import LlamaCppServer
from nl2q.models.remote.ollama import OllamaServer
from nl2q.models.remote.responses import ResponsesServer
from nl2q.models.remote.sglang import SglangServer
from nl2q.models.remote.vllm import VllmServer
from nl2q.types import Constraint

RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "recorded"
LARK = 'start: "SELECT " NAME " FROM hosts"\nNAME: /[a-z_]+/\n'
SCHEMA = json.dumps({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
MESSAGES = [{"role": "system", "content": "Write SQL."}, {"role": "user", "content": "hosts?"}]
PREFIX = "```sql\n"


def server(cls: type[ChatServer], handler=None, **options) -> ChatServer:
    transport = httpx.MockTransport(handler or (lambda r: httpx.Response(500)))
    model = cls(Endpoint("http://server.test/v1", model="m", api_key="k", backoff=0.0), transport=transport, **options)
    model._sleep = lambda s: None
    return model


def body_for(model: ChatServer, kind: str = "lark", text: str = LARK, sampling: Sampling = Sampling()) -> dict:
    compiled = model.constrain(Constraint(kind, text)) if kind else None
    return model.request(MESSAGES, PREFIX, compiled, 64, sampling)[1]


# ------------------------------------------------------------------ request shapes per server


def test_vllm_sends_structured_outputs_and_continues_the_fence():
    m = server(VllmServer)
    body = body_for(m, sampling=Sampling(repetition_penalty=1.1))
    assert body["messages"][-1] == {"role": "assistant", "content": PREFIX}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["model"] == "m" and body["max_tokens"] == 64 and body["repetition_penalty"] == 1.1
    grammar = body["structured_outputs"]["grammar"]
    assert "root ::=" in grammar and "start:" not in grammar  # GBNF for xgrammar, not the Lark text
    assert body_for(m, "regex", "[a-z]+")["structured_outputs"] == {"regex": "[a-z]+"}
    assert body_for(m, "json_schema", SCHEMA)["structured_outputs"] == {"json": json.loads(SCHEMA)}
    lark = server(VllmServer, grammar_syntax="lark")
    assert body_for(lark)["structured_outputs"]["grammar"] == LARK


def test_sglang_sends_ebnf_regex_or_response_format():
    m = server(SglangServer)
    assert "root ::=" in body_for(m)["ebnf"]
    assert body_for(m, "regex", "[a-z]+")["regex"] == "[a-z]+"
    fmt = body_for(m, "json_schema", SCHEMA)["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == json.loads(SCHEMA)


def test_llamacpp_sends_gbnf_or_json_schema_and_its_own_penalty_field():
    m = server(LlamaCppServer)
    body = body_for(m, sampling=Sampling(repetition_penalty=1.1))
    assert body["grammar"].startswith("root ::=") and body["repeat_penalty"] == 1.1
    assert "repetition_penalty" not in body
    assert body_for(m, "json_schema", SCHEMA)["json_schema"] == json.loads(SCHEMA)
    assert not m.accepts(Constraint("regex", "a+"))


def test_plain_chat_servers_take_no_grammar_and_do_not_prefill():
    for cls in (ChatServer, OllamaServer):
        m = server(cls)
        assert not m.accepts(Constraint("lark", LARK))
        body = body_for(m, kind="")
        assert body["messages"][-1]["role"] == "user" and "continue_final_message" not in body
        assert "repetition_penalty" not in body and "grammar" not in body
        assert body_for(m, "json_schema", SCHEMA)["response_format"]["json_schema"]["strict"] is True


def test_responses_api_forces_a_custom_tool_whose_format_is_the_lark_grammar():
    m = server(ResponsesServer)
    path, body = m.request(MESSAGES, PREFIX, m.constrain(Constraint("lark", LARK)), 64, Sampling())
    assert path == "responses" and body["max_output_tokens"] == 64 and body["input"] == MESSAGES
    (tool,) = body["tools"]
    assert tool["type"] == "custom" and tool["format"] == {"type": "grammar", "syntax": "lark", "definition": LARK}
    assert body["tool_choice"] == {"type": "custom", "name": tool["name"]}


def test_sampling_fields_are_greedy_unless_asked():
    m = server(VllmServer)
    assert "top_p" not in body_for(m)
    sampled = body_for(m, sampling=Sampling(temperature=0.8, top_p=0.9, seed=3))
    assert (sampled["temperature"], sampled["top_p"], sampled["seed"]) == (0.8, 0.9, 3)


# ------------------------------------------------------------------ recorded real responses


def recorded(name: str) -> dict:
    return json.loads((RECORDED / f"llamacpp-{name}.json").read_text())


def replay(name: str):
    rec = recorded(name)
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(rec["status"], headers={"content-type": rec["content_type"]}, content=rec["body"].encode())

    return rec, seen, handler


@pytest.mark.parametrize("name", ["stream", "plain"])
def test_recorded_llamacpp_answers_parse_to_the_output_after_the_fence(name):
    rec, seen, handler = replay(name)
    m = server(LlamaCppServer, handler)
    m.stream = name == "stream"
    compiled = Compiled(Constraint("lark", LARK), {"grammar": rec["request"]["grammar"]})
    gen = m.generate(MESSAGES, prefix=PREFIX, constraint=compiled, max_new_tokens=32)
    assert gen.text.startswith("SELECT ") and gen.text.endswith("FROM hosts\n```")  # the echoed prefix is dropped
    assert gen.finish == "eos" and gen.constrained and not gen.truncated
    usage = [json.loads(line[5:]) for line in rec["body"].splitlines() if line.startswith("data: {")][-1]["usage"] \
        if name == "stream" else json.loads(rec["body"])["usage"]
    assert (gen.prompt_tokens, gen.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"]) != (0, 0)
    assert seen[0]["grammar"] == rec["request"]["grammar"]


def test_recorded_length_cut_is_reported_as_truncated_when_constrained():
    _, _, handler = replay("length")
    m = server(LlamaCppServer, handler)
    m.stream = False
    gen = m.generate(MESSAGES, prefix=PREFIX, constraint=Compiled(Constraint("lark", LARK), {"grammar": "root ::= \"x\""}),
                     max_new_tokens=4)
    assert gen.finish == "length" and gen.truncated


def test_recorded_grammar_refusal_raises_and_is_remembered():
    _, seen, handler = replay("bad-grammar")
    m = server(LlamaCppServer, handler)
    compiled = Compiled(Constraint("lark", LARK), {"grammar": "root ::= select-clause"})
    for _ in range(2):
        with pytest.raises(GrammarRejected, match="failed to parse grammar"):
            m.generate(MESSAGES, prefix=PREFIX, constraint=compiled)
    assert len(seen) == 1  # the refused grammar is not sent again


def test_responses_api_output_is_the_tool_calls_input():
    # The documented shape of a forced custom-tool call (no recording: no such server here).
    data = {"status": "completed", "usage": {"input_tokens": 120, "output_tokens": 9},
            "output": [{"type": "reasoning", "summary": []},
                       {"type": "custom_tool_call", "call_id": "c1", "name": "emit_output", "input": "SELECT 1"}]}
    m = server(ResponsesServer, lambda r: httpx.Response(200, json=data))
    gen = m.generate(MESSAGES, prefix=PREFIX, constraint=m.constrain(Constraint("lark", LARK)))
    assert (gen.text, gen.prompt_tokens, gen.output_tokens, gen.finish) == ("SELECT 1", 120, 9, "eos")
    cut = {**data, "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    m = server(ResponsesServer, lambda r: httpx.Response(200, json=cut))
    assert m.generate(MESSAGES, prefix=PREFIX, constraint=m.constrain(Constraint("lark", LARK))).truncated


# ------------------------------------------------------------------ transport


def test_retries_429_and_5xx_with_backoff_then_succeeds():
    statuses = iter([429, 503])
    waits: list[float] = []

    def handler(request):
        status = next(statuses, 200)
        if status != 200:
            return httpx.Response(status, headers={"retry-after": "2"} if status == 429 else {}, json={"error": "busy"})
        return httpx.Response(200, json={"choices": [{"message": {"content": "SELECT 1"}, "finish_reason": "stop"}]})

    m = server(ChatServer, handler)
    m._sleep = waits.append
    assert m.generate(MESSAGES).text == "SELECT 1"
    assert waits[0] == 2.0 and len(waits) == 2


def test_gives_up_after_the_retries_with_one_line():
    calls = []
    m = server(ChatServer, lambda r: calls.append(1) or httpx.Response(502, text="bad gateway"))
    with pytest.raises(ModelError, match="HTTP 502") as e:
        m.generate(MESSAGES)
    assert len(calls) == m.endpoint.max_retries + 1 and "\n" not in str(e.value)


def test_auth_failure_names_the_key_variable_and_is_not_retried():
    calls = []
    m = server(VllmServer, lambda r: calls.append(r) or httpx.Response(401, json={"error": {"message": "bad key"}}))
    with pytest.raises(ModelError, match="refused the credentials") as e:
        m.generate(MESSAGES)
    assert "NL2Q_API_KEY" in e.value.hint and len(calls) == 1
    assert calls[0].headers["authorization"] == "Bearer k"


def test_timeouts_and_unreachable_servers_are_model_errors():
    def slow(request):
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ModelError, match="did not answer"):
        server(ChatServer, slow).generate(MESSAGES)

    def down(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ModelError, match="cannot reach"):
        server(ChatServer, down).generate(MESSAGES)


def test_a_stream_that_fails_midway_is_an_error_not_a_short_answer():
    sse = 'data: {"choices":[{"delta":{"content":"SELECT"}}]}\n\ndata: {"error":{"message":"slot crashed"}}\n\n'
    m = server(ChatServer, lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse))
    with pytest.raises(ModelError, match="slot crashed"):
        m.generate(MESSAGES)


def test_a_server_that_cannot_continue_the_fence_still_yields_the_body():
    assert continuation(PREFIX, "```sql\nSELECT 1\n```") == "SELECT 1\n```"
    assert continuation(PREFIX, "Here you go:\n```SQL\nSELECT 1\n```") == "SELECT 1\n```"
    assert continuation(PREFIX, "SELECT 1") == "SELECT 1"
    assert continuation(PREFIX, "```\nSELECT 1", reopened=False) == "```\nSELECT 1"


# ------------------------------------------------------------------ through the compiler


def test_a_grammar_refused_at_request_time_is_reported_and_the_output_still_checked(ops_duckdb):
    answers = iter(["SELECT hostname FROM hosts\n```"])

    def handler(request):
        if "grammar" in json.loads(request.content):
            return httpx.Response(400, json={"error": {"message": "failed to parse grammar"}})
        return httpx.Response(200, json={"choices": [{"message": {"content": next(answers)}, "finish_reason": "stop"}],
                                         "usage": {"prompt_tokens": 50, "completion_tokens": 6}})

    m = server(LlamaCppServer, handler)
    result = Compiler(m).compile("hostnames?", schema=str(ops_duckdb))
    codes = [d.code for d in result.diagnostics]
    assert "decode.grammar_rejected" in codes and result.valid and result.query == "SELECT hostname FROM hosts"
    assert not result.rounds[0].constrained and result.rounds[0].prompt_tokens == 50


def test_an_unconstrained_server_is_said_to_be(ops_duckdb):
    m = server(OllamaServer, lambda r: httpx.Response(200, json={
        "choices": [{"message": {"content": "```sql\nSELECT hostname FROM hosts\n```"}, "finish_reason": "stop"}]}))
    result = Compiler(m).compile("hostnames?", schema=str(ops_duckdb))
    assert result.valid and "decode.unconstrained" in [d.code for d in result.diagnostics]


# ------------------------------------------------------------------ naming models


def test_specs_name_provider_model_and_url(monkeypatch):
    monkeypatch.setenv("NL2Q_API_KEY", "secret")
    m = load_model("vllm:Qwen/Qwen2.5-7B-Instruct@http://gpu-01:8000/v1")
    assert isinstance(m, VllmServer)
    assert (m.endpoint.model, m.endpoint.base_url, m.endpoint.api_key) == ("Qwen/Qwen2.5-7B-Instruct",
                                                                         "http://gpu-01:8000/v1", "secret")
    assert load_model("llamacpp:@http://127.0.0.1:9/v1").endpoint.model == ""


def test_models_toml_names_a_server(tmp_path, monkeypatch):
    cfg = tmp_path / "models.toml"
    cfg.write_text('[models.gpu]\nmodel = "sglang:big@http://gpu:30000/v1"\nkey_env = "GPU_KEY"\ntimeout = 9\n'
                   'repetition_penalty = 1.05\n')
    monkeypatch.setenv("NL2Q_MODELS", str(cfg))
    monkeypatch.setenv("GPU_KEY", "k2")
    m = load_model("gpu")
    assert isinstance(m, SglangServer) and m.endpoint.api_key == "k2" and m.endpoint.timeout == 9
    assert m.defaults.repetition_penalty == 1.05 and m.endpoint.key_env == "GPU_KEY"
    cfg.write_text('[models.bad]\nmodel = "vllm:x@http://h/v1"\napi_key = "inline"\n')
    with pytest.raises(ModelError, match="unknown keys"):
        configured()


def test_nl2q_models_lists_configured_servers(tmp_path, monkeypatch, capsys):
    from nl2q.cli import main

    cfg = tmp_path / "models.toml"
    cfg.write_text('[models.gpu]\nmodel = "vllm:big@http://127.0.0.1:9/v1"\n')
    monkeypatch.setenv("NL2Q_MODELS", str(cfg))
    assert main(["models", "--check"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m@int8" in out and "vllm:big@http://127.0.0.1:9/v1" in out and "unreachable" in out
