"""One JSONL row per (item, configuration): the compile result, how it executed, and its metrics."""

from __future__ import annotations

import traceback
from datetime import datetime, timezone
from typing import Any

from ..types import CompileResult, Round
from .constants import HARNESS_VERSION
from .suites import Item, Suite


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _round_dict(r: Round) -> dict[str, Any]:
    d = r.to_dict()
    if d.get("dry_run"):
        d["dry_run"] = {k: d["dry_run"][k] for k in ("ok", "engine", "mode", "row_count", "capped", "error", "elapsed_ms")}
    return d


def _steering(rounds: list[Round]) -> dict[str, int]:
    """What the decoder did beyond the grammar, summed over rounds."""
    keys = ("forced_tokens", "forward_passes", "vetoed", "backtracks", "loops")
    out = {k: sum(int(r.decoding.get(k, 0)) for r in rounds) for k in keys}
    out["closed_early"] = sum(1 for r in rounds if r.decoding.get("closed_early"))
    return out


def score(suite: Suite, item: Item, config: str, result: CompileResult) -> dict[str, Any]:
    """The JSONL row of one (item, configuration) from its CompileResult."""
    gold = suite.execute_gold(item)
    gold_ok = gold is not None and gold.ok
    pred_exec = suite.execute_prediction(item, result.query) if (gold_ok and result.query) else None
    ordered = suite.ordered(item)
    exec_match: bool | None = None
    if gold_ok:
        exec_match = bool(result.query) and pred_exec is not None and suite.compare(gold, pred_exec, ordered)
    right = None if exec_match is None else (result.valid and exec_match)

    rounds = result.rounds
    first = rounds[0] if rounds else None
    first_valid = bool(first and first.valid)
    first_right: bool | None = None
    if gold_ok and first is not None:
        if first.query == result.query:
            first_right = first_valid and bool(exec_match)
        elif first_valid:
            fe = suite.execute_prediction(item, first.query)
            first_right = fe is not None and suite.compare(gold, fe, ordered)
        else:
            first_right = False
    metrics = {
        "valid": result.valid,
        "executed": None if pred_exec is None else pred_exec.ok,
        "exec_match": exec_match,
        "right": right,
        "exact_set": suite.exact_match(item, result.query or ""),
        "similarity": suite.similarity(item, result.query or ""),
        "rounds": len(rounds),
        "first_valid": first_valid,
        "first_right": first_right,
        "invalid_to_valid": (not first_valid) and result.valid,
        "wrong_to_right": None if right is None else (not first_right) and right,
        "right_to_wrong": None if right is None else bool(first_right) and not right,
        "ordered": ordered,
        "latency_ms": result.timings.get("total_ms"),
        "prompt_tokens": result.tokens.get("prompt", 0),
        "output_tokens": result.tokens.get("output", 0),
        "error_codes": sorted({d.code for d in result.diagnostics if d.is_error}),
        **_steering(rounds),
    }
    return {
        "suite": suite.name, "item_id": item.id, "config": config, "model": result.model,
        "database": item.database, "groups": item.groups, "question": item.question, "gold": item.gold,
        "prediction": result.query, "valid": result.valid,
        "diagnostics": [d.to_dict() for d in result.diagnostics],
        "rounds": [_round_dict(r) for r in rounds],
        "gold_execution": gold.brief() if gold is not None else None,
        "prediction_execution": pred_exec.brief() if pred_exec is not None else None,
        "metrics": metrics, "timings": result.timings, "tokens": result.tokens,
        "error": None, "harness_version": HARNESS_VERSION, "finished_at": _now(),
    }


def failed_row(suite: Suite, item: Item, config: str, model: str, error: BaseException) -> dict[str, Any]:
    """A compile that raised: recorded (so a resume does not retry it forever), scored as wrong and invalid."""
    gold = suite.execute_gold(item)
    gold_ok = gold is not None and gold.ok
    wrong = False if gold_ok else None
    return {
        "suite": suite.name, "item_id": item.id, "config": config, "model": model, "database": item.database,
        "groups": item.groups, "question": item.question, "gold": item.gold, "prediction": "", "valid": False,
        "diagnostics": [], "rounds": [], "gold_execution": gold.brief() if gold else None, "prediction_execution": None,
        "metrics": {"valid": False, "executed": None, "exec_match": wrong, "right": wrong,
                    "exact_set": suite.exact_match(item, ""), "similarity": suite.similarity(item, ""), "rounds": 0, "first_valid": False, "first_right": wrong,
                    "invalid_to_valid": False, "wrong_to_right": wrong, "right_to_wrong": wrong,
                    "ordered": suite.ordered(item), "latency_ms": None, "prompt_tokens": 0, "output_tokens": 0,
                    "error_codes": ["harness.exception"]},
        "timings": {}, "tokens": {}, "error": f"{type(error).__name__}: {error}"[:1000],
        "traceback": "".join(traceback.format_exception(error))[-3000:],
        "harness_version": HARNESS_VERSION, "finished_at": _now(),
    }
