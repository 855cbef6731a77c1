"""File names, limits and metric definitions every part of the harness shares."""

from __future__ import annotations

HARNESS_VERSION = 1
DEFAULT_CONFIGS = ("raw", "constrained", "repair")
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
EXEC_ROW_CAP = 100_000  # rows fetched per execution for comparison; a capped result only matches a capped one
EXEC_TIMEOUT_S = 20.0

METRIC_DEFINITIONS = {
    "valid": "share of items whose returned query nl2q marks valid (parses, passes schema and policy checks, dry run ok)",
    "exec_acc": "share of items (whose gold query executes) where the returned query's result rows equal the gold's "
                "on the same engine: multisets, or lists when the gold query orders; invalid-marked queries count too",
    "exec_acc_gold_rows": "exec_acc over the items whose gold query returns at least one row (an empty gold result is "
                          "matched by any query that returns nothing)",
    "right": "share of items (whose gold query executes) that are valid and execution-correct",
    "exact_set": "SQL only: share of items whose query matches the gold by sqlglot-normalised components "
                 "(select, from tables, where/having conjuncts, group by, order by, limit presence, set operations; "
                 "literal values and join conditions ignored, aliases resolved, case-insensitive)",
    "rounds_mean": "model calls per item (1 without repair)",
    "invalid_to_valid": "items whose first round was invalid and whose final answer is valid",
    "wrong_to_right": "items whose first round was not right (valid and execution-correct) and whose final answer is",
    "right_to_wrong": "items whose first round was right and whose final answer is not",
    "versus_previous": "each configuration against the one listed before it, item by item: items that became valid "
                       "or invalid, right or wrong (right = valid and execution-correct)",
    "truncated": "items whose output was cut off by the token limit (decode.truncated)",
    "backtracks_mean": "times per item the decoder cut its output back to an error's span, a loop or a dead end",
    "vetoed_mean": "candidate tokens per item masked because they wrote a name out of scope",
    "forced_token_share": "share of output tokens appended by the grammar's fast-forward rather than chosen",
    "latency_ms": "compile wall time per item (bind, decode, checks, dry runs), model load excluded",
    "tokens": "prompt and output tokens per item, summed over rounds",
}
