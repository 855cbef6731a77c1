"""Where the shared, read-only benchmark data lives: the one resolver every suite and script uses.

The data is never copied into the repository. The root is, in order: the directory passed in
(``--benchmarks``), ``$NL2Q_BENCHMARKS``, or ``../shared/benchmarks`` beside the source checkout
(an installed wheel has no checkout around it, so there it takes the variable or an argument).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import Nl2qError

ENV_VAR = "NL2Q_BENCHMARKS"
DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"
_HINT = f"pass --benchmarks DIR or set {ENV_VAR} to the directory holding spider/, text2cypher/, ..."


class BenchmarksMissing(Nl2qError):
    """The benchmark directory (or a part of it) is not where we looked."""


def benchmarks_root(benchmarks: str | Path | None = None) -> Path:
    """The benchmark root: ``benchmarks``, else ``$NL2Q_BENCHMARKS``, else ``DEFAULT``; raise when it is absent."""
    configured = os.environ.get(ENV_VAR)
    if benchmarks is not None:
        root, how = Path(benchmarks).expanduser(), "--benchmarks"
    elif configured:
        root, how = Path(configured).expanduser(), f"${ENV_VAR}"
    else:
        root, how = DEFAULT, f"the default; ${ENV_VAR} is unset"
    if not root.is_dir():
        raise BenchmarksMissing(f"benchmark directory not found: {root} ({how})", _HINT)
    return root.resolve()


def benchmarks_dir(sub: str | None = None, root: str | Path | None = None) -> Path:
    """The benchmark root (see ``benchmarks_root``), or its subdirectory ``sub``, which must exist."""
    base = benchmarks_root(root)
    if sub is None:
        return base
    path = base / sub
    if not path.exists():
        raise BenchmarksMissing(f"{path} not found under the benchmark directory {base}", _HINT)
    return path


def available(sub: str | None = None, root: str | Path | None = None) -> bool:
    """Whether ``benchmarks_dir(sub, root)`` would succeed (for skipping tests)."""
    try:
        benchmarks_dir(sub, root)
    except BenchmarksMissing:
        return False
    return True
