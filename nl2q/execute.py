"""Dry runs of queries on real engines: EXPLAIN, then a bounded, read-only run. Targets subclass :class:`Executor`."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any

from .policy import Policy
from .types import DryRun


class Executor(ABC):
    engine: str
    has_data: bool = True

    @abstractmethod
    def explain(self, query: str) -> str: ...

    @abstractmethod
    def _run(self, query: str, policy: Policy) -> tuple[list[str], list[tuple[Any, ...]]]: ...

    def close(self) -> None:
        pass

    def run(self, query: str, policy: Policy = Policy(), *, writes: bool = False) -> DryRun:
        """EXPLAIN (binds every name), then run with a row cap and a timeout.

        A query the checker found to write (allowed by the policy) is only explained.
        """
        t0 = time.perf_counter()
        mode = "explain"
        try:
            plan = self.explain(query)
            if writes:
                return DryRun(True, self.engine, mode, plan=plan, elapsed_ms=elapsed_ms(t0))
            mode = "run"
            columns, rows = self._run(query, policy)
        except TimeoutError:
            return DryRun(False, self.engine, mode, elapsed_ms=elapsed_ms(t0),
                          error=f"timed out after {policy.timeout_s:g} s: the query is too expensive")
        except Exception as e:  # engine errors are findings, not crashes
            return DryRun(False, self.engine, mode, elapsed_ms=elapsed_ms(t0), error=engine_message(e))
        capped = len(rows) > policy.max_rows
        rows = rows[: policy.max_rows]
        return DryRun(True, self.engine, mode, columns=columns, rows=[list(r) for r in rows[: policy.preview_rows]],
                      row_count=None if capped else len(rows), capped=capped, plan=plan, elapsed_ms=elapsed_ms(t0))


def elapsed_ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


def engine_message(e: Exception) -> str:
    return f"{type(e).__name__}: {e}".strip()

