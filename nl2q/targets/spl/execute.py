"""The offline dry run: the search compiled to DuckDB (:mod:`.compile`) over the event store, read-only,
bounded; when the engine fails, each command's CTE is bound in turn so the error names the command that caused it."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

from ...policy import Policy
from ...types import DryRun
from .compile import Compiler, Unsupported, indexes_named, lit
from .events import TABLE
from .schema import SplSchema
from .tree import Search


class SplExecutor:
    engine = "duckdb"

    def __init__(self, store: Path, schema: SplSchema) -> None:
        import duckdb

        self.store = store
        self.schema = schema
        self._con = duckdb.connect(str(store), read_only=True, config={
            "enable_external_access": False, "autoinstall_known_extensions": False,
            "autoload_known_extensions": False})
        self._lock = threading.Lock()
        self._now: dict[tuple[str, ...], datetime] = {}

    def now(self, search: Search) -> datetime:
        """"Now" for relative times: the newest event of the indexes the search names (of the store when it
        names none), since the store holds old logs; ``earliest=-24h`` then means the last day of data."""
        named = tuple(sorted(v for v in indexes_named(search)))
        if named not in self._now:
            where = " OR ".join(f'"index" LIKE {lit(v.replace("*", "%"))}' for v in named) or "TRUE"
            with self._lock:
                row = self._con.execute(f"SELECT max(_time) FROM {TABLE} WHERE {where}").fetchone()
            self._now[named] = row[0] if row and row[0] else datetime(1970, 1, 1)
        return self._now[named]

    def run(self, search: Search, text: str, policy: Policy) -> DryRun:
        t0 = time.perf_counter()
        compiler = Compiler(self.schema, self.now(search), self._values)
        try:
            compiler.compile(search)
        except Unsupported as exc:
            return DryRun(ok=True, engine=self.engine, mode="skipped", plan=f"{exc.message} ({exc.hint})",
                          elapsed_ms=(time.perf_counter() - t0) * 1000)
        import duckdb

        with self._lock:
            timer = threading.Timer(policy.timeout_s, self._con.interrupt)
            timer.start()
            try:
                cur = self._con.execute(compiler.final_sql(policy.max_rows + 1))
                columns = list(compiler.fields)
                rows = [list(r) for r in cur.fetchall()]
            except duckdb.Error as exc:
                if not timer.is_alive():
                    return DryRun(ok=False, engine=self.engine, mode="run", error="timed out",
                                  elapsed_ms=(time.perf_counter() - t0) * 1000)
                where = self._attribute(compiler)
                return DryRun(ok=False, engine=self.engine, mode="explain" if where else "run",
                              error=f"{where[0]}: {where[1]}" if where else str(exc),
                              elapsed_ms=(time.perf_counter() - t0) * 1000)
            finally:
                timer.cancel()
        capped = len(rows) > policy.max_rows
        rows = rows[: policy.max_rows]
        return DryRun(ok=True, engine=self.engine, mode="run", columns=columns, rows=rows[: policy.preview_rows],
                      row_count=len(rows), capped=capped, plan=compiler.final_sql(),
                      elapsed_ms=(time.perf_counter() - t0) * 1000)

    def _values(self, sql: str) -> list[tuple]:
        with self._lock:
            return self._con.execute(sql).fetchall()

    def _attribute(self, compiler: Compiler) -> tuple[str, str] | None:
        """The first command whose prefix no longer binds, and the engine's error there; looked for only once
        the whole search failed, so a search that runs pays for no EXPLAIN. None: every prefix binds."""
        import duckdb

        for i, step in enumerate(compiler.steps, start=1):
            try:
                self._con.execute("EXPLAIN " + compiler.prefix_sql(i))
            except duckdb.Error as exc:
                c = step.command
                where = f"`{c.name}` at {c.start}-{c.end}" if not c.implicit else "the initial search"
                return where, str(exc)
        return None

    def close(self) -> None:
        with self._lock:
            self._con.close()
