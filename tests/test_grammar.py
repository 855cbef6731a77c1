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
    for slot in ("table_name", "column_name", "qualified_column", "function_call", "type_name", "dialect_atom"):
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


def _engine_takes(dialect: str, call: str) -> bool:
    if dialect == "sqlite":
        import sqlite3

        con = sqlite3.connect(":memory:")
    else:
        import duckdb

        con = duckdb.connect()
    con.execute("CREATE TABLE t (a VARCHAR)")
    try:
        con.execute(f"SELECT {call} FROM t").fetchall()
        return True
    except Exception:  # noqa: BLE001 - the engine refuses the call
        return False


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
def test_calls_have_the_arity_their_engine_takes(dialect):
    """The grammar writes a call only with as many arguments as the profile declares, and the engine
    refuses every call outside that range (SQLite, which checks arity alone, takes every call inside it)."""
    from lark import Lark
    from lark.exceptions import LarkError

    d = get_dialect(dialect)
    parser = Lark(specialise_sql(from_mapping({"t": {"a": "VARCHAR"}}), d), parser="earley")
    assert d.arity, "the profile declares arities"
    for f in d.functions:
        least, most = d.arguments(f)
        for n in range(0, 6):
            call = f"{f}({', '.join(['a'] * n)})"
            inside = n >= max(least, 1) and (most is None or n <= most)
            try:
                parser.parse(f"SELECT {call} FROM t")
                parsed = True
            except LarkError:
                parsed = False
            assert parsed == inside, call
            if not inside and n > 0:
                assert not _engine_takes(dialect, call), f"{dialect} takes {call}: widen its arity"
            if inside and dialect == "sqlite":
                assert _engine_takes(dialect, call), f"sqlite refuses {call}: narrow its arity"


def test_arity_must_name_a_listed_function_in_a_known_form():
    from dataclasses import replace

    from nl2q.errors import DialectError

    d = get_dialect("sqlite")
    with pytest.raises(DialectError, match="NOPE"):
        replace(d, arity={**d.arity, "NOPE": "1"})
    with pytest.raises(DialectError, match="N-M"):
        replace(d, arity={**d.arity, "ABS": "one"})


def test_bare_table_names_match_in_any_case_where_the_engine_folds_them():
    from lark import Lark
    from lark.exceptions import LarkError

    schema = from_mapping({"Singer": {"Name": "VARCHAR"}, "select": {"id": "INTEGER"}})
    parser = Lark(specialise_sql(schema, get_dialect("sqlite")), parser="earley")
    for q in ["SELECT Name FROM Singer", "SELECT Name FROM singer", "SELECT SINGER.Name FROM SINGER", 'SELECT id FROM "select"']:
        parser.parse(q)
    with pytest.raises(LarkError):
        parser.parse('SELECT id FROM "SELECT"')  # a quoted name is exact
