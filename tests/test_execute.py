from __future__ import annotations

import sqlite3

import duckdb
import pytest

from nl2q.targets.sql.execute import DuckDBExecutor, SQLiteExecutor, sql_executor
from nl2q.policy import Policy
from nl2q.targets.sql.schema import from_mapping

SLOW_DUCK = "SELECT count(*) FROM range(100000000) a, range(100000000) b"
SLOW_SQLITE = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
               "SELECT count(*) FROM r a, r b")


@pytest.fixture(params=["duckdb", "sqlite"])
def executor(request, ops_duckdb, ops_sqlite):
    ex = DuckDBExecutor(ops_duckdb) if request.param == "duckdb" else SQLiteExecutor(ops_sqlite)
    yield ex
    ex.close()


def test_bounded_run_returns_preview_and_count(executor):
    dr = executor.run("SELECT hostname, datacenter FROM hosts ORDER BY id", Policy(max_rows=1000, preview_rows=5))
    assert dr.ok and dr.mode == "run"
    assert dr.columns == ["hostname", "datacenter"]
    assert len(dr.rows) == 5 and dr.row_count == 60 and not dr.capped
    assert dr.plan


def test_row_cap(executor):
    dr = executor.run("SELECT * FROM metric_samples", Policy(max_rows=100))
    assert dr.ok and dr.capped and dr.row_count is None


def test_binder_errors_are_reported_not_raised(executor):
    dr = executor.run("SELECT nosuch FROM hosts")
    assert not dr.ok and "nosuch" in dr.error


@pytest.mark.parametrize("query", ["DELETE FROM hosts", "DROP TABLE hosts", "CREATE TABLE t (x INT)",
                                   "UPDATE hosts SET cpu_count = 0"])
def test_engine_refuses_writes_even_if_a_check_missed_them(executor, query):
    dr = executor.run(query)
    assert not dr.ok
    assert executor.run("SELECT count(*) FROM hosts").rows == [[60]]


def test_duckdb_timeout(ops_duckdb):
    ex = DuckDBExecutor(ops_duckdb)
    dr = ex.run(SLOW_DUCK, Policy(timeout_s=0.5))
    assert not dr.ok and "timed out" in dr.error
    assert dr.elapsed_ms < 5000
    assert ex.run("SELECT 1").ok  # the connection survives


def test_sqlite_timeout(ops_sqlite):
    ex = SQLiteExecutor(ops_sqlite)
    dr = ex.run(SLOW_SQLITE, Policy(timeout_s=0.5))
    assert not dr.ok and "timed out" in dr.error
    assert dr.elapsed_ms < 5000
    assert ex.run("SELECT 1").ok


def test_duckdb_has_no_file_or_extension_access(ops_duckdb, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    ex = DuckDBExecutor(ops_duckdb)
    assert not ex.run(f"SELECT * FROM read_csv('{secret}')").ok
    assert not ex.run("INSTALL httpfs").ok
    assert not ex.run("SET enable_external_access = true").ok


def test_sqlite_authorizer_blocks_attach_and_pragmas_that_write(ops_sqlite, tmp_path):
    ex = SQLiteExecutor(ops_sqlite)
    assert not ex.run(f"ATTACH '{tmp_path / 'x.db'}' AS x").ok
    assert not (tmp_path / "x.db").exists()


def test_schema_only_sources_bind_against_empty_tables():
    schema = from_mapping({"hosts": {"id": "INTEGER", "hostname": "VARCHAR"}})
    for engine in ("duckdb", "sqlite"):
        ex = sql_executor(None, None, schema, engine)
        assert not ex.has_data
        assert ex.run("SELECT hostname FROM hosts WHERE id > 3").ok
        assert not ex.run("SELECT nope FROM hosts").ok


def test_user_connections_are_used_not_closed(ops_duckdb, ops_sqlite):
    dcon = duckdb.connect(str(ops_duckdb), read_only=True)
    DuckDBExecutor(dcon).close()
    assert dcon.execute("SELECT 1").fetchone() == (1,)
    scon = sqlite3.connect(ops_sqlite)
    SQLiteExecutor(scon).close()
    assert scon.execute("SELECT 1").fetchone() == (1,)
