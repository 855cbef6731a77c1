"""What the perf scripts share: a timed call and the medians and tails they report (machines are noisy)."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable


class Figures:
    """The figures of one perf run: each printed as it is measured, then all as one JSON line (and to a file)."""

    def __init__(self, width: int = 48) -> None:
        self.values: dict[str, Any] = {}
        self.width = width

    def report(self, name: str, value: Any, unit: str, note: str = "") -> None:
        self.values[name] = value
        print(f"{name:{self.width}} {value:>10} {unit:3} {note}")

    def finish(self, path: str | None = None) -> None:
        import json
        from pathlib import Path

        print(json.dumps(self.values))
        if path:
            Path(path).write_text(json.dumps(self.values, indent=2) + "\n")


def median(xs: list[float]) -> float:
    return round(statistics.median(xs), 3)


def p95(xs: list[float]) -> float:
    return round(statistics.quantiles(xs, n=20, method="inclusive")[18], 3)


def ms(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def constraint_figures(report: Callable[..., None], name: Callable[[str], str], constraint: Any, warmup: Any,
                       respecialise: Callable[[], Any], repeats: int) -> None:
    """llguidance's validation (cold, repeated) and the default model's compile (cold, cached, and after a repeated
    specialisation) of one decode ``constraint``; ``warmup`` is a small one that pays the tokenizer's one-time
    set-up first. ``name("validate")`` -> the figure's name stem."""
    from nl2q.grammar import validate

    report(f"{name('validate')}_cold_ms", round(ms(lambda: validate(constraint)), 3), "ms", "llguidance, no tokenizer")
    report(f"{name('validate')}_repeat_ms_median", median([ms(lambda: validate(constraint)) for _ in range(repeats)]),
           "ms", "no cache")
    try:
        from nl2q.models import load_model

        model = load_model()
    except Exception as e:  # the default model is not installed
        print(f"(tokenizer compile skipped: {e})")
        return
    model.constrain(warmup)
    report(f"{name('compile')}_cold_ms", round(ms(lambda: model.constrain(constraint)), 3), "ms",
           f"{model.name}: first compile of this grammar")
    report(f"{name('compile')}_cached_ms_median", median([ms(lambda: model.constrain(constraint))
                                                           for _ in range(repeats)]), "ms",
           "the model's compiled-constraint cache")
    report(f"{name('specialise_and_cached_compile')}_ms_median",
           median([ms(lambda: model.constrain(respecialise())) for _ in range(repeats)]), "ms",
           "what a repeated bind's grammar costs")
