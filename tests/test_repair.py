"""The repair loop, driven by a scripted model (plumbing only; the real model is in test_e2e)."""

from __future__ import annotations

import json

import pytest

from nl2q import Compiler, ScriptedModel, Stages
from nl2q.models import Compiled, Generation
from nl2q.errors import GrammarRejected

SCHEMA = {"hosts": {"id": "INTEGER", "hostname": "VARCHAR", "cpu_count": "INTEGER"}}


def compiler(outputs, **kw) -> tuple[Compiler, ScriptedModel]:
    model = ScriptedModel(outputs)
    return Compiler(model, **kw), model


def test_invalid_then_repaired(ops_duckdb):
    c, model = compiler(["SELECT hostnme FROM hosts", "SELECT hostname FROM hosts WHERE cpu_count > 8"])
    r = c.compile("big hosts?", schema=ops_duckdb)
    assert r.valid and len(r.rounds) == 2
    assert [d.code for d in r.rounds[0].diagnostics] == ["schema.unknown_column"]
    assert r.rounds[1].kind == "repair" and r.rounds[1].valid
    repair_prompt = model.calls[1][-1]["content"]
    assert "SELECT hostnme FROM hosts" in model.calls[1][-2]["content"]
    assert "hostnme" in repair_prompt and "Did you mean 'hostname'" in repair_prompt
    assert r.dry_run.ok and r.dry_run.row_count > 0
    assert r.query == "SELECT hostname FROM hosts WHERE cpu_count > 8"


def test_same_failing_query_is_never_resubmitted():
    c, model = compiler(["SELECT nope FROM hosts", "SELECT nope FROM hosts", "SELECT  nope FROM hosts;", "unused"])
    r = c.compile("q", schema=SCHEMA, max_repairs=3)
    assert not r.valid
    assert len(r.rounds) == 2
    assert [d.code for d in r.rounds[1].diagnostics] == ["repair.repeated"]
    assert r.rounds[1].dry_run is None
    assert model.outputs == ["unused"]


def test_bounded_rounds():
    bad = [f"SELECT nope{i} FROM hosts" for i in range(10)]
    c, model = compiler(bad)
    r = c.compile("q", schema=SCHEMA, max_repairs=2)
    assert len(r.rounds) == 3 and not r.valid


def test_stops_at_first_valid_query():
    c, model = compiler(["SELECT hostname FROM hosts", "never used"])
    r = c.compile("q", schema=SCHEMA)
    assert r.valid and len(r.rounds) == 1 and model.outputs == ["never used"]


def test_empty_result_gets_one_more_round(ops_duckdb):
    c, _ = compiler(["SELECT hostname FROM hosts WHERE hostname = 'NOPE'", "SELECT hostname FROM hosts WHERE cpu_count > 8"])
    r = c.compile("q", schema=ops_duckdb)
    assert [d.code for d in r.rounds[0].diagnostics] == ["execute.empty_result"]
    assert len(r.rounds) == 2 and r.query.endswith("cpu_count > 8")


def test_empty_result_kept_when_the_retry_is_worse(ops_duckdb):
    c, _ = compiler(["SELECT hostname FROM hosts WHERE hostname = 'NOPE'", "SELECT nope FROM hosts"])
    r = c.compile("q", schema=ops_duckdb)
    assert r.valid and r.query.endswith("'NOPE'")
    assert any(d.code == "execute.empty_result" and d.severity == "warning" for d in r.diagnostics)


def test_truncated_output_is_never_passed_on():
    cut = Generation("SELECT hostname FROM hosts WHERE", "length", 10, 256, 1.0, constrained=True, accepting=False)
    c, _ = compiler([cut])
    r = c.compile("q", schema=SCHEMA, stages=Stages(repair=False))
    assert r.query == "" and not r.valid
    assert [d.code for d in r.diagnostics if d.severity != "info"] == ["decode.truncated"]


def test_a_backend_that_cannot_steer_says_so():
    c, _ = compiler(["SELECT hostname FROM hosts", "SELECT hostname FROM hosts"])
    steered = c.compile("q", schema=SCHEMA, stages=Stages.named("constrained+scope"))
    assert [(d.code, d.severity) for d in steered.diagnostics] == [("decode.unsteered", "info")]
    plain = c.compile("q", schema=SCHEMA, stages=Stages.named("constrained"))
    assert plain.diagnostics == []


def test_configurations_switch_stages_off():
    c, model = compiler(["SELECT nope FROM hosts", "SELECT hostname FROM hosts"])
    r = c.compile("q", schema=SCHEMA, stages=Stages.named("raw"))
    assert model.constrained_calls == [False] and len(r.rounds) == 1 and not r.valid
    c, model = compiler(["SELECT hostname FROM hosts"])
    c.compile("q", schema=SCHEMA, stages=Stages.named("constrained"))
    assert model.constrained_calls == [True]


class RejectingModel(ScriptedModel):
    def _compile(self, constraint) -> Compiled:
        raise GrammarRejected("backend says no")


def test_rejected_grammar_is_reported_not_silent():
    r = Compiler(RejectingModel(["SELECT hostname FROM hosts"])).compile("q", schema=SCHEMA)
    assert r.valid
    assert any(d.code == "decode.grammar_rejected" and d.severity == "warning" for d in r.diagnostics)
    assert r.rounds[0].constrained is False


def test_result_json_has_the_documented_fields(ops_duckdb):
    c, _ = compiler(["SELECT hostname FROM hosts"])
    d = json.loads(json.dumps(c.compile("q", schema=ops_duckdb).to_dict(), default=str))
    for key in ("query", "target", "dialect", "valid", "diagnostics", "rounds", "dry_run", "timings", "tokens"):
        assert key in d
    assert d["dry_run"]["columns"] == ["hostname"] and d["rounds"][0]["prompt"][0]["role"] == "system"


@pytest.mark.parametrize("dialect", ["duckdb", "sqlite"])
def test_schema_only_compiles_dry_run_on_empty_tables(dialect):
    c, _ = compiler(["SELECT hostname FROM hosts WHERE id = 3"])
    r = c.compile("q", schema=SCHEMA, dialect=dialect)
    assert r.valid and r.dialect == dialect
    assert not any(d.code == "execute.empty_result" for d in r.diagnostics)
