"""Graph engines: an embedded Ladybug database opened read-only, and Bolt servers (Neo4j,
ArcadeDB) where every run happens in a transaction that is rolled back."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from ...errors import SchemaError
from ...policy import Policy
from ...types import DryRun
from ...execute import Executor

GRACE_S = 2.0  # how long a timed-out query gets to acknowledge an interrupt before it is abandoned


class BoltError(RuntimeError):
    """A server error, as ``Neo.ClientError.Statement.SyntaxError: message``."""

    def __init__(self, code: str | None, message: str | None) -> None:
        self.code = code or "Neo.DatabaseError.General.UnknownError"
        super().__init__(f"{self.code}: {message or ''}".strip())


def plain(value: Any) -> Any:
    """A JSON-able copy of a value either engine returned (nodes, relationships, paths, times)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    from neo4j.graph import Node, Path as BoltPath, Relationship

    if isinstance(value, Node):
        return {"_id": value.element_id, "_labels": sorted(value.labels), **{k: plain(v) for k, v in value.items()}}
    if isinstance(value, Relationship):
        start, end = value.start_node, value.end_node
        return {"_id": value.element_id, "_type": value.type, "_start": start.element_id if start else None,
                "_end": end.element_id if end else None, **{k: plain(v) for k, v in value.items()}}
    if isinstance(value, BoltPath):
        return {"nodes": [plain(n) for n in value.nodes], "relationships": [plain(r) for r in value.relationships]}
    if isinstance(value, dict):
        return _ladybug_entity(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "iso_format"):  # neo4j.time types
        return value.iso_format()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return f"P{value.days}DT{value.seconds + value.microseconds / 1e6:g}S"
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def _ladybug_id(internal: Any) -> Any:
    if isinstance(internal, dict) and "table" in internal and "offset" in internal:
        return f"{internal['table']}:{internal['offset']}"
    return plain(internal)


def _ladybug_entity(value: dict[str, Any]) -> dict[str, Any]:
    """Ladybug returns nodes, relationships and paths as dicts with ``_ID``/``_LABEL``/``_SRC`` keys."""
    if "_NODES" in value and "_RELS" in value:
        return {"nodes": [plain(n) for n in value["_NODES"]], "relationships": [plain(r) for r in value["_RELS"]]}
    props = {str(k): plain(v) for k, v in value.items() if not str(k).startswith("_") and v is not None}
    if "_LABEL" in value and "_SRC" in value:
        return {"_id": _ladybug_id(value.get("_ID")), "_type": value["_LABEL"], "_start": _ladybug_id(value["_SRC"]),
                "_end": _ladybug_id(value["_DST"]), **props}
    if "_LABEL" in value and "_ID" in value:
        return {"_id": _ladybug_id(value["_ID"]), "_labels": [value["_LABEL"]], **props}
    return {str(k): plain(v) for k, v in value.items()}


def ladybug_plan(text: str) -> str:
    """Ladybug's boxed EXPLAIN as one line per operator.

    A pipeline reads downwards; each other input of a join is indented under it, its first
    operator marked ``+``. Execution counters (always zero under EXPLAIN) are dropped; text
    that is not boxes comes back as is.
    """
    lines = text.splitlines()

    def at(r: int, c: int) -> str:
        return lines[r][c] if 0 <= r < len(lines) and 0 <= c < len(lines[r]) else " "

    boxes: dict[tuple[int, int], dict[str, Any]] = {}
    for row, line in enumerate(lines):
        for col, ch in enumerate(line):
            if ch != "┌":
                continue
            right = line.find("┐", col)
            bottom = next((r for r in range(row + 1, len(lines)) if at(r, col) == "└"), None)
            if right < 0 or bottom is None:
                continue
            sections: list[list[str]] = [[]]
            for r in range(row + 1, bottom):
                cell = lines[r][col + 1:right].strip(" │")
                if cell and set(cell) <= {"-"}:
                    sections.append([])
                elif cell:
                    sections[-1].append(cell)
            name = " ".join(sections[0])
            if not re.fullmatch(r"[A-Z_]+\[\d+\]", name):
                continue
            details = " ".join(x for sec in sections[1:] for x in sec
                               if not re.match(r"(NumOutputTuples|ExecutionTime|TotalTime):", x))
            boxes[(row, col)] = {"name": name, "details": details, "right": right, "bottom": bottom,
                                 "below": None, "side": []}
    if not boxes:
        return text.strip()
    roots = []
    for (row, col), box in sorted(boxes.items()):
        parent = next((p for (r, c), p in boxes.items() if c == col and p["bottom"] == row - 1), None)
        if parent is not None:
            parent["below"] = box
            continue
        x = lines[row].find("┴", col)
        r = row - 1
        while x >= 0 and at(r, x) == "│":
            r -= 1
        if x >= 0 and at(r, x) in "┐┬":
            e = x - 1
            while at(r, e) in "─┬":
                e -= 1
            owner = next((p for (pr, pc), p in boxes.items() if p["right"] == e and pr < r <= p["bottom"]), None)
            if owner is not None:
                owner["side"].append(box)
                continue
        roots.append(box)
    out: list[str] = []

    def emit(box: dict[str, Any] | None, indent: str) -> None:
        head = indent[:-2] + "+ " if indent else ""
        while box is not None:
            out.append((head or indent) + box["name"] + (f"  {box['details']}" if box["details"] else ""))
            head = ""
            for side in box["side"]:
                emit(side, indent + "    ")
            box = box["below"]

    for root in roots:
        emit(root, "")
    return "\n".join(out)


def bolt_plan(plan: dict[str, Any] | None) -> str:
    """The readable form of ``summary.plan``: the server's own rendering when it sends one."""
    if not plan:
        raise BoltError("Neo.DatabaseError.General.UnknownError", "the server returned no plan for EXPLAIN")
    text = (plan.get("args") or {}).get("string-representation")
    if text:
        return str(text).strip()
    out: list[str] = []

    def walk(op: dict[str, Any], depth: int) -> None:
        args = op.get("args") or {}
        bits = [str(op.get("operatorType", "?"))]
        if args.get("Details"):
            bits.append(str(args["Details"]))
        if args.get("EstimatedRows") is not None:
            bits.append(f"~{float(args['EstimatedRows']):g} rows")
        out.append("  " * depth + "  ".join(bits))
        for child in op.get("children") or []:
            walk(child, depth + 1)

    walk(plan, 0)
    return "\n".join(out)


class _Worker:
    """Runs one call on a daemon thread so a caller's wait is bounded even if the engine ignores interrupts."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except BaseException as e:  # handed to the caller's thread
            self.error = e
        finally:
            self.done.set()


class _GraphExecutor(Executor):
    """Bounds EXPLAIN by the policy's timeout too: planning alone can take seconds."""

    timeout_s: float = Policy().timeout_s

    def run(self, query: str, policy: Policy = Policy(), *, writes: bool = False) -> DryRun:
        self.timeout_s = policy.timeout_s
        return super().run(query, policy, writes=writes)


class LadybugExecutor(_GraphExecutor):
    """A Ladybug database opened read-only. Each call is bounded three ways: the engine's
    query timeout, then ``interrupt()``, then abandoning the connection to finish (and be
    closed) in the background while later calls use a fresh one."""

    engine = "ladybug"

    def __init__(self, source: str | Path | Any) -> None:
        import ladybug

        if isinstance(source, ladybug.Database):
            if not source.read_only:
                raise ValueError("LadybugExecutor needs a database opened with read_only=True")
            self.db, self._owned = source, False
        else:
            path = Path(source)
            if not path.is_file():
                raise SchemaError(f"Ladybug database not found: {path}", "pass the database file; nl2q never creates one")
            try:
                self.db, self._owned = ladybug.Database(str(path), read_only=True), True
            except Exception as e:
                raise SchemaError(f"cannot open {path} as a Ladybug database: {e}",
                                  "is it a Ladybug database written by a compatible version?") from e
        self._con: Any = None
        self._abandoned: list[threading.Thread] = []

    def _bounded(self, fn: Callable[[Any], Any], timeout_s: float) -> Any:
        import ladybug

        if self._con is None:
            self._con = ladybug.Connection(self.db)
        con = self._con
        con.set_query_timeout(max(1, int(timeout_s * 1000)))
        t0 = time.monotonic()
        work = _Worker(lambda: fn(con))
        if not work.done.wait(timeout_s + 0.25):
            con.interrupt()
            if not work.done.wait(GRACE_S):
                self._con = None
                closer = threading.Thread(target=lambda: (work.thread.join(), con.close()), daemon=True)
                closer.start()
                self._abandoned.append(closer)
                raise TimeoutError
        if work.error is not None:
            if "Interrupted" in str(work.error) and time.monotonic() - t0 >= timeout_s * 0.9:
                raise TimeoutError from None
            raise work.error
        return work.result

    @staticmethod
    def _single(result: Any) -> Any:
        if isinstance(result, list):
            for r in result:
                r.close()
            raise ValueError("one statement at a time: the query holds several statements separated by ';'")
        return result

    def explain(self, query: str) -> str:
        def plan(con: Any) -> str:
            result = self._single(con.execute("EXPLAIN " + query))
            try:
                return "\n".join(str(r[0]) for r in result.get_all())
            finally:
                result.close()

        return ladybug_plan(self._bounded(plan, self.timeout_s))

    def _run(self, query: str, policy: Policy) -> tuple[list[str], list[tuple[Any, ...]]]:
        def fetch(con: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
            result = self._single(con.execute(query))
            try:
                columns = list(result.get_column_names())
                rows = [tuple(plain(v) for v in row) for row in result.get_n(policy.max_rows + 1)]
            finally:
                result.close()
            return columns, rows

        return self._bounded(fetch, policy.timeout_s)

    def close(self) -> None:
        for t in self._abandoned:
            t.join(GRACE_S)
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._owned and not any(t.is_alive() for t in self._abandoned):
            self.db.close()


class BoltExecutor(_GraphExecutor):
    """A Bolt server (Neo4j, or ArcadeDB's Bolt plugin) through the official neo4j driver.

    EXPLAIN plans without executing. A run happens in an explicit READ-mode transaction that
    is always rolled back, with the policy's timeout as the transaction timeout; for servers
    that ignore it (ArcadeDB) the query is sent ``TERMINATE TRANSACTION`` at the deadline and,
    failing that, abandoned so the caller's wait stays bounded.
    """

    engine = "bolt"

    def __init__(self, driver_or_uri: Any, auth: Any = None, database: str | None = None) -> None:
        import neo4j

        if isinstance(driver_or_uri, str):
            self.driver, self._owned = neo4j.GraphDatabase.driver(driver_or_uri, auth=auth), True
        else:
            self.driver, self._owned = driver_or_uri, False
        self.database = database
        self._abandoned: list[_Worker] = []

    def _bounded(self, fn: Callable[[Any], Any], query: str, timeout_s: float) -> Any:
        """``fn(tx)`` in a rolled-back transaction; server errors become :class:`BoltError`."""
        import neo4j
        import neo4j.exceptions as nx

        def work() -> Any:
            with self.driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS,
                                     fetch_size=1000) as session:
                tx = session.begin_transaction(timeout=timeout_s)
                try:
                    return fn(tx)
                finally:
                    tx.close()  # rolls back: nothing a dry run does is ever committed

        job = _Worker(work)
        timed_out = not job.done.wait(timeout_s + 0.25)
        if timed_out:
            self._terminate(query)
            if not job.done.wait(GRACE_S):
                self._abandoned = [w for w in self._abandoned if not w.done.is_set()] + [job]
                raise TimeoutError
        if isinstance(job.error, nx.Neo4jError):
            code = job.error.code or ""
            if timed_out or "TransactionTimedOut" in code or code.endswith("Transaction.Terminated"):
                raise TimeoutError from None
            raise BoltError(code, job.error.message) from job.error
        if job.error is not None:
            raise job.error
        return job.result

    def explain(self, query: str) -> str:
        text = "EXPLAIN " + query
        return bolt_plan(self._bounded(lambda tx: tx.run(text).consume().plan, text, self.timeout_s))

    def _run(self, query: str, policy: Policy) -> tuple[list[str], list[tuple[Any, ...]]]:
        def fetch(tx: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
            result = tx.run(query)
            columns = list(result.keys())
            return columns, [tuple(plain(v) for v in r.values()) for r in result.fetch(policy.max_rows + 1)]

        return self._bounded(fetch, query, policy.timeout_s)

    def _terminate(self, query: str) -> None:
        """Best effort: stop our still-running query on the server."""
        try:
            with self.driver.session(database=self.database) as session:
                ids = [r["transactionId"] for r in session.run("SHOW TRANSACTIONS")
                       if r.get("currentQuery") == query]
                for tx_id in ids:
                    session.run("TERMINATE TRANSACTION $id", id=tx_id).consume()
        except Exception:  # a server without these commands: the query is abandoned instead
            pass

    def close(self) -> None:
        for w in self._abandoned:
            w.done.wait(GRACE_S)
        if self._owned:
            self.driver.close()
