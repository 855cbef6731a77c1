"""The conformance suite: every registered target (built-in, entry point or registered) passes the same tests.

A new target gets these for free by declaring ``Target.conformance()``.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grammar_sampler import sentences
from nl2q import Compiler, Policy, ScriptedModel, Stages
from nl2q.grammar import validate
from nl2q.prompt import extract_output, fence
from nl2q.targets import available, get_target, register
from toy_target import ToyTarget

register(ToyTarget())
TARGETS = available()
PAIRS = [(t, d) for t in TARGETS for d in get_target(t).dialects()]


def bind(target: str, dialect: str, source=None):
    t = get_target(target)
    return t.bind(t.conformance().source if source is None else source, dialect)


def test_builtin_and_registered_targets_are_listed():
    assert {"sql", "cypher", "toy"} <= set(TARGETS)


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_declares_conformance_samples(target):
    kit = get_target(target).conformance()
    assert kit.valid and kit.writes and kit.different


@pytest.mark.parametrize("target,dialect", PAIRS)
def test_decode_constraint_is_accepted_by_llguidance(target, dialect):
    validate(bind(target, dialect).constraint)


@pytest.mark.parametrize("target,dialect", PAIRS)
@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_whatever_decoding_can_emit_the_checker_accepts(target, dialect, seed, data):
    """One source of truth: random sentences of the decode constraint, over random schemas, pass the checker
    with none of the codes the constraint is meant to rule out (syntax, policy, dialect, and the target's own)."""
    t = get_target(target)
    kit = t.conformance()
    bound = t.bind(kit.random_sources.get(dialect, kit.random_source)(random.Random(seed)), dialect)
    try:
        assert bound.constraint.kind == "lark"
        sentence = data.draw(sentences(bound.constraint.text))
        text = extract_output(sentence, prefix=fence(bound.spec.fence))
        checked = bound.check(text, Policy())
        bad = [d for d in checked.diagnostics if d.is_error and d.code.startswith(kit.never)]
        assert not bad, (text, bad)
        assert kit.decode_writes or not checked.writes, text
        if kit.foreign_names is not None:
            assert kit.foreign_names(bound, text) == [], text
    finally:
        bound.close()


@pytest.mark.parametrize("target,dialect", PAIRS)
def test_read_only_policy_refuses_the_targets_writes(target, dialect):
    kit = get_target(target).conformance()
    bound = bind(target, dialect)
    for text in kit.writes:
        checked = bound.check(text, kit.policy)
        assert any(d.is_error and d.stage == "policy" for d in checked.diagnostics), (text, checked.diagnostics)
    for text in kit.valid:
        checked = bound.check(text, Policy())
        assert not [d for d in checked.diagnostics if d.is_error], (text, checked.diagnostics)


@pytest.mark.parametrize("target", TARGETS)
def test_normalise_keeps_different_outputs_apart(target):
    kit = get_target(target).conformance()
    bound = bind(target, get_target(target).dialects()[0])
    for a, b in kit.different:
        assert bound.normalise(a) != bound.normalise(b), (a, b)
    for a, b in kit.same:
        assert bound.normalise(a) == bound.normalise(b), (a, b)


@pytest.mark.parametrize("target", TARGETS)
def test_scripted_round_trip_goes_through_check_dry_run_and_repair(target):
    """Plumbing only (a scripted model): a refused write is repaired into a valid output that is dry-run."""
    kit = get_target(target).conformance()
    model = ScriptedModel([kit.writes[0], kit.valid[0]])
    result = Compiler(model, policy=kit.policy).compile("q", schema=kit.source, target=target, stages=Stages(constrained=False))
    assert [r.valid for r in result.rounds] == [False, True]
    assert result.valid and result.output == kit.valid[0]
    assert any(d.stage == "policy" for d in result.rounds[0].diagnostics)
    assert result.rounds[0].dry_run is None  # nothing refused is ever run
    repair_prompt = model.calls[1][-1]["content"]
    assert result.rounds[0].diagnostics[0].code in repair_prompt
    spec = get_target(target).spec
    assert spec.noun in repair_prompt and spec.noun in model.calls[0][0]["content"]
