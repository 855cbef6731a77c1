"""SQL engines: DuckDB and SQLite, read-only and bounded."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ...execute import Executor
from ...policy import Policy
from .connect import DUCKDB_SAFE_CONFIG, open_duckdb
from .schema import SqlSchema

class DuckDBExecutor(Executor):
    """A read-only DuckDB connection that cannot reach files, the network or extensions."""

    engine = "duckdb"

    def __init__(self, source: str | Path | Any | None = None, schema: SqlSchema | None = None) -> None:
        import duckdb

        self._owned = True
        if source is None:
            self.con = duckdb.connect(":memory:", config=dict(DUCKDB_SAFE_CONFIG))
            for ddl in (schema.ddl() if schema else []):
                self.con.execute(ddl)
            self.has_data = False
        elif isinstance(source, (str, Path)):
            self.con = open_duckdb(source)
        else:
            self.con, self._owned = source, False

    def explain(self, query: str) -> str:
        rows = self.con.cursor().execute("EXPLAIN " + query).fetchall()
        return "\n".join(str(r[-1]) for r in rows)

    def _run(self, query: str, policy: Policy) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur = self.con.cursor()
        fired = threading.Event()

        def stop() -> None:
            fired.set()
            cur.interrupt()

        timer = threading.Timer(policy.timeout_s, stop)
        timer.start()
        try:
            cur.execute(query)
            rows = cur.fetchmany(policy.max_rows + 1)
        except Exception:
            if fired.is_set():
                raise TimeoutError from None
            raise
        finally:
            timer.cancel()
        return [d[0] for d in cur.description or []], rows

    def close(self) -> None:
        if self._owned:
            self.con.close()


_SQLITE_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                        getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


def _read_only_authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in {"load_extension", "readfile", "writefile", "edit"}:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK if action in _SQLITE_READ_ACTIONS else sqlite3.SQLITE_DENY


class SQLiteExecutor(Executor):
    """SQLite through the standard library: read-only URI, query_only, a read-only authorizer."""

    engine = "sqlite"

    def __init__(self, source: str | Path | sqlite3.Connection) -> None:
        if isinstance(source, sqlite3.Connection):
            self.con, self._owned = source, False
        else:
            self.con = sqlite3.connect(f"{Path(source).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            self._owned = True
            self.con.execute("PRAGMA query_only = ON")

    def _guarded(self, query: str, policy: Policy, limit: int | None) -> tuple[list[str], list[tuple[Any, ...]]]:
        deadline = time.monotonic() + policy.timeout_s
        timed_out = False

        def progress() -> int:
            nonlocal timed_out
            timed_out = time.monotonic() > deadline
            return int(timed_out)

        self.con.set_authorizer(_read_only_authorizer)
        self.con.set_progress_handler(progress, 1000)
        try:
            cur = self.con.execute(query)
            rows = cur.fetchmany(limit) if limit else cur.fetchall()
            return [d[0] for d in cur.description or []], rows
        except sqlite3.OperationalError:
            if timed_out:
                raise TimeoutError from None
            raise
        finally:
            self.con.set_progress_handler(None, 0)
            self.con.set_authorizer(None)

    def explain(self, query: str) -> str:
        _, rows = self._guarded("EXPLAIN QUERY PLAN " + query, Policy(), None)
        return "\n".join(str(r[-1]) for r in rows)

    def _run(self, query: str, policy: Policy) -> tuple[list[str], list[tuple[Any, ...]]]:
        return self._guarded(query, policy, policy.max_rows + 1)

    def close(self) -> None:
        if self._owned:
            self.con.close()


def sql_executor(engine: str | None, handle: Any, schema: SqlSchema, dialect_executor: str) -> Executor:
    """The executor for a schema source; schema-only sources get empty tables in memory."""
    if engine == "sqlite":
        return SQLiteExecutor(handle)
    if engine == "duckdb":
        return DuckDBExecutor(handle)
    if dialect_executor == "sqlite":
        con = sqlite3.connect(":memory:", check_same_thread=False)
        for ddl in schema.ddl():
            con.execute(ddl)
        ex = SQLiteExecutor(con)
        ex.has_data = False
        return ex
    return DuckDBExecutor(None, schema)
