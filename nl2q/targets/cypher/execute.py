"""Graph engines: an embedded Ladybug database opened read-only (in a child process with bounded
memory), and Bolt servers (Neo4j, ArcadeDB) where every run happens in a transaction that is rolled back.

Neither engine's read-only mode is a barrier on its own: ArcadeDB runs ``CALL { } IN TRANSACTIONS``,
schema changes and LOAD CSV whatever the access mode and rollback (and executes ``EXPLAIN CREATE
INDEX``), and a read-only Ladybug still reads files (``LOAD FROM``) and writes them (``COPY ... TO``).
So every dry run also passes two barriers here that do not depend on the checker: a statement gate
before EXPLAIN, and a plan barrier between EXPLAIN and the run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from ...errors import SchemaError
from ...policy import Policy
from ...types import DryRun
from ...execute import Executor, elapsed_ms, engine_message
from .check import READ_PROCEDURES

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


class Refused(RuntimeError):
    """A dry run the executor will not do: the statement or its plan could change something."""


# Line ends that some engine honours and the checker does not (ArcadeDB ends a // comment at a lone \r).
_ODD_LINE_END = re.compile(r"\r(?!\n)|[\x0b\x0c\x85\u2028\u2029]")
_LEXEME = re.compile(r"""[ \t\n]+|\r\n|//[^\n]*|/\*[^*]*\*/|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`"""
                     r"""|[A-Za-z_][A-Za-z0-9_]*|\S""", re.S)
# Statements a dry run may start with. CREATE only before a pattern: ``CREATE INDEX``/``CONSTRAINT``
# and other commands run even under EXPLAIN on ArcadeDB.
_READ_STARTS = frozenset({"match", "optional", "unwind", "with", "return", "call", "create", "merge"})
_LOAD_NEXT = frozenset({"csv", "from", "with", "extension"})  # LOAD CSV, LOAD FROM, LOAD WITH HEADERS, LOAD EXTENSION


def _words(query: str) -> list[str]:
    """The query's tokens outside comments, strings and backtick names (these stay as one token)."""
    return [m.group() for m in _LEXEME.finditer(query) if not m.group().isspace() and m.group() != "\r\n"
            and not m.group().startswith(("//", "/*"))]


def statement_gate(query: str) -> None:
    """Refuse, before anything reaches the engine, what even EXPLAIN could act on.

    The query must start with a clause of a query (not a command such as CREATE INDEX, DROP,
    SHOW, COPY, INSTALL or GRANT), hold no line end that engines read differently, and have no
    LOAD clause anywhere (Ladybug's EXPLAIN of LOAD FROM already opens the file to bind columns).
    """
    odd = _ODD_LINE_END.search(query)
    if odd:
        raise Refused(f"a line end (U+{ord(odd.group()):04X}) that engines read differently at offset {odd.start()}")
    words = _words(query)
    if not words or words[0].lower() not in _READ_STARTS:
        first = words[0] if words else "nothing"
        raise Refused(f"the statement starts with {first!r}: only queries (MATCH, WITH, UNWIND, RETURN, CALL ...) "
                      "are dry-run; commands could act even under EXPLAIN")
    if words[0].lower() == "create" and (len(words) < 2 or words[1] != "("):
        raise Refused(f"CREATE {words[1] if len(words) > 1 else ''} is a schema or admin command, never dry-run")
    for w, after in zip(words, words[1:]):
        if w.lower() == "load" and after.lower() in _LOAD_NEXT:
            raise Refused(f"LOAD {after.upper()} reads files or extensions; a dry run never does")


# Operators that write, load, call out or run their own transactions, by the start of their name once
# lower-cased with spaces and underscores dropped: Neo4j operatorTypes (SetProperty@neo4j,
# DetachDelete, LoadCSV, ProcedureCall, TransactionForeach, CreateIndex ...), ArcadeDB's plan steps
# (SET (1 items), DETACH DELETE, LOAD CSV FROM, CALL SUBQUERY { ... } IN TRANSACTIONS) and Ladybug's
# operators (COPY_TO, INSTALL_EXTENSION, STANDALONE_CALL, INSERT, SET_NODE_PROPERTY ...).
_WRITE_OPERATOR = re.compile(
    r"(create|merge|lockingmerge|set|delete|detachdelete|remove|loadcsv|load|foreach|subqueryforeach|"
    r"procedurecall|transaction|callsubquery|copy|install|export|import|attach|detach|insert|standalonecall|"
    r"drop|alter|grant|deny|revoke|terminate)")
# Ladybug table functions a plan may call: its own intermediate-result reader and schema listings.
LADYBUG_TABLE_FUNCTIONS = frozenset({"READ_FTABLE", "SHOW_TABLES", "TABLE_INFO", "SHOW_CONNECTION"})


def _operator_key(name: str) -> str:
    lead = re.match(r"[A-Za-z_ ]*", name.strip().lstrip("+").strip())
    return re.sub(r"[ _]", "", lead.group() if lead else "").lower()


def plan_barrier(operators: list[tuple[str, str]]) -> None:
    """Refuse a plan with an operator that writes, loads files, calls a procedure or commits on its own.

    ``operators`` are (name, details) pairs; a procedure call passes only for a read-only
    catalogue procedure, a Ladybug table function only for one of :data:`LADYBUG_TABLE_FUNCTIONS`.
    """
    for name, details in operators:
        key = _operator_key(name)
        if not key:
            continue
        if key.startswith("tablefunctioncall"):
            fn = re.search(r"Function:\s*(\w+)", details)
            if fn is None or fn.group(1).upper() not in LADYBUG_TABLE_FUNCTIONS:
                raise Refused(f"the plan calls the table function {fn.group(1) if fn else '?'}, which can read "
                              "files or reach outside the graph")
            continue
        if key.startswith("call") and not key.startswith("callsubquery") or key.startswith("procedurecall"):
            proc = re.search(r"(?:CALL\s+)?([A-Za-z_][\w.]*)\s*\(", details or name)
            if proc is None or proc.group(1).lower() not in READ_PROCEDURES:
                raise Refused(f"the plan calls the procedure {proc.group(1) if proc else '?'}, which may write "
                              "or reach outside the graph")
            continue
        if key.startswith("callsubquery") and "{ ... }" in name:
            raise Refused("the plan hides what a CALL { } subquery does (" + name.strip().lstrip("+ ") +
                          "), so it cannot be shown to be read-only")
        if _WRITE_OPERATOR.match(key):
            raise Refused(f"the plan has the operator {name.strip().lstrip('+ ')!r}, which writes, loads or "
                          "commits on its own")


def bolt_operators(plan: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Every operator of ``summary.plan``: the tree's operatorTypes and the lines of a text rendering."""
    if not plan:
        raise Refused("the server returned no plan for EXPLAIN, so the statement cannot be shown to be a "
                      "read-only query")
    out: list[tuple[str, str]] = []

    def walk(op: dict[str, Any]) -> None:
        args = op.get("args") or {}
        name = str(op.get("operatorType", "")).split("@")[0]
        if name != "ArcadeDB.OpenCypher.Plan":
            out.append((name, str(args.get("Details", ""))))
        for line in str(args.get("string-representation") or "").splitlines():
            if line.lstrip().startswith("+"):
                out.append((line, line))
        for child in op.get("children") or []:
            walk(child)

    walk(plan)
    return out


def ladybug_operators(plan: str) -> list[tuple[str, str]]:
    """(name, details) for each line of :func:`ladybug_plan`'s rendering."""
    out = []
    for line in plan.splitlines():
        m = re.match(r"\s*(?:\+\s*)?([A-Z_]+)\[\d+\]\s*(.*)", line)
        if m:
            out.append((m.group(1), m.group(2)))
        elif line.strip():
            raise Refused("the plan is not in the expected form, so it cannot be shown to be read-only")
    return out


class _GraphExecutor(Executor):
    """One deadline for EXPLAIN and the run together, and the two barriers around EXPLAIN."""

    timeout_s: float = Policy().timeout_s

    def run(self, query: str, policy: Policy = Policy(), *, writes: bool = False) -> DryRun:
        """Gate, EXPLAIN, plan barrier, then a bounded run; all of it within ``policy.timeout_s``.

        A query the checker found to write (allowed by the policy) is only gated and explained.
        """
        t0 = time.perf_counter()
        mode = "explain"
        try:
            self._ready()
            deadline = time.monotonic() + policy.timeout_s
            statement_gate(query)
            plan, operators = self._explain(query, deadline)
            if writes:
                return DryRun(True, self.engine, mode, plan=plan, elapsed_ms=elapsed_ms(t0))
            plan_barrier(operators)
            mode = "run"
            columns, rows = self._fetch(query, policy, deadline)
        except TimeoutError:
            return DryRun(False, self.engine, mode, elapsed_ms=elapsed_ms(t0),
                          error=f"timed out after {policy.timeout_s:g} s: the query is too expensive")
        except Refused as e:
            return DryRun(False, self.engine, mode, elapsed_ms=elapsed_ms(t0), error=f"refused: {e}")
        except Exception as e:  # engine errors are findings, not crashes
            return DryRun(False, self.engine, mode, elapsed_ms=elapsed_ms(t0), error=engine_message(e))
        capped = len(rows) > policy.max_rows
        rows = rows[: policy.max_rows]
        return DryRun(True, self.engine, mode, columns=columns, rows=[list(r) for r in rows[: policy.preview_rows]],
                      row_count=None if capped else len(rows), capped=capped, plan=plan, elapsed_ms=elapsed_ms(t0))

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


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


BUFFER_POOL_BYTES = 256 << 20  # Ladybug's own memory for a dry run (it refuses a query that needs more)
MEMORY_HEADROOM_BYTES = 1536 << 20  # address space beyond the reserved database region: Python, threads, results
MAX_REPLY_BYTES = 32 << 20  # the largest answer the child may send back
KILL_GRACE_S = 0.5  # past the deadline before the child is killed
START_TIMEOUT_S = 60.0


def _ladybug_serve() -> None:
    """The child process: open the database read-only under an address-space limit, answer JSON lines."""
    import resource

    import ladybug

    path, max_db, memory = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    out = sys.stdout
    sys.stdout = sys.stderr
    try:
        db = ladybug.Database(path, read_only=True, buffer_pool_size=BUFFER_POOL_BYTES, max_db_size=max_db)
        con = ladybug.Connection(db)
    except BaseException as e:
        out.write(json.dumps({"error": type(e).__name__, "message": str(e)}) + "\n")
        out.flush()
        return
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        t0 = time.monotonic()
        try:
            con.set_query_timeout(max(1, int(request["timeout_s"] * 1000)))
            result = con.execute(request["query"])
            if isinstance(result, list):
                for r in result:
                    r.close()
                raise ValueError("one statement at a time: the query holds several statements separated by ';'")
            try:
                if request["op"] == "explain":
                    reply: dict[str, Any] = {"plan": "\n".join(str(r[0]) for r in result.get_all())}
                else:
                    reply = {"columns": list(result.get_column_names()),
                             "rows": [[plain(v) for v in row] for row in result.get_n(request["max_rows"] + 1)]}
            finally:
                result.close()
        except BaseException as e:  # reported to the parent, which decides what it means
            timed_out = "Interrupted" in str(e) and time.monotonic() - t0 >= request["timeout_s"] * 0.9
            reply = {"error": "TimeoutError" if timed_out else type(e).__name__, "message": str(e)}
        out.write(json.dumps(reply, default=str) + "\n")
        out.flush()


class _LadybugChild:
    """A child process holding one Ladybug database read-only, with an address-space limit, killed at a deadline.

    In-process bounds were not enough: a 30-million-element ``collect()`` finished in the engine in
    4.5 s, then its conversion to Python held the GIL for 29 s and took 6 GB, so neither the query
    timeout, ``interrupt()`` nor a waiting thread could end it. A killed child ends everything.
    """

    def __init__(self, path: str) -> None:
        files = [f for g in Path(path).parent.glob(Path(path).name + "*")
                 for f in ([g] if g.is_file() else g.rglob("*"))]
        size = sum(f.stat().st_size for f in files if f.is_file())
        self.max_db = max(1 << 30, 1 << (2 * size).bit_length())
        self.memory = self.max_db + MEMORY_HEADROOM_BYTES
        root = str(Path(__file__).resolve().parents[3])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from nl2q.targets.cypher.execute import _ladybug_serve; _ladybug_serve()",
             path, str(self.max_db), str(self.memory)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.buffer = b""
        self.ready = False

    def wait_ready(self) -> None:
        if not self.ready:
            try:
                reply = self._reply(time.monotonic() + START_TIMEOUT_S)
            except (RuntimeError, TimeoutError) as e:
                raise RuntimeError(f"the Ladybug dry-run process did not start ({type(e).__name__}: {e})") from None
            if "error" in reply:
                self.kill()
                raise RuntimeError(f"the Ladybug dry-run process could not open the database: {reply['message']}")
            self.ready = True

    def ask(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            self.kill()
            raise RuntimeError("the Ladybug dry-run process has died") from None
        return self._reply(deadline + KILL_GRACE_S)

    def _reply(self, until: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = until - time.monotonic()
            if left <= 0:
                self.kill()
                raise TimeoutError
            if not select.select([fd], [], [], left)[0]:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                code = self.kill()
                raise RuntimeError(f"the Ladybug dry-run process died (exit code {code}); the query may need more "
                                   f"than {self.memory >> 20} MB")
            self.buffer += chunk
            if len(self.buffer) > MAX_REPLY_BYTES:
                self.kill()
                raise RuntimeError(f"the result is larger than {MAX_REPLY_BYTES >> 20} MB")
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            return self.proc.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            return None
        finally:
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()  # type: ignore[union-attr]
                except OSError:
                    pass

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
                self.proc.wait(GRACE_S)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()


_CHILD_ERRORS: dict[str, type[Exception]] = {"ValueError": ValueError, "TimeoutError": TimeoutError}
# Children stay up between calls (a start costs ~0.4 s) but each holds ~90 MB: at most this many run at
# once, across executors (an evaluation opens one per graph); the least recently used idle one stops.
MAX_LIVE_CHILDREN = 4
_LIVE: OrderedDict[int, weakref.ref[LadybugExecutor]] = OrderedDict()
_LIVE_LOCK = threading.Lock()


class LadybugExecutor(_GraphExecutor):
    """A Ladybug database opened read-only, queried from a child process.

    Read-only is not a sandbox: Ladybug still runs ``LOAD FROM '<file>'`` and ``COPY (...) TO
    '<file>'``. The checker refuses both (its grammar has neither); here the statement gate
    refuses a LOAD clause anywhere and any statement that is not a query (COPY, INSTALL, ATTACH)
    before EXPLAIN, which already opens a LOAD FROM file, and the plan barrier refuses COPY_TO,
    file-reading table functions and extensions. Each call is bounded: the engine's buffer pool
    (256 MB) and an address-space limit on the child bound memory; the query timeout, then
    killing the child at the deadline, bound time.
    """

    engine = "ladybug"

    def __init__(self, source: str | Path | Any) -> None:
        import ladybug

        if isinstance(source, ladybug.Database):
            if not source.read_only:
                raise ValueError("LadybugExecutor needs a database opened with read_only=True")
            self.db, self._owned = source, False
            self.path = str(source.database_path)
        else:
            path = Path(source)
            if not path.is_file():
                raise SchemaError(f"Ladybug database not found: {path}", "pass the database file; nl2q never creates one")
            try:
                self.db, self._owned = ladybug.Database(str(path), read_only=True), True
            except Exception as e:
                raise SchemaError(f"cannot open {path} as a Ladybug database: {e}",
                                  "is it a Ladybug database written by a compatible version?") from e
            self.path = str(path)
        self._lock = threading.Lock()
        self._child: _LadybugChild | None = None

    def _start(self) -> _LadybugChild:
        """The running child (started if need be); the caller holds ``self._lock``."""
        if self._child is None or not self._child.alive():
            self._child = _LadybugChild(self.path)
        self._child.wait_ready()
        return self._child

    def _ready(self) -> None:
        with self._lock:
            self._start()
        with _LIVE_LOCK:
            for key in [key for key, ref in _LIVE.items() if ref() is None or key == id(self)]:
                del _LIVE[key]
            _LIVE[id(self)] = weakref.ref(self)
            idle = list(_LIVE.values())[:max(0, len(_LIVE) - MAX_LIVE_CHILDREN)]
        for ref in idle:
            victim = ref()
            if victim is not None:
                victim._retire()

    def _retire(self) -> None:
        """Stop an idle child to keep at most MAX_LIVE_CHILDREN running; the next call starts it again."""
        if self._lock.acquire(blocking=False):
            try:
                if self._child is not None:
                    self._child.close()
                    self._child = None
            finally:
                self._lock.release()
            with _LIVE_LOCK:
                _LIVE.pop(id(self), None)

    def _ask(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        with self._lock:
            child = self._start()
            request["timeout_s"] = _left(deadline)
            try:
                reply = child.ask(request, deadline)
            except (TimeoutError, RuntimeError):
                self._child = None
                raise
        if "error" in reply:
            kind = _CHILD_ERRORS.get(reply["error"], RuntimeError)
            message = reply["message"]
            if reply["error"] == "MemoryError" or "Unable to allocate memory" in message:
                message = f"the query needs more memory than a dry run allows: {message}"
            raise kind(message)
        return reply

    def _explain(self, query: str, deadline: float) -> tuple[str, list[tuple[str, str]]]:
        plan = ladybug_plan(self._ask({"op": "explain", "query": "EXPLAIN " + query}, deadline)["plan"])
        return plan, ladybug_operators(plan)

    def _fetch(self, query: str, policy: Policy, deadline: float) -> tuple[list[str], list[tuple[Any, ...]]]:
        reply = self._ask({"op": "run", "query": query, "max_rows": policy.max_rows}, deadline)
        return reply["columns"], [tuple(r) for r in reply["rows"]]

    def close(self) -> None:
        with self._lock:
            if self._child is not None:
                self._child.close()
                self._child = None
        with _LIVE_LOCK:
            _LIVE.pop(id(self), None)
        if self._owned:
            self.db.close()


_FINAL_SEMICOLON = re.compile(r";([ \t\r\n]*)\Z")


class BoltExecutor(_GraphExecutor):
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

        timeout_s = _left(deadline)

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
