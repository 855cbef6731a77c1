"""The fixture ops API (``fixtures/ops_api.py serve``) on a free local port, for tests of the ``api`` target.

``start_ops_api`` runs it in a subprocess and returns once ``/openapi.json`` answers; the ``ops_api_url``
fixture yields its base URL and stops it after the module. Each start has fresh in-memory state.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from prometheus_server import free_port

ROOT = Path(__file__).resolve().parent.parent
OPS_API = ROOT / "fixtures" / "ops_api.py"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/openapi.json", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_ops_api(tmp_dir: Path) -> tuple[subprocess.Popen, str]:
    """Start the API with this interpreter; its log goes to ``tmp_dir/ops_api.log``. The caller stops the process."""
    port = free_port()
    log = Path(tmp_dir) / "ops_api.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, str(OPS_API), "serve", "--port", str(port), "--host", "127.0.0.1"],
                                stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ops API exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if _answers(url):
            return proc, url
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"ops API at {url} did not serve /openapi.json within {START_TIMEOUT_S:.0f}s: "
                       f"{log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def ops_api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_ops_api(tmp_path_factory.mktemp("ops_api"))
    try:
        yield url
    finally:
        stop(proc)
