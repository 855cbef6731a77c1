"""One source of truth: whatever the SQL grammar derives, sqlglot parses, naming only schema names."""

from __future__ import annotations

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from grammar_sampler import GrammarSampler
from nl2q.targets import get_dialect, get_target
from nl2q import Constraint
from nl2q.grammar import base_grammar, validate
from nl2q.targets.sql.grammar import specialise_sql
from nl2q.prompt import extract_output
from nl2q.targets.sql.schema import SqlSchema, from_mapping
from strategies import sql_schemas

SQL_DIALECTS = get_target("sql").dialects()


def names_in(tree: exp.Expression, schema: SqlSchema) -> list[str]:
    """Names in ``tree`` that are not schema names (apart from what the grammar lets be free)."""
    bad = [f"comment {c!r}" for node in tree.walk() for c in (node.comments or [])]
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for t in tree.find_all(exp.Table):
        if not schema.table(t.name) and not (t.name.lower().startswith("cte") or t.name.lower().endswith("_cte")):
            bad.append(f"table {t.name}")
    for c in tree.find_all(exp.Column):
        if isinstance(c.this, exp.Star) or c.find_ancestor(exp.Order):
            continue  # ORDER BY may name a select alias
        if not any(t.column(c.name) for t in schema.tables.values()):
            bad.append(f"column {c.name}")
        table = schema.table(c.table) if c.table else None
        if table is not None and c.table.lower() not in ctes and not table.column(c.name):
            bad.append(f"column {c.table}.{c.name}")
    return bad


@pytest.mark.parametrize("dialect", SQL_DIALECTS)
def test_every_dialect_grammar_is_accepted_by_llguidance(dialect):
    schema = from_mapping({"hosts": {"id": "INTEGER", "hostname": "VARCHAR", "order": "INTEGER"}})
    validate(Constraint("lark", specialise_sql(schema, get_dialect(dialect))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(schema=sql_schemas(), dialect=st.sampled_from(SQL_DIALECTS), data=st.data())
def test_grammar_sentences_parse_and_name_only_schema_things(schema, dialect, data):
    d = get_dialect(dialect)
    grammar = specialise_sql(schema, d)
    sampler = _sampler(grammar)
    sentence = data.draw(sampler.sentences())
    query = extract_output(sentence, prefix="```")  # what the decoder hands to the checker
    tree = sqlglot.parse_one(query, read=d.sqlglot)
    assert isinstance(tree, (exp.Select, exp.SetOperation)), query
    assert names_in(tree, schema) == [], query


_SAMPLERS: dict[str, GrammarSampler] = {}


def _sampler(grammar: str) -> GrammarSampler:
    if grammar not in _SAMPLERS:
        _SAMPLERS.clear()
        _SAMPLERS[grammar] = GrammarSampler(grammar, max_depth=6)
    return _SAMPLERS[grammar]


def test_keywords_cannot_glue_to_names():
    """Whitespace is explicit: 'SELECTid' must not be derivable."""
    from lark import Lark
    from lark.exceptions import LarkError

    schema = from_mapping({"t": {"id": "INTEGER"}})
    parser = Lark(specialise_sql(schema, get_dialect("duckdb")), parser="earley")
    parser.parse("SELECT id FROM t")
    for glued in ["SELECTid FROM t", "SELECT id FROMt", "SELECT id FROM t WHEREid = 1"]:
        with pytest.raises(LarkError):
            parser.parse(glued)


def test_base_grammar_is_data_with_generated_slots():
    text = base_grammar("sql")
    for slot in ("table_name", "column_name", "qualified_column", "function_name", "type_name", "dialect_atom"):
        assert slot in text
        assert f"\n{slot}:" not in text  # defined only at run time


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(schema=sql_schemas(max_tables=3), dialect=st.sampled_from(SQL_DIALECTS), seed=st.integers(0, 2**16))
def test_constrained_model_outputs_parse(tiny_model, schema, dialect, seed):
    """A random-weight model under the grammar: every finished output parses and names only schema things."""
    from nl2q.models import Sampling

    d = get_dialect(dialect)
    constraint = tiny_model.constrain(Constraint("lark", specialise_sql(schema, d)))
    gen = tiny_model.generate([{"role": "user", "content": "q"}], prefix="```sql\n", constraint=constraint,
                              max_new_tokens=40, sampling=Sampling(temperature=1.0, seed=seed))
    if gen.finish == "length":
        assert gen.truncated == (not gen.accepting)
        return
    assert gen.finish in ("eos", "grammar_end"), gen
    query = extract_output(gen.text, prefix="```")
    tree = sqlglot.parse_one(query, read=d.sqlglot)
    assert names_in(tree, schema) == [], query
