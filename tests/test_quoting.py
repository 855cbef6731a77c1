"""One quoting rule per dialect: the prompt shows names exactly as the grammar accepts them, and they run."""

from __future__ import annotations

import re
import sqlite3

import duckdb
import pytest
from lark import Lark
from lark.exceptions import LarkError

from nl2q import Policy
from nl2q.targets import get_target

TABLE = "order"
COLUMNS = ["group", "Select", "My Column", "Name", "year", "user", "plain_col"]


def _database(dialect: str, tmp_path) -> str:
    path = tmp_path / f"awkward.{dialect}"
    cols = ", ".join(f'"{c}" INTEGER' for c in COLUMNS)
    values = ", ".join(str(i) for i in range(len(COLUMNS)))
    con = sqlite3.connect(path) if dialect == "sqlite" else duckdb.connect(str(path))
    con.execute(f'CREATE TABLE "{TABLE}" ({cols})')
    con.execute(f'INSERT INTO "{TABLE}" VALUES ({values})')
    if dialect == "sqlite":
        con.commit()
    con.close()
    return str(path)


@pytest.mark.parametrize("dialect", ["duckdb", "sqlite"])
def test_prompt_spelling_is_what_the_grammar_accepts_and_the_engine_runs(dialect, tmp_path):
    bound = get_target("sql").bind(_database(dialect, tmp_path), dialect)
    try:
        prompt = bound.schema_text("q")
        decode = Lark(bound.constraint.text, parser="earley")
        table = bound.spell(TABLE)
        assert f"CREATE TABLE {table} (" in prompt
        for column in COLUMNS:
            spelt = bound.spell(column)
            assert re.search(rf"[(,] ?{re.escape(spelt)} INTEGER", prompt), (spelt, prompt)
            query = f"SELECT {spelt} FROM {table}"
            decode.parse(f"{query}\n```")  # the decoder could emit exactly this
            checked = bound.check(query, Policy())
            assert not [d for d in checked.diagnostics if d.is_error], (query, checked.diagnostics)
            dry = bound.dry_run(query, Policy(), writes=False)
            assert dry.ok and dry.rows == [[COLUMNS.index(column)]], (query, dry)
        for needs_quotes in ("group", "Select", "My Column", TABLE):
            assert bound.spell(needs_quotes).startswith('"'), needs_quotes
        with pytest.raises(LarkError):
            decode.parse("SELECT group FROM " + table + "\n```")
    finally:
        bound.close()
