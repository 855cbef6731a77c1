"""Relational schemas: tables, typed columns and keys, from engines or plain data."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from ...errors import SchemaError

Engine = Literal["duckdb", "sqlite"]
TypeClass = Literal["number", "text", "time", "bool", "other"]


@dataclass
class Table:
    name: str
    columns: dict[str, str]  # column name -> declared type, in table order
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)  # (column, ref table, ref column)

    def column(self, name: str) -> str | None:
        """The column's declared spelling, matched case-insensitively."""
        low = name.lower()
        return next((c for c in self.columns if c.lower() == low), None)


@dataclass
class SqlSchema:
    """Tables by name; lookups are case-insensitive like unquoted SQL identifiers."""

    tables: dict[str, Table]

    def table(self, name: str) -> Table | None:
        low = name.lower()
        return next((t for n, t in self.tables.items() if n.lower() == low), None)

    def column_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.tables.values():
            seen.update(dict.fromkeys(t.columns))
        return list(seen)

    def tables_with_column(self, column: str) -> list[str]:
        return [t.name for t in self.tables.values() if t.column(column)]

    def render(self, spell: Callable[[str], str]) -> str:
        """CREATE TABLE statements, the form models have seen most, each name spelt by ``spell``:
        the dialect's quoting rule, so the prompt shows exactly the spelling the grammar accepts.
        """
        quote = spell
        out = []
        for t in self.tables.values():
            cols = [f"{quote(c)} {ty or 'TEXT'}" for c, ty in t.columns.items()]
            if t.primary_key:
                cols.append(f"PRIMARY KEY ({', '.join(map(quote, t.primary_key))})")
            cols += [f"FOREIGN KEY ({quote(c)}) REFERENCES {quote(rt)}({quote(rc)})" for c, rt, rc in t.foreign_keys]
            out.append(f"CREATE TABLE {quote(t.name)} ({', '.join(cols)});")
        return "\n".join(out)

    def ddl(self) -> list[str]:
        """Statements that recreate the tables, empty, in another engine."""
        return [
            f"CREATE TABLE {quoted(t.name)} ("
            + ", ".join(f"{quoted(c)} {engine_type(ty)}" for c, ty in t.columns.items())
            + ")"
            for t in self.tables.values()
        ]


def quoted(name: str) -> str:
    """``name`` in double quotes: valid in every SQL engine nl2q runs, whatever the name."""
    return '"' + name.replace('"', '""') + '"'


def type_class(declared: str | None) -> TypeClass:
    t = (declared or "").upper()
    if any(k in t for k in ("INT", "REAL", "FLOA", "DOUB", "DEC", "NUM", "HUGEINT")):
        return "number"
    if any(k in t for k in ("CHAR", "TEXT", "CLOB", "STRING", "VARCHAR")):
        return "text"
    if any(k in t for k in ("DATE", "TIME")):
        return "time"
    if "BOOL" in t:
        return "bool"
    return "other"


def engine_type(declared: str | None) -> str:
    return {"number": "DOUBLE", "text": "VARCHAR", "time": "TIMESTAMP", "bool": "BOOLEAN"}.get(
        type_class(declared), "VARCHAR"
    )


# ---------------------------------------------------------------- loaders


def sniff_engine(path: Path) -> Engine:
    with path.open("rb") as f:
        head = f.read(16)
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head[8:12] == b"DUCK":
        return "duckdb"
    raise SchemaError(f"{path} is neither a DuckDB nor a SQLite database", "pass a .duckdb or SQLite file")


def from_duckdb(con: Any) -> SqlSchema:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_catalog = current_database() ORDER BY table_name, ordinal_position"
    ).fetchall()
    tables: dict[str, Table] = {}
    for tname, cname, ctype in rows:
        tables.setdefault(tname, Table(tname, {})).columns[cname] = ctype
    for tname, ctype, cols, ref_table, ref_cols in con.execute(
        "SELECT table_name, constraint_type, constraint_column_names, referenced_table, referenced_column_names "
        "FROM duckdb_constraints() WHERE schema_name = 'main' AND database_name = current_database()"
    ).fetchall():
        if tname not in tables:
            continue
        if ctype == "PRIMARY KEY":
            tables[tname].primary_key = list(cols)
        elif ctype == "FOREIGN KEY" and ref_table:
            tables[tname].foreign_keys += list(zip(cols, [ref_table] * len(cols), ref_cols))
    return SqlSchema(tables)


def from_sqlite(con: sqlite3.Connection) -> SqlSchema:
    tables: dict[str, Table] = {}
    names = [
        r[0]
        for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    for name in names:
        info = con.execute(f"PRAGMA table_info({quoted(name)})").fetchall()
        table = Table(name, {r[1]: r[2] for r in info})
        table.primary_key = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]]
        fks = con.execute(f"PRAGMA foreign_key_list({quoted(name)})").fetchall()
        table.foreign_keys = [(r[3], r[2], r[4] or "") for r in fks]
        tables[name] = table
    return SqlSchema(tables)


def from_mapping(mapping: dict[str, Any]) -> SqlSchema:
    """sqlglot-style ``{table: {column: type}}``; ``{table: [column, ...]}`` also works."""
    tables = {}
    for tname, cols in mapping.items():
        if isinstance(cols, dict):
            tables[tname] = Table(tname, {str(c): str(t) for c, t in cols.items()})
        elif isinstance(cols, (list, tuple)):
            tables[tname] = Table(tname, {str(c): "" for c in cols})
        else:
            raise SchemaError(f"table {tname!r}: expected a column->type mapping or a list of columns")
    if not tables:
        raise SchemaError("the schema mapping has no tables")
    return SqlSchema(tables)


def from_spider(entry: dict[str, Any]) -> SqlSchema:
    """One entry of Spider's ``tables.json``."""
    names = entry["table_names_original"]
    tables = {n: Table(n, {}) for n in names}
    cols = entry["column_names_original"]
    for (ti, cname), ctype in zip(cols, entry["column_types"]):
        if ti >= 0:
            tables[names[ti]].columns[cname] = ctype
    for pk in entry.get("primary_keys", []):
        for ci in pk if isinstance(pk, list) else [pk]:
            ti, cname = cols[ci]
            tables[names[ti]].primary_key.append(cname)
    for a, b in entry.get("foreign_keys", []):
        (ta, ca), (tb, cb) = cols[a], cols[b]
        tables[names[ta]].foreign_keys.append((ca, names[tb], cb))
    return SqlSchema(tables)


def load_schema(source: Any) -> tuple[SqlSchema, Engine | None, Any]:
    """Schema, the engine it came from (if any) and the engine's handle (path or connection)."""
    if isinstance(source, SqlSchema):
        return source, None, None
    if isinstance(source, sqlite3.Connection):
        return from_sqlite(source), "sqlite", source
    if _is_duckdb_connection(source):
        return from_duckdb(source), "duckdb", source
    if isinstance(source, dict):
        if "table_names_original" in source:
            return from_spider(source), None, None
        return from_mapping(source), None, None
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise SchemaError(f"database not found: {path}", "check the path, or create it first")
        engine = sniff_engine(path)
        try:
            if engine == "sqlite":
                con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
                try:
                    return from_sqlite(con), engine, path
                finally:
                    con.close()
            from .connect import open_duckdb

            with open_duckdb(path) as dcon:
                return from_duckdb(dcon), engine, path
        except Exception as e:
            if isinstance(e, sqlite3.Error) or type(e).__module__.startswith(("duckdb", "_duckdb")):
                raise SchemaError(f"cannot read the schema of {path}: {e}") from e
            raise
    raise SchemaError(
        f"unsupported schema source of type {type(source).__name__}",
        "pass a DuckDB/SQLite path or connection, a {table: {column: type}} mapping or a Spider tables.json entry",
    )


def _is_duckdb_connection(source: Any) -> bool:
    try:
        import duckdb
    except ImportError:
        return False
    return isinstance(source, duckdb.DuckDBPyConnection)
