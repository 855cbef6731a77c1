"""Adversarial SQL: generated families of attacks on the checker and the dry run, and benign controls.

Each family crosses a few axes (object x qualifier x CTE-shadowing x spelling, function x position,
character x place, heavy call x wrapping) and asserts every case is refused by ``check_sql`` or ends
within its time bound in the executors. The controls must pass, so over-blocking shows too.
Cases are looped inside a test and failures collected, so one run reports every case that slips.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from nl2q.policy import Policy
from nl2q.targets import get_dialect
from nl2q.targets.sql.check import check_sql
from nl2q.targets.sql.execute import DuckDBExecutor, SQLiteExecutor, sql_executor
from nl2q.targets.sql.schema import from_mapping, load_schema

DUCK = get_dialect("duckdb")
SQLITE = get_dialect("sqlite")
DIALECTS = pytest.mark.parametrize("dialect", [DUCK, SQLITE], ids=["duckdb", "sqlite"])

SCHEMA = from_mapping({
    "hosts": {"id": "INTEGER", "hostname": "VARCHAR", "system_id": "INTEGER"},
    "alerts": {"id": "INTEGER", "host_id": "INTEGER", "severity": "VARCHAR"},
    "main_x": {"id": "INTEGER", "note": "VARCHAR"},
    "create_user": {"id": "INTEGER", "delete_flag": "BOOLEAN", "drop_reason": "VARCHAR"},
})
TABLE_REFUSALS = {"policy.qualified_name", "policy.catalog_table", "policy.table_function", "schema.unknown_table"}


def errors(query: str, dialect, schema=SCHEMA, policy: Policy = Policy()) -> set[str]:
    return {d.code for d in check_sql(query, schema, dialect, policy).diagnostics if d.is_error}


def slipped(cases, dialect, refusals=TABLE_REFUSALS) -> list[str]:
    """The cases check_sql lets through (no error with one of ``refusals``)."""
    return [q for q in cases if not errors(q, dialect) & refusals]


# ------------------------------------------------------------------ 1. name resolution

# (qualifier parts, name) of objects each engine answers from its catalog or another database.
CATALOG = {
    "duckdb": [((), "duckdb_databases"), ((), "duckdb_tables"), ((), "duckdb_settings"), ((), "duckdb_columns"),
               ((), "duckdb_secrets"), ((), "duckdb_extensions"), ((), "sqlite_master"), ((), "sqlite_schema"),
               ((), "pragma_database_list"), (("information_schema",), "tables"), (("pg_catalog",), "pg_class"),
               (("hr", "main"), "teams")],
    "sqlite": [((), "sqlite_master"), ((), "sqlite_schema"), ((), "sqlite_temp_master"), ((), "sqlite_sequence"),
               ((), "sqlite_stat1"), ((), "pragma_database_list"), ((), "pragma_table_info"), ((), "dbstat"),
               (("hr",), "teams"), (("temp",), "t")],
}
QUALIFIERS = {
    "duckdb": [(), ("main",), ("system", "main"), ("memory", "main"), ("temp", "main"), ("MAIN",)],
    "sqlite": [(), ("main",), ("temp",), ("MAIN",)],
}


def spellings(name: str) -> list[str]:
    return [name, name.upper(), f'"{name}"', name[:1].upper() + name[1:]]


def references(dialect_name: str) -> list[tuple[str, str]]:
    """(reference text, bare name) of every catalog object under every qualifier form and spelling."""
    out = []
    for (own, name), qual in itertools.product(CATALOG[dialect_name], QUALIFIERS[dialect_name]):
        parts = own or qual
        for spelled in spellings(name):
            quoted_parts = [f'"{p}"' if spelled.startswith('"') else p for p in parts]
            out.append((".".join([*quoted_parts, spelled]), name))
    return out


# Ways a CTE of the same name can exist without covering the reference {ref} (named {name}).
SHADOWS = {
    "none": "SELECT * FROM {ref}",
    "top_level_cte": "WITH {name} AS (SELECT 1 AS a) SELECT * FROM {ref}",
    "sibling_derived_table": "SELECT * FROM (WITH {name} AS (SELECT 1 AS a) SELECT a FROM {name}) s, {ref}",
    "where_subquery": "SELECT * FROM {ref} WHERE EXISTS (WITH {name} AS (SELECT 1 AS a) SELECT a FROM {name})",
    "forward_reference": "WITH x AS (SELECT * FROM {ref}), {name} AS (SELECT 1 AS a) SELECT * FROM x",
    "nested_with_in_cte": "WITH x AS (WITH {name} AS (SELECT 1 AS a) SELECT a FROM {name}) SELECT * FROM x, {ref}",
    "other_union_branch": "SELECT a FROM (WITH {name} AS (SELECT 1 AS a) SELECT a FROM {name}) s UNION ALL SELECT 1 FROM {ref}",
    "join": "WITH {name} AS (SELECT 1 AS a) SELECT * FROM {name} JOIN {ref} AS r ON TRUE",
    "in_subquery": "WITH {name} AS (SELECT 1 AS a) SELECT a FROM {name} WHERE a IN (SELECT 1 FROM {ref})",
}


@DIALECTS
@pytest.mark.parametrize("shadow", list(SHADOWS))
def test_catalog_and_other_databases_are_unreachable(dialect, shadow):
    """Every catalog object x qualifier form x spelling, under each way a same-named CTE can be out of scope."""
    cases = []
    for ref, name in references(dialect.name):
        if shadow != "none" and "." not in ref and shadow in ("top_level_cte", "join", "in_subquery"):
            continue  # an unqualified name under its own CTE is the CTE: a control below
        cases.append(SHADOWS[shadow].format(ref=ref, name=name))
    assert len(cases) > 40
    assert slipped(cases, dialect) == []


@DIALECTS
def test_refusals_point_at_the_reference_and_say_drop_the_qualifier(dialect):
    query = "WITH hosts AS (SELECT 1 AS a) SELECT * FROM main.hosts"
    [d] = [d for d in check_sql(query, SCHEMA, dialect).diagnostics if d.is_error]
    assert d.code == "policy.qualified_name" and query[d.start:d.end] == "main.hosts"
    assert "without the qualifier" in d.hint and "hosts" in d.hint
    [d] = [d for d in check_sql("SELECT * FROM sqlite_master", SCHEMA, dialect).diagnostics if d.is_error]
    assert d.code == "policy.catalog_table" and "hosts" in d.hint


TABLE_FUNCTIONS = {
    "duckdb": ["read_csv('/etc/passwd')", "read_csv_auto('x.csv')", "read_parquet('x.parquet')", "read_json('x')",
               "read_text('/etc/shadow')", "read_blob('x')", "glob('*')", "query('SELECT 1')", "query_table('hosts')",
               "range(10)", "generate_series(1, 3)", "duckdb_tables()", "duckdb_settings()", "duckdb_databases()",
               "pragma_table_info('hosts')", "sqlite_scan('x.db', 't')", "'/etc/passwd'", '"data.csv"'],
    "sqlite": ["pragma_table_info('hosts')", "pragma_database_list()", "json_each('[1]')", "json_tree('{}')",
               "generate_series(1, 3)", "dbstat('main')", "pragma_function_list()", "sqlite_dbpage('main')"],
}
POSITIONS = [
    "SELECT * FROM {f}",
    "SELECT * FROM hosts JOIN {f} AS t ON TRUE",
    "SELECT * FROM hosts, {f} AS t",
    "SELECT * FROM (SELECT * FROM {f}) AS t",
    "WITH c AS (SELECT * FROM {f}) SELECT * FROM c",
    "SELECT hostname FROM hosts WHERE id IN (SELECT 1 FROM {f})",
    "WITH {n} AS (SELECT 1 AS a) SELECT * FROM {f}",
]


@DIALECTS
def test_table_functions_are_refused_everywhere(dialect):
    cases = [pos.format(f=spelled, n=f.split("(")[0].strip("'\"").split("/")[-1].replace(".", "_"))
             for f, pos in itertools.product(TABLE_FUNCTIONS[dialect.name], POSITIONS)
             for spelled in (f, f.upper() if "(" in f and "'" not in f.split("(")[0] else f)]
    assert len(cases) >= 100
    assert slipped(cases, dialect, TABLE_REFUSALS | {"policy.function", "syntax.error"}) == []


def _duckdb_with_attached(tmp_path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE hosts (id INTEGER, hostname VARCHAR)")
    con.execute("INSERT INTO hosts VALUES (1, 'a')")
    con.execute(f"ATTACH '{tmp_path / 'hr.duckdb'}' AS hr")
    con.execute("CREATE TABLE hr.main.teams (secret VARCHAR)")
    con.execute("INSERT INTO hr.main.teams VALUES ('payroll')")
    return con


def test_attacks_are_real_on_the_engines(tmp_path):
    """The refused queries do read the catalog or another database when sent straight to the engine:
    the checker is what stops them."""
    con = _duckdb_with_attached(tmp_path)
    schema, engine, _ = load_schema(con)
    assert engine == "duckdb" and set(schema.tables) == {"hosts"}
    for query in ["WITH duckdb_databases AS (SELECT 1) SELECT * FROM system.main.duckdb_databases",
                  "SELECT * FROM hr.main.teams", "SELECT * FROM main.sqlite_master",
                  "SELECT * FROM information_schema.tables"]:
        assert con.execute(query).fetchall(), query
        assert errors(query, DUCK, schema) & TABLE_REFUSALS, query
    scon = sqlite3.connect(":memory:")
    scon.execute("CREATE TABLE hosts (id INTEGER)")
    for query in ["WITH x AS (SELECT * FROM sqlite_master), sqlite_master AS (SELECT 1 AS a) SELECT * FROM x",
                  "SELECT * FROM main.sqlite_master", "SELECT * FROM pragma_database_list"]:
        assert scon.execute(query).fetchall(), query
        assert errors(query, SQLITE, from_mapping({"hosts": ["id"]})) & TABLE_REFUSALS, query


def test_executors_refuse_other_databases_even_unchecked(tmp_path):
    """Defence in depth: the SQLite authorizer denies the catalog, temp and attached databases."""
    scon = sqlite3.connect(":memory:")
    scon.execute("CREATE TABLE hosts (id INTEGER)")
    scon.execute(f"ATTACH '{tmp_path / 'hr.db'}' AS hr")
    scon.execute("CREATE TABLE hr.teams (secret TEXT)")
    scon.execute("INSERT INTO hr.teams VALUES ('payroll')")
    ex = SQLiteExecutor(scon)
    for query in ["SELECT * FROM sqlite_master", "SELECT * FROM main.sqlite_master", "SELECT secret FROM hr.teams",
                  "SELECT secret FROM teams", "SELECT * FROM pragma_database_list",
                  "SELECT printf('%.*c', 1000000000, 'x')"]:
        dr = ex.run(query)
        assert not dr.ok and ("not authorized" in dr.error or "prohibited" in dr.error), (query, dr.error)
    assert ex.run("SELECT count(*) FROM hosts").ok
    assert scon.execute("SELECT secret FROM hr.teams").fetchall() == [("payroll",)], "the caller's connection is intact"
    assert scon.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) == 1_000_000_000, "limits are restored"


# Controls: CTEs that shadow nothing or shadow legitimately, recursive CTEs with column lists,
# keyword-like names, a table really called main_x, and the engines agreeing with the checker.
BENIGN = [
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r",
    "WITH RECURSIVE r(n, m) AS (SELECT 1, 2 UNION ALL SELECT n + 1, m * 2 FROM r WHERE n < 5) SELECT n, m FROM r",
    "WITH RECURSIVE walk(k) AS (SELECT 1 UNION SELECT k + 1 FROM walk WHERE k < 3) SELECT k FROM walk ORDER BY k",
    "WITH RECURSIVE r(n) AS (SELECT min(id) FROM hosts UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT count(*) FROM r",
    "SELECT x.n FROM (WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r) AS x",
    "WITH c(k) AS (SELECT id FROM hosts) SELECT k FROM c",
    "WITH a AS (SELECT id FROM hosts), b AS (SELECT id FROM a), c AS (SELECT id FROM b) SELECT id FROM c",
    "WITH hosts AS (SELECT 1 AS a) SELECT a FROM hosts",
    "WITH duckdb_tables AS (SELECT 1 AS a) SELECT a FROM duckdb_tables",
    "WITH sqlite_master AS (SELECT 1 AS a) SELECT a FROM sqlite_master",
    "WITH SQLITE_MASTER AS (SELECT 1 AS a) SELECT a FROM sqlite_master",
    'WITH "Sqlite_Master" AS (SELECT 1 AS a) SELECT a FROM "sqlite_master"',
    "WITH sqlite_master AS (SELECT 1 AS a), b AS (SELECT a FROM sqlite_master) SELECT a FROM b",
    "WITH sqlite_master AS (SELECT 1 AS a) SELECT a FROM sqlite_master WHERE a IN (SELECT a FROM sqlite_master)",
    "WITH sqlite_master AS (SELECT 1 AS a) SELECT a FROM sqlite_master UNION ALL SELECT a FROM sqlite_master",
    "SELECT h.hostname FROM hosts h WHERE EXISTS (WITH busy AS (SELECT host_id FROM alerts) SELECT 1 FROM busy WHERE busy.host_id = h.id)",
    "SELECT note FROM main_x",
    "SELECT m.note FROM main_x AS m JOIN hosts AS h ON h.id = m.id",
    "SELECT system_id FROM hosts WHERE system_id > 0",
    "SELECT drop_reason FROM create_user WHERE delete_flag",
    "SELECT 'FROM sqlite_master; DROP TABLE x' AS note FROM hosts",
    "SELECT h.id AS main, h.hostname AS system FROM hosts AS h",
    "SELECT hostname\r\nFROM hosts",
]
# Deep but acceptable: the checker must take these (SQLite's own parser stack stops at ~15 subqueries).
NESTED = [
    "SELECT " + "(" * 20 + "id" + ")" * 20 + " FROM hosts",
    "SELECT id FROM " + "(SELECT id FROM " * 20 + "hosts" + ") AS t" * 20,
    "SELECT " + "abs(" * 20 + "id" + ")" * 20 + " FROM hosts",
    "SELECT id FROM hosts WHERE id IN " + "(SELECT id FROM hosts WHERE id IN " * 19 + "(SELECT 1)" + ")" * 19,
]


def _engines(dialect):
    if dialect is SQLITE:
        con = sqlite3.connect(":memory:")
    else:
        con = duckdb.connect()
    for ddl in SCHEMA.ddl():
        con.execute(ddl)
    con.execute('INSERT INTO hosts VALUES (1, \'a\', 7)')
    return con


@DIALECTS
def test_benign_controls_pass_and_the_engine_agrees(dialect):
    """Each control passes check_sql and runs on the real engine; a CTE named like a catalog object
    gives the CTE's row (the engine resolved it as the checker did), not the catalog."""
    con = _engines(dialect)
    over_blocked = [(q, sorted(errors(q, dialect))) for q in BENIGN + NESTED if errors(q, dialect)]
    assert over_blocked == []
    for q in BENIGN + (NESTED if dialect is DUCK else []):
        rows = con.execute(q).fetchall()
        if "AS (SELECT 1 AS a)" in q:
            assert rows and all(r == (1,) for r in rows), (q, rows)


def test_self_reference_without_recursive_is_not_the_cte():
    """Without RECURSIVE a CTE's own body does not see the CTE: DuckDB binds a catalog VIEW there (on a
    caller's connection, every attached database's tables and paths), SQLite reports a circular
    reference. The checker resolves the name outward, so a catalog name there is refused."""
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS hr")
    con.execute("CREATE TABLE hr.main.teams (secret VARCHAR)")
    leak = "WITH duckdb_tables AS (SELECT database_name, table_name FROM duckdb_tables) SELECT * FROM duckdb_tables"
    assert ("hr", "teams") in con.execute(leak).fetchall()
    for name in ("duckdb_tables", "duckdb_databases", "duckdb_columns", "sqlite_master", "pg_class"):
        query = f"WITH {name} AS (SELECT * FROM {name}) SELECT * FROM {name}"
        assert errors(query, DUCK) & TABLE_REFUSALS, query
    assert errors("WITH sqlite_master AS (SELECT * FROM sqlite_master) SELECT * FROM sqlite_master", SQLITE)
    assert not errors("WITH RECURSIVE duckdb_tables(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM duckdb_tables "
                      "WHERE n < 3) SELECT n FROM duckdb_tables", DUCK), "under RECURSIVE the body sees the CTE"


# ------------------------------------------------------------------ 3. the checker itself


def _nest(depth: int) -> dict[str, str]:
    return {
        "parens": "SELECT " + "(" * depth + "1" + ")" * depth,
        "subqueries": "SELECT * FROM " + "(SELECT * FROM " * depth + "hosts" + ")" * depth,
        "scalar_subqueries": "SELECT " + "(SELECT " * depth + "1" + ")" * depth,
        "function_calls": "SELECT " + "abs(" * depth + "1" + ")" * depth,
        "not_chain": "SELECT 1 FROM hosts WHERE " + "NOT " * (depth * 20) + "id = 1",
        "unary_minus": "SELECT " + "- " * (depth * 20) + "1",
        "case_chain": "SELECT " + "CASE WHEN id = 1 THEN " * (depth * 4) + "1" + " END" * (depth * 4) + " FROM hosts",
        "quote_in_comment_hides_depth": "SELECT 1 -- '\n, " + "(" * (depth * 2) + "1" + ")" * (depth * 2),
        "block_comment_quote": "SELECT 1 /* \" */, " + "(SELECT " * depth + "1" + ")" * depth,
        "in_cte": "WITH c AS (SELECT " + "(" * (depth * 2) + "1" + ")" * (depth * 2) + " AS a) SELECT a FROM c",
    }


@DIALECTS
@pytest.mark.parametrize("depth", [70, 120, 150, 400])
def test_deep_nesting_is_a_diagnostic_not_a_crash(dialect, depth):
    for shape, query in _nest(depth).items():
        diags = check_sql(query, SCHEMA, dialect).diagnostics  # must not raise RecursionError
        codes = {d.code for d in diags if d.is_error}
        assert codes & {"policy.input_too_deep", "policy.input_too_large"}, (shape, depth, codes)
        deep = [d for d in diags if d.code == "policy.input_too_deep"]
        assert all(d.hint for d in deep)


def test_long_text_is_refused_before_parsing():
    query = "SELECT " + " + ".join(["1"] * 12000) + " FROM hosts"
    assert errors(query, DUCK) == {"policy.input_too_large"}


# ------------------------------------------------------------------ 5. hidden characters

HIDDEN = ["\u3164", "\u115f", "\u2800", "\u034f", "\ufe0f", "\u00a0", "\u200a", "\r", "\u2028", "\u2029",
          "\u200b", "\u202e", "\ufeff", "\u2066", "\U000e0041", "\u180e", "\u00ad", "\x0b", "\x00"]
PLACES = [
    ("in_identifier", "SELECT host{c}name FROM hosts"),
    ("in_table_name", "SELECT hostname FROM ho{c}sts"),
    ("in_string_literal", "SELECT hostname FROM hosts WHERE hostname = 'web{c}01'"),
    ("in_quoted_identifier", 'SELECT "host{c}name" FROM hosts'),
    ("in_comment", "SELECT hostname /* note{c} */ FROM hosts"),
    ("in_line_comment", "SELECT hostname -- note{c}\nFROM hosts"),
    ("between_tokens", "SELECT hostname{c}FROM hosts"),
    ("leading", "{c}SELECT hostname FROM hosts"),
    ("trailing", "SELECT hostname FROM hosts{c}"),
    ("in_cte_name", "WITH c{c}x AS (SELECT 1 AS a) SELECT a FROM c{c}x"),
]


@DIALECTS
@pytest.mark.parametrize("place, template", PLACES, ids=[p for p, _ in PLACES])
def test_hidden_characters_are_reported_where_they_are(dialect, place, template):
    missed = []
    for ch in HIDDEN:
        if ch == "\r" and "{c}\n" in template:
            continue  # CRLF is a plain line ending
        query = template.format(c=ch)
        diags = [d for d in check_sql(query, SCHEMA, dialect).diagnostics
                 if d.code in ("policy.hidden_character", "policy.line_ending")]
        if not diags or diags[0].start != query.index(ch) or not diags[0].is_error:
            missed.append(f"U+{ord(ch):04X}")
    assert missed == []


# ------------------------------------------------------------------ 4. bounded dry runs

TIMEOUT = 0.5
GRACE = 3.0  # the engine notices the deadline between rows or chunks, and the machine may be busy; runaways took 12-177 s

SQLITE_HEAVY = [
    "SELECT length(randomblob(1e9))",
    "SELECT length(zeroblob(1e9))",
    "SELECT hex(randomblob(600000000))",
    "SELECT printf('%.*c', 1000000000, 'x')",
    "SELECT length(format('%.*c', 2000000000, 'x'))",
    "WITH RECURSIVE r(s) AS (SELECT 'x' UNION ALL SELECT replace(s, 'x', 'xx') FROM r) SELECT length(s) FROM r",
    "WITH RECURSIVE r(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM r) SELECT max(length(s)) FROM r",
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r a, r b",
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT group_concat(i) FROM r",
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 3000000) SELECT i FROM r ORDER BY random() LIMIT 1",
    "WITH a(s, t) AS (SELECT hex(zeroblob(49000)), hex(zeroblob(24000)) || '1') SELECT "
    + ", ".join(["instr(s, t)"] * 200) + " FROM a",
    "WITH a(s, t) AS (SELECT hex(zeroblob(49000)), hex(zeroblob(24000)) || '1') SELECT "
    + ", ".join(["length(replace(s, t, 'x'))"] * 200) + " FROM a",
    "WITH a(s) AS (SELECT hex(zeroblob(49000))) SELECT "
    + ", ".join(["s LIKE '%' || substr(s, 1, 150) || '1%'"] * 300) + " FROM a",
    "SELECT length(" + "replace(" * 6 + "'x'" + ", 'x', 'xxxxxxxxxx')" * 6 + ")",
    "SELECT length(group_concat(hex(randomblob(50000)))) FROM (WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT i FROM r)",
]
DUCK_HEAVY = [
    "SELECT count(*) FROM range(100000000) a, range(100000000) b",
    "WITH RECURSIVE r(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM r) SELECT length(s) FROM r",
    "WITH RECURSIVE r(s) AS (SELECT 'x' UNION ALL SELECT replace(s, 'x', 'xx') FROM r) SELECT length(s) FROM r",
    "SELECT length(string_agg(hostname || repeat('x', 1000), ',')) FROM hosts, range(10000000)",
    "SELECT count(*) FROM (SELECT DISTINCT i::VARCHAR || 'padding-padding' FROM range(1000000000) t(i))",
    "SELECT i FROM range(1000000000) t(i) ORDER BY random() LIMIT 1",
    "SELECT list(i) FROM range(1000000000) t(i)",
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r",
]
WRAPPERS = ["{q}", "SELECT * FROM ({q}) AS w", "WITH w AS ({q}) SELECT * FROM w"]


def _bounded(ex, queries) -> list[tuple[str, float, str | None]]:
    """Cases whose dry run succeeded or overran the timeout plus grace."""
    bad = []
    for query, wrap in itertools.product(queries, WRAPPERS):
        q = wrap.format(q=query)
        t0 = time.perf_counter()
        dr = ex.run(q, Policy(timeout_s=TIMEOUT))
        took = time.perf_counter() - t0
        if dr.ok or took > TIMEOUT + GRACE:
            bad.append((q[:90], round(took, 2), dr.error))
    return bad


def _file(tmp_path, engine: str):
    """A small database file of the engine with two hosts, opened by the executor as nl2q opens files."""
    path = tmp_path / f"hosts.{engine}"
    con = duckdb.connect(str(path)) if engine == "duckdb" else sqlite3.connect(path)
    con.execute("CREATE TABLE hosts (id INTEGER, hostname VARCHAR)")
    con.execute("INSERT INTO hosts VALUES (1, 'a'), (2, 'b')")
    con.commit()
    con.close()
    return DuckDBExecutor(path) if engine == "duckdb" else SQLiteExecutor(path)


def test_sqlite_dry_runs_end_in_time_with_bounded_values(tmp_path):
    """Single heavy calls (12-177 s before) fail fast on the length limit, the function budget or the
    deadline: every case ends within its timeout plus grace."""
    ex = _file(tmp_path, "sqlite")
    assert _bounded(ex, SQLITE_HEAVY) == []
    assert ex.run("SELECT count(*) FROM hosts").rows == [[2]]
    dr = ex.run("SELECT length(randomblob(1e9))")
    assert "100,000 bytes" in dr.error


def test_sqlite_caller_connection_is_bounded_too():
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE hosts (id INTEGER)")
    assert _bounded(SQLiteExecutor(con), SQLITE_HEAVY[:6]) == []
    assert con.execute("SELECT length(zeroblob(2000000))").fetchone() == (2000000,), "the caller's limits are back"


def test_duckdb_dry_runs_end_in_time_with_bounded_memory(tmp_path):
    ex = _file(tmp_path, "duckdb")
    assert ex.run("SELECT current_setting('threads')").rows == [[1]]
    assert "MiB" in ex.run("SELECT current_setting('memory_limit')").rows[0][0]
    assert _bounded(ex, DUCK_HEAVY) == []
    assert ex.run("SELECT count(*) FROM hosts").rows == [[2]]
    dr = ex.run(DUCK_HEAVY[1], Policy(timeout_s=5))
    assert not dr.ok and "memory" in dr.error.lower(), "memory runs out at the limit, well before the deadline"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_explain_and_run_share_one_deadline(engine):
    """A slow EXPLAIN leaves the run only what remains of the same timeout."""
    slow = {"duckdb": DUCK_HEAVY[0], "sqlite": SQLITE_HEAVY[7]}[engine]
    base = sql_executor(None, None, SCHEMA, engine)
    assert base.run("SELECT 1").ok  # DuckDB's dry-run process starts outside any deadline

    class SlowExplain(type(base)):  # type: ignore[misc, valid-type]
        def explain(self, query: str) -> str:
            time.sleep(1.2)
            return super().explain(query)

    ex = SlowExplain.__new__(SlowExplain)
    ex.__dict__.update(base.__dict__)
    grace = 0.8  # wide: the machine may be busy; each phase with its own timeout would take 1.2 + 2.0 s or more
    t0 = time.perf_counter()
    dr = ex.run(slow, Policy(timeout_s=2.0))
    took = time.perf_counter() - t0
    assert not dr.ok and "timed out" in dr.error
    assert took < 2.0 + grace, f"explain and run each got the full timeout: {took:.2f} s"
    assert base.run("SELECT 1").ok  # the process killed at the deadline is back (a restart is not charged)
    t0 = time.perf_counter()
    dr = ex.run(slow, Policy(timeout_s=0.5))
    took = time.perf_counter() - t0
    assert not dr.ok and dr.mode == "explain" and took < 1.2 + grace, (dr, took)


def _grow(levels: int, factor: int, base: str = "'x'") -> str:
    return "replace(" * levels + base + f", 'x', '{'x' * factor}')" * levels


GROWTH_WRAPPERS = ["SELECT {e}", "SELECT length({e}) FROM hosts", "SELECT hostname FROM hosts WHERE {e} = hostname",
                   "WITH c AS (SELECT {e} AS s) SELECT length(s) FROM c", "SELECT upper(lower({e})) || 'x'",
                   "SELECT hostname FROM hosts ORDER BY {e}", "SELECT (SELECT {e})"]


@DIALECTS
def test_string_amplification_in_one_call_is_refused(dialect):
    """Nested REPLACE multiplies the text inside one call, where no deadline or DuckDB memory limit
    reaches (9 levels of x10 took 6.9 s and 2.2 GB on a 1 s DuckDB dry run): refused by the checker."""
    cases = [w.format(e=_grow(levels, factor, base))
             for levels, factor in [(8, 10), (9, 10), (12, 5), (25, 2), (30, 2), (3, 1000)]
             for base in ("'x'", "hostname")
             for w in GROWTH_WRAPPERS]
    cases += [w.format(e=f"replace(replace(hostname, 'a', hostname), 'b', {x})")
              for w in GROWTH_WRAPPERS for x in ("hostname", "hostname || hostname")]
    assert len(cases) > 90
    assert slipped(cases, dialect, {"policy.expensive"}) == []


@DIALECTS
def test_ordinary_string_functions_are_not_expensive(dialect):
    agg = "group_concat(hostname, ',')" if dialect is SQLITE else "string_agg(hostname, ',')"
    fine = ["SELECT replace(replace(replace(hostname, '-', ''), ' ', ''), '.', '') FROM hosts",
            f"SELECT replace({agg}, ',', ', ') FROM hosts",
            "SELECT " + _grow(6, 10) + " AS s",
            "SELECT hostname || '-' || hostname || '-' || hostname FROM hosts",
            "SELECT upper(trim(replace(hostname, 'web', 'host'))) FROM hosts"]
    assert [(q, errors(q, dialect)) for q in fine if "policy.expensive" in errors(q, dialect)] == []


@DIALECTS
def test_checker_refuses_the_heavy_functions_first(dialect):
    """The dry-run bounds are a second line: the policy already refuses the calls the heavy queries use."""
    heavy = ["randomblob(1e9)", "zeroblob(1e9)", "printf('%.*c', 1000000000, 'x')", "repeat('x', 1000000000)",
             "lpad('x', 1000000000, 'y')", "levenshtein(hostname, hostname)", "format('%s', hostname)"]
    assert [f for f in heavy if "policy.function" not in errors(f"SELECT {f} FROM hosts", dialect)] == []


# ------------------------------------------------------------------ live attacks, isolated bounds
# Families from a second adversarial pass. Name attacks run on a real engine first (the attack is
# live: the engine answers it), then must be refused. Checker-cost and dry-run families run in a
# child process with a hard timeout and an address-space cap, so a regression fails the test
# instead of stalling the suite or taking the machine.

_ROOT = Path(__file__).resolve().parent.parent


def _live_engine(dialect):
    """SCHEMA's tables with a row each, plus an attached database ``hr`` holding a secret."""
    con = sqlite3.connect(":memory:") if dialect is SQLITE else duckdb.connect()
    con.execute("ATTACH ':memory:' AS hr")
    con.execute(f"CREATE TABLE hr.{'main.' if dialect is DUCK else ''}teams (secret VARCHAR)")
    con.execute(f"INSERT INTO hr.{'main.' if dialect is DUCK else ''}teams VALUES ('s3cret')")
    for ddl in SCHEMA.ddl():
        con.execute(ddl)
    for name, table in SCHEMA.tables.items():
        con.execute(f"INSERT INTO {name} VALUES ({', '.join('1' for _ in table.columns)})")
    return con


def _runs(con, query: str) -> bool:
    try:
        con.execute(query).fetchall()
        return True
    except Exception:  # noqa: BLE001 - any engine error means the attack is not live
        return False


# Forms in which no CTE called {n} is in scope where {ref} stands (or {ref} is qualified).
_RT_FORMS = {
    "scalar": "SELECT (SELECT count(*) FROM {ref}) FROM hosts",
    "self_not_recursive": "WITH {n} AS (SELECT count(*) AS c FROM {ref}) SELECT c FROM {n}",
    "cte_in_subquery": "SELECT count(*) FROM (WITH {n} AS (SELECT 1 AS x) SELECT x FROM {n}) AS s, {ref}",
    "later_sibling": "WITH a AS (SELECT count(*) AS c FROM {ref}), {n} AS (SELECT 1 AS x) SELECT c FROM a",
    "other_branch": "SELECT * FROM (WITH {n} AS (SELECT 1 AS x) SELECT count(*) FROM {n}) AS s "
                    "UNION ALL SELECT count(*) FROM {ref}",
    # U+212A KELVIN SIGN lower-cases to 'k' in Python, never in the engines: a CTE named with it covers nothing
    "kelvin_lookalike": 'WITH "{kelvin}" AS (SELECT 1 AS x) SELECT count(*) FROM {ref}',
    "same_name_qualified": "WITH {n} AS (SELECT 1 AS x) SELECT count(*) FROM {qual}{ref}",
}
_RT_TARGETS = {
    "duckdb": [("", "duckdb_tables"), ("", "duckdb_databases"), ("", "duckdb_settings"), ("", "sqlite_master"),
               ("system.main.", "duckdb_tables"), ("system.main.", "duckdb_databases"), ("system.", "duckdb_views"),
               ("hr.main.", "teams"), ("hr.", "teams"), ("information_schema.", "tables"), ("", "pg_class")],
    "sqlite": [("", "sqlite_master"), ("", "sqlite_schema"), ("", "sqlite_temp_master"), ("main.", "sqlite_master"),
               ("temp.", "sqlite_master"), ("hr.", "sqlite_master"), ("hr.", "teams"), ("", "teams")],
}


@DIALECTS
def test_name_attacks_the_engine_answers_are_refused(dialect):
    """Catalog/attached objects x CTE form x spelling; at least a third run on the engine (the family is real)."""
    con = _live_engine(dialect)
    cases = []
    for (qual, n), (form, template), spelled in itertools.product(
            _RT_TARGETS[dialect.name], _RT_FORMS.items(), ("plain", "upper", "quoted")):
        if form == "kelvin_lookalike" and "k" not in n:
            continue
        if form == "same_name_qualified" and not qual:
            continue
        ref = {"plain": n, "upper": n.upper(), "quoted": f'"{n}"'}[spelled]
        full = ref if form == "same_name_qualified" else qual + ref
        cases.append(template.format(ref=full, n=n, qual=qual, kelvin=n.replace("k", "\u212a")))
    live = [q for q in cases if _runs(con, q)]
    assert len(cases) >= 100 and len(live) >= len(cases) // 3, (len(cases), len(live))
    assert slipped(live, dialect, TABLE_REFUSALS) == []


_RT_STATEMENTS = ["DESCRIBE hosts", "SUMMARIZE hosts", "SHOW TABLES", "SHOW ALL TABLES", "SHOW DATABASES",
                  "DESCRIBE SELECT * FROM hosts", "SUMMARIZE SELECT * FROM hosts"]


def test_statements_inside_subqueries_are_refused():
    """DuckDB runs DESCRIBE/SHOW/SUMMARIZE as subqueries; SHOW ALL TABLES lists every attached database.
    A table called ``show`` must not make sqlglot's reading of SHOW as a table name pass."""
    con = _live_engine(DUCK)
    schema = from_mapping({**{n: dict(t.columns) for n, t in SCHEMA.tables.items()}, "show": {"id": "INTEGER"}})
    slipped_through = []
    for statement in _RT_STATEMENTS:
        for template in ("SELECT * FROM ({s})", "SELECT count(*) FROM ({s}) AS t", "WITH t AS (FROM ({s})) SELECT * FROM t"):
            query = template.format(s=statement)
            assert _runs(con, query), query
            if not {c for c in errors(query, DUCK, schema) if c.startswith(("policy.", "syntax."))}:
                slipped_through.append(query)
    assert slipped_through == []


_RT_STATE = {
    "duckdb": ["current_setting('memory_limit')", "version()", "current_database()", "current_schema()",
               "current_catalog", "session_user", "current_user", "getenv('HOME')", "getvariable('x')",
               "current_query()", "database_size()", "pg_backend_pid()"],
    "sqlite": ["sqlite_version()", "sqlite_source_id()", "sqlite_compileoption_get(0)", "changes()",
               "total_changes()", "last_insert_rowid()", "sqlite_offset(id)", "load_extension('x')"],
}


@DIALECTS
def test_functions_that_read_the_engine_are_refused(dialect):
    queries = [t.format(f=f) for f in _RT_STATE[dialect.name]
               for t in ("SELECT {f}", "SELECT {f} FROM hosts", "SELECT id FROM hosts WHERE {f} IS NOT NULL")]
    assert [q for q in queries if not any(c.startswith("policy.") for c in errors(q, dialect))] == []


_RT_FLAT = {
    "and": "SELECT id FROM hosts WHERE " + " AND ".join(["id = 1"] * 1500),
    "or": "SELECT id FROM hosts WHERE " + " OR ".join(["id = 1"] * 1500),
    "bare_and": "SELECT id FROM hosts WHERE " + " AND ".join(["1"] * 3000),
    "concat": "SELECT " + " || ".join(["hostname"] * 1500) + " FROM hosts",
    "in_list": "SELECT id FROM hosts WHERE id IN (" + ", ".join(map(str, range(3000))) + ")",
    "case_arms": "SELECT CASE " + " ".join(f"WHEN id = {i} THEN {i}" for i in range(600)) + " END FROM hosts",
    "coalesce_args": "SELECT coalesce(" + ", ".join(["id"] * 3000) + ") FROM hosts",
    "brackets": "SELECT [1]" + "[1]" * 3000,
    "json_arrows": "SELECT hostname" + " -> 'a'" * 2000 + " FROM hosts",
}
_RT_CHECK_CHILD = textwrap.dedent("""
    import json, sys, time
    from nl2q.targets import get_dialect
    from nl2q.targets.sql.check import check_sql
    from nl2q.targets.sql.schema import from_mapping
    schema = from_mapping({"hosts": {"id": "INTEGER", "hostname": "VARCHAR"}})
    for name, query in json.load(sys.stdin).items():
        for d in ("duckdb", "sqlite"):
            t0 = time.perf_counter()
            check_sql(query, schema, get_dialect(d))
            print(json.dumps([name, d, len(query), round(time.perf_counter() - t0, 2)]), flush=True)
""")


def test_long_flat_queries_check_in_about_a_second():
    """Under the 20,000-character limit, no shape makes the checker quadratic (1500 ANDs took 122 s).
    Runs in a child with a hard timeout so a regression cannot stall the suite."""
    limit = 3.0
    try:
        out = subprocess.run([sys.executable, "-c", _RT_CHECK_CHILD], input=json.dumps(_RT_FLAT), capture_output=True,
                             text=True, timeout=len(_RT_FLAT) * 2 * limit, cwd=_ROOT).stdout
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    done = [json.loads(line) for line in out.splitlines() if line.startswith("[")]
    slow = [r for r in done if r[3] > limit]
    assert len(done) == 2 * len(_RT_FLAT) and slow == [], \
        f"slow: {slow}; unfinished after {[r[:2] for r in done][-1:]}"


_RT_DRY_CHILD = textwrap.dedent("""
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    from nl2q.policy import Policy
    from nl2q.targets.sql.execute import DuckDBExecutor, SQLiteExecutor
    path, timeout, queries = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
    ex = DuckDBExecutor(path) if path.endswith(".duckdb") else SQLiteExecutor(path)

    def peak_mb():
        return next(int(l.split()[1]) // 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
    for q in queries:
        open("/proc/self/clear_refs", "w").write("5")  # resets the peak RSS
        base, t0 = peak_mb(), time.monotonic()
        dr = ex.run(q, Policy(timeout_s=timeout, max_rows=100))
        print(json.dumps([q[:80], dr.ok, round(time.monotonic() - t0, 2), peak_mb() - base]), flush=True)
    print(json.dumps(["SELECT 1", ex.run("SELECT 1").ok, 0, 0]), flush=True)
""")

_RT_CHAIN, _RT_ROW_CHAIN = "'x'", "hostname"
for _ in range(8):
    _RT_CHAIN = f"replace({_RT_CHAIN}, 'x', 'xxxxxxxxxx')"
for _ in range(6):
    _RT_ROW_CHAIN = f"replace({_RT_ROW_CHAIN}, 'x', 'xxxxxxxxxx')"
_RT_HEAVY = {
    "duckdb": [f"SELECT length({_RT_CHAIN})",  # constant: folded inside EXPLAIN (23 s for a 1 s timeout)
               f"SELECT length({_RT_ROW_CHAIN}) FROM hosts",  # per row: a 2048-row vector of 1 MB strings
               "SELECT length(repeat('x', 1000000000))",
               "SELECT count(*) FROM hosts a, hosts b, hosts c, hosts d"],
    "sqlite": [f"SELECT length({_RT_CHAIN})", f"SELECT length({_RT_ROW_CHAIN}) FROM hosts",
               "WITH a(x) AS (SELECT randomblob(99000)) SELECT " + ", ".join(["x"] * 1900) + " FROM a",
               "WITH a(x) AS (SELECT replace(hex(zeroblob(40000)), '0', 'a')) "
               "SELECT length(trim(x, replace(x, 'a', 'b') || 'a')) FROM a, hosts",
               "SELECT count(*) FROM hosts a, hosts b, hosts c, hosts d"],
}


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_heavy_calls_are_bounded_in_an_isolated_child(engine, tmp_path):
    """Nested REPLACE (allowlisted, so only a cost rule in check_sql stops it) and other single heavy calls:
    the dry run, the second line, must still end within the timeout plus grace and under 1 GB.
    Child process: 6 GB address-space cap, hard timeout."""
    path = tmp_path / f"heavy.{engine}"
    if engine == "sqlite":
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE hosts (id INTEGER, hostname TEXT)")
        con.executemany("INSERT INTO hosts VALUES (?, ?)", [(i, f"host-x{i}") for i in range(3000)])
        con.commit()
    else:
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE hosts AS SELECT range AS id, 'host-x' || range AS hostname FROM range(3000)")
    con.close()
    queries = _RT_HEAVY[engine]
    try:
        out = subprocess.run([sys.executable, "-c", _RT_DRY_CHILD, str(path), str(TIMEOUT), json.dumps(queries)],
                             capture_output=True, text=True, timeout=len(queries) * (TIMEOUT + GRACE) + 8,
                             cwd=_ROOT).stdout
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    done = [json.loads(line) for line in out.splitlines() if line.startswith("[")]
    bad = [r for r in done[:-1] if r[2] > TIMEOUT + GRACE or r[3] > 1024]
    assert len(done) == len(queries) + 1 and bad == [], \
        f"bad: {bad}; finished {len(done)} of {len(queries) + 1}"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_results_stop_at_a_byte_budget(engine):
    """A row cap alone lets 1,000 rows of 40 MB through: fetching stops at the byte budget, also on a
    caller's connection (which stays in this process)."""
    from nl2q.targets.sql.execute import RESULT_BYTES

    if engine == "duckdb":
        ex = DuckDBExecutor(duckdb.connect())
        big = "SELECT repeat('x', 1000000) AS a, repeat('y', 1000000) AS b FROM range(500)"
    else:
        ex = SQLiteExecutor(sqlite3.connect(":memory:", check_same_thread=False))
        big = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 500), "
               "a(x) AS (SELECT replace(hex(zeroblob(49000)), '0', 'a')) SELECT " + ", ".join(["x"] * 40) + " FROM a, r")
    dr = ex.run(big, Policy(timeout_s=5, max_rows=1000))
    assert not dr.ok and f"{RESULT_BYTES >> 20} MB" in dr.error, dr.error
    assert ex.run("SELECT 1").ok

