"""The real default model on the fixture database, end to end (the CI's proof it works)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlglot
from sqlglot import exp

from nl2q import Compiler, Stages
from nl2q.targets.sql.schema import load_schema

pytestmark = pytest.mark.model

QUESTION = "List the hostname and datacenter of every host."


@pytest.fixture(scope="module")
def compiler(default_model):
    c = Compiler(default_model)
    yield c
    c.close()


def test_answers_an_ops_question_with_a_valid_query_and_rows(compiler, ops_duckdb):
    r = compiler.compile(QUESTION, schema=ops_duckdb)
    assert r.valid, r.explain()
    assert r.dry_run.ok and r.dry_run.row_count and r.dry_run.rows
    tree = sqlglot.parse_one(r.query, read="duckdb")
    schema, _, _ = load_schema(ops_duckdb)
    assert all(schema.table(t.name) for t in tree.find_all(exp.Table))
    assert r.tokens["output"] > 0 and r.timings["decode_ms"] > 0


@pytest.mark.parametrize("question", [
    "Which hosts in datacenter fra1 have more than 16 CPUs?",
    "How many open incidents does each service have?",
    "Which alerts fired on hosts owned by the payments team?",
])
def test_every_round_is_a_grammar_sentence_and_checked(compiler, ops_sqlite, question):
    """Whatever the model says, each round's query parses (or was cut off, and says so)."""
    r = compiler.compile(question, schema=ops_sqlite, max_repairs=1)
    assert r.dialect == "sqlite"
    for rd in r.rounds:
        assert rd.constrained
        if rd.finish == "length":
            continue
        if any(d.code == "repair.repeated" for d in rd.diagnostics):
            continue
        sqlglot.parse_one(rd.query, read="sqlite")
        assert not any(d.code.startswith("syntax.") for d in rd.diagnostics), rd.diagnostics
    if not r.valid:
        assert r.errors, "an invalid result must say why"


def test_raw_configuration_runs_without_the_grammar(compiler, ops_duckdb):
    r = compiler.compile(QUESTION, schema=ops_duckdb, stages=Stages.named("raw"))
    assert len(r.rounds) == 1 and not r.rounds[0].constrained


def test_cli_json(ops_duckdb):
    proc = subprocess.run([sys.executable, "-m", "nl2q.cli", "ask", QUESTION, "--db", str(ops_duckdb), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("query", "target", "dialect", "valid", "diagnostics", "rounds", "dry_run", "timings"):
        assert key in out
    assert out["valid"] and out["dry_run"]["rows"]


def test_cli_errors_are_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nl2q.cli", "ask", "q", "--db", str(tmp_path / "missing.duckdb")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "database not found" in proc.stderr
    assert "Traceback" not in proc.stderr
