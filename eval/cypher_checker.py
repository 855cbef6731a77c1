"""Checking the Cypher checker on real data: the neo4j-labs text2cypher gold queries.

    python eval/cypher_checker.py [--limit N] [--out eval/results/cypher_checker.json]
                                  [--execute] [--bolt] [--no-grammar] [--databases movies,northwind]

For every database with a schema (15 of the 16; ``slack`` has none in the data), and in total:

- clean gold queries (author flags off) that ``check_cypher(..., get_dialect("neo4j"))`` accepts;
  each rejection is explained by its first error diagnostic, grouped by code (counts, examples);
- author-flagged bad queries (``syntax_error`` True, ``false_schema`` non-empty) that the checker
  catches with an error diagnostic, per flag;
- clean gold queries the schema-specialised decode grammar (``specialise_cypher``) can produce,
  i.e. that Lark's Earley parser accepts (queries over ``--max-chars`` are skipped, each parse
  is time-boxed);
- check latency (median and p95, ms).

``--execute`` also runs the clean movies/northwind gold queries on a Ladybug load (and checks them
with the ``ladybug`` dialect, to see how well the checker predicts Ladybug's own verdict);
``--bolt`` runs them on an in-process ArcadeDB server over Bolt (each in a rolled-back
transaction). Both are reported separately. ``--limit N`` keeps the first N rows per database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from nl2q.targets.cypher.text2cypher import MISSING_SCHEMAS, Row, load_rows, load_schemas

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_OUT = ROOT / "eval" / "results" / "cypher_checker.json"
FLAGS = ("syntax_error", "false_schema")


# ---------------------------------------------------------------------------------------------
# helpers


class TimeBox(Exception):
    pass


@contextmanager
def time_box(seconds: float) -> Iterator[None]:
    """Raise TimeBox in the main thread after ``seconds`` (SIGALRM; a no-op where unavailable)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise TimeBox()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, round(q * (len(xs) - 1))))
    return round(xs[k], 2)


def latency(xs: list[float]) -> dict[str, Any]:
    return {"n": len(xs), "median_ms": round(statistics.median(xs), 2) if xs else None, "p95_ms": pct(xs, 0.95),
            "max_ms": round(max(xs), 2) if xs else None}


def ratio(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.1f}%)" if b else "-"


def gold_text(cypher: str) -> str:
    return cypher.strip().rstrip(";").strip()


class Groups:
    """Counts per key with the first few examples of each."""

    def __init__(self, examples: int) -> None:
        self.examples = examples
        self.counts: Counter = Counter()
        self.samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.by_db: dict[str, Counter] = defaultdict(Counter)
        self.tags: dict[str, Counter] = defaultdict(Counter)

    def add(self, key: str, db: str, example: dict[str, Any], tag: str | None = None) -> None:
        self.counts[key] += 1
        self.by_db[key][db] += 1
        if tag is not None:
            self.tags[key][tag] += 1
        if len(self.samples[key]) < self.examples:
            self.samples[key].append(example)

    def to_json(self) -> dict[str, Any]:
        return {k: {"count": n, "by_database": dict(self.by_db[k].most_common()),
                    **({"tags": dict(self.tags[k].most_common())} if self.tags.get(k) else {}),
                    "examples": self.samples[k]}
                for k, n in self.counts.most_common()}


def diag_json(d: Any) -> dict[str, Any]:
    return {"code": d.code, "severity": d.severity, "message": d.message, "hint": d.hint, "line": d.line, "col": d.col}


def example(row: Row, **extra: Any) -> dict[str, Any]:
    return {"id": row.id, "database": row.database, "question": row.question, "cypher": row.cypher,
            "returns_results": row.returns_results, **extra}


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# likely causes (heuristics over the query text at the reported position; for triage only)

_SYNTAX_CAUSES: list[tuple[str, str, str]] = [
    # (cause, regex on the text at the error position, regex on the whole query)
    ("number in scientific notation (1E8, 5e7)", r"[eE][-+]?\d", ""),
    ("float literal with more than 12 decimals", r"\d", r"\d\.\d{13,}"),
    ("integer literal longer than 18 digits", r"\d", r"\b\d{19,}\b"),
    ("reduce(acc = init, x IN list | expr)", r"\|", r"\breduce\s*\("),
    ("size{...} (not Cypher)", r"", r"\bsize\s*\{"),
    ("x NOT IN list (not Cypher)", r"NOT\s+IN\b", ""),
    ("SQL inside Cypher: GROUP BY / SELECT (not Cypher)", r"(GROUP|SELECT|min|max|count)\b", r"\bGROUP\s+BY\b|\(\s*SELECT\b"),
    ("EXISTS { pattern AND/OR pattern } (not Cypher)", r"(AND|OR)\b", r"\bexists\s*\{"),
    ("EXISTS/COUNT { MATCH ... WITH ... } (full subquery body)", r"WITH\b", r"\b(exists|count)\s*\{\s*MATCH\b"),
    ("list predicate ALL/ANY/NONE/SINGLE(x IN list WHERE pred)", r"WHERE\b", r"\b(all|any|none|single)\s*\(\s*\w+\s+IN\b"),
    ("size((pattern)) pattern expression (Neo4j 4 form; COUNT { } in 5)", r"", r"\bsize\s*\(\s*\("),
    ("exists((pattern)) function form (Neo4j 4 form; EXISTS { } in 5)", r"", r"\bexists\s*\(\s*\("),
    ("count(DISTINCT (pattern)) (not Cypher)", r"", r"\bcount\s*\(\s*DISTINCT\s*\("),
    ("relationships(a-[:R]->b) without parentheses (not Cypher)", r"", r"\brelationships\s*\(\s*\w+\s*-"),
    ("pattern predicate in an expression: WHERE (a)-[:R]->(b)", r"[:\-<>\[]|\w*\)?\s*-", ""),
]


def syntax_cause(cypher: str, line: int | None, col: int | None) -> str:
    import re

    text = gold_text(cypher)
    at = ""
    if line is not None and col is not None:
        lines = text.split("\n")
        if 0 < line <= len(lines):
            at = lines[line - 1][col - 1:]
    for cause, here, whole in _SYNTAX_CAUSES:
        if (not here or re.match(here, at, re.I)) and (not whole or re.search(whole, text, re.I)):
            return cause
    return "other: at " + repr(at[:25])


def grammar_cause(e: Exception, text: str, schema: Any, dialect: Any) -> str:
    """Why the decode grammar cannot produce a gold query, from the word where Earley stopped."""
    import re

    from nl2q.targets.cypher.grammar import cypher_keywords

    pos = getattr(e, "pos_in_stream", None)
    if pos is None:
        return "end of input" if type(e).__name__ == "UnexpectedEOF" else type(e).__name__
    start = pos
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[start:])
    word = m.group() if m else ""
    after = text[start + len(word):].lstrip()[:1] if word else ""
    before = text[:start].rstrip()[-1:]
    if not word:
        ch = text[pos:pos + 1]
        if ch.isspace():
            return "whitespace layout (double spaces, tabs, deep indentation, blank lines)"
        if ch.isdigit() or (ch.isalpha() and pos > 0 and text[pos - 1].isdigit()):
            return "number literal form (1E8, more than 12 decimals, more than 18 digits)"
        if ch == "]" and re.search(r"\*\s*(\d*\s*\.\.\s*)?$", text[:pos]):
            return "variable-length relationship without an upper bound (*, *1..)"
        if ch == "`":
            return "backtick-quoted name"
        if text.startswith("//", pos) or text.startswith("/*", pos):
            return "comment"
        if ch == "{" and re.search(r"\b(count|exists|size)\s*$", text[:pos], re.I):
            return "COUNT { } / EXISTS { } / size{ } form"
        if ch in "-<(:":
            return "pattern or parenthesis where the grammar has none (pattern expressions, size((..)))"
        return f"punctuation {ch!r}"
    functions = {f.lower() for f in dialect.functions} | {"count"}
    low = word.lower()
    if after == "{" and low in ("count", "exists", "size", "collect"):
        return f"{low} {{ }} subquery form" + (" (not Cypher)" if low in ("size", "collect") else " (keyword case or body)")
    if before == ".":
        if re.search(r"[A-Za-z_]\w*\s*\.\s*" + re.escape(word) + r"\s*\(", text[max(0, start - 40):start + len(word) + 2]):
            return "namespaced function (duration.between, apoc.*, point.distance, ...)"
        keys = set(schema.property_keys())
        return "property key not in the schema" if word not in keys else "property lookup on an unsupported expression"
    if after == "(":
        if low in functions and word not in dialect.functions and word != "count":
            return "function name in another case (COUNT, AVG, toupper, ...)"
        if low not in functions:
            return "function not in the dialect's list"
    if low in cypher_keywords():
        if word != word.upper():
            return "keyword not in upper case (as, distinct, desc, ...)"
        return f"keyword {word} where the grammar has none"
    if word in schema.labels or word in schema.rels:
        return "label or type used as an alias/variable" if before != ":" else "label/type in an unsupported position"
    if word[0].isupper():
        return "identifier starting with an upper-case letter (aliases like AS UserName)"
    if any(c.isupper() for c in word):
        return "identifier with upper-case letters"
    if len(word) > 30:
        return "identifier longer than 30 characters"
    return "other word: " + word[:20]


# ---------------------------------------------------------------------------------------------
# the checker


def run_checks(rows_by_db: dict[str, list[Row]], schemas: dict[str, Any], dialect: Any, examples: int,
               check_timeout: float, explain: dict[str, str | None] | None = None) -> dict[str, Any]:
    explain = explain or {}

    def tag(row: Row) -> str:
        parts = ["returns results" if row.returns_results else "no results"]
        if row.id in explain:
            parts.append("ArcadeDB EXPLAIN ok" if explain[row.id] is None else "ArcadeDB EXPLAIN error")
        return ", ".join(parts)

    from nl2q.targets.cypher.check import check_cypher
    from nl2q.policy import Policy

    policy = Policy()
    per_db: dict[str, dict[str, Any]] = {}
    rejections = Groups(examples)  # clean gold rejected: first error code
    rejection_messages = Groups(examples)  # clean gold rejected: code + message (finer)
    rejected_rows: list[dict[str, Any]] = []  # every clean gold rejection, compact, for whoever fixes them
    syntax_causes = Groups(examples)  # clean gold rejected with syntax.error, by likely construct
    crashes = Groups(examples)
    warnings = Groups(examples)  # warning codes seen on clean gold
    caught = {f: Groups(examples) for f in FLAGS}
    missed = {f: Groups(examples) for f in FLAGS}
    all_ms: list[float] = []
    verdicts: dict[str, bool] = {}
    done = 0
    total = sum(len(v) for v in rows_by_db.values())
    t_start = time.perf_counter()
    for db, rows in rows_by_db.items():
        s = per_db[db] = {"rows": len(rows), "clean": 0, "accepted": 0, "rejected": 0, "crashed": 0,
                          **{f: 0 for f in FLAGS}, **{f"{f}_caught": 0 for f in FLAGS}, "ms": []}
        schema = schemas.get(db)
        if schema is None:
            s["no_schema"] = True
            done += len(rows)
            progress(f"[{done}/{total}] {db}: no schema in text2cypher_schemas.csv, {len(rows)} rows skipped")
            continue
        for row in rows:
            done += 1
            t0 = time.perf_counter()
            try:
                with time_box(check_timeout):
                    res = check_cypher(row.cypher, schema, dialect, policy)
                diags = list(res.diagnostics)
                ok = bool(res.ok)
                err = None
            except TimeBox:
                err, ok, diags = f"TimeBox: check took over {check_timeout} s", False, []
            except Exception as e:  # noqa: BLE001 - one bad row must not stop the run
                err, ok, diags = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}", False, []
            ms = (time.perf_counter() - t0) * 1000
            s["ms"].append(ms)
            all_ms.append(ms)
            verdicts[row.id] = ok
            errors = [d for d in diags if d.is_error]
            if err is not None:
                s["crashed"] += 1
                crashes.add(err.split(":")[0], db, example(row, error=err, clean=row.clean))
            if row.clean:
                s["clean"] += 1
                if ok:
                    s["accepted"] += 1
                else:
                    s["rejected"] += 1
                    if err is None:
                        first = errors[0] if errors else None
                        code = first.code if first else "(not ok, no error diagnostic)"
                        rejections.add(code, db, example(row, first_error=diag_json(first) if first else None,
                                                         errors=[diag_json(d) for d in errors[1:4]]),
                                       tag=tag(row))
                        rejection_messages.add(f"{code}: {first.message if first else ''}", db, {"id": row.id})
                        cause = syntax_cause(row.cypher, first.line, first.col) if first and code == "syntax.error" else None
                        if cause:
                            syntax_causes.add(cause, db, example(row, first_error=diag_json(first)), tag=tag(row))
                        rejected_rows.append({"id": row.id, "database": db, "code": code,
                                              "message": first.message if first else "",
                                              "line": first.line if first else None, "col": first.col if first else None,
                                              "returns_results": row.returns_results, "likely_cause": cause,
                                              "arcadedb_explain": explain.get(row.id, "not run"), "cypher": row.cypher})
                for d in diags:
                    if d.severity == "warning":
                        warnings.add(d.code, db, example(row, diagnostic=diag_json(d)))
            else:
                for flag in row.flags:
                    s[flag] += 1
                    if err is None and errors:
                        s[f"{flag}_caught"] += 1
                        caught[flag].add(errors[0].code, db, example(row, false_schema=row.false_schema,
                                                                     first_error=diag_json(errors[0]),
                                                                     arcadedb_explain=explain.get(row.id, "not run")),
                                         tag=tag(row))
                    elif err is None:
                        missed[flag].add(db, db, example(row, false_schema=row.false_schema,
                                                          diagnostics=[diag_json(d) for d in diags[:3]],
                                                          arcadedb_explain=explain.get(row.id, "not run")),
                                         tag=tag(row))
            if done % 500 == 0:
                rate = done / (time.perf_counter() - t_start)
                progress(f"[{done}/{total}] checking {db}: {rate:.0f} rows/s")
    return {"per_db": per_db, "rejections": rejections, "rejection_messages": rejection_messages,
            "rejected_rows": rejected_rows, "syntax_causes": syntax_causes, "crashes": crashes,
            "warnings": warnings, "caught": caught, "missed": missed, "all_ms": all_ms, "verdicts": verdicts}


# ---------------------------------------------------------------------------------------------
# the grammar


def grammar_failure_key(e: Exception, text: str) -> str:
    """The failure and the word where it happened (``count`` vs ``COUNT`` matters to the grammar)."""
    import re

    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    if isinstance(e, UnexpectedEOF):
        return "UnexpectedEOF"
    if isinstance(e, UnexpectedToken):
        return f"UnexpectedToken {e.token.type} {str(e.token)[:20]!r}"
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*(\s*[({.])?|\s+|\S", text[pos:])
        word = m.group() if m else text[pos:pos + 1]
        if word.isspace():
            word = "whitespace " + repr(word)[1:-1]
        return f"UnexpectedCharacters at {word!r}"
    return type(e).__name__


def run_grammar(rows_by_db: dict[str, list[Row]], schemas: dict[str, Any], dialect: Any, examples: int,
                max_chars: int, parse_timeout: float) -> dict[str, Any]:
    import lark

    from nl2q.targets.cypher.grammar import specialise_cypher

    per_db: dict[str, dict[str, Any]] = {}
    failures = Groups(examples)
    causes = Groups(examples)
    parse_ms: list[float] = []
    done, total = 0, sum(len([r for r in v if r.clean]) for d, v in rows_by_db.items() if d in schemas)
    for db, rows in rows_by_db.items():
        schema = schemas.get(db)
        clean = [r for r in rows if r.clean]
        if schema is None or not clean:
            continue
        s = per_db[db] = {"clean": len(clean), "parsed": 0, "failed": 0, "skipped_long": 0, "timeouts": 0}
        try:
            t0 = time.perf_counter()
            text = specialise_cypher(schema, dialect)
            parser = lark.Lark(text, parser="earley")
            s["build_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            s["grammar_chars"] = len(text)
        except Exception as e:  # noqa: BLE001
            s["build_error"] = f"{type(e).__name__}: {str(e)[:300]}"
            progress(f"grammar for {db} does not build: {s['build_error']}")
            done += len(clean)
            continue
        for row in clean:
            done += 1
            q = gold_text(row.cypher)
            if len(q) > max_chars:
                s["skipped_long"] += 1
                continue
            t0 = time.perf_counter()
            try:
                with time_box(parse_timeout):
                    parser.parse(q)
                s["parsed"] += 1
            except TimeBox:
                s["timeouts"] += 1
                failures.add("timeout", db, example(row))
            except Exception as e:  # noqa: BLE001
                s["failed"] += 1
                line, col = getattr(e, "line", None), getattr(e, "column", None)
                failures.add(grammar_failure_key(e, q), db, example(row, line=line, col=col,
                                                                 error=str(e).splitlines()[0][:200]))
                try:
                    cause = grammar_cause(e, q, schema, dialect)
                except Exception as ce:  # noqa: BLE001
                    cause = f"(classifier failed: {type(ce).__name__})"
                causes.add(cause, db, example(row, line=line, col=col))
            parse_ms.append((time.perf_counter() - t0) * 1000)
            if done % 500 == 0:
                progress(f"[{done}/{total}] grammar-parsing {db}")
    return {"per_db": per_db, "failures": failures, "causes": causes, "parse_ms": parse_ms}


# ---------------------------------------------------------------------------------------------
# execution on real engines (movies and northwind only)


def _graph_data() -> Any:
    """eval/graph_data.py, beside this script: its ``bolt_server`` needs the checkout's tests/graph_server.py."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("nl2q_eval_graph_data", Path(__file__).with_name("graph_data.py"))
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules.setdefault(spec.name, mod)  # type: ignore[union-attr]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return sys.modules[spec.name]  # type: ignore[union-attr]


def _err_key(msg: str) -> str:
    import re

    first = msg.strip().splitlines()[0] if msg.strip() else "(empty error)"
    first = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "'…'", first)
    first = re.sub(r"\d+", "N", first)
    return first[:110]


def run_ladybug(rows_by_db: dict[str, list[Row]], schemas: dict[str, Any], examples: int, timeout_ms: int) -> dict[str, Any]:
    import ladybug

    from nl2q.targets.cypher.graph_load import load_ladybug
    from nl2q.targets.cypher.check import check_cypher
    from nl2q.targets import get_dialect

    lb_dialect = get_dialect("ladybug")
    out: dict[str, Any] = {}
    errors = Groups(examples)
    disagreements = Groups(examples)
    with tempfile.TemporaryDirectory(prefix="nl2q-eval-ladybug-") as tmp:
        for db in ("movies", "northwind"):
            clean = [r for r in rows_by_db.get(db, []) if r.clean]
            if not clean:
                continue
            path = load_ladybug(db, Path(tmp) / f"{db}.lbug")
            database = ladybug.Database(str(path), read_only=True)
            conn = ladybug.Connection(database)
            conn.set_query_timeout(timeout_ms)
            s = out[db] = {"clean": len(clean), "ran": 0, "errors": 0, "empty": 0,
                           "ladybug_check": Counter()}  # (checker ok?, engine ok?)
            for row in clean:
                q = gold_text(row.cypher)
                try:
                    res = conn.execute(q)
                    n = 0
                    while res.has_next() and n < 1000:
                        res.get_next()
                        n += 1
                    s["ran"] += 1
                    s["empty"] += n == 0
                    engine_ok, msg = True, ""
                except Exception as e:  # noqa: BLE001
                    s["errors"] += 1
                    engine_ok, msg = False, str(e)
                    errors.add(_err_key(msg), db, example(row, error=msg[:300]))
                try:
                    chk = check_cypher(row.cypher, schemas[db], lb_dialect)
                    check_ok = bool(chk.ok)
                    first = next((d for d in chk.diagnostics if d.is_error), None)
                except Exception as e:  # noqa: BLE001
                    check_ok, first = False, None
                    msg = msg or f"checker crashed: {e}"
                s["ladybug_check"][f"checker {'ok' if check_ok else 'rejects'} / engine {'ok' if engine_ok else 'error'}"] += 1
                if check_ok != engine_ok:
                    key = ("checker rejects, Ladybug runs it: " + (first.code if first else "?")) if engine_ok else \
                          ("checker accepts, Ladybug errors: " + _err_key(msg)[:60])
                    disagreements.add(key, db, example(row, engine_error=msg[:300],
                                                       first_error=diag_json(first) if first else None))
            s["ladybug_check"] = dict(s["ladybug_check"])
            conn.close()
            database.close()
    return {"per_db": out, "errors": errors.to_json(), "checker_vs_engine": disagreements.to_json()}


def run_explain(rows_by_db: dict[str, list[Row]]) -> dict[str, str | None]:
    """EXPLAIN every row on an empty ArcadeDB database over Bolt: an independent parser's verdict.

    ArcadeDB is schema-less, so this says nothing about names; it does reject syntax errors,
    undefined variables and unknown functions. Returns {row id: None if accepted, else the error}.
    """
    bolt_server = _graph_data().bolt_server

    out: dict[str, str | None] = {}
    rows = [r for v in rows_by_db.values() for r in v]
    with bolt_server("explain") as srv, srv.driver.session(database=srv.database) as session:
        for i, row in enumerate(rows):
            try:
                session.run("EXPLAIN " + gold_text(row.cypher)).consume()
                out[row.id] = None
            except Exception as e:  # noqa: BLE001
                out[row.id] = f"{getattr(e, 'code', type(e).__name__)}: {getattr(e, 'message', None) or e}"[:300]
            if (i + 1) % 1000 == 0:
                progress(f"[{i + 1}/{len(rows)}] ArcadeDB EXPLAIN")
    return out


def explain_summary(rows_by_db: dict[str, list[Row]], explain: dict[str, str | None], verdicts: dict[str, bool],
                    examples: int) -> dict[str, Any]:
    """How ArcadeDB's parser and the checker agree, for clean and for flagged rows."""
    cross: dict[str, Counter] = defaultdict(Counter)
    errors = Groups(examples)
    for db, rows in rows_by_db.items():
        for row in rows:
            if row.id not in explain:
                continue
            kind = "clean" if row.clean else "+".join(row.flags)
            a = "ArcadeDB ok" if explain[row.id] is None else "ArcadeDB error"
            c = {True: "checker ok", False: "checker rejects", None: "not checked"}[verdicts.get(row.id)]
            cross[kind][f"{c} / {a}"] += 1
            if explain[row.id] is not None:
                errors.add(f"{kind}: " + _err_key(explain[row.id]), db, example(row, error=explain[row.id], checker=c))
    def n(kind: str, checker: str, arcade: str) -> int:
        return cross.get(kind, Counter())[f"{checker} / {arcade}"]

    clean_ok = n("clean", "checker ok", "ArcadeDB ok") + n("clean", "checker rejects", "ArcadeDB ok")
    clean_bad = n("clean", "checker ok", "ArcadeDB error") + n("clean", "checker rejects", "ArcadeDB error")
    syn_bad = n("syntax_error", "checker ok", "ArcadeDB error") + n("syntax_error", "checker rejects", "ArcadeDB error")
    syn_ok = n("syntax_error", "checker ok", "ArcadeDB ok") + n("syntax_error", "checker rejects", "ArcadeDB ok")
    return {
        "cross": {k: dict(v) for k, v in cross.items()},
        "agreement": {
            "clean, ArcadeDB accepts: checker accepts": [n("clean", "checker ok", "ArcadeDB ok"), clean_ok],
            "clean, ArcadeDB rejects: checker rejects": [n("clean", "checker rejects", "ArcadeDB error"), clean_bad],
            "syntax_error flag, ArcadeDB rejects: checker rejects": [n("syntax_error", "checker rejects", "ArcadeDB error"), syn_bad],
            "syntax_error flag, ArcadeDB accepts (flag likely noise)": [syn_ok, syn_ok + syn_bad],
        },
        "errors": errors.to_json(),
    }


def run_bolt(rows_by_db: dict[str, list[Row]], verdicts: dict[str, bool], examples: int, timeout_s: float) -> dict[str, Any]:
    from nl2q.targets.cypher.graph_load import load_bolt

    bolt_server = _graph_data().bolt_server

    dbs = [db for db in ("movies", "northwind") if any(r.clean for r in rows_by_db.get(db, []))]
    out: dict[str, Any] = {}
    errors = Groups(examples)
    disagreements = Groups(examples)
    slow: list[dict[str, Any]] = []
    if not dbs:
        return {"per_db": out}
    with bolt_server() as srv:
        for db in dbs:  # one server database, loaded with each graph in turn
            load_bolt(db, srv.driver, database=srv.database, clear=True)
            clean = [r for r in rows_by_db[db] if r.clean]
            s = out[db] = {"clean": len(clean), "ran": 0, "errors": 0, "empty": 0, "neo4j_check": Counter()}
            with srv.driver.session(database=srv.database) as session:
                for i, row in enumerate(clean):
                    q = gold_text(row.cypher)
                    t0 = time.perf_counter()
                    tx = session.begin_transaction(timeout=timeout_s)
                    try:
                        records = tx.run(q).fetch(1000)
                        s["ran"] += 1
                        s["empty"] += not records
                        engine_ok, msg = True, ""
                    except Exception as e:  # noqa: BLE001
                        s["errors"] += 1
                        engine_ok = False
                        msg = f"{getattr(e, 'code', type(e).__name__)}: {getattr(e, 'message', None) or e}"
                        errors.add(_err_key(msg), db, example(row, error=msg[:300]))
                    finally:
                        try:
                            tx.rollback()
                        except Exception:  # noqa: BLE001
                            pass
                    dt = time.perf_counter() - t0
                    if dt > 2:
                        slow.append({"id": row.id, "seconds": round(dt, 1)})
                    check_ok = verdicts.get(row.id)
                    if check_ok is not None:
                        s["neo4j_check"][f"checker {'ok' if check_ok else 'rejects'} / engine {'ok' if engine_ok else 'error'}"] += 1
                        if check_ok != engine_ok:
                            key = "checker rejects, ArcadeDB runs it" if engine_ok else "checker accepts, ArcadeDB errors: " + _err_key(msg)[:60]
                            disagreements.add(key, db, example(row, engine_error=msg[:300]))
                    if (i + 1) % 250 == 0:
                        progress(f"  bolt {db}: {i + 1}/{len(clean)}")
            s["neo4j_check"] = dict(s["neo4j_check"])
    return {"per_db": out, "errors": errors.to_json(), "checker_vs_engine": disagreements.to_json(), "slow": slow}


# ---------------------------------------------------------------------------------------------
# report


def table(headers: list[str], rows: list[list[Any]]) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def build_report(args: argparse.Namespace, rows_by_db: dict[str, list[Row]], checks: dict[str, Any],
                 grammar: dict[str, Any] | None) -> dict[str, Any]:
    per_db: dict[str, Any] = {}
    tot: Counter = Counter()
    for db, s in checks["per_db"].items():
        d = {k: v for k, v in s.items() if k != "ms"}
        d["latency"] = latency(s["ms"])
        if grammar and db in grammar["per_db"]:
            d["grammar"] = grammar["per_db"][db]
        per_db[db] = d
        if not s.get("no_schema"):
            tot.update({k: v for k, v in d.items() if isinstance(v, int) and not isinstance(v, bool)})
    total: dict[str, Any] = dict(tot)
    total["latency"] = latency(checks["all_ms"])
    total["rows_without_schema"] = sum(s["rows"] for s in checks["per_db"].values() if s.get("no_schema"))
    if grammar:
        g: Counter = Counter()
        for s in grammar["per_db"].values():
            g.update({k: v for k, v in s.items() if k in ("clean", "parsed", "failed", "skipped_long", "timeouts")})
        total["grammar"] = {**dict(g), "parse_latency": latency(grammar["parse_ms"])}
    return {
        "meta": {
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "limit_per_database": args.limit,
            "sets": args.sets,
            "dialect": "neo4j",
            "python": platform.python_version(),
            "missing_schemas": sorted(set(rows_by_db) & MISSING_SCHEMAS),
            "definitions": {
                "clean": "syntax_error False and false_schema empty (the authors' flags)",
                "accepted": "check_cypher(...).ok (no error diagnostic)",
                "caught": "a flagged row for which the checker returns at least one error diagnostic",
                "grammar parsed": "lark.Lark(specialise_cypher(schema, neo4j), parser='earley') parses the gold "
                                  "query (stripped, trailing ';' removed)",
            },
        },
        "total": total,
        "per_database": per_db,
        "false_rejections": checks["rejections"].to_json(),
        "false_rejection_messages": {k: v["count"] for k, v in checks["rejection_messages"].to_json().items()},
        "syntax_rejections_by_likely_cause": checks["syntax_causes"].to_json(),
        "rejected_rows": checks["rejected_rows"],
        "crashes": checks["crashes"].to_json(),
        "warnings_on_clean": checks["warnings"].to_json(),
        "flagged_caught": {f: checks["caught"][f].to_json() for f in FLAGS},
        "flagged_missed": {f: checks["missed"][f].to_json() for f in FLAGS},
        "grammar_failures": grammar["failures"].to_json() if grammar else None,
        "grammar_failures_by_likely_cause": grammar["causes"].to_json() if grammar else None,
    }


def print_report(rep: dict[str, Any]) -> None:
    rows = []
    for db, d in sorted(rep["per_database"].items(), key=lambda kv: -kv[1]["rows"]):
        if d.get("no_schema"):
            rows.append([db, d["rows"], "no schema", "", "", "", "", "", ""])
            continue
        g = d.get("grammar") or {}
        rows.append([db, d["rows"], ratio(d["accepted"], d["clean"]),
                     ratio(d["syntax_error_caught"], d["syntax_error"]), ratio(d["false_schema_caught"], d["false_schema"]),
                     ratio(g.get("parsed", 0), g.get("clean", 0)) if g else "-", d["crashed"],
                     d["latency"]["median_ms"], d["latency"]["p95_ms"]])
    t = rep["total"]
    g = t.get("grammar") or {}
    rows.append(["TOTAL", t.get("rows", 0), ratio(t.get("accepted", 0), t.get("clean", 0)),
                 ratio(t.get("syntax_error_caught", 0), t.get("syntax_error", 0)),
                 ratio(t.get("false_schema_caught", 0), t.get("false_schema", 0)),
                 ratio(g.get("parsed", 0), g.get("clean", 0)) if g else "-", t.get("crashed", 0),
                 t["latency"]["median_ms"], t["latency"]["p95_ms"]])
    print(table(["database", "rows", "clean accepted", "syntax_error caught", "false_schema caught",
                 "grammar parses clean", "crash", "median ms", "p95 ms"], rows))
    if t.get("rows_without_schema"):
        print(f"({t['rows_without_schema']} rows of {', '.join(rep['meta']['missing_schemas'])} skipped: no schema in the data)")
    print("\nClean gold queries rejected, by first error code:")
    for code, v in rep["false_rejections"].items():
        print(f"  {v['count']:6}  {code}   ({', '.join(f'{k} {n}' for k, n in list(v['by_database'].items())[:5])})")
        if v.get("tags"):
            print(f"            [{'; '.join(f'{k}: {n}' for k, n in v['tags'].items())}]")
        for ex in v["examples"]:
            fe = ex.get("first_error") or {}
            snippet = " ".join(ex["cypher"].split())[:140]
            print(f"            - {ex['id']} [{ex['database']}] {fe.get('message', '')[:120]}")
            print(f"              {snippet}")
    if rep.get("syntax_rejections_by_likely_cause"):
        print("\nClean gold queries rejected with syntax.error, by likely construct (heuristic):")
        for k, v in rep["syntax_rejections_by_likely_cause"].items():
            print(f"  {v['count']:6}  {k}   [{'; '.join(f'{t}: {n}' for t, n in v.get('tags', {}).items())}]")
            print(f"            e.g. {v['examples'][0]['id']}: {' '.join(v['examples'][0]['cypher'].split())[:120]}")
    print("\nMost frequent rejection messages:")
    for msg, n in list(rep["false_rejection_messages"].items())[:25]:
        print(f"  {n:6}  {msg[:150]}")
    if rep["crashes"]:
        print("\nChecker crashes:")
        for k, v in rep["crashes"].items():
            print(f"  {v['count']:6}  {k}: {v['examples'][0]['error'][:150]}")
    for flag in FLAGS:
        print(f"\nFlagged {flag}: caught by code:")
        for code, v in list(rep["flagged_caught"][flag].items())[:10]:
            print(f"  {v['count']:6}  {code}")
        missed = sum(v["count"] for v in rep["flagged_missed"][flag].values())
        print(f"  {missed:6}  (missed)")
    if rep.get("grammar_failures_by_likely_cause"):
        print("\nGrammar: clean gold queries the specialised grammar cannot produce, by likely cause (heuristic):")
        for k, v in rep["grammar_failures_by_likely_cause"].items():
            ex = v["examples"][0]
            print(f"  {v['count']:6}  {k}   e.g. {ex['id']}: {' '.join(ex['cypher'].split())[:90]}")
    if rep.get("grammar_failures"):
        print("\nGrammar: by first failure position:")
        for k, v in list(rep["grammar_failures"].items())[:20]:
            ex = v["examples"][0]
            print(f"  {v['count']:6}  {k}   e.g. {ex['id']}: {' '.join(ex['cypher'].split())[:100]}")
    ex = rep.get("arcadedb_explain")
    if ex:
        print("\nArcadeDB EXPLAIN (empty database) vs the checker:")
        for kind, c in ex["cross"].items():
            print(f"  {kind}: " + "; ".join(f"{k} {n}" for k, n in sorted(c.items())))
        for k, (a, b) in ex.get("agreement", {}).items():
            print(f"  {k}: {ratio(a, b)}")
        for k, v in list(ex["errors"].items())[:15]:
            print(f"  {v['count']:6}  {k}")
    for eng in ("ladybug", "bolt"):
        e = rep.get("execution", {}).get(eng)
        if not e:
            continue
        print(f"\nExecution on {eng}:")
        for db, s in e["per_db"].items():
            extra = s.get("ladybug_check") or s.get("neo4j_check")
            print(f"  {db}: ran {ratio(s['ran'], s['clean'])}, errors {s['errors']}, empty results {s['empty']}; {extra}")
        for k, v in list(e.get("errors", {}).items())[:12]:
            print(f"  {v['count']:6}  {k}")
        for k, v in list(e.get("checker_vs_engine", {}).items())[:12]:
            print(f"  {v['count']:6}  {k}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check nl2q's Cypher checker against the text2cypher gold queries.")
    ap.add_argument("--limit", type=int, default=None, help="first N rows per database (default: all)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON report (default: {DEFAULT_OUT.relative_to(ROOT)})")
    ap.add_argument("--sets", default="gpt4turbo,claudeopus", help="comma-separated: gpt4turbo, claudeopus")
    ap.add_argument("--databases", default="", help="comma-separated subset of databases")
    ap.add_argument("--examples", type=int, default=3, help="examples kept per group")
    ap.add_argument("--no-grammar", action="store_true", help="skip the grammar coverage measurement")
    ap.add_argument("--max-chars", type=int, default=2000, help="skip gold queries longer than this for the grammar")
    ap.add_argument("--parse-timeout", type=float, default=10.0, help="seconds per grammar parse")
    ap.add_argument("--check-timeout", type=float, default=30.0, help="seconds per check")
    ap.add_argument("--execute", action="store_true", help="run movies/northwind clean gold queries on Ladybug")
    ap.add_argument("--bolt", action="store_true", help="run them on an ArcadeDB server over Bolt")
    ap.add_argument("--explain", action="store_true",
                    help="also EXPLAIN every row on an empty ArcadeDB database (an independent parser's verdict)")
    args = ap.parse_args(argv)

    from nl2q.targets import get_dialect

    sets = tuple(s.strip() for s in args.sets.split(",") if s.strip())
    args.sets = list(sets)
    rows = load_rows(sets)
    schemas = load_schemas()
    wanted = {d.strip() for d in args.databases.split(",") if d.strip()}
    rows_by_db: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if wanted and r.database not in wanted:
            continue
        if args.limit is None or len(rows_by_db[r.database]) < args.limit:
            rows_by_db[r.database].append(r)
    rows_by_db = dict(sorted(rows_by_db.items()))
    dialect = get_dialect("neo4j")
    progress(f"{sum(map(len, rows_by_db.values()))} rows over {len(rows_by_db)} databases; {len(schemas)} schemas")

    explain = None
    if args.explain:
        t0 = time.perf_counter()
        try:
            explain = run_explain(rows_by_db)
        except Exception as e:  # noqa: BLE001
            progress(f"ArcadeDB EXPLAIN failed, continuing without it: {type(e).__name__}: {e}")
        progress(f"ArcadeDB EXPLAIN done in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    checks = run_checks(rows_by_db, schemas, dialect, args.examples, args.check_timeout, explain)
    progress(f"checks done in {time.perf_counter() - t0:.1f} s")
    grammar = None
    if not args.no_grammar:
        t0 = time.perf_counter()
        grammar = run_grammar(rows_by_db, schemas, dialect, args.examples, args.max_chars, args.parse_timeout)
        progress(f"grammar done in {time.perf_counter() - t0:.1f} s")
    rep = build_report(args, rows_by_db, checks, grammar)
    rep["execution"] = {}
    if explain is not None:
        rep["arcadedb_explain"] = explain_summary(rows_by_db, explain, checks["verdicts"], args.examples)
    if args.execute:
        t0 = time.perf_counter()
        try:
            rep["execution"]["ladybug"] = run_ladybug(rows_by_db, schemas, args.examples, 5000)
        except Exception as e:  # noqa: BLE001
            rep["execution"]["ladybug"] = {"error": f"{type(e).__name__}: {e}", "per_db": {}}
        progress(f"ladybug execution done in {time.perf_counter() - t0:.1f} s")
    if args.bolt:
        t0 = time.perf_counter()
        try:
            rep["execution"]["bolt"] = run_bolt(rows_by_db, checks["verdicts"], args.examples, 10.0)
        except Exception as e:  # noqa: BLE001
            rep["execution"]["bolt"] = {"error": f"{type(e).__name__}: {e}", "per_db": {}}
        progress(f"bolt execution done in {time.perf_counter() - t0:.1f} s")
    print_report(rep)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rep, indent=1, ensure_ascii=False, default=str))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    sys.exit(main())
