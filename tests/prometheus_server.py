"""A real Prometheus for tests: ``/usr/bin/prometheus`` on a free local port, scraping itself every second.

The ``prometheus_url`` fixture yields its base URL once its metadata API lists metrics (so the names,
types and help a scrape brings are there), and stops it after the module.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

PROMETHEUS = Path(shutil.which("prometheus") or "/usr/bin/prometheus")
START_TIMEOUT_S = 30.0

CONFIG = """global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _metadata_count(url: str) -> int:
    try:
        with urllib.request.urlopen(url + "/api/v1/metadata", timeout=2) as response:
            return len(json.load(response).get("data") or {})
    except (OSError, ValueError):
        return 0


def _wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if _metadata_count(url):
            return
        time.sleep(0.3)
    raise RuntimeError(f"prometheus at {url} listed no metadata within {START_TIMEOUT_S:.0f}s: "
                       f"{log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not PROMETHEUS.exists():
        pytest.skip(f"no Prometheus binary at {PROMETHEUS} (Debian: apt install prometheus)")
    root = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    (root / "prometheus.yml").write_text(CONFIG.format(port=port))
    log = root / "prometheus.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [str(PROMETHEUS), f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
