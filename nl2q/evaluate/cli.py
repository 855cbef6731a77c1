"""``nl2q eval``: the evaluation harness from the command line."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ..errors import Nl2qError
from ..models.config import MODEL_HELP


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``nl2q eval`` on the ``nl2q`` sub-command parser."""
    from .constants import DEFAULT_CONFIGS
    from .suites import SUITES

    p = subparsers.add_parser(
        "eval", help="evaluate configurations side by side on a benchmark",
        description="Run configurations (raw, constrained, repair, ...) on the same benchmark items with the same "
                    "model; write results.jsonl, summary.json, report.md and PNG charts. Re-running with the same "
                    "--out resumes.")
    p.add_argument("--suite", required=True,
                   help=f"{' | '.join(SUITES)}; NAME:db1,db2 keeps only those databases (e.g. text2cypher:movies,northwind)")
    p.add_argument("--limit", type=int, default=None, help="items to sample (default: all)")
    p.add_argument("--model", default=os.environ.get("NL2Q_MODEL"), help=MODEL_HELP)
    p.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help="comma-separated (default: raw,constrained,repair); also constrained+scope, "
                   "constrained+scope+backtrack, raw+repair")
    p.add_argument("--out", default=None, help="output directory (default: eval-runs/<suite>-seed<S>)")
    p.add_argument("--workers", type=int, default=1, help="worker processes, each with its own model copy (default 1)")
    p.add_argument("--concurrency", type=int, default=1, metavar="N",
                   help="items at once in one process, sharing the model: N requests in flight to a server (default 1)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--benchmarks", default=None,
                   help="benchmark directory (default: $NL2Q_BENCHMARKS, else ../shared/benchmarks)")
    p.add_argument("--few-shot", type=int, default=0, metavar="K",
                   help="K examples per item from the items outside the sample, other databases (default 0)")
    p.add_argument("--few-shot-select", choices=("random", "similar"), default="random",
                   help="random examples, or the K most similar questions (BM25, as the search box retrieves "
                        "confirmed answers) (default random)")
    p.add_argument("--max-repairs", type=int, default=3)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from .harness import evaluate
    from .report import format_table

    if args.limit is not None and args.limit < 0:
        raise Nl2qError(f"--limit must be >= 0, got {args.limit}")
    out = Path(args.out) if args.out else Path("eval-runs") / f"{args.suite.replace(':', '_').replace(',', '+')}-seed{args.seed}"
    summary = evaluate(args.suite, limit=args.limit, model=args.model, configs=args.configs, out=out,
                       workers=args.workers, concurrency=args.concurrency, seed=args.seed, benchmarks=args.benchmarks,
                       max_repairs=args.max_repairs, max_new_tokens=args.max_new_tokens, few_shot=args.few_shot,
                       few_shot_select=args.few_shot_select,
                       progress=not args.no_progress)
    ex = summary["execution"]
    print(f"{summary['suite_arg']}: {summary['n_items']} items, model {summary['model']}, seed {summary['seed']}, "
          f"execution: {ex['mode']}")
    print(format_table(summary))
    print(f"wrote {out / 'results.jsonl'}, {out / 'summary.json'}, {out / 'report.md'}"
          + (f", {len(summary.get('charts') or [])} chart(s)" if summary.get("charts") else ""))
    return 0
