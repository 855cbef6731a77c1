"""The SQL grammar's own properties (the decode/check agreement is in test_conformance.py)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nl2q.targets import get_dialect, get_target
from nl2q import Constraint
from nl2q.grammar import base_grammar, validate
from nl2q.targets.sql.grammar import specialise_sql
from nl2q.prompt import extract_output
from nl2q.targets.sql.schema import from_mapping
from strategies import sql_schemas

SQL_DIALECTS = get_target("sql").dialects()


@pytest.mark.parametrize("dialect", SQL_DIALECTS)
def test_every_dialect_grammar_is_accepted_by_llguidance(dialect):
    schema = from_mapping({"hosts": {"id": "INTEGER", "hostname": "VARCHAR", "order": "INTEGER"}})
    validate(Constraint("lark", specialise_sql(schema, get_dialect(dialect))))


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
    sql = get_target("sql")
    bound = sql.bind(schema, dialect)
    try:
        assert sql.conformance().foreign_names(bound, query) == [], query
    finally:
        bound.close()
