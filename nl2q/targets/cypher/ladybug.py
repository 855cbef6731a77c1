"""Ladybug (embedded): dry runs in a child process with bounded memory, killed past the deadline.

A read-only Ladybug still reads and writes files (``LOAD FROM``, ``COPY ... TO``): the checker and
the barriers in :mod:`.barrier` are what stop them.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import threading
import time
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ...errors import SchemaError
from ...policy import Policy
from .barrier import ladybug_operators
from .execute import GRACE_S, GraphExecutor, plain, time_left


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
            [sys.executable, "-c", "from nl2q.targets.cypher.ladybug import _ladybug_serve; _ladybug_serve()",
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


class LadybugExecutor(GraphExecutor):
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
            request["timeout_s"] = time_left(deadline)
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
