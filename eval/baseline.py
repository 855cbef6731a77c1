"""The committed baseline: the default model, raw / constrained / repair, on fixed samples.

    python eval/baseline.py [--limit 200] [--workers 2] [--seed 0] [--suites spider-dev,text2cypher]

- ``spider-dev``: ``--limit`` items, executed on Spider's SQLite databases.
- ``text2cypher``: ``--limit`` items of the two graphs with data (movies, northwind), executed on an
  ArcadeDB Bolt server started here (tests/graph_server.py) and loaded from the shared data.
- ``intercode-alfa``, ``intercode-bash``: shell, scored by functional equivalence in bubblewrap sandboxes
  on the benchmarks' file systems; ``nl2bash``: shell validity only. The shell baseline was run with
  ``--suites intercode-alfa,intercode-bash,nl2bash --limit 100 --configs raw,constrained,repair``.
- ``splunk-security``: Splunk Security Content, description -> search: validity and Splunk's similarity
  metrics, no execution; run with ``--suites splunk-security --limit 100 --configs raw,constrained,repair``.
- ``prometheus-alerts``: awesome-prometheus-alerts, name and description -> rule file: valid (schema, PromQL,
  promtool check rules) and whether the rule fires on the same synthetic series as the gold (promtool test
  rules); run with ``--suites prometheus-alerts --limit 100 --configs raw,constrained,repair``.
- ``bfcl-*``: the Berkeley Function Calling Leaderboard's single-turn categories, scored with BFCL's AST
  checker (``bfcl-live`` holds the four live categories, ``bfcl-irrelevance`` both irrelevance ones, where
  the right answer is no call); ``gorilla-apibench``: APIBench's three hubs, AST match and hallucination
  rate. Run with ``--suites bfcl-simple,bfcl-multiple,bfcl-parallel,bfcl-parallel-multiple,bfcl-live,
  bfcl-irrelevance,gorilla-apibench --limit 100 --configs raw,constrained,repair``.

Each suite writes ``eval/results/<suite>/``: ``summary.json``, ``report.md`` and the charts are
committed; ``results.jsonl`` (one row per item and configuration, with the benchmark's questions and
gold queries) stays local, since benchmark data is never copied into the repository. Re-running
resumes from those rows. Finally the README's baseline table is rewritten from the summaries.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from nl2q.evaluate import SUMMARY_FILE, evaluate, format_table, markdown_table
from nl2q.evaluate.report import similarity_table, versus_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "eval" / "results"
SUITES = {"spider-dev": "spider-dev", "text2cypher": "text2cypher:movies,northwind",
          "intercode-alfa": "intercode-alfa", "intercode-bash": "intercode-bash", "nl2bash": "nl2bash",
          "splunk-security": "splunk-security", "prometheus-alerts": "prometheus-alerts",
          "bfcl-simple": "bfcl-simple", "bfcl-multiple": "bfcl-multiple", "bfcl-parallel": "bfcl-parallel",
          "bfcl-parallel-multiple": "bfcl-parallel-multiple", "bfcl-live": "bfcl-live",
          "bfcl-irrelevance": "bfcl-irrelevance", "gorilla-apibench": "gorilla-apibench"}
GRAPHS = ("movies", "northwind")
README = ROOT / "README.md"
BEGIN, END = "<!-- baseline:begin -->", "<!-- baseline:end -->"
README_COLUMNS = ("n", "valid", "exec acc", "exec acc (gold has rows)", "valid & right", "exact set", "rounds",
                  "invalid→valid", "wrong→right", "right→wrong", "truncated", "backtracks", "p50 s", "p95 s")


def run_suite(key: str, args: argparse.Namespace) -> dict:
    out = RESULTS / key
    kwargs = dict(limit=args.limit, configs=args.configs, out=out, workers=args.workers, seed=args.seed,
                  max_new_tokens=args.max_new_tokens)
    if key != "text2cypher" or os.environ.get("NL2Q_BOLT_URI"):
        return evaluate(SUITES[key], **kwargs)
    t0 = time.perf_counter()
    with _graph_data().bolt_server(*GRAPHS) as server:
        print(f"ArcadeDB Bolt server up at {server.uri} ({time.perf_counter() - t0:.1f} s)", flush=True)
        return evaluate(SUITES[key], options={"bolt_uri": server.uri_with_auth}, **kwargs)


def _graph_data() -> Any:
    """eval/graph_data.py, beside this script: its ``bolt_server`` needs the checkout's tests/graph_server.py."""
    spec = importlib.util.spec_from_file_location("nl2q_eval_graph_data", Path(__file__).with_name("graph_data.py"))
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules.setdefault(spec.name, mod)  # type: ignore[union-attr]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return sys.modules[spec.name]  # type: ignore[union-attr]


def readme_section() -> str:
    """The baseline tables from the committed summaries, as Markdown."""
    parts = []
    for key in SUITES:
        path = RESULTS / key / SUMMARY_FILE
        if not path.is_file():
            continue
        s = json.loads(path.read_text())
        t = s["timing"]
        parts += [
            f"**{s['suite_arg']}**: {s['n_items']} items (seed {s['seed']}), model `{s['model']}`, "
            f"execution on {s['execution']['mode']}"
            f"{'' if s['complete'] else ' (INCOMPLETE)'}; "
            f"compile time {t.get('compile_s_per_item_all_configs')} s per item for all configurations "
            f"([report](eval/results/{key}/report.md))",
            "",
            markdown_table(s, README_COLUMNS),
            "",
        ]
        if similarity_table(s):
            parts += ["Similarity to the gold (means over the items each applies to):", "",
                      similarity_table(s), ""]
        if versus_table(s):
            parts += ["Each configuration against the previous one, item by item:", "", versus_table(s), ""]
    return "\n".join(parts).rstrip() + "\n"


def update_readme() -> None:
    text = README.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README} has no {BEGIN} ... {END} markers for the baseline table")
    new = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: f"{BEGIN}\n{readme_section()}{END}", text,
                 flags=re.S)
    README.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--configs", default="raw,constrained,constrained+scope,constrained+scope+backtrack,repair")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated: {', '.join(SUITES)}")
    ap.add_argument("--readme-only", action="store_true", help="only rewrite the README table from the summaries")
    args = ap.parse_args(argv)
    if not args.readme_only:
        for key in args.suites.split(","):
            if key not in SUITES:
                raise SystemExit(f"unknown suite {key!r}: choose from {', '.join(SUITES)}")
            t0 = time.perf_counter()
            summary = run_suite(key, args)
            print(f"{summary['suite_arg']}: {summary['n_items']} items in {time.perf_counter() - t0:.0f} s "
                  f"({summary['execution']['mode']})")
            print(format_table(summary), flush=True)
    update_readme()
    print(f"updated {README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
