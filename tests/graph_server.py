"""A real ArcadeDB server with its Bolt plugin, in a subprocess, for tests.

    python tests/graph_server.py --port P --root DIR [--http-port H] [--database ops[,other...]]

prints ``READY bolt://127.0.0.1:P`` once Bolt accepts connections, and stops on SIGTERM,
SIGINT or when its stdin closes (so it dies with the test run that started it). The JVM
lives in that process only: the tests' own process stays free of JPype.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

PASSWORD = "nl2q-test-password"
USER = "root"
READY = "READY bolt://"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class ArcadeServer:
    """A running server: where it listens and how to log in."""

    port: int
    http_port: int
    root: Path
    database: str
    proc: subprocess.Popen[str]
    user: str = USER
    password: str = PASSWORD
    output: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=200))

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    def driver(self) -> Any:
        import neo4j

        return neo4j.GraphDatabase.driver(self.uri, auth=self.auth)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)


def start_arcadedb(root: str | Path, database: str = "ops", timeout: float = START_TIMEOUT_S,
                   attempts: int = 2) -> ArcadeServer:
    """Start the server in a subprocess and wait (bounded) for READY; retries on a port clash."""
    root = Path(root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    last = ""
    for _ in range(attempts):
        port, http_port = free_port(), free_port()
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--port", str(port), "--http-port", str(http_port),
             "--root", str(root), "--database", database],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root,
        )
        server = ArcadeServer(port, http_port, root, database, proc)
        lines: collections.deque[str] = server.output
        ready = threading.Event()

        def pump(proc: subprocess.Popen[str] = proc, lines: collections.deque[str] = lines,
                 ready: threading.Event = ready) -> None:
            for line in proc.stdout:  # type: ignore[union-attr]
                lines.append(line.rstrip("\n"))
                if READY in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.2):
            if time.monotonic() > deadline:
                break
        if proc.poll() is None and any(READY in x for x in lines):
            return server
        server.stop()
        last = "\n".join(list(lines)[-30:])
    raise RuntimeError(f"ArcadeDB did not become ready within {timeout:g} s; last output:\n{last}")


def arcadedb_available() -> bool:
    return importlib.util.find_spec("arcadedb_embedded") is not None


def arcadedb_fixture(scope: str = "session", database: str = "ops") -> Callable[..., Iterator[ArcadeServer]]:
    """A pytest fixture that yields a running :class:`ArcadeServer` and always stops it.

    Skips (with the reason) only when ``arcadedb_embedded`` is not importable.
    """
    import pytest

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def arcadedb(tmp_path_factory: Any) -> Iterator[ArcadeServer]:
        if not arcadedb_available():
            pytest.skip("arcadedb-embedded is not installed (pip install arcadedb-embedded): "
                        "no Bolt server to test against")
        server = start_arcadedb(tmp_path_factory.mktemp("arcadedb"), database=database)
        try:
            yield server
        finally:
            server.stop()

    return arcadedb


def _serve(port: int, http_port: int, root: Path, database: str, heap: str) -> int:
    from arcadedb_embedded import create_server
    from arcadedb_embedded.jvm import start_jvm

    start_jvm(heap_size=heap)
    server = create_server(str(root), root_password=PASSWORD, config={
        "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
        "bolt_port": port,
        "http_port": http_port,
        "host": "127.0.0.1",
    })
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def watch_stdin() -> None:
        while sys.stdin.readline():
            pass
        stop.set()

    server.start()
    try:
        for name in database.split(","):
            server.create_database(name)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _accepts(port):
            if time.monotonic() > deadline or stop.is_set():
                return 1
            time.sleep(0.1)
        print(f"\n{READY}127.0.0.1:{port}", flush=True)  # the engine's log may have left a line open
        threading.Thread(target=watch_stdin, daemon=True).start()
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True, help="Bolt port")
    ap.add_argument("--http-port", type=int, default=0, help="HTTP port (default: a free one)")
    ap.add_argument("--root", type=Path, required=True, help="server root directory (databases, config, logs)")
    ap.add_argument("--database", default="ops", help="database(s) to create, comma-separated")
    ap.add_argument("--heap", default="1g")
    args = ap.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    os.chdir(args.root)  # ArcadeDB writes ./log relative to the working directory
    code = _serve(args.port, args.http_port or free_port(), args.root.absolute(), args.database, args.heap)
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown: JPype can crash while the JVM shuts down at exit


if __name__ == "__main__":
    main()
