"""Typed constraints: Lark, JSON Schema and regex compile for the local backend and bind what it emits."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from nl2q import Compiler, Constraint, ScriptedModel
from nl2q.errors import GrammarRejected
from nl2q.grammar import validate
from nl2q.models import Sampling

SCHEMA = {"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1, "maximum": 9},
                                           "image": {"type": "string", "enum": ["nginx:1.27", "redis:7"]}},
          "required": ["replicas", "image"], "additionalProperties": False}


def test_constraint_kinds_are_checked():
    with pytest.raises(ValueError, match="unknown constraint kind"):
        Constraint("gbnf", "root ::= x")  # type: ignore[arg-type]
    assert Constraint("lark", "start: x").key != Constraint("regex", "start: x").key


@pytest.mark.parametrize("constraint", [
    Constraint("json_schema", json.dumps(SCHEMA)),
    Constraint("regex", r"[a-z]{1,8}-[0-9]{2}"),
    Constraint("lark", 'start: "cfg " %json ' + json.dumps(SCHEMA)),
])
def test_every_kind_validates(constraint):
    validate(constraint)


def test_a_bad_grammar_is_rejected_with_a_hint():
    with pytest.raises(GrammarRejected):
        validate(Constraint("lark", "start: (?=x) y"))


@pytest.mark.model
@pytest.mark.parametrize("kind", ["json_schema", "lark"])
def test_json_schema_constraint_binds_what_the_local_model_emits(tiny_model, kind):
    constraint = Constraint("json_schema", json.dumps(SCHEMA)) if kind == "json_schema" else \
        Constraint("lark", "start: %json " + json.dumps(SCHEMA))
    compiled = tiny_model.constrain(constraint)
    for seed in range(5):
        gen = tiny_model.generate([{"role": "user", "content": "a deployment"}], constraint=compiled,
                                  max_new_tokens=80, sampling=Sampling(temperature=1.0, seed=seed))
        if gen.truncated:
            continue
        jsonschema.validate(json.loads(gen.text), SCHEMA)


@pytest.mark.model
def test_regex_constraint_binds_what_the_local_model_emits(tiny_model):
    compiled = tiny_model.constrain(Constraint("regex", r"[a-z]{1,8}-[0-9]{2}"))
    gen = tiny_model.generate([{"role": "user", "content": "a name"}], constraint=compiled, max_new_tokens=20,
                              sampling=Sampling(temperature=1.0, seed=1))
    assert gen.truncated or re.fullmatch(r"[a-z]{1,8}-[0-9]{2}", gen.text), gen


@pytest.mark.model
def test_requests_on_one_compiled_constraint_do_not_share_matcher_state(tiny_model):
    """Two interleaved requests on one compiled grammar give what each gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    compiled = tiny_model.constrain(Constraint("json_schema", json.dumps(SCHEMA)))

    def run(seed: int) -> str:
        return tiny_model.generate([{"role": "user", "content": "x"}], constraint=compiled, max_new_tokens=60,
                                   sampling=Sampling(temperature=1.0, seed=seed)).text

    alone = [run(s) for s in range(6)]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(run, range(6)))
    assert together == alone


class _LarkOnly(ScriptedModel):
    constraint_kinds = frozenset({"lark"})


def test_a_backend_that_cannot_take_the_kind_says_so():
    schema = {"hosts": {"hostname": "VARCHAR"}}
    compiler = Compiler(_LarkOnly(["SELECT hostname FROM hosts"]))
    compiler.bind(schema).constraint = Constraint("json_schema", json.dumps(SCHEMA))  # as a config target's would be
    r = compiler.compile("q", schema=schema)
    assert r.valid and not r.rounds[0].constrained
    note = [d for d in r.diagnostics if d.code == "decode.unconstrained"]
    assert note and "json_schema" in note[0].message and note[0].severity == "warning"
