"""Prometheus rule files: what their schema cannot say, and promtool as their dry run."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from ...policy import Policy
from ...types import Diagnostic, DryRun

if TYPE_CHECKING:
    from .document import Document
    from .metrics import MetricSet

Path = tuple[str | int, ...]
# what firing is tried on: at most this many alerting rules of a file get synthetic series designed for them
MAX_FIRING_RULES = 3


def rules_of(data: Any) -> list[tuple[Path, dict[str, Any]]]:
    """(path, rule) for every rule of every group."""
    return [(("groups", g, "rules", r), rule) for g, group in enumerate(data.get("groups") or [])
            for r, rule in enumerate(group.get("rules") or []) if isinstance(rule, dict)]


def check_rule_file(doc: "Document", metrics: "MetricSet | None") -> list[Diagnostic]:
    """PromQL in each ``expr`` (names against the bound metrics), durations, templates, unique names."""
    from .promql import check_duration, check_expr, check_template, selectors

    out: list[Diagnostic] = []
    names = Counter(g.get("name") for g in doc.data.get("groups") or [])
    for g, group in enumerate(doc.data.get("groups") or []):
        if names[group.get("name")] > 1:
            out.append(_at(doc, ("groups", g, "name"), Diagnostic(
                "config.duplicate_group", f"group name {group.get('name')!r} is used by more than one group",
                hint="group names must be unique within a file (promtool refuses the file)")))
    seen: dict[tuple[str, str], Path] = {}
    for path, rule in rules_of(doc.data):
        expr = rule.get("expr")
        labels: set[str] | None = None
        if isinstance(expr, str):
            found = check_expr(expr, metrics)
            out += [_shift(doc, path + ("expr",), expr, d) for d in found]
            if not any(d.is_error for d in found):
                labels = {m[0] for s in selectors(expr) for m in s.matchers} | (metrics.label_names if metrics else set())
        for key in ("for", "keep_firing_for"):
            value = rule.get(key)
            problem = check_duration(value) if isinstance(value, str) else None
            if problem:
                out.append(_at(doc, path + (key,), Diagnostic("config.duration", f"{key}: {problem}",
                                                              hint="write a Prometheus duration such as 5m or 1h30m")))
        for block in ("labels", "annotations"):
            for name, text in (rule.get(block) or {}).items():
                if isinstance(text, str) and "{{" in text:
                    out += [_shift(doc, path + (block, name), text, d) for d in check_template(text, labels)]
        if "alert" in rule:
            key = (str(rule["alert"]), json.dumps(rule.get("labels") or {}, sort_keys=True))
            if key in seen:
                out.append(_at(doc, path + ("alert",), Diagnostic(
                    "config.duplicate_alert", f"alert {rule['alert']!r} is defined twice with the same labels",
                    severity="warning", hint="rename one, or give them different labels (severity)")))
            seen.setdefault(key, path)
    return out


def promtool_dry_run(doc: "Document", policy: Policy) -> DryRun:
    """``promtool check rules``, then whether each alerting rule fires on synthetic series of its own metrics
    (an alert that can never fire is worth a second look)."""
    from .promtool import check_rules, discriminating_series

    checked = check_rules(doc.text, timeout=max(policy.timeout_s, 10.0))
    if not checked.ok:
        return DryRun(ok=False, engine="promtool check rules", mode="run",
                      error="; ".join(map(str, checked.errors)) or checked.output, output=checked.output,
                      elapsed_ms=checked.elapsed_ms)
    warnings: list[str] = []
    lines = [checked.output.strip()]
    elapsed = checked.elapsed_ms
    for path, rule in [(p, r) for p, r in rules_of(doc.data) if "alert" in r][:MAX_FIRING_RULES]:
        scenario = discriminating_series(rule["expr"], rule.get("for"))
        if scenario is None:
            warnings.append(f"alert {rule['alert']} did not fire on any synthetic series of its metrics: check its "
                            "threshold and comparison")
            continue
        fired = scenario.run(json.dumps({"groups": [{"name": "dry-run", "rules": [rule]}]}))
        elapsed += fired.elapsed_ms
        fires = [bool(alerts) for alerts in fired.by_time.values()]
        times = list(fired.by_time)
        lines.append(f"{rule['alert']}: fires at {_spans(times, fires) or 'no evaluation'} ({sum(fires)} of "
                     f"{len(times)} evaluations) on {len(scenario.series)} synthetic series (promtool test rules)")
        if not times:
            warnings.append(f"alert {rule['alert']} never fired on synthetic series of its metrics")
    return DryRun(ok=True, engine="promtool", mode="run", output="\n".join(x for x in lines if x),
                  elapsed_ms=elapsed, warnings=warnings)


def _spans(times: list[str], fires: list[bool]) -> str:
    """The evaluation times an alert fired at, runs written as ranges: ``1m-17m, 25m``."""
    runs: list[str] = []
    start = None
    for i, on in enumerate([*fires, False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append(times[start] if i - 1 == start else f"{times[start]}-{times[i - 1]}")
            start = None
    return ", ".join(runs)


def _at(doc: "Document", path: Path, d: Diagnostic) -> Diagnostic:
    span = doc.values.get(path) or doc.keys.get(path)
    if span is None:
        return d
    from dataclasses import replace

    return replace(d, start=span.start, end=span.end, line=span.line, col=span.col)


def _shift(doc: "Document", path: Path, value: str, d: Diagnostic) -> Diagnostic:
    """``d``, whose offsets are inside the string ``value``, moved to where that string is written in the document."""
    from dataclasses import replace

    from ...types import position

    span = doc.values.get(path)
    if span is None or d.start is None:
        return _at(doc, path, d) if d.start is None else replace(d, start=None, end=None, line=None, col=None)
    raw = doc.text[span.start:span.end]
    opening = 1 if raw[:1] in "\"'" else 0

    def moved(i: int) -> int:
        written = json.dumps(value[:i], ensure_ascii=False)[1:-1] if raw.startswith('"') else value[:i]
        return span.start + opening + len(written)

    start = moved(d.start)
    end = moved(d.end if d.end is not None else d.start + 1)
    line, col = position(doc.text, start)
    return replace(d, start=start, end=end, line=line, col=col)
