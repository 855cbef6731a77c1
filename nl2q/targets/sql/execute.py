"""SQL engines: DuckDB and SQLite, read-only and bounded.

A dry run has one deadline, set when :meth:`run` starts: EXPLAIN and the bounded run share it,
so the whole dry run ends within ``policy.timeout_s`` (plus the time the engine takes to notice).
SQLite is bounded in process (limits, an authorizer, a progress handler); DuckDB databases nl2q
opens run in a child process that is killed at the deadline or above a memory cap, because
DuckDB cannot be stopped inside one function call. Results stop at a byte budget in both.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Iterator

from ...execute import Executor
from ...policy import Policy
from ...types import DryRun
from .connect import DUCKDB_SAFE_CONFIG, open_duckdb
from .schema import SqlSchema


class _Deadline(threading.local):
    at: float | None = None


class BoundedExecutor(Executor):
    """Gives EXPLAIN and the run one deadline, per thread, for the length of :meth:`run`."""

    def __init__(self) -> None:
        self._deadline = _Deadline()

    def run(self, query: str, policy: Policy = Policy(), *, writes: bool = False) -> DryRun:
        self._deadline.at = time.monotonic() + policy.timeout_s
        try:
            return super().run(query, policy, writes=writes)
        finally:
            self._deadline.at = None

    def _remaining(self) -> float:
        """Seconds left of the current dry run (a fresh default budget for a lone explain()); TimeoutError if none."""
        at = self._deadline.at
        left = Policy().timeout_s if at is None else at - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


# ------------------------------------------------------------------ results

RESULT_BYTES = 64 << 20  # a dry run returns a preview and a count: more text than this is a runaway query


def _size(value: Any) -> int:
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, (list, tuple)):
        return 8 + sum(_size(v) for v in value)
    if isinstance(value, dict):
        return 8 + sum(_size(k) + _size(v) for k, v in value.items())
    return 8


def fetch_bounded(cur: Any, limit: int | None, budget: int = RESULT_BYTES) -> list[tuple[Any, ...]]:
    """Up to ``limit`` rows, one at a time, stopping with MemoryError past ``budget`` bytes: a row cap
    alone lets 1,000 rows of 40 MB each through."""
    rows: list[tuple[Any, ...]] = []
    total = 0
    while limit is None or len(rows) < limit:
        row = cur.fetchone()
        if row is None:
            break
        rows.append(row)
        total += _size(row)
        if total > budget:
            raise MemoryError(f"the result passed {budget >> 20} MB: select fewer or shorter columns")
    return rows


# ------------------------------------------------------------------ DuckDB

MEMORY_MB = 1024  # a dry run's child process is killed above this resident size


def _serve(read_fd: int, write_fd: int, path: str | None, ddl: list[str], spill: str) -> None:
    """The child process: one connection of its own, queries in, (columns, rows) or an error out.

    It spills into ``spill``, a directory of its own: DuckDB's default (``.tmp`` in the working
    directory, or next to the database file) would leave files behind each time a child is killed.
    """
    import duckdb

    pipe_in, pipe_out = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    config = dict(DUCKDB_SAFE_CONFIG, temp_directory=spill)
    con = duckdb.connect(path or ":memory:", read_only=path is not None, config=config)
    for statement in ddl:
        con.execute(statement)
    try:
        pipe_out.send(("ready", None))
        while True:
            query, limit = pipe_in.recv()
            try:
                cur = con.cursor().execute(query)
                reply: tuple[str, Any] = ("ok", ([d[0] for d in cur.description or []], fetch_bounded(cur, limit)))
            except Exception as e:  # noqa: BLE001 - the engine's error goes back as a finding
                reply = ("error", (type(e).__name__, str(e)))
            try:
                pipe_out.send(reply)
            except (EOFError, BrokenPipeError):
                raise
            except Exception as e:  # noqa: BLE001 - a value pickle cannot carry
                pipe_out.send(("error", (type(e).__name__, f"the result cannot be returned: {e}")))
    except (EOFError, BrokenPipeError):
        con.close()  # the parent closed the executor or exited
        shutil.rmtree(spill, ignore_errors=True)


_CHILD_MAIN = ("import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
               "from nl2q.targets.sql.execute import _serve; "
               "_serve(int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), json.loads(sys.argv[5]), sys.argv[6])")


def _resident_mb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
    except (OSError, ValueError, IndexError):
        return 0  # no /proc (macOS): the deadline still holds


class _Child:
    """A DuckDB connection in a child process, killed at the deadline or above MEMORY_MB.

    DuckDB sees an interrupt only between vectors, and its memory limit does not cover the strings a
    function or a window builds: ``repeat('x', 1e9)`` folded inside EXPLAIN ran 262 s and took 4.8 GB
    for a 2 s timeout. Killing a process is the one bound that holds for any query. The child is a
    plain ``python -c`` (not multiprocessing's spawn, which re-imports the caller's main module).
    """

    def __init__(self, path: str | None, ddl: list[str]) -> None:
        self._args = (path, ddl)
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._lock = threading.RLock()
        self._start()

    def _start(self) -> None:
        """Launch a process without waiting for it: the next dry run finds it ready."""
        to_child, from_parent = os.pipe()
        from_child, to_parent = os.pipe()
        self._spill = tempfile.mkdtemp(prefix="nl2q-duckdb-")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD_MAIN, json.dumps(sys.path), str(to_child), str(to_parent),
             json.dumps(self._args[0]), json.dumps(self._args[1]), self._spill],
            pass_fds=(to_child, to_parent), stdin=subprocess.DEVNULL)
        os.close(to_child)
        os.close(to_parent)
        self._send, self._recv = Connection(from_parent, readable=False), Connection(from_child, writable=False)
        self._ready = False

    def ready(self) -> None:
        """Wait until the process has its connection (not charged to any dry run's deadline)."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self.stop()
                self._start()
            if self._ready:
                return
            try:
                if not self._recv.poll(60):
                    raise EOFError
                self._recv.recv()
            except EOFError:
                self.stop()
                raise RuntimeError("the DuckDB dry-run process did not start") from None
            self._ready = True

    def call(self, query: str, limit: int | None, deadline: float) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._lock:
            self.ready()
            assert self._proc is not None
            self._send.send((query, limit))
            while not self._recv.poll(min(0.05, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    self._replace()
                    raise TimeoutError
                if _resident_mb(self._proc.pid) > MEMORY_MB:
                    self._replace()
                    raise MemoryError(f"the query needed more than {MEMORY_MB} MB")
            try:
                kind, payload = self._recv.recv()
            except EOFError:
                self._replace()
                raise MemoryError("the DuckDB dry-run process died (out of memory?)") from None
        if kind == "error":
            name, message = payload
            raise type(name, (Exception,), {})(message)
        return payload

    def _replace(self) -> None:
        self.stop()
        self._start()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
            self._send.close()
            self._recv.close()
            shutil.rmtree(self._spill, ignore_errors=True)
        self._proc = None


class DuckDBExecutor(BoundedExecutor):
    """A read-only DuckDB connection that cannot reach files, the network or extensions.

    For a path or a schema, nl2q owns the database: the dry run happens in a child process with its
    own read-only connection (``DUCKDB_SAFE_CONFIG``), killed at the deadline or above MEMORY_MB, so
    it ends in time with bounded memory whatever the query. A caller's connection cannot move to
    another process: it runs here, interrupted at the deadline, and its configuration (memory limit,
    threads) is the caller's; check_sql's policy is then the bound on single expensive calls.
    """

    engine = "duckdb"

    def __init__(self, source: str | Path | Any | None = None, schema: SqlSchema | None = None) -> None:
        super().__init__()
        self._owned = True
        self.con: Any = None
        self._child: _Child | None = None
        if not isinstance(source, (str, Path, type(None))):
            self.con, self._owned = source, False
        elif os.name != "posix":  # no fd passing: in process, bounded by the interrupt and memory_limit only
            import duckdb

            self.con = open_duckdb(source) if source else duckdb.connect(":memory:", config=dict(DUCKDB_SAFE_CONFIG))
            for ddl in (schema.ddl() if schema and source is None else []):
                self.con.execute(ddl)
        elif source is None:
            self._child = _Child(None, schema.ddl() if schema else [])
        else:
            self._child = _Child(str(Path(source).resolve()), [])
        self.has_data = source is not None

    def run(self, query: str, policy: Policy = Policy(), *, writes: bool = False) -> DryRun:
        if self._child is not None:
            self._child.ready()
        return super().run(query, policy, writes=writes)

    def _bounded(self, query: str, limit: int | None) -> tuple[list[str], list[tuple[Any, ...]]]:
        if self._child is not None:
            return self._child.call(query, limit, time.monotonic() + self._remaining())
        cur = self.con.cursor()
        fired = threading.Event()

        def stop() -> None:
            fired.set()
            cur.interrupt()

        timer = threading.Timer(self._remaining(), stop)
        timer.start()
        try:
            cur.execute(query)
            return [d[0] for d in cur.description or []], fetch_bounded(cur, limit)
        except Exception:
            if fired.is_set():
                raise TimeoutError from None
            raise
        finally:
            timer.cancel()

    def explain(self, query: str) -> str:
        _, rows = self._bounded("EXPLAIN " + query, None)
        return "\n".join(str(r[-1]) for r in rows)

    def _run(self, query: str, policy: Policy) -> tuple[list[str], list[tuple[Any, ...]]]:
        return self._bounded(query, policy.max_rows + 1)

    def close(self) -> None:
        if self._child is not None:
            self._child.stop()
        elif self._owned:
            self.con.close()


# ------------------------------------------------------------------ SQLite

_SQLITE_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                        getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
# Functions a dry run never calls: files and extensions, and printf/format, whose width and precision
# loops ignore the length limit and run inside one call (printf('%.*c', 1e9, 'x') takes ~9 s).
_SQLITE_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
                                      "printf", "format", "json_patch"})

# SQLite checks its progress handler (and so the deadline) only between rows, never inside a function
# call, and one row may call hundreds of functions. So every call must be short: LENGTH bounds each
# string and blob (randomblob, zeroblob, replace, group_concat: memory too); functions whose cost is
# (length x length) inside one call get a budget of uses per statement. Measured at the 100 kB limit:
# instr/replace ~80 ms a call, LIKE/GLOB with a 200-character pattern ~2 ms.
SQLITE_LIMITS: dict[int, int] = {
    sqlite3.SQLITE_LIMIT_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 200,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 100,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 200,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 32,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_WORKER_THREADS: 0,
}
QUADRATIC_FUNCTIONS = frozenset({"instr", "replace", "trim", "ltrim", "rtrim"})
MAX_QUADRATIC_CALLS = 6
PATTERN_FUNCTIONS = frozenset({"like", "glob"})
MAX_PATTERN_CALLS = 64


class _Authorizer:
    """Reads of the main database's own tables, SELECT and functions within budget; nothing else.

    The catalog (sqlite_master, sqlite_stat*), temp and attached databases are denied even if a
    check missed a qualified name or a table-valued pragma.
    """

    def __init__(self) -> None:
        self.quadratic = self.pattern = 0
        self.refused: str | None = None

    def __call__(self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
        if action == sqlite3.SQLITE_FUNCTION:
            name = (arg2 or "").lower()
            if name in _SQLITE_DENIED_FUNCTIONS:
                self.refused = f"{name}() is not allowed in a dry run"
                return sqlite3.SQLITE_DENY
            self.quadratic += name in QUADRATIC_FUNCTIONS
            self.pattern += name in PATTERN_FUNCTIONS
            if self.quadratic > MAX_QUADRATIC_CALLS or self.pattern > MAX_PATTERN_CALLS:
                self.refused = (f"more than {MAX_QUADRATIC_CALLS} calls of {'/'.join(sorted(QUADRATIC_FUNCTIONS))} or "
                                f"{MAX_PATTERN_CALLS} of LIKE/GLOB: too expensive for a dry run")
                return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_READ:
            table = (arg1 or "").lower()
            # db is None when no column is read (count(*) of a table or a CTE): the checker's business.
            if db not in (None, "main") or table.startswith("sqlite_"):
                self.refused = f"reading {db or ''}{'.' if db else ''}{arg1} is not allowed: only the main database's own tables"
                return sqlite3.SQLITE_DENY
        if action in _SQLITE_READ_ACTIONS:
            return sqlite3.SQLITE_OK
        self.refused = "the statement does more than read"
        return sqlite3.SQLITE_DENY


class SQLiteExecutor(BoundedExecutor):
    """SQLite through the standard library: read-only URI, query_only, a read-only authorizer,
    per-connection limits and linear string functions for the length of each dry run."""

    engine = "sqlite"

    def __init__(self, source: str | Path | sqlite3.Connection) -> None:
        super().__init__()
        # One connection, shared by threads (a harness with --concurrency): its handlers are per connection.
        self._lock = threading.RLock()
        if isinstance(source, sqlite3.Connection):
            self.con, self._owned = source, False
        else:
            self.con = sqlite3.connect(f"{Path(source).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            self._owned = True
            self.con.execute("PRAGMA query_only = ON")

    @contextmanager
    def _bounds(self) -> Iterator[tuple[Callable[[], bool], _Authorizer]]:
        """Authorizer, limits and a progress handler, undone afterwards (a caller's connection
        is left as it was, except that any authorizer it had is removed). Yields whether the
        deadline fired, and the authorizer (why it refused)."""
        deadline = time.monotonic() + self._remaining()
        fired = False

        def progress() -> int:
            nonlocal fired
            fired = time.monotonic() > deadline
            return int(fired)

        con = self.con
        authorizer = _Authorizer()
        previous = {k: con.setlimit(k, v) for k, v in SQLITE_LIMITS.items()}
        con.set_authorizer(authorizer)
        con.set_progress_handler(progress, 1000)
        try:
            yield (lambda: fired), authorizer
        finally:
            con.set_progress_handler(None, 0)
            con.set_authorizer(None)
            for k, v in previous.items():
                con.setlimit(k, v)

    def _guarded(self, query: str, limit: int | None) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._lock, self._bounds() as (fired, authorizer):
            try:
                cur = self.con.execute(query)
                return [d[0] for d in cur.description or []], fetch_bounded(cur, limit)
            except sqlite3.DatabaseError as e:
                if fired():
                    raise TimeoutError from None
                if authorizer.refused and ("not authorized" in str(e) or "prohibited" in str(e)):
                    raise type(e)(f"{e}: {authorizer.refused}") from None
                if "too big" in str(e):
                    raise type(e)(f"{e}: a string or blob would pass the dry run's limit of "
                                  f"{SQLITE_LIMITS[sqlite3.SQLITE_LIMIT_LENGTH]:,} bytes") from None
                raise

    def explain(self, query: str) -> str:
        _, rows = self._guarded("EXPLAIN QUERY PLAN " + query, None)
        return "\n".join(str(r[-1]) for r in rows)

    def _run(self, query: str, policy: Policy) -> tuple[list[str], list[tuple[Any, ...]]]:
        return self._guarded(query, policy.max_rows + 1)

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
