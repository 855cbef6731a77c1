"""summary.json: the rows aggregated per configuration and per breakdown group, and how the runs were made."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from .constants import HARNESS_VERSION, METRIC_DEFINITIONS
from .suites import Item, Suite


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return round(v[lo] + (v[hi] - v[lo]) * (k - lo), 1)


def _rate(rows: list[dict[str, Any]], key: str) -> tuple[float | None, int]:
    vals = [r["metrics"].get(key) for r in rows if r["metrics"].get(key) is not None]
    return (round(sum(map(bool, vals)) / len(vals), 4) if vals else None), len(vals)


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The metrics of a set of rows (one configuration, or one breakdown group of it)."""
    lat = [r["metrics"]["latency_ms"] for r in rows if r["metrics"].get("latency_ms") is not None]
    valid, _ = _rate(rows, "valid")
    ex, n_ex = _rate(rows, "exec_match")
    ex_rows, n_ex_rows = _rate([r for r in rows if (r.get("gold_execution") or {}).get("row_count")], "exec_match")
    right, _ = _rate(rows, "right")
    exact, n_exact = _rate(rows, "exact_set")
    executed, _ = _rate(rows, "executed")
    rounds = [r["metrics"]["rounds"] for r in rows]
    codes = Counter(c for r in rows for c in r["metrics"].get("error_codes", []))
    count = lambda k: sum(1 for r in rows if r["metrics"].get(k))  # noqa: E731
    return {
        "n": len(rows),
        "valid": valid,
        "exec_acc": ex, "n_executable": n_ex,
        "exec_acc_gold_rows": ex_rows, "n_gold_rows": n_ex_rows,
        "right": right,
        "exact_set": exact, "n_exact": n_exact,
        "executed_ok": executed,
        "rounds_mean": round(sum(rounds) / len(rounds), 3) if rounds else None,
        "rounds_hist": dict(sorted(Counter(map(str, rounds)).items())),
        "invalid_to_valid": count("invalid_to_valid"),
        "wrong_to_right": count("wrong_to_right"),
        "right_to_wrong": count("right_to_wrong"),
        "first_round_valid": _rate(rows, "first_valid")[0],
        "first_round_right": _rate(rows, "first_right")[0],
        "latency_ms_p50": _pct(lat, 0.5), "latency_ms_p95": _pct(lat, 0.95),
        "latency_ms_mean": round(sum(lat) / len(lat), 1) if lat else None,
        "prompt_tokens_mean": round(sum(r["metrics"]["prompt_tokens"] for r in rows) / len(rows), 1) if rows else None,
        "output_tokens_mean": round(sum(r["metrics"]["output_tokens"] for r in rows) / len(rows), 1) if rows else None,
        "tokens_total": sum(r["metrics"]["prompt_tokens"] + r["metrics"]["output_tokens"] for r in rows),
        "harness_errors": sum(1 for r in rows if r.get("error")),
        "truncated": sum(1 for r in rows if "decode.truncated" in r["metrics"].get("error_codes", [])),
        "backtracks_mean": _mean(rows, "backtracks"),
        "vetoed_mean": _mean(rows, "vetoed"),
        "loops_cut": sum(r["metrics"].get("loops", 0) for r in rows),
        "closed_early": sum(r["metrics"].get("closed_early", 0) for r in rows),
        "forced_token_share": (round(sum(r["metrics"].get("forced_tokens", 0) for r in rows)
                                     / max(1, sum(r["metrics"]["output_tokens"] for r in rows)), 4) if rows else None),
        "top_error_codes": dict(codes.most_common(8)),
        "similarity": _similarity(rows),
    }


def _similarity(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Each similarity metric's mean over the rows it applies to."""
    values: dict[str, list[float]] = {}
    for r in rows:
        for k, v in (r["metrics"].get("similarity") or {}).items():
            if v is not None:
                values.setdefault(k, []).append(float(v))
    return {k: round(sum(vs) / len(vs), 4) for k, vs in values.items()}


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r["metrics"][key] for r in rows if key in r["metrics"]]
    return round(sum(vals) / len(vals), 3) if vals else None


def versus(by_config: dict[str, list[dict[str, Any]]], configs: list[str]) -> dict[str, dict[str, Any]]:
    """Each configuration against the one listed before it, item by item: what the added stage gained and lost."""
    out: dict[str, dict[str, Any]] = {}
    for prev, cur in zip(configs, configs[1:]):
        before = {r["item_id"]: r["metrics"] for r in by_config[prev]}
        pairs = [(before[r["item_id"]], r["metrics"]) for r in by_config[cur] if r["item_id"] in before]
        n = lambda f: sum(1 for a, b in pairs if f(a, b))  # noqa: E731
        out[cur] = {
            "against": prev, "items": len(pairs),
            "invalid_to_valid": n(lambda a, b: not a["valid"] and b["valid"]),
            "valid_to_invalid": n(lambda a, b: a["valid"] and not b["valid"]),
            "wrong_to_right": n(lambda a, b: a.get("right") is False and b.get("right") is True),
            "right_to_wrong": n(lambda a, b: a.get("right") is True and b.get("right") is False),
        }
    return out


def _breakdown(suite: Suite, items: list[Item], by_config: dict[str, list[dict[str, Any]]],
               configs: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for key in suite.breakdowns:
        first = list(suite.group_order.get(key, ()))
        values = sorted({i.groups.get(key, "") for i in items},
                        key=lambda v: (first.index(v) if v in first else len(first), v))
        out[key] = {}
        for v in values:
            out[key][v] = {}
            for c in configs:
                sub = [r for r in by_config[c] if r["groups"].get(key, "") == v]
                agg = aggregate(sub) if sub else {"n": 0}
                out[key][v][c] = {k: agg.get(k) for k in ("n", "valid", "exec_acc", "right", "exact_set", "n_executable")}
    return out


def summarise(rows: list[dict[str, Any]], *, suite: Suite, suite_arg: str, items: list[Item], configs: list[str],
              seed: int, limit: int | None, model: str, run: dict[str, Any],
              runs: list[dict[str, Any]] | None = None, few_shot: int = 0,
              few_shot_select: str = "random") -> dict[str, Any]:
    """summary.json: per configuration, per breakdown group, and how the run (and earlier ``runs``) were made."""
    from .. import __version__

    runs = runs if runs is not None else [run]
    by_config = {c: [r for r in rows if r["config"] == c] for c in configs}
    ids = [i.id for i in items]
    pairs = len(items) * len(configs)
    latencies = [r["metrics"]["latency_ms"] for r in rows if r["metrics"].get("latency_ms") is not None]
    return {
        "suite": suite.name, "suite_arg": suite_arg, "target": suite.target, "dialect": suite.dialect,
        "model": model, "configs": configs, "seed": seed, "limit": limit,
        "sampling": "all suite items shuffled with random.Random(seed); the first `limit` kept",
        "n_items": len(items), "item_ids": ids,
        "item_ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        "complete": len(rows) == pairs, "rows": len(rows), "pairs": pairs,
        "execution": suite.execution(),
        "few_shot": ({"k": few_shot, "split": "every suite item (all databases) not in the sample; an item's examples "
                                               "from other databases than its own",
                      "select": few_shot_select,
                      "draw": ("random.Random(f'{seed}:{item_id}').sample" if few_shot_select == "random" else
                               "the k most similar questions (nl2q.examples.Examples: SQLite FTS5, BM25, Porter stemmer); "
                               "random ones when fewer share a word"),
                      "ids_per_row": "results.jsonl `few_shot`"}
                     if few_shot else
                     {"k": 0, "split": None, "note": "no few-shot examples; prompts hold the question and the schema only"}),
        "gold_in_prompts": False,
        "results": {c: aggregate(by_config[c]) if by_config[c] else {"n": 0} for c in configs},
        "versus_previous": versus(by_config, configs),
        "breakdown": _breakdown(suite, items, by_config, configs),
        "timing": {
            **run,
            "compile_s_per_pair_mean": round(sum(latencies) / len(latencies) / 1000, 2) if latencies else None,
            "compile_s_per_item_all_configs": round(sum(latencies) / 1000 / max(1, len(items)), 2) if latencies else None,
            "wall_s_per_pair_this_run": round(run["wall_s"] / run["pairs_run"], 2) if run.get("pairs_run") and run.get("wall_s") else None,
            "runs": runs,
            "wall_s_all_runs": round(sum(r.get("wall_s") or 0 for r in runs), 2),
            "pairs_run_all_runs": sum(r.get("pairs_run") or 0 for r in runs),
        },
        "metric_definitions": METRIC_DEFINITIONS,
        "nl2q_version": __version__, "harness_version": HARNESS_VERSION,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
