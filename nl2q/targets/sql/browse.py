"""What a person browsing a database needs: the schema as data and questions to start from."""

from __future__ import annotations

from typing import Any

from ..phrasing import interleave, plural, singular, words
from .schema import SqlSchema

_NUMERIC = ("INT", "DECIMAL", "NUMERIC", "REAL", "FLOAT", "DOUBLE")
_LABEL = ("name", "title", "hostname", "label")


def describe(schema: SqlSchema) -> dict[str, Any]:
    return {"target": "sql", "tables": [
        {"name": t.name, "columns": [{"name": c, "type": ty or ""} for c, ty in t.columns.items()],
         "primary_key": t.primary_key, "foreign_keys": [list(fk) for fk in t.foreign_keys]}
        for t in schema.tables.values()]}


def sample_questions(schema: SqlSchema, n: int = 6) -> list[str]:
    """Questions drawn from the tables, their numeric and naming columns and their foreign keys."""
    counts, tops, joins = [], [], []
    for t in schema.tables.values():
        noun = words(t.name)
        counts.append(f"How many {plural(noun)} are there?")
        numeric = [c for c, ty in t.columns.items() if any(k in (ty or "").upper() for k in _NUMERIC)
                   and c not in t.primary_key and not c.lower().endswith("id")]
        named = [c for c in t.columns if c.lower() in _LABEL]
        if numeric and named:
            tops.append(f"Which {singular(noun)} has the highest {words(numeric[0])}? Show its {words(named[0])}.")
        for column, ref, _ in t.foreign_keys[:1]:
            target = schema.table(ref)
            label = next((c for c in (target.columns if target else {}) if c.lower() in _LABEL), None)
            if named and label:
                joins.append(f"List the {words(named[0])} of each {singular(noun)} with the {words(label)} of its "
                             f"{singular(words(ref))}.")
    return interleave(joins, tops, counts)[:n]
