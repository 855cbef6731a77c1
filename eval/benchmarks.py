"""Where the shared, read-only benchmark data lives.

The data is never copied into this repository. Set ``NL2Q_BENCHMARKS`` to its directory;
without it, ``../shared/benchmarks`` relative to the repository root is used.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "NL2Q_BENCHMARKS"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent / "shared" / "benchmarks"


class BenchmarksMissing(FileNotFoundError):
    """The benchmark directory (or a part of it) is not where we looked."""


def benchmarks_dir(sub: str | None = None) -> Path:
    """The benchmark root (``$NL2Q_BENCHMARKS`` or ``<repo>/../shared/benchmarks``), or a subdirectory of it.

    Raises ``BenchmarksMissing`` naming the environment variable when the directory is absent.
    """
    configured = os.environ.get(ENV_VAR)
    root = Path(configured).expanduser() if configured else DEFAULT
    if not root.is_dir():
        how = f"{ENV_VAR}={configured!r}" if configured else f"{ENV_VAR} is unset, so the default {DEFAULT}"
        raise BenchmarksMissing(
            f"benchmark data not found: {how} is not a directory. "
            f"Set {ENV_VAR} to the shared benchmarks directory (the one holding text2cypher/, spider/, ...)."
        )
    root = root.resolve()
    if sub is None:
        return root
    path = root / sub
    if not path.exists():
        raise BenchmarksMissing(f"{path} not found under the benchmark directory {root} (from {ENV_VAR} or its default)")
    return path


def available(sub: str | None = None) -> bool:
    """Whether ``benchmarks_dir(sub)`` would succeed (for skipping tests)."""
    try:
        benchmarks_dir(sub)
    except BenchmarksMissing:
        return False
    return True
