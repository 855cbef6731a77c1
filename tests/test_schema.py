from __future__ import annotations

import sqlite3

import duckdb
import pytest

from nl2q.errors import SchemaError
from nl2q.targets import get_dialect
from nl2q.targets.sql.grammar import sql_identifier
from nl2q.targets.sql.schema import from_spider, load_schema

SPIDER_ENTRY = {
    "db_id": "concert_singer",
    "table_names_original": ["stadium", "singer"],
    "column_names_original": [[-1, "*"], [0, "Stadium_ID"], [0, "Name"], [1, "Singer_ID"], [1, "Name"], [1, "Stadium_ID"]],
    "column_types": ["text", "number", "text", "number", "text", "number"],
    "primary_keys": [1, 3],
    "foreign_keys": [[5, 1]],
}


def test_spider_entry():
    s = from_spider(SPIDER_ENTRY)
    assert list(s.tables) == ["stadium", "singer"]
    assert s.tables["singer"].columns == {"Singer_ID": "number", "Name": "text", "Stadium_ID": "number"}
    assert s.tables["singer"].foreign_keys == [("Stadium_ID", "stadium", "Stadium_ID")]
    assert "FOREIGN KEY (Stadium_ID) REFERENCES stadium(Stadium_ID)" in s.render(lambda n: sql_identifier(n, get_dialect("sqlite")))


@pytest.mark.parametrize("kind", ["duckdb_path", "duckdb_con", "sqlite_path", "sqlite_con"])
def test_introspection(kind, ops_duckdb, ops_sqlite):
    source = {"duckdb_path": ops_duckdb, "sqlite_path": ops_sqlite,
              "duckdb_con": duckdb.connect(str(ops_duckdb), read_only=True),
              "sqlite_con": sqlite3.connect(ops_sqlite)}[kind]
    schema, engine, _ = load_schema(source)
    assert engine == kind.split("_")[0]
    assert {"hosts", "services", "alerts", "incidents"} <= set(schema.tables)
    hosts = schema.table("HOSTS")
    assert hosts.column("Hostname") == "hostname"
    assert hosts.primary_key == ["id"]
    assert ("team_id", "teams", "id") in hosts.foreign_keys


@pytest.mark.parametrize("source, message", [
    ("/nonexistent/db.duckdb", "database not found"),
    (42, "unsupported schema source"),
    ({}, "no tables"),
])
def test_bad_sources_say_what_to_do(source, message):
    with pytest.raises(SchemaError, match=message):
        load_schema(source)


def test_not_a_database(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    with pytest.raises(SchemaError, match="neither a DuckDB nor a SQLite"):
        load_schema(p)
