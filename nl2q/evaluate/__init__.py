"""The evaluation harness: configurations side by side on real benchmarks.

    from nl2q.evaluate import evaluate
    summary = evaluate("spider-dev", limit=20, configs=("raw", "constrained", "repair"), out=Path("runs/x"))

What it does, per suite (``SUITES``: ``spider-dev`` and ``text2cypher`` built in, more through the
``nl2q.suites`` entry point group; each optionally narrowed to some databases with ``NAME:db1,db2``):

- **Items** are sampled deterministically: every item of the suite, shuffled with ``random.Random(seed)``,
  the first ``limit`` kept. A larger limit with the same seed extends a smaller one, so a run can grow.
  The seed and the sampled item ids are recorded in ``summary.json``.
- **Configurations** (``nl2q.Stages.named``: ``raw``, ``constrained``, ``repair``, ``raw+repair``) run on the
  same items with the same model, one item at a time, every configuration of an item in turn.
  A generation request identical to one already made for the item (``repair``'s first round is
  ``constrained``'s) is replayed instead of decoded again: greedy decoding of the same request is
  deterministic, so the row is the same, and its latency includes the replayed decode time.
- **Rows**: ``results.jsonl`` gets one JSON line per (item, configuration), written whole and flushed
  (and fsynced) as soon as it is known: question, gold, prediction, every round (prompt, raw output,
  diagnostics), how gold and prediction executed, and the metrics. Re-running with the same ``out``
  skips every (item, configuration) already there and never rewrites a finished row; a line cut off
  by a killed run (no trailing newline) is dropped before new rows are appended.
- **Summary**: ``summary.json`` (per configuration and per breakdown group), ``report.md`` and PNG
  charts, recomputed from all rows of the sampled items at the end of every run.

Metrics (per row, then aggregated; see ``METRIC_DEFINITIONS``):

- ``valid``: nl2q's verdict on the returned query (parses, passes the schema and policy checks, and
  its dry run did not fail). For ``raw`` the checks still run after decoding, so this is the share of
  plain-LLM output that would pass them.
- ``exec_match`` (execution accuracy): the returned query and the gold query run on the same engine
  (SQLite for Spider; Bolt or Ladybug for the text2cypher graphs with data) and their result rows are
  equal as multisets, or as lists when the gold query's outermost statement orders. Values are
  compared column by column in select order (column names are ignored; floats rounded to 6 places).
  It counts the returned query whether or not nl2q marked it valid (the usual Spider EX), and is
  None when there is nothing to execute against (no engine, or the gold query itself fails there);
  ``right`` is ``valid and exec_match``: what nl2q would hand over as a valid, correct answer.
- ``exact_set``: the suite's exact-match metric where it has one (Spider: sqlglot-normalised
  component match, ``nl2q.targets.sql.metrics.exact_set_match``), else None.
- Repair: ``rounds``, ``invalid_to_valid`` (first round invalid, final valid) and ``wrong_to_right``
  (first round not ``right``, final ``right``), and the reverse ``right_to_wrong``.
- Latency: the compile's ``total_ms`` (binding, decoding, checks, dry runs; not model loading and not
  the harness's own executions). Tokens: prompt and output tokens over all rounds.

Nothing here reads gold answers into prompts: the compiler only sees the question and the schema.
Few-shot examples (``few_shot=K``, default 0) are other items' questions and gold queries, from the
split disjoint from the sample (``Suite.few_shot``); each row lists the ids it was shown, and the
summary records the split.

The modules: ``suites`` (base class, registry), ``compare`` (row comparison), ``scoring``, ``store``
(the JSONL file), ``replay``, ``runner`` (serial and worker processes), ``progress``, ``summary``,
``report``, ``charts``, ``harness`` (``evaluate``), ``benchmarks`` (where the data is), ``cli``. Suites
live beside their target (``nl2q/targets/<target>/``); nothing here imports a target.
"""

from __future__ import annotations

import importlib
from typing import Any

from .benchmarks import ENV_VAR as ENV_BENCHMARKS, BenchmarksMissing, benchmarks_dir, benchmarks_root
from .compare import EXEC_POLICY, Execution, execution_of, norm_value, results_match
from .constants import (
    DEFAULT_CONFIGS, EXEC_ROW_CAP, EXEC_TIMEOUT_S, HARNESS_VERSION, METRIC_DEFINITIONS, REPORT_FILE, RESULTS_FILE,
    SUMMARY_FILE,
)
from .harness import evaluate
from .replay import ReplayModel
from .report import REPORT_COLUMNS, TEXT_COLUMNS, format_table, markdown_table, render_report, results_table
from .runner import Runner
from .scoring import failed_row, score
from .store import ResultStore
from .suites import GROUP, SUITES, Item, Suite, get_suite
from .summary import aggregate, summarise
from .charts import write_charts

_aggregate = aggregate
resolve_benchmarks = benchmarks_root

# Target metrics that lived in the single-module harness; now in their target, reached only when asked for.
_MOVED = {
    "exact_set_match": "nl2q.targets.sql.metrics", "spider_hardness": "nl2q.targets.sql.metrics",
    "sql_hardness": "nl2q.targets.sql.metrics", "sql_orders": "nl2q.targets.sql.metrics",
    "cypher_orders": "nl2q.targets.cypher.metrics",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'nl2q.evaluate' has no attribute {name!r}")


__all__ = [
    "BenchmarksMissing", "DEFAULT_CONFIGS", "ENV_BENCHMARKS", "EXEC_POLICY", "EXEC_ROW_CAP", "EXEC_TIMEOUT_S",
    "Execution", "GROUP", "HARNESS_VERSION", "Item", "METRIC_DEFINITIONS", "REPORT_COLUMNS", "REPORT_FILE",
    "RESULTS_FILE", "ReplayModel", "ResultStore", "Runner", "SUITES", "SUMMARY_FILE", "Suite", "TEXT_COLUMNS",
    "aggregate", "benchmarks_dir", "benchmarks_root", "evaluate", "execution_of", "failed_row", "format_table",
    "get_suite", "markdown_table", "norm_value", "render_report", "results_match", "results_table", "score",
    "summarise", "write_charts", *_MOVED,
]
