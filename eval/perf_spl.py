"""SPL target speed figures, measured side by side in one run (medians).

    python eval/perf_spl.py [--repeats 5] [--json OUT] [--store fixtures/loghub.duckdb] [--benchmarks DIR]

Over the LogHub event store (fixtures/loghub.duckdb, `make demo`): the schema load; binding its decode
grammar (specialisation, llguidance validation, compile for the default model's tokenizer, cold and
cached); and the offline dry run of a fixed list of searches, split into parse, SPL->SQL compile, the
per-command EXPLAIN that attributes an engine error to its command, and the final query. Over the
non-deprecated Splunk Security Content detections (benchmarks/splunk): building the schema they assume
(``corpus_schema``), macro expansion, parse, and parse + check against that schema, time range waived
(each search's median over the repeats; then the median and p95 over the searches). The figures are
time, not acceptance. Parts whose data is missing are skipped with a message. Prints each figure, then
one JSON line; ``--json OUT`` also writes the figures to OUT.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import constraint_figures, median, ms, p95  # noqa: E402
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

STORE = ROOT / "fixtures" / "loghub.duckdb"
SEARCHES = {
    "stats_count_by": "index=hdfs earliest=0 | stats count by Level",
    "top": "index=openssh earliest=0 | top 5 EventId",
    "timechart_1h": "index=openssh earliest=-7d | timechart span=1h count",
    "eval_where": "index=linux earliest=0 | eval len=len(Content) | where len > 80 | stats count",
    "rex_stats": r'index=openssh earliest=0 "Failed password" | rex "from (?<ip>\d+\.\d+\.\d+\.\d+)" '
                 r'| stats count by ip',
    "dedup": "index=linux earliest=0 | dedup Component | table Component",
    "sort_head": "index=* earliest=0 | stats count by index | sort -count | head 5",
    "table": "index=zookeeper earliest=0 Level=WARN | table _time Node Content | head 20",
    "rename": "index=hdfs earliest=0 | stats count by Component | rename Component as component, count as events",
    "bin": "index=bgl earliest=0 | bin _time span=1d | stats count by _time",
    "fillnull": "index=* earliest=0 | fillnull value=unknown Level | stats count by Level",
    "search_or_not": "(index=hadoop OR index=spark) earliest=0 (Level=ERROR OR Level=WARN) NOT Component=*Shuffle* "
                     "| stats count by index, Level",
}


def swallow(fn: Callable[[], Any], *errors: type[BaseException]) -> Callable[[], Any]:
    """``fn`` with ``errors`` ignored, so a search that does not parse is timed to its error."""
    def call() -> Any:
        try:
            return fn()
        except errors:
            return None
    return call


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the figures to OUT")
    ap.add_argument("--store", type=Path, default=STORE, help="the event store (default: fixtures/loghub.duckdb)")
    ap.add_argument("--benchmarks", default=None,
                    help="benchmark root (default: $NL2Q_BENCHMARKS or ../shared/benchmarks)")
    args = ap.parse_args(argv)

    from nl2q import Constraint, Policy
    from nl2q.targets import get_target

    figures: dict[str, float] = {}

    def report(key: str, value: float, unit: str, note: str = "") -> None:
        figures[key] = value
        print(f"{key:52s} {value:>10} {unit}" + (f"  ({note})" if note else ""))

    spl = get_target("spl")
    profile = spl.profile(None)
    policy = Policy(require_time_range=False)

    if not args.store.is_file():
        print(f"(store parts skipped: {args.store} not found; `make demo` builds it)")
    else:
        from nl2q.targets.spl.schema import load_schema

        t0 = time.perf_counter()
        schema = load_schema(args.store)
        report("spl_schema_load_first_ms", round((time.perf_counter() - t0) * 1000, 3), "ms",
               "first in process, with the duckdb import")

        from nl2q.targets.spl.grammar import specialise_spl

        t0 = time.perf_counter()
        grammar = specialise_spl(schema, profile)
        report("spl_grammar_specialise_cold_ms", round((time.perf_counter() - t0) * 1000, 3), "ms",
               f"first in process; {len(grammar):,} characters")
        loads: list[float] = []
        again: list[float] = []
        binds: list[float] = []
        for _ in range(args.repeats):
            loads.append(ms(lambda: load_schema(args.store)))
            again.append(ms(lambda: specialise_spl(schema, profile)))
            binds.append(ms(lambda: spl.bind(args.store)))
        report("spl_schema_load_ms_median", median(loads), "ms",
               f"{len(schema.indexes)} indexes, {len(schema.fields)} fields")
        report("spl_grammar_specialise_repeat_ms_median", median(again), "ms", "no cache: every bind specialises again")
        report("spl_bind_ms_median", median(binds), "ms", "get_target('spl').bind(store): schema load + specialise")
        constraint = Constraint("lark", grammar)
        tiny = load_schema({"indexes": ["main"], "fields": {"user": {}}})
        constraint_figures(report, lambda kind: f"spl_grammar_{kind}", constraint,
                           Constraint("lark", specialise_spl(tiny, profile)),
                           lambda: Constraint("lark", specialise_spl(schema, profile)), args.repeats)

        from nl2q.targets.spl.compile import Compiler
        from nl2q.targets.spl.execute import SplExecutor
        from nl2q.targets.spl.parse import parse

        bound: Any = spl.bind(args.store)
        executor = SplExecutor(args.store, schema)
        for key, text in SEARCHES.items():  # warm-up, untimed: the connection and each index's "now"
            dry = bound.dry_run(text, policy, False)
            assert dry is not None and dry.mode == "run" and dry.ok, (key, dry)
        times: dict[str, list[float]] = {k: [] for k in ("parse", "compile", "explain", "final", "dry_run")}
        per_search: dict[str, list[float]] = {k: [] for k in SEARCHES}
        steps: list[int] = []
        for _ in range(args.repeats):
            for key, text in SEARCHES.items():
                t0 = time.perf_counter()
                search = parse(text)
                t1 = time.perf_counter()
                compiler = Compiler(schema, executor.now(search))
                compiler.compile(search)
                t2 = time.perf_counter()
                for i in range(1, len(compiler.steps) + 1):
                    executor._con.execute("EXPLAIN " + compiler.prefix_sql(i))
                t3 = time.perf_counter()
                executor._con.execute(compiler.final_sql(policy.max_rows + 1)).fetchall()
                t4 = time.perf_counter()
                dry_ms = ms(lambda: bound.dry_run(text, policy, False))
                for name, value in zip(times, ((t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000,
                                               (t4 - t3) * 1000, dry_ms)):
                    times[name].append(value)
                per_search[key].append(dry_ms)
                steps.append(len(compiler.steps))
        executor.close()
        bound.close()
        report("spl_parse_fixed_ms_median", median(times["parse"]), "ms", f"{len(SEARCHES)} searches over LogHub")
        report("spl_compile_to_sql_ms_median", median(times["compile"]), "ms", "Compiler.compile, parse excluded")
        report("spl_explain_prefixes_ms_median", median(times["explain"]), "ms",
               f"EXPLAIN of each command's prefix, paid only when a search fails; median {statistics.median(steps):g} steps")
        report("spl_final_query_ms_median", median(times["final"]), "ms", "DuckDB, rows fetched")
        report("spl_dry_run_ms_median", median(times["dry_run"]), "ms",
               "bound.dry_run: parse + compile + run (prefixes bound only on failure)")
        share = [e / d for e, d in zip(times["explain"], times["dry_run"])]
        report("spl_attribution_over_dry_run_median", round(statistics.median(share), 3), "ratio",
               "naming the failing command, over a dry run that runs")
        slowest = max(per_search, key=lambda k: statistics.median(per_search[k]))
        report("spl_dry_run_slowest_search_ms_median", median(per_search[slowest]), "ms", slowest)

    from nl2q.evaluate.benchmarks import BenchmarksMissing, benchmarks_dir

    try:
        splunk = benchmarks_dir("splunk", args.benchmarks)
    except BenchmarksMissing as e:
        print(f"(detection corpus skipped: {e.message})")
    else:
        from nl2q.check import hidden_characters, input_bounds
        from nl2q.targets.spl.check import check_spl
        from nl2q.targets.spl.macros import MacroError
        from nl2q.targets.spl.parse import SplSyntaxError, parse
        from nl2q.targets.spl.security_content import corpus_schema, load_detections, load_macros

        t0 = time.perf_counter()
        detections = load_detections(splunk)
        macros = load_macros(splunk)
        report("spl_corpus_load_s", round(time.perf_counter() - t0, 3), "s",
               f"{len(detections)} detections, {len(macros)} macros, YAML")
        ids: list[str] = []
        texts: list[str] = []
        expand_ms: list[float] = []
        unexpandable = 0
        for d in detections:
            try:
                texts.append(macros.expand(d.search))
                ids.append(d.id)
            except MacroError:
                unexpandable += 1
                continue
            expand_ms.append(median([ms(lambda s=d.search: macros.expand(s)) for _ in range(args.repeats)]))
        report("spl_corpus_expand_ms_median", median(expand_ms), "ms", f"{len(texts)} searches; {unexpandable} "
               "with an undefined macro left out")
        report("spl_corpus_expand_ms_p95", p95(expand_ms), "ms")

        parse("index=warm | stats count")  # the parser is built on first use (about 0.2 s), not per search
        failing = 0
        for text in texts:
            try:
                parse(text)
            except SplSyntaxError:
                failing += 1
        t0 = time.perf_counter()
        gold_schema = corpus_schema(detections, macros)
        report("spl_corpus_schema_build_ms", round((time.perf_counter() - t0) * 1000, 3), "ms",
               f"corpus_schema: {len(gold_schema.indexes)} indexes, {len(gold_schema.sourcetypes)} sourcetypes, "
               f"{len(gold_schema.fields)} fields; parses every search")
        parses: list[list[float]] = [[] for _ in texts]
        checks: list[list[float]] = [[] for _ in texts]
        screens: list[list[float]] = [[] for _ in texts]
        codes: Counter[str] = Counter()
        for r in range(args.repeats):
            for i, text in enumerate(texts):
                parses[i].append(ms(swallow(lambda t=text: parse(t), SplSyntaxError)))
                t0 = time.perf_counter()
                result = check_spl(text, gold_schema, profile, policy)
                checks[i].append((time.perf_counter() - t0) * 1000)
                screens[i].append(ms(lambda t=text: (input_bounds(t), hidden_characters(t))))
                if r == 0:
                    codes.update(d.code for d in result.diagnostics)
        parse_ms = [statistics.median(xs) for xs in parses]
        report("spl_corpus_parse_ms_median", median(parse_ms), "ms",
               f"{len(texts)} searches; {failing} do not parse and are timed to the error")
        report("spl_corpus_parse_ms_p95", p95(parse_ms), "ms")
        report("spl_corpus_parse_ms_max", round(max(parse_ms), 3), "ms", ids[parse_ms.index(max(parse_ms))])
        check_ms = [statistics.median(xs) for xs in checks]
        report("spl_corpus_parse_and_check_ms_median", median(check_ms), "ms",
               "check_spl against corpus_schema, time range waived")
        report("spl_corpus_parse_and_check_ms_p95", p95(check_ms), "ms")
        report("spl_corpus_parse_and_check_ms_max", round(max(check_ms), 3), "ms",
               ids[check_ms.index(max(check_ms))])
        report("spl_corpus_input_screen_ms_median", median([statistics.median(xs) for xs in screens]), "ms",
               "of which input_bounds + hidden_characters, the text screens every check starts with")
        report("spl_corpus_check_over_parse_median", round(statistics.median(
            c / p for c, p in zip(check_ms, parse_ms)), 3), "ratio", "per search")
        print("    diagnostics (time, not acceptance, is measured): "
              + (", ".join(f"{c} {n}" for c, n in codes.most_common()) or "none"))

    print(json.dumps(figures))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"repeats": args.repeats, **figures}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
