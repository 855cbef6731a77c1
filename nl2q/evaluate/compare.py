"""Engine-neutral comparison of result rows: what execution accuracy counts as equal."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from ..policy import Policy
from ..types import DryRun, jsonable
from .constants import EXEC_ROW_CAP, EXEC_TIMEOUT_S

EXEC_POLICY = Policy(max_rows=EXEC_ROW_CAP, preview_rows=EXEC_ROW_CAP, timeout_s=EXEC_TIMEOUT_S)

# An engine's own value types (graph nodes, paths, ...): return a normalised form, or NotImplemented.
Special = Callable[[Any, Callable[[Any], Any]], Any]


@dataclass
class Execution:
    """Rows a query returned on the evaluation engine (all of them, up to ``EXEC_ROW_CAP``)."""

    ok: bool
    engine: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    capped: bool = False
    error: str | None = None
    elapsed_ms: float = 0.0

    def brief(self) -> dict[str, Any]:
        """What a JSONL row keeps: not every row, a preview and a fingerprint."""
        return {
            "ok": self.ok, "engine": self.engine, "error": self.error, "columns": self.columns,
            "row_count": len(self.rows), "capped": self.capped, "elapsed_ms": round(self.elapsed_ms, 2),
            "preview": [[jsonable(v) for v in r] for r in self.rows[:5]],
            "fingerprint": hashlib.sha256(repr(sorted(map(repr, self.rows))).encode()).hexdigest()[:16] if self.ok else None,
        }


def execution_of(dry: DryRun, engine: str | None = None) -> Execution:
    """nl2q's own dry run (run under ``EXEC_POLICY``, so every row is kept) as an evaluation execution."""
    return Execution(dry.ok, engine or dry.engine, list(dry.columns), [tuple(r) for r in dry.rows], dry.capped,
                     dry.error, dry.elapsed_ms)


def norm_value(v: Any, special: Special | None = None) -> Any:
    """A hashable, engine-neutral form of one result value; ``special`` handles an engine's own types."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        r = round(v, 6)
        return int(r) if r.is_integer() and abs(r) < 2**53 else r
    if isinstance(v, (int, str, bytes)):
        return v
    if isinstance(v, dict):
        return tuple(sorted((str(k), norm_value(x, special)) for k, x in v.items() if not str(k).startswith("_")))
    if isinstance(v, (list, tuple)):
        return tuple(norm_value(x, special) for x in v)
    if special is not None:
        out = special(v, lambda x: norm_value(x, special))
        if out is not NotImplemented:
            return out
    return str(v)


def results_match(gold: Execution, pred: Execution, ordered: bool, special: Special | None = None) -> bool:
    """Equal rows: as lists when ``ordered``, else as multisets. Column names do not matter."""
    if not (gold.ok and pred.ok) or gold.capped != pred.capped:
        return False
    g = [tuple(norm_value(v, special) for v in r) for r in gold.rows]
    p = [tuple(norm_value(v, special) for v in r) for r in pred.rows]
    if g and p and len(g[0]) != len(p[0]):
        return False
    if ordered:
        return g == p
    return Counter(g) == Counter(p)
