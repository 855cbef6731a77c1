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
        """A bounded dry run: every failure (timeout, refusal, engine error) is a finding, never a crash."""
        t0 = time.perf_counter()
        step = _Step()
        try:
            return self._steps(query, policy, writes, step, t0)
        except TimeoutError:
            error = f"timed out after {policy.timeout_s:g} s: the query is too expensive"
        except Refused as e:
            error = f"refused: {e}"
        except Exception as e:  # engine errors are findings, not crashes
            error = engine_message(e)
        return DryRun(False, self.engine, step.mode, elapsed_ms=elapsed_ms(t0), error=error)

    def _steps(self, query: str, policy: Policy, writes: bool, step: "_Step", t0: float) -> DryRun:
        """EXPLAIN (binds every name), then run with a row cap. A query that writes (allowed) is only explained."""
        plan = self.explain(query)
        if writes:
            return DryRun(True, self.engine, step.mode, plan=plan, elapsed_ms=elapsed_ms(t0))
        step.mode = "run"
        return self._rows(*self._run(query, policy), policy=policy, plan=plan, t0=t0)

    def _rows(self, columns: list[str], rows: list[Any], *, policy: Policy, plan: str, t0: float) -> DryRun:
        """The outcome of a run: a preview of the rows, the count unless capped."""
        capped = len(rows) > policy.max_rows
        rows = rows[: policy.max_rows]
        return DryRun(True, self.engine, "run", columns=columns, rows=[list(r) for r in rows[: policy.preview_rows]],
                      row_count=None if capped else len(rows), capped=capped, plan=plan, elapsed_ms=elapsed_ms(t0))


class Refused(RuntimeError):
    """A dry run the executor will not do: the statement or its plan could change something."""


class _Step:
    """How far a dry run got, so a failure is reported at the step it happened in."""

    mode = "explain"


def elapsed_ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


def engine_message(e: Exception) -> str:
    return f"{type(e).__name__}: {e}".strip()

