"""Graph engines: the shared dry-run shape (one deadline, the barriers of :mod:`.barrier`), value
conversion, and Bolt servers (Neo4j, ArcadeDB), where every run happens in a transaction that is rolled
back. Ladybug is in :mod:`.ladybug`.

Neither engine's read-only mode is a barrier on its own: ArcadeDB runs ``CALL { } IN TRANSACTIONS``,
schema changes and LOAD CSV whatever the access mode and rollback (and executes ``EXPLAIN CREATE
INDEX``), and a read-only Ladybug still reads files (``LOAD FROM``) and writes them (``COPY ... TO``).
So every dry run also passes two barriers here that do not depend on the checker: a statement gate
before EXPLAIN, and a plan barrier between EXPLAIN and the run.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from decimal import Decimal
from typing import Any, Callable

from ...policy import Policy
from ...types import DryRun
from ...execute import Executor, elapsed_ms
from .barrier import bolt_operators, plan_barrier, statement_gate

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

class GraphExecutor(Executor):
    """One deadline for EXPLAIN and the run together, and the two barriers around EXPLAIN."""

    timeout_s: float = Policy().timeout_s

    def _steps(self, query: str, policy: Policy, writes: bool, step: Any, t0: float) -> DryRun:
        """Gate, EXPLAIN, plan barrier, then a bounded run; all of it within ``policy.timeout_s``.

        A query the checker found to write (allowed by the policy) is only gated and explained.
        """
        self._ready()
        deadline = time.monotonic() + policy.timeout_s
        statement_gate(query)
        plan, operators = self._explain(query, deadline)
        if writes:
            return DryRun(True, self.engine, step.mode, plan=plan, elapsed_ms=elapsed_ms(t0))
        plan_barrier(operators)
        step.mode = "run"
        return self._rows(*self._fetch(query, policy, deadline), policy=policy, plan=plan, t0=t0)

    def explain(self, query: str) -> str:
        self._ready()
        statement_gate(query)
        return self._explain(query, time.monotonic() + self.timeout_s)[0]

    def _run(self, query: str, policy: Policy) -> tuple[list[str], list[tuple[Any, ...]]]:
        """A bounded run with no gate or barrier (tests use it to show what the engine alone allows)."""
        self._ready()
        return self._fetch(query, policy, time.monotonic() + policy.timeout_s)

    def _ready(self) -> None:
        pass

    def _explain(self, query: str, deadline: float) -> tuple[str, list[tuple[str, str]]]:
        raise NotImplementedError

    def _fetch(self, query: str, policy: Policy, deadline: float) -> tuple[list[str], list[tuple[Any, ...]]]:
        raise NotImplementedError


def time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left

_FINAL_SEMICOLON = re.compile(r";([ \t\r\n]*)\Z")


class BoltExecutor(GraphExecutor):
    """A Bolt server (Neo4j, or ArcadeDB's Bolt plugin) through the official neo4j driver.

    EXPLAIN plans without executing (except commands, which the statement gate keeps away). A run
    happens only if the plan barrier finds no writing operator, in an explicit READ-mode
    transaction that is always rolled back, with the remaining time as the transaction timeout;
    for servers that ignore it (ArcadeDB) the query is sent ``TERMINATE TRANSACTION`` at the
    deadline and, failing that, abandoned so the caller's wait stays bounded.
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

    def _bounded(self, fn: Callable[[Any], Any], query: str, deadline: float) -> Any:
        """``fn(tx)`` in a rolled-back transaction; server errors become :class:`BoltError`."""
        import neo4j
        import neo4j.exceptions as nx

        timeout_s = time_left(deadline)

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

    @staticmethod
    def _statement(query: str) -> str:
        """The query without a final ';', which ArcadeDB refuses. Dropping it never changes the meaning: a
        last ';' ends the statement or sits in a // comment (strings, names and block comments end otherwise)."""
        return _FINAL_SEMICOLON.sub(r"\1", query)

    def _explain(self, query: str, deadline: float) -> tuple[str, list[tuple[str, str]]]:
        text = "EXPLAIN " + self._statement(query)
        plan = self._bounded(lambda tx: tx.run(text).consume().plan, text, deadline)
        operators = bolt_operators(plan)
        return bolt_plan(plan), operators

    def _fetch(self, query: str, policy: Policy, deadline: float) -> tuple[list[str], list[tuple[Any, ...]]]:
        statement = self._statement(query)

        def fetch(tx: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
            result = tx.run(statement)
            columns = list(result.keys())
            return columns, [tuple(plain(v) for v in r.values()) for r in result.fetch(policy.max_rows + 1)]

        return self._bounded(fetch, statement, deadline)

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
