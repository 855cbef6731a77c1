"""End to end through a real llama.cpp server: the default model's GGUF file, nl2q's grammars as GBNF.

The server is built once per machine (``make llama-server``); these tests start it on a free port.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nl2q import Compiler
from nl2q.errors import GrammarRejected
from nl2q.evaluate import evaluate
from nl2q.models import Compiled, Sampling
from nl2q.models.llama_server import LlamaServer, find_binary
from nl2q.models.remote import Endpoint
from nl2q.models.remote.llamacpp import LlamaCppServer
from nl2q.types import Constraint
from test_evaluate import _tiny_benchmarks

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def llama():
    if find_binary() is None:
        pytest.fail("llama-server is not built: run `make llama-server` once on this machine (~6 min)")
    with LlamaServer(slots=2, threads=2) as server:
        yield server


@pytest.fixture(scope="module")
def remote(llama) -> LlamaCppServer:
    # The local default decodes with the same mild repetition penalty: the 135M model loops without one.
    return LlamaCppServer(Endpoint(llama.url, timeout=180), defaults=Sampling(repetition_penalty=1.1))


@pytest.fixture(scope="module")
def ladybug_kg(kg, tmp_path_factory) -> Path:
    return kg.write_ladybug(tmp_path_factory.mktemp("kg") / "ops_kg")


QUESTIONS = ["How many hosts are there?", "List all hosts.", "List the hostname of every host.",
             "List the name of every service.", "How many incidents are there?"]


def assert_constrained_and_sound(result) -> None:
    """The grammar's guarantee, end to end through the server: every finished output parses."""
    codes = [d.code for d in result.diagnostics]
    assert "decode.unconstrained" not in codes and "decode.grammar_rejected" not in codes
    assert "decode.unsteered" in codes  # a server cannot run nl2q's scope checks while it decodes: said so
    for rd in result.rounds:
        assert rd.constrained and rd.prompt_tokens > 0 and rd.output_tokens > 0
        if any(d.code in ("decode.truncated", "repair.repeated") for d in rd.diagnostics):
            continue
        assert not any(d.code.startswith("syntax.") for d in rd.diagnostics), rd.diagnostics
    if result.valid:
        assert result.dry_run is not None and result.dry_run.ok
    else:
        assert result.errors  # an invalid result says why


@pytest.mark.parametrize("target", ["sql", "cypher"])
def test_questions_through_llama_server_are_constrained_checked_and_dry_run(remote, ops_duckdb, ladybug_kg, target):
    """Without nl2q's steering the 135M model is often wrong (the checks catch it); some answers are valid."""
    source = str(ops_duckdb) if target == "sql" else str(ladybug_kg)
    compiler = Compiler(remote, max_new_tokens=96)
    results = [compiler.compile(q, schema=source, target=target) for q in QUESTIONS]
    for r in results:
        assert r.model.startswith("llamacpp:") and r.target == target
        assert_constrained_and_sound(r)
    assert any(r.valid for r in results), [r.explain() for r in results]


def test_the_real_server_refuses_a_broken_grammar_and_says_so(remote):
    broken = Compiled(Constraint("lark", 'start: "x"'), {"grammar": "root ::= undefined-rule"})
    with pytest.raises(GrammarRejected, match="grammar"):
        remote.generate([{"role": "user", "content": "hi"}], constraint=broken, max_new_tokens=4)


def test_eval_runs_against_the_server_with_requests_in_flight(remote, tmp_path):
    bench = _tiny_benchmarks(tmp_path / "bench")
    summary = evaluate("spider-dev", model=remote, configs=("constrained",), out=tmp_path / "run", benchmarks=bench,
                       concurrency=2, max_new_tokens=64, progress=False)
    assert summary["model"] == remote.name and summary["timing"]["concurrency"] == 2
    assert summary["results"]["constrained"]["n"] == 3
