"""Start ``nl2q serve`` as a real process on 127.0.0.1 for the browser, load and crash tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("NL2Q_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = os.environ.get("NL2Q_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@dataclass
class Served:
    url: str
    process: subprocess.Popen

    def health(self) -> dict:
        with urllib.request.urlopen(self.url + "api/health", timeout=5) as r:
            return json.loads(r.read())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(*args: str, store: Path, timeout: float = 180.0) -> Iterator[Served]:
    """``nl2q serve ARGS --store STORE`` on a free port, until the block ends (terminated, then killed)."""
    port = free_port()
    log = open(store.with_suffix(f".{port}.log"), "w+")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nl2q.cli", "serve", "--port", str(port), "--store", str(store), *args],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    served = Served(f"http://127.0.0.1:{port}/", proc)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"nl2q serve exited with {proc.returncode}:\n{log.read()}")
            try:
                served.health()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nl2q serve did not answer within {timeout} s") from None
                time.sleep(0.3)
        yield served
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def write_graph(path: Path, ddl: list[str], rows: list[str]) -> Path:
    """A small Ladybug database from DDL and CREATE statements."""
    import ladybug

    db = ladybug.Database(str(path))
    con = ladybug.Connection(db)
    try:
        for stmt in ddl + rows:
            con.execute(stmt)
        con.execute("CHECKPOINT")
    finally:
        con.close()
        db.close()
    return path
