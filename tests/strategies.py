"""Hypothesis strategies for schemas."""

from __future__ import annotations

from hypothesis import strategies as st

from nl2q.targets.sql.schema import SqlSchema, from_mapping

TYPES = ["INTEGER", "VARCHAR", "DOUBLE", "TIMESTAMP", "BOOLEAN", "TEXT"]
# Mostly plain names, sometimes ones that need quoting: reserved words, spaces, capitals.
plain = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
awkward = st.sampled_from(["order", "select", "Group", "from", "My Column", "year", "Name", "count", "user", "T1"])
names = st.one_of(plain, plain, plain, awkward)


@st.composite
def sql_schemas(draw, max_tables: int = 5) -> SqlSchema:
    tables = draw(st.lists(names, min_size=1, max_size=max_tables, unique_by=str.lower))
    mapping = {}
    for t in tables:
        cols = draw(st.lists(names, min_size=1, max_size=6, unique_by=str.lower))
        mapping[t] = {c: draw(st.sampled_from(TYPES)) for c in cols}
    return from_mapping(mapping)
