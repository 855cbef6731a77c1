"""The evaluation harness: configurations side by side on real benchmarks.

    from nl2q.evaluate import evaluate
    summary = evaluate("spider-dev", limit=20, configs=("raw", "constrained", "repair"), out=Path("runs/x"))

What it does, per suite (``SUITES``; ``spider-dev`` and ``text2cypher``, each optionally narrowed to some
databases with ``NAME:db1,db2``):

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
  equal as multisets, or as lists when the gold query's outermost statement has ORDER BY. Values are
  compared column by column in select order (column names are ignored; floats rounded to 6 places).
  It counts the returned query whether or not nl2q marked it valid (the usual Spider EX), and is
  None when there is nothing to execute against (no engine, or the gold query itself fails there);
  ``right`` is ``valid and exec_match``: what nl2q would hand over as a valid, correct answer.
- ``exact_set`` (SQL only): sqlglot-normalised component match in the spirit of Spider's exact-set
  match (see ``exact_set_match``).
- Repair: ``rounds``, ``invalid_to_valid`` (first round invalid, final valid) and ``wrong_to_right``
  (first round not ``right``, final ``right``), and the reverse ``right_to_wrong``.
- Latency: the compile's ``total_ms`` (binding, decoding, checks, dry runs; not model loading and not
  the harness's own executions). Tokens: prompt and output tokens over all rounds.

Nothing here reads gold answers into prompts: the compiler only sees the question and the schema.
Few-shot examples (``few_shot=K``, default 0) are other items' questions and gold queries, from the
split disjoint from the sample (``Suite.few_shot``); each row lists the ids it was shown, and the
summary records the split.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .compiler import Compiler, Stages
from .models import DEFAULT_MODEL, Compiled, Generation, Model, Sampling, load_model
from .types import Constraint, Messages
from .errors import Nl2qError
from .policy import Policy

HARNESS_VERSION = 1
DEFAULT_CONFIGS = ("raw", "constrained", "repair")
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
ENV_BENCHMARKS = "NL2Q_BENCHMARKS"
ENV_BOLT_URI = "NL2Q_BOLT_URI"
ENV_GRAPH_ENGINE = "NL2Q_EVAL_GRAPH"  # auto (default) | bolt | ladybug | none
EXEC_ROW_CAP = 100_000  # rows fetched per execution for comparison; a capped result only matches a capped one
EXEC_TIMEOUT_S = 20.0
REPO_ROOT = Path(__file__).resolve().parent.parent

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
    "latency_ms": "compile wall time per item (bind, decode, checks, dry runs), model load excluded",
    "tokens": "prompt and output tokens per item, summed over rounds",
}


# ------------------------------------------------------------------------------------------ data


@dataclass
class Item:
    """One benchmark question. ``groups`` are its breakdown keys (difficulty, database, category)."""

    id: str
    question: str
    gold: str
    database: str
    groups: dict[str, str] = field(default_factory=dict)


@dataclass
class Execution:
    """Rows a query returned on the evaluation engine (all of them, up to ``EXEC_ROW_CAP``)."""

    ok: bool
    engine: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    capped: bool = False
    error: str | None = None
    elapsed_ms: float = 0.0

    def brief(self) -> dict[str, Any]:
        """What a JSONL row keeps: not every row, a preview and a fingerprint."""
        return {
            "ok": self.ok, "engine": self.engine, "error": self.error, "columns": self.columns,
            "row_count": len(self.rows), "capped": self.capped, "elapsed_ms": round(self.elapsed_ms, 2),
            "preview": [[_jsonable(v) for v in r] for r in self.rows[:5]],
            "fingerprint": hashlib.sha256(repr(sorted(map(repr, self.rows))).encode()).hexdigest()[:16] if self.ok else None,
        }


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)


# ------------------------------------------------------------------------------- result compare


def _norm_value(v: Any) -> Any:
    """A hashable, engine-neutral form of one result value."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        r = round(v, 6)
        return int(r) if r.is_integer() and abs(r) < 2**53 else r
    if isinstance(v, (int, str, bytes)):
        return v
    if isinstance(v, dict):
        return tuple(sorted((str(k), _norm_value(x)) for k, x in v.items() if not str(k).startswith("_")))
    if isinstance(v, (list, tuple)):
        return tuple(_norm_value(x) for x in v)
    try:  # neo4j graph types: Node, Relationship, Path
        import neo4j.graph as g

        if isinstance(v, g.Node):
            return ("node", _norm_value(dict(v)))
        if isinstance(v, g.Relationship):
            return ("rel", v.type, _norm_value(dict(v)))
        if isinstance(v, g.Path):
            return ("path", tuple(_norm_value(n) for n in v.nodes), tuple(_norm_value(r) for r in v.relationships))
    except ImportError:  # pragma: no cover
        pass
    return str(v)


def results_match(gold: Execution, pred: Execution, ordered: bool) -> bool:
    """Equal rows: as lists when ``ordered``, else as multisets. Column names do not matter."""
    if not (gold.ok and pred.ok) or gold.capped != pred.capped:
        return False
    g = [tuple(_norm_value(v) for v in r) for r in gold.rows]
    p = [tuple(_norm_value(v) for v in r) for r in pred.rows]
    if g and p and len(g[0]) != len(p[0]):
        return False
    if ordered:
        return g == p
    return Counter(g) == Counter(p)


def sql_orders(query: str) -> bool:
    """Whether the outermost statement of a SQL query has ORDER BY (a subquery's does not count)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(query, read="sqlite")
    except Exception:  # noqa: BLE001 - fall back to the text
        return re.search(r"\border\s+by\b", query, re.I) is not None
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    return tree.args.get("order") is not None


def cypher_orders(query: str) -> bool:
    """Whether the final RETURN of a Cypher query is ordered."""
    text = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", query)
    last = [m.end() for m in re.finditer(r"\bRETURN\b", text, re.I)]
    tail = text[last[-1]:] if last else text
    return re.search(r"\bORDER\s+BY\b", tail, re.I) is not None


# ------------------------------------------------------------------------------- exact-set match


def exact_set_match(gold: str, pred: str, schema: dict[str, set[str]] | None = None) -> bool:
    """Spider-style exact-set match on sqlglot trees (parsed as SQLite).

    Both queries are parsed, identifiers normalised (``normalize_identifiers``, then lowercased,
    as SQLite names are case-insensitive), table aliases resolved to table names, unqualified
    columns qualified with the one FROM table that has them (``schema``: {table: {column}}, lower
    case), literals replaced by a placeholder, and each SELECT reduced to components compared as
    sets: select expressions (with DISTINCT), FROM tables (a multiset; subqueries by their own
    components), WHERE and HAVING conjuncts (split on top-level AND, an OR as the set of its
    disjuncts; ``a = b`` with operands sorted), GROUP BY expressions, ORDER BY (list with direction), LIMIT presence (its value is a
    literal, ignored as Spider does) and INTERSECT/UNION/EXCEPT (both sides, recursively). Join
    conditions are not compared (Spider compares table units only). A query that does not parse
    never matches.
    """
    try:
        return _signature(gold, schema) == _signature(pred, schema)
    except Exception:  # noqa: BLE001 - an unparsable prediction simply does not match
        return False


def _signature(sql: str, schema: dict[str, set[str]] | None) -> Any:
    import sqlglot
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    tree = sqlglot.parse_one(sql, read="sqlite")
    tree = normalize_identifiers(tree, dialect="sqlite")
    return _sig(tree, schema or {})


def _sig(node: Any, schema: dict[str, set[str]]) -> Any:
    from sqlglot import exp

    while isinstance(node, (exp.Subquery, exp.Paren)) and isinstance(node.this, (exp.Query, exp.Subquery, exp.Paren)):
        node = node.this
    if isinstance(node, (exp.Union, exp.Intersect, exp.Except)):
        kind = type(node).__name__.lower() + ("" if node.args.get("distinct", True) else " all")
        return (kind, _sig(node.left, schema), _sig(node.right, schema),
                node.args.get("order") is not None, node.args.get("limit") is not None)
    if not isinstance(node, exp.Select):
        raise ValueError(f"not a SELECT: {type(node).__name__}")
    aliases: dict[str, str] = {}
    tables: list[Any] = []
    sources = []
    frm = node.args.get("from") or node.args.get("from_")  # the key's name differs across sqlglot versions
    if frm is not None:
        sources.append(frm.this)
    sources += [j.this for j in node.args.get("joins") or []]
    for src in sources:
        if isinstance(src, exp.Table):
            name = src.name.lower()
            aliases[(src.alias or src.name).lower()] = name
            aliases[name] = name
            tables.append(name)
        else:
            tables.append(("sub", _sig(src.this if isinstance(src, exp.Subquery) else src, schema)))
    in_scope = [t for t in tables if isinstance(t, str)]

    def col_owner(column: str) -> str | None:
        if len(in_scope) == 1:
            return in_scope[0]
        owners = [t for t in dict.fromkeys(in_scope) if column in schema.get(t, set())]
        return owners[0] if len(owners) == 1 else None

    def norm(e: Any) -> str:
        e = e.copy()
        if isinstance(e, exp.Alias):
            e = e.this
        if isinstance(e, exp.Ordered):
            e = e.this

        def fix(n: Any) -> Any:
            if isinstance(n, (exp.Subquery,)) or (isinstance(n, exp.Select) and n is not e):
                return exp.Literal.string("subquery:" + hashlib.sha1(repr(_sig(n, schema)).encode()).hexdigest()[:12])
            if isinstance(n, exp.Literal) and not str(n.this).startswith("subquery:"):
                return exp.Placeholder()
            if isinstance(n, exp.Neg) and isinstance(n.this, exp.Literal):
                return exp.Placeholder()
            if isinstance(n, exp.Column) and not isinstance(n.this, exp.Star):
                owner = aliases.get(n.table.lower()) if n.table else col_owner(n.name.lower())
                return exp.column(n.name.lower(), table=owner) if owner else exp.column(n.name.lower())
            return n

        e = e.transform(fix)
        if isinstance(e, (exp.EQ, exp.NEQ)):
            a, b = sorted([e.left.sql(dialect="sqlite").lower(), e.right.sql(dialect="sqlite").lower()])
            return f"{a} {type(e).__name__} {b}"
        return e.sql(dialect="sqlite").lower()

    def conjuncts(cond: Any) -> frozenset[str]:
        if cond is None:
            return frozenset()
        parts = list(cond.flatten()) if isinstance(cond, exp.And) else [cond]
        out = set()
        for p in parts:
            p = p.unnest() if isinstance(p, exp.Paren) else p
            if isinstance(p, exp.Or):  # a disjunction is a set of its disjuncts too
                out.add("or" + repr(sorted(norm(d.unnest() if isinstance(d, exp.Paren) else d) for d in p.flatten())))
            else:
                out.add(norm(p))
        return frozenset(out)

    where = node.args.get("where")
    having = node.args.get("having")
    group = node.args.get("group")
    order = node.args.get("order")
    return (
        "select",
        bool(node.args.get("distinct")),
        frozenset(norm(e) for e in node.expressions),
        tuple(sorted(map(repr, tables))),
        conjuncts(where.this if where else None),
        frozenset(norm(e) for e in (group.expressions if group else [])),
        conjuncts(having.this if having else None),
        tuple((norm(o), bool(o.args.get("desc"))) for o in (order.expressions if order else [])),
        node.args.get("limit") is not None,
    )


# ------------------------------------------------------------------------------- Spider hardness

_WHERE_LIKE = 9  # index of 'like' in Spider's WHERE_OPS
_LEVELS = ("easy", "medium", "hard", "extra")


def spider_hardness(sql: dict[str, Any]) -> str:
    """Spider's official hardness (evaluation.py ``eval_hardness``) from a dev.json ``sql`` structure."""
    def has_agg(unit: Any) -> bool:
        return unit[0] != 0

    def count_agg(units: list[Any]) -> int:
        return len([u for u in units if has_agg(u)])

    def nested(s: dict[str, Any]) -> list[Any]:
        out = []
        for cu in s["from"]["conds"][::2] + s["where"][::2] + s["having"][::2]:
            out += [v for v in (cu[3], cu[4]) if isinstance(v, dict)]
        out += [s[k] for k in ("intersect", "except", "union") if s[k] is not None]
        return out

    def comp1(s: dict[str, Any]) -> int:
        n = sum(1 for k in ("where", "groupBy", "orderBy") if len(s[k]) > 0) + (s["limit"] is not None)
        if len(s["from"]["table_units"]) > 0:
            n += len(s["from"]["table_units"]) - 1
        ao = s["from"]["conds"][1::2] + s["where"][1::2] + s["having"][1::2]
        n += len([t for t in ao if t == "or"])
        cus = s["from"]["conds"][::2] + s["where"][::2] + s["having"][::2]
        return n + len([cu for cu in cus if cu[1] == _WHERE_LIKE])

    def others(s: dict[str, Any]) -> int:
        agg = count_agg(s["select"][1]) + count_agg(s["where"][::2]) + count_agg(s["groupBy"])
        if len(s["orderBy"]) > 0:
            agg += count_agg([u[1] for u in s["orderBy"][1] if u[1]] + [u[2] for u in s["orderBy"][1] if u[2]])
        agg += count_agg(s["having"])
        return sum([agg > 1, len(s["select"][1]) > 1, len(s["where"]) > 1, len(s["groupBy"]) > 1])

    return _level(comp1(sql), len(nested(sql)), others(sql))


def _level(c1: int, c2: int, co: int) -> str:
    if c1 <= 1 and co == 0 and c2 == 0:
        return "easy"
    if (co <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and co < 2 and c2 == 0):
        return "medium"
    if (co > 2 and c1 <= 2 and c2 == 0) or (2 < c1 <= 3 and co <= 2 and c2 == 0) or (c1 <= 1 and co == 0 and c2 <= 1):
        return "hard"
    return "extra"


def sql_hardness(query: str) -> str:
    """The same rules counted on a sqlglot tree, for items without Spider's ``sql`` structure (approximate)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(query, read="sqlite")
    except Exception:  # noqa: BLE001
        return "extra"
    setops = 0
    while isinstance(tree, (exp.Union, exp.Intersect, exp.Except)):
        setops += 1
        tree = tree.left
    if not isinstance(tree, exp.Select):
        return "extra"
    where, having, group, order = (tree.args.get(k) for k in ("where", "having", "group", "order"))
    conds = [c for c in (where, having) if c is not None]
    c1 = sum(x is not None for x in (where, group, order, tree.args.get("limit"))) + len(tree.args.get("joins") or [])
    c1 += sum(len(list(c.find_all(exp.Or))) + len(list(c.find_all(exp.Like))) for c in conds)
    nested = sum(1 for c in conds for s in c.find_all(exp.Select))
    aggs = sum(1 for e in tree.expressions if e.find(exp.AggFunc)) + sum(1 for c in conds if c.find(exp.AggFunc))
    where_n = len(list(where.this.flatten())) if where is not None and isinstance(where.this, exp.And) else int(where is not None)
    co = sum([aggs > 1, len(tree.expressions) > 1, where_n > 1, len(group.expressions) > 1 if group else False])
    return _level(c1, nested + setops, co)


# ------------------------------------------------------------------------------------- suites


class Suite(ABC):
    """A benchmark: its items, the schema for each, and how to execute gold and predicted queries."""

    name: str
    target: str
    dialect: str
    breakdowns: tuple[str, ...] = ("database",)

    def __init__(self, root: Path, databases: Sequence[str] | None = None) -> None:
        self.root = root
        self.databases = list(databases) if databases else None
        self._gold: dict[str, Execution | None] = {}
        self._all: list[Item] | None = None

    def all_items(self) -> list[Item]:
        """Every item of the suite, in a fixed order (the benchmark's own); read once."""
        if self._all is None:
            self._all = self._load_items()
        return self._all

    @abstractmethod
    def _load_items(self) -> list[Item]:
        """Read every item from the benchmark files."""

    def items(self, seed: int = 0, limit: int | None = None) -> list[Item]:
        """Deterministic sample: all items shuffled with ``random.Random(seed)``, the first ``limit`` kept."""
        items = self.all_items()
        if self.databases is not None:
            unknown = set(self.databases) - {i.database for i in items}
            if unknown:
                raise Nl2qError(f"suite {self.name} has no items for database(s) {', '.join(sorted(unknown))}",
                                f"databases with items: {', '.join(sorted({i.database for i in items}))}")
            items = [i for i in items if i.database in self.databases]
        order = list(range(len(items)))
        random.Random(seed).shuffle(order)
        if limit is not None:
            order = order[: max(0, limit)]
        return [items[i] for i in order]

    def few_shot(self, sample: list[Item], k: int, seed: int) -> dict[str, list[Item]]:
        """``k`` examples per sampled item, from the split disjoint from the sample.

        The split: every item of the suite (all databases) that is not in ``sample``; an item's examples
        come from other databases than its own, since Spider and text2cypher hold paraphrases of one
        question on the same database. Drawn with ``random.Random(f"{seed}:{item.id}")``.
        """
        if k <= 0:
            return {i.id: [] for i in sample}
        taken = {i.id for i in sample}
        by_db: dict[str, list[Item]] = {}
        for i in self.all_items():
            if i.id not in taken:
                by_db.setdefault(i.database, []).append(i)
        others = {db: [x for d, xs in by_db.items() if d != db for x in xs] for db in {i.database for i in sample}}
        out: dict[str, list[Item]] = {}
        for item in sample:
            eligible = others[item.database]
            if len(eligible) < k:
                raise Nl2qError(f"only {len(eligible)} few-shot examples outside the evaluated items for {item.id} "
                                f"(database {item.database}); {k} asked for", "lower --limit or --few-shot")
            out[item.id] = random.Random(f"{seed}:{item.id}").sample(eligible, k)
        return out

    @abstractmethod
    def schema_for(self, item: Item) -> Any:
        """What ``Compiler.compile(schema=...)`` gets for this item."""

    def execution(self) -> dict[str, Any]:
        """How (whether) queries are executed, for the summary."""
        return {"mode": "none", "note": "validity only"}

    def ordered(self, item: Item) -> bool:
        return False

    def execute_gold(self, item: Item) -> Execution | None:
        if item.id not in self._gold:
            self._gold[item.id] = self._execute(item, item.gold)
        return self._gold[item.id]

    def execute_prediction(self, item: Item, query: str) -> Execution | None:
        return self._execute(item, query) if query.strip() else None

    def _execute(self, item: Item, query: str) -> Execution | None:
        return None

    def exact_match(self, item: Item, query: str) -> bool | None:
        return None

    def close(self) -> None:
        pass


SUITES: dict[str, Callable[..., Suite]] = {}


def register(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        cls.name = name
        SUITES[name] = cls
        return cls

    return deco


def resolve_benchmarks(benchmarks: str | Path | None = None) -> Path:
    """The benchmark root: ``benchmarks``, else ``$NL2Q_BENCHMARKS``, else ``<repo>/../shared/benchmarks``."""
    if benchmarks is not None:
        root, how = Path(benchmarks).expanduser(), "--benchmarks"
    elif os.environ.get(ENV_BENCHMARKS):
        root, how = Path(os.environ[ENV_BENCHMARKS]).expanduser(), f"${ENV_BENCHMARKS}"
    else:
        root, how = REPO_ROOT.parent / "shared" / "benchmarks", "the default"
    if not root.is_dir():
        raise Nl2qError(f"benchmark directory not found: {root} ({how})",
                        f"pass --benchmarks DIR or set {ENV_BENCHMARKS} to the directory holding spider/, text2cypher/, ...")
    return root.resolve()


def get_suite(name: str, benchmarks: str | Path | None = None) -> Suite:
    """A suite by name; ``NAME:db1,db2`` keeps only those databases."""
    base, _, dbs = name.partition(":")
    if base not in SUITES:
        raise Nl2qError(f"unknown suite {name!r}", f"choose one of: {', '.join(SUITES)} (optionally NAME:db1,db2)")
    databases = [d.strip() for d in dbs.split(",") if d.strip()] or None
    return SUITES[base](resolve_benchmarks(benchmarks), databases)


@register("spider-dev")
class SpiderDev(Suite):
    """Spider 1.0 dev: SQLite, gold and predictions executed on ``spider/database/<db>/<db>.sqlite``."""

    target = "sql"
    dialect = "sqlite"
    breakdowns = ("difficulty", "database")

    def __init__(self, root: Path, databases: Sequence[str] | None = None) -> None:
        super().__init__(root, databases)
        self.dir = root / "spider"
        for f in ("dev.json", "tables.json", "database"):
            if not (self.dir / f).exists():
                raise Nl2qError(f"Spider data not found: {self.dir / f} is missing",
                                f"point --benchmarks (or ${ENV_BENCHMARKS}) at a directory holding spider/dev.json, "
                                "spider/tables.json and spider/database/<db_id>/<db_id>.sqlite")
        self._executors: dict[str, Any] = {}
        self._columns: dict[str, dict[str, set[str]]] | None = None

    def _load_items(self) -> list[Item]:
        entries = json.loads((self.dir / "dev.json").read_text(encoding="utf-8"))
        out = []
        for i, e in enumerate(entries):
            level = spider_hardness(e["sql"]) if isinstance(e.get("sql"), dict) else sql_hardness(e["query"])
            out.append(Item(f"dev:{i}", e["question"], e["query"], e["db_id"],
                            {"difficulty": level, "database": e["db_id"]}))
        return out

    def db_path(self, db: str) -> Path:
        path = self.dir / "database" / db / f"{db}.sqlite"
        if not path.is_file():
            raise Nl2qError(f"Spider database not found: {path}", "the benchmark directory is incomplete")
        return path

    def schema_for(self, item: Item) -> Any:
        return self.db_path(item.database)

    def execution(self) -> dict[str, Any]:
        return {"mode": "sqlite", "note": "gold and predicted queries executed on the same SQLite databases "
                                          f"(spider/database), up to {EXEC_ROW_CAP} rows, {EXEC_TIMEOUT_S:g} s each"}

    def ordered(self, item: Item) -> bool:
        return sql_orders(item.gold)

    def _execute(self, item: Item, query: str) -> Execution:
        from .targets.sql.execute import SQLiteExecutor
        ex = self._executors.get(item.database)
        if ex is None:
            ex = self._executors[item.database] = SQLiteExecutor(self.db_path(item.database))
        policy = Policy(max_rows=EXEC_ROW_CAP, preview_rows=EXEC_ROW_CAP, timeout_s=EXEC_TIMEOUT_S)
        dry = ex.run(query, policy)
        return Execution(dry.ok, "sqlite", list(dry.columns), [tuple(r) for r in dry.rows], dry.capped, dry.error,
                         dry.elapsed_ms)

    def exact_match(self, item: Item, query: str) -> bool:
        return exact_set_match(item.gold, query, self.columns(item.database))

    def columns(self, db: str) -> dict[str, set[str]]:
        """{table: {column}} (lower case) from tables.json, for qualifying columns in exact-set match."""
        if self._columns is None:
            self._columns = {}
            for e in json.loads((self.dir / "tables.json").read_text(encoding="utf-8")):
                names = [t.lower() for t in e["table_names_original"]]
                cols: dict[str, set[str]] = {t: set() for t in names}
                for ti, c in e["column_names_original"]:
                    if ti >= 0:
                        cols[names[ti]].add(c.lower())
                self._columns[e["db_id"]] = cols
        return self._columns.get(db, {})

    def close(self) -> None:
        for ex in self._executors.values():
            ex.close()
        self._executors.clear()


@register("text2cypher")
class Text2Cypher(Suite):
    """neo4j-labs text2cypher (clean rows only), Neo4j Cypher; executed where the graph has data."""

    target = "cypher"
    dialect = "neo4j"
    breakdowns = ("category", "database")
    DATA = ("movies", "northwind")

    def __init__(self, root: Path, databases: Sequence[str] | None = None) -> None:
        super().__init__(root, databases)
        if not (root / "text2cypher").is_dir():
            raise Nl2qError(f"text2cypher data not found: {root / 'text2cypher'} is missing",
                            f"point --benchmarks (or ${ENV_BENCHMARKS}) at a directory holding text2cypher/")
        self._modules()
        self._schemas: dict[str, Any] | None = None
        self._engine: _GraphEngine | None = None
        self._engine_error: str | None = None

    def _modules(self) -> tuple[Any, Any]:
        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
        try:
            import eval.graph_data as graph_data
            import eval.text2cypher as t2c
        except ImportError as e:
            raise Nl2qError(f"the text2cypher loaders are not available: {e}",
                            "run from a source checkout (eval/text2cypher.py, eval/graph_data.py)") from e
        return t2c, graph_data

    def _with_root(self) -> Any:
        """Point eval/benchmarks.py at our root while the loaders read."""
        class _Env:
            def __enter__(s) -> None:
                s.old = os.environ.get(ENV_BENCHMARKS)
                os.environ[ENV_BENCHMARKS] = str(self.root)

            def __exit__(s, *a: Any) -> None:
                if s.old is None:
                    os.environ.pop(ENV_BENCHMARKS, None)
                else:
                    os.environ[ENV_BENCHMARKS] = s.old

        return _Env()

    def schemas(self) -> dict[str, Any]:
        if self._schemas is None:
            t2c, _ = self._modules()
            with self._with_root():
                self._schemas = t2c.load_schemas()
        return self._schemas

    def _load_items(self) -> list[Item]:
        t2c, _ = self._modules()
        with self._with_root():
            rows = t2c.load_rows(clean=True)
        schemas = self.schemas()
        return [Item(r.id, r.question, r.cypher, r.database, {"category": r.type or "(none)", "database": r.database})
                for r in rows if r.database in schemas and r.question and r.cypher.strip()]

    def schema_for(self, item: Item) -> Any:
        return self.schemas()[item.database]

    def ordered(self, item: Item) -> bool:
        return cypher_orders(item.gold)

    def engine(self) -> "_GraphEngine | None":
        if self._engine is None and self._engine_error is None:
            wanted = [d for d in self.DATA if self.databases is None or d in self.databases]
            try:
                self._engine = _open_graph_engine(self, wanted) if wanted else None
                if self._engine is None:
                    self._engine_error = "no graph engine (set NL2Q_BOLT_URI, or install ladybug)"
            except Exception as e:  # noqa: BLE001 - without an explicit engine: validity-only, and say so
                if os.environ.get(ENV_BOLT_URI) or os.environ.get(ENV_GRAPH_ENGINE, "auto").lower() != "auto":
                    raise Nl2qError(f"the graph engine asked for could not be opened: {type(e).__name__}: {e}",
                                    f"check {ENV_BOLT_URI} / {ENV_GRAPH_ENGINE}, or set {ENV_GRAPH_ENGINE}=none "
                                    "to score text2cypher on validity only") from e
                self._engine_error = f"{type(e).__name__}: {e}"
        return self._engine

    def execution(self) -> dict[str, Any]:
        eng = self.engine()
        if eng is None:
            return {"mode": "validity-only", "note": f"no queries executed: {self._engine_error}"}
        return {"mode": eng.kind, "databases": list(eng.databases),
                "note": f"{', '.join(eng.databases)} executed on {eng.describe}; other databases validity-only"}

    def _execute(self, item: Item, query: str) -> Execution | None:
        eng = self.engine()
        if eng is None or item.database not in eng.databases:
            return None
        return eng.run(item.database, query)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


class _GraphEngine:
    """Gold and predicted queries run through one nl2q executor per evaluated database."""

    kind = "none"
    describe = ""
    databases: tuple[str, ...] = ()
    _executors: dict[str, Any]

    def run(self, database: str, query: str) -> Execution:
        return _execution(self._executors[database].run(query, _EXEC_POLICY))

    def close(self) -> None:
        for ex in self._executors.values():
            ex.close()
        self._executors.clear()


_EXEC_POLICY = Policy(max_rows=EXEC_ROW_CAP, preview_rows=EXEC_ROW_CAP, timeout_s=EXEC_TIMEOUT_S)


def _execution(dry: Any) -> Execution:
    """nl2q's own dry run, with every row kept, as an evaluation execution."""
    return Execution(dry.ok, dry.engine, list(dry.columns), [tuple(r) for r in dry.rows], dry.capped, dry.error,
                     dry.elapsed_ms)


class _BoltEngine(_GraphEngine):
    """A Bolt server (``$NL2Q_BOLT_URI``): database ``<name>`` per graph, loaded when empty; reads rolled back."""

    kind = "bolt"

    def __init__(self, uri: str, databases: list[str], graph_data: Any) -> None:
        from urllib.parse import urlsplit, urlunsplit

        import neo4j

        from .targets.cypher.execute import BoltExecutor

        parts = urlsplit(uri)
        user = parts.username or os.environ.get("NL2Q_BOLT_USER", "neo4j")
        password = parts.password or os.environ.get("NL2Q_BOLT_PASSWORD", "")
        clean = urlunsplit((parts.scheme, (parts.hostname or "") + (f":{parts.port}" if parts.port else ""), "", "", ""))
        self.driver = neo4j.GraphDatabase.driver(clean, auth=(user, password))
        self.describe = f"Bolt server {clean}"
        self.databases = tuple(databases)
        self._executors = {}
        for name in databases:
            with self.driver.session(database=name) as s:
                count = int(s.run("MATCH (n) RETURN count(n)").single()[0])
                if count:  # loaded before (by an earlier run, or the parent of these workers): must be whole
                    graph_data.verify_bolt(name, s)
            if count == 0:
                graph_data.load_bolt(name, self.driver, database=name)
            self._executors[name] = BoltExecutor(self.driver, database=name)

    def close(self) -> None:
        super().close()
        self.driver.close()


class _LadybugEngine(_GraphEngine):
    """The graphs loaded by eval/graph_data.py into Ladybug (embedded) in a temporary directory, opened read-only."""

    kind = "ladybug"

    def __init__(self, databases: list[str], graph_data: Any, schemas: dict[str, Any]) -> None:
        from .targets.cypher.execute import LadybugExecutor

        self._tmp = tempfile.TemporaryDirectory(prefix="nl2q-eval-graphs-")
        self.databases = tuple(databases)
        self.describe = "Ladybug (embedded; its Cypher differs from Neo4j's, so some gold queries fail there)"
        self._executors = {}
        for name in databases:
            path = graph_data.load_ladybug(name, Path(self._tmp.name) / f"{name}.lbug", schemas[name])
            self._executors[name] = LadybugExecutor(path)

    def close(self) -> None:
        super().close()
        self._tmp.cleanup()


def _open_graph_engine(suite: Text2Cypher, databases: list[str]) -> _GraphEngine | None:
    """``$NL2Q_EVAL_GRAPH`` = auto (Bolt when ``$NL2Q_BOLT_URI`` is set, else Ladybug), bolt, ladybug or none."""
    choice = os.environ.get(ENV_GRAPH_ENGINE, "auto").lower()
    if choice not in ("auto", "bolt", "ladybug", "none"):
        raise Nl2qError(f"{ENV_GRAPH_ENGINE}={choice!r} is not a graph engine", "use auto, bolt, ladybug or none")
    if choice == "none":
        return None
    _, graph_data = suite._modules()
    uri = os.environ.get(ENV_BOLT_URI)
    with suite._with_root():
        if choice == "bolt" or (choice == "auto" and uri):
            if not uri:
                raise Nl2qError(f"{ENV_GRAPH_ENGINE}=bolt needs {ENV_BOLT_URI}", "set it to bolt://user:password@host:port")
            return _BoltEngine(uri, databases, graph_data)
        try:
            import ladybug  # noqa: F401
        except ImportError:
            return None
        return _LadybugEngine(databases, graph_data, suite.schemas())


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


# ------------------------------------------------------------------------------------- scoring


def _round_dict(r: Any) -> dict[str, Any]:
    d = r.to_dict()
    if d.get("dry_run"):
        d["dry_run"] = {k: d["dry_run"][k] for k in ("ok", "engine", "mode", "row_count", "capped", "error", "elapsed_ms")}
    return d


def score(suite: Suite, item: Item, config: str, result: Any) -> dict[str, Any]:
    """The JSONL row of one (item, configuration) from its CompileResult."""
    gold = suite.execute_gold(item)
    gold_ok = gold is not None and gold.ok
    pred_exec = suite.execute_prediction(item, result.query) if (gold_ok and result.query) else None
    ordered = suite.ordered(item)
    exec_match: bool | None = None
    if gold_ok:
        exec_match = bool(result.query) and pred_exec is not None and results_match(gold, pred_exec, ordered)
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
            first_right = fe is not None and results_match(gold, fe, ordered)
        else:
            first_right = False
    exact = suite.exact_match(item, result.query) if result.query else (False if suite.target == "sql" else None)
    metrics = {
        "valid": result.valid,
        "executed": None if pred_exec is None else pred_exec.ok,
        "exec_match": exec_match,
        "right": right,
        "exact_set": exact,
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
        "error": None, "harness_version": HARNESS_VERSION,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _failed_row(suite: Suite, item: Item, config: str, model: str, error: BaseException) -> dict[str, Any]:
    """A compile that raised: recorded (so a resume does not retry it forever), scored as wrong and invalid."""
    gold = suite.execute_gold(item)
    gold_ok = gold is not None and gold.ok
    return {
        "suite": suite.name, "item_id": item.id, "config": config, "model": model, "database": item.database,
        "groups": item.groups, "question": item.question, "gold": item.gold, "prediction": "", "valid": False,
        "diagnostics": [], "rounds": [], "gold_execution": gold.brief() if gold else None, "prediction_execution": None,
        "metrics": {"valid": False, "executed": None, "exec_match": False if gold_ok else None,
                    "right": False if gold_ok else None, "exact_set": False if suite.target == "sql" else None,
                    "rounds": 0, "first_valid": False, "first_right": False if gold_ok else None,
                    "invalid_to_valid": False, "wrong_to_right": False if gold_ok else None,
                    "right_to_wrong": False if gold_ok else None, "ordered": suite.ordered(item),
                    "latency_ms": None, "prompt_tokens": 0, "output_tokens": 0, "error_codes": ["harness.exception"]},
        "timings": {}, "tokens": {}, "error": f"{type(error).__name__}: {error}"[:1000],
        "harness_version": HARNESS_VERSION, "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# ----------------------------------------------------------------------------------- JSONL store


class ResultStore:
    """``results.jsonl``: appended one whole line at a time, never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.dropped_partial = 0
        self.bad_lines = 0
        if path.exists():
            self._load()
        self._f = None

    def _load(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # A killed run left half a line: it is not a finished row. Cut it off so new rows start clean.
            keep = data.rfind(b"\n") + 1
            with self.path.open("r+b") as f:
                f.truncate(keep)
            self.dropped_partial = 1
            data = data[:keep]
        for line in data.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                self.rows[(row["item_id"], row["config"])] = row
            except (json.JSONDecodeError, KeyError, TypeError):
                self.bad_lines += 1

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self.rows

    def append(self, row: dict[str, Any]) -> None:
        key = (row["item_id"], row["config"])
        if key in self.rows:
            return
        line = json.dumps(row, ensure_ascii=False, default=str) + "\n"
        if self._f is None:
            self._f = self.path.open("a", encoding="utf-8")
        self._f.write(line)
        self._f.flush()
        os.fsync(self._f.fileno())
        self.rows[key] = row

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


# ------------------------------------------------------------------------------------- running


def _parse_configs(configs: str | Iterable[str]) -> list[str]:
    names = [c.strip() for c in (configs.split(",") if isinstance(configs, str) else configs) if c and c.strip()]
    if not names:
        raise Nl2qError("no configurations given", "pass e.g. --configs raw,constrained,repair")
    for n in names:
        Stages.named(n)  # raises Nl2qError for unknown names
    return list(dict.fromkeys(names))


def _model_name(model: Any) -> str:
    if isinstance(model, Model):
        return model.name
    return str(model or DEFAULT_MODEL)


class _ReplayModel(Model):
    """A model wrapped so that an identical generation request within one item is decoded once.

    Configurations share work: ``repair``'s first round is exactly ``constrained``'s request (same
    messages, prefix, grammar, sampling, token limit). Decoding is deterministic for a given request,
    so replaying the stored Generation gives the same result as decoding again. ``saved_ms`` is the
    decode time replayed since the last ``reset``; the harness adds it back to the row's latency.
    """

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.inner = model
        self.name, self.constraint_kinds, self.defaults = model.name, model.constraint_kinds, model.defaults
        self.memo: dict[str, Generation] = {}
        self.saved_ms = 0.0
        self.replayed = 0

    def reset(self) -> None:
        self.memo.clear()
        self.saved_ms = 0.0
        self.replayed = 0

    def constrain(self, constraint: Constraint) -> Compiled:
        return self.inner.constrain(constraint)

    def _compile(self, constraint: Constraint) -> Compiled:  # pragma: no cover - constrain delegates
        return self.inner.constrain(constraint)

    def generate(self, messages: Messages, *, prefix: str = "", constraint: Compiled | None = None,
                 max_new_tokens: int = 256, sampling: Sampling | None = None) -> Generation:
        s = sampling or self.defaults
        key = json.dumps([messages, prefix, constraint.constraint.key if constraint is not None else None, max_new_tokens,
                          [s.temperature, s.top_p, s.seed, s.repetition_penalty]], sort_keys=True)
        if key in self.memo:
            gen = self.memo[key]
            self.saved_ms += gen.elapsed_ms
            self.replayed += 1
            return gen
        gen = self.memo[key] = self.inner.generate(messages, prefix=prefix, constraint=constraint,
                                                   max_new_tokens=max_new_tokens, sampling=sampling)
        return gen


class _Runner:
    """One model and one suite: runs every pending configuration of an item."""

    def __init__(self, suite: Suite, model: Any, max_repairs: int, max_new_tokens: int) -> None:
        self.suite = suite
        self.model = _ReplayModel(load_model(model))
        self.compiler = Compiler(self.model, policy=Policy(), max_repairs=max_repairs, max_new_tokens=max_new_tokens)
        self.model_name = self.compiler.model.name

    def run(self, item: Item, configs: list[str], examples: Sequence[Item] = ()) -> Iterable[dict[str, Any]]:
        self.model.reset()
        shots = [(e.question, e.gold) for e in examples]
        for config in configs:
            try:
                saved_before, replayed_before = self.model.saved_ms, self.model.replayed
                result = self.compiler.compile(item.question, schema=self.suite.schema_for(item), target=self.suite.target,
                                               dialect=self.suite.dialect, stages=Stages.named(config), examples=shots)
                replayed = self.model.replayed - replayed_before
                if replayed:
                    # Latency as if decoded here: the replayed generations' decode time is added back.
                    result.timings["total_ms"] = round(result.timings["total_ms"] + self.model.saved_ms - saved_before, 1)
                    result.timings["replayed_generations"] = replayed
                yield {**score(self.suite, item, config, result), "few_shot": [e.id for e in examples]}
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # noqa: BLE001 - one item's crash is a finding, not the end of the run
                yield {**_failed_row(self.suite, item, config, self.model_name, e), "few_shot": [x.id for x in examples]}

    def close(self) -> None:
        self.compiler.close()


_WORKER: dict[str, Any] = {}


def _worker_init(suite: str, benchmarks: str, model: str | None, max_repairs: int, max_new_tokens: int, threads: int,
                 execution: dict[str, Any]) -> None:
    from .cli import _quiet

    _quiet()  # a worker's load messages would break the parent's progress bar
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass
    s = get_suite(suite, benchmarks)
    mine = s.execution()
    if mine.get("mode") != execution.get("mode"):
        raise Nl2qError(f"a worker would execute on {mine.get('mode')!r} ({mine.get('note')}), the run on "
                        f"{execution.get('mode')!r}", "fix the engine the note names, or run with --workers 1")
    _WORKER["runner"] = _Runner(s, model, max_repairs, max_new_tokens)
    _WORKER["items"] = {i.id: i for i in s.all_items()}


def _worker_run(item_id: str, configs: list[str], example_ids: list[str]) -> list[dict[str, Any]]:
    runner, items = _WORKER["runner"], _WORKER["items"]
    return list(runner.run(items[item_id], configs, [items[i] for i in example_ids]))


def evaluate(suite: str, *, limit: int | None = None, model: Any = None,
             configs: str | Sequence[str] = DEFAULT_CONFIGS, out: str | Path, workers: int = 1, seed: int = 0,
             benchmarks: str | Path | None = None, max_repairs: int = 3, max_new_tokens: int = 256,
             few_shot: int = 0, progress: bool = True) -> dict[str, Any]:
    """Run ``configs`` side by side on a deterministic sample of ``suite``; write rows, summary, report, charts.

    Returns the summary (also written to ``out/summary.json``). Resumable: (item, configuration)
    pairs already in ``out/results.jsonl`` are skipped. ``model`` is a model name/directory or an
    ``nl2q.Model`` (``workers > 1`` needs a name: each worker process loads its own copy).
    ``few_shot`` examples per item come from outside the sample (see ``Suite.few_shot``).
    """
    t_start = time.perf_counter()
    config_list = _parse_configs(configs)
    if limit is not None and limit < 0:
        raise Nl2qError(f"--limit must be >= 0, got {limit}")
    if workers < 1:
        raise Nl2qError(f"--workers must be >= 1, got {workers}")
    if few_shot < 0:
        raise Nl2qError(f"--few-shot must be >= 0, got {few_shot}")
    s = get_suite(suite, benchmarks)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        items = s.items(seed, limit)
        store = ResultStore(out / RESULTS_FILE)
        model_name = _model_name(model)
        _check_compatible(store, s.name, suite, model_name, out, few_shot)
        shots = s.few_shot(items, few_shot, seed)
        pending = [(it, [c for c in config_list if (it.id, c) not in store]) for it in items]
        pending = [(it, cs) for it, cs in pending if cs]
        s.execution()  # opens the engine (loading graphs once, here) before any item or worker runs
        total_pairs = len(items) * len(config_list)
        done_before = total_pairs - sum(len(cs) for _, cs in pending)
        run_info: dict[str, Any] = {"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                    "pairs_run": 0, "model_load_s": None, "wall_s": None,
                                    "resumed_pairs": done_before, "dropped_partial_lines": store.dropped_partial}
        t_run = time.perf_counter()
        if pending:
            plan = _Plan(s, suite, model, pending, shots, store, max_repairs, max_new_tokens, total_pairs, done_before,
                         progress)
            run_info.update(_run_parallel(plan, workers) if workers > 1 else _run_serial(plan))
        run_info["wall_s"] = round(time.perf_counter() - t_run, 2)
        store.close()
        rows = [store.rows[(it.id, c)] for it in items for c in config_list if (it.id, c) in store]
        runs = _earlier_runs(out / SUMMARY_FILE) + ([run_info] if run_info["pairs_run"] else [])
        summary = summarise(rows, suite=s, suite_arg=suite, items=items, configs=config_list, seed=seed, limit=limit,
                            model=model_name, run=run_info, runs=runs, few_shot=few_shot)
        summary["elapsed_s"] = round(time.perf_counter() - t_start, 2)
        _write_json(out / SUMMARY_FILE, summary)
        summary["charts"] = write_charts(summary, out)
        _write_json(out / SUMMARY_FILE, summary)
        (out / REPORT_FILE).write_text(render_report(summary), encoding="utf-8")
        return summary
    finally:
        s.close()


def _earlier_runs(path: Path) -> list[dict[str, Any]]:
    """The runs an existing summary.json records, so a resumed run's summary keeps their timing."""
    try:
        timing = json.loads(path.read_text(encoding="utf-8")).get("timing") or {}
    except (OSError, ValueError):
        return []
    return list(timing.get("runs") or [])


def _check_compatible(store: ResultStore, suite_name: str, suite_arg: str, model: str, out: Path, few_shot: int) -> None:
    for row in store.rows.values():
        if row.get("suite") != suite_name:
            raise Nl2qError(f"{out / RESULTS_FILE} holds results of suite {row.get('suite')!r}, not {suite_name!r}",
                            "use another --out directory for each suite")
        if row.get("model") != model:
            raise Nl2qError(f"{out / RESULTS_FILE} holds results of model {row.get('model')!r}, not {model!r}",
                            "use another --out directory for each model")
        if len(row.get("few_shot") or []) != few_shot and not row.get("error"):
            raise Nl2qError(f"{out / RESULTS_FILE} holds results with {len(row.get('few_shot') or [])} few-shot "
                            f"example(s), not {few_shot}", "use another --out directory for each --few-shot")


def _bar(total: int, initial: int, progress: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="run", desc="eval", file=sys.stderr, disable=not progress,
                dynamic_ncols=True, smoothing=0.1)


def _postfix(bar: Any, counts: dict[str, list[int]]) -> None:
    """Per configuration: valid/rows, and valid & right/rows whose gold executes (when any does)."""
    parts = [f"{c} valid {v[0]}/{v[1]}" + (f" right {v[2]}/{v[3]}" if v[3] else "") for c, v in counts.items()]
    bar.set_postfix_str("; ".join(parts), refresh=False)


@dataclass
class _Plan:
    """What a run has to do: the pending (item, configurations), their few-shot examples, where rows go."""

    suite: Suite
    suite_arg: str
    model: Any
    pending: list[tuple[Item, list[str]]]
    shots: dict[str, list[Item]]
    store: ResultStore
    max_repairs: int
    max_new_tokens: int
    total: int
    initial: int
    progress: bool


def _run_serial(plan: _Plan) -> dict[str, Any]:
    bar = _bar(plan.total, plan.initial, plan.progress)
    bar.set_description("eval (loading model)")
    t0 = time.perf_counter()
    runner = _Runner(plan.suite, plan.model, plan.max_repairs, plan.max_new_tokens)
    load_s = time.perf_counter() - t0
    bar.set_description("eval")
    counts: dict[str, list[int]] = {}
    n = 0
    try:
        for item, cfgs in plan.pending:
            for row in runner.run(item, cfgs, plan.shots[item.id]):
                _record(row, plan.store, counts, bar)
                n += 1
    finally:
        bar.close()
        runner.close()
    return {"pairs_run": n, "model_load_s": round(load_s, 2), "workers": 1}


def _record(row: dict[str, Any], store: ResultStore, counts: dict[str, list[int]], bar: Any) -> None:
    """Store one finished row and advance the progress bar with the running score per config."""
    store.append(row)
    c = counts.setdefault(row["config"], [0, 0, 0, 0])
    right = row["metrics"].get("right")
    c[0] += bool(row["valid"])
    c[1] += 1
    if right is not None:
        c[2] += bool(right)
        c[3] += 1
    _postfix(bar, counts)
    bar.update(1)


def _run_parallel(plan: _Plan, workers: int) -> dict[str, Any]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if isinstance(plan.model, Model):
        raise Nl2qError("workers > 1 needs a model name or directory, not a Model object",
                        "pass model as a string, or use workers=1")
    threads = max(1, (os.cpu_count() or 1) // workers)
    bar = _bar(plan.total, plan.initial, plan.progress)
    counts: dict[str, list[int]] = {}
    n = 0
    ctx = mp.get_context("spawn")
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(plan.suite_arg, str(plan.suite.root), plan.model, plan.max_repairs,
                                           plan.max_new_tokens, threads, plan.suite.execution())) as pool:
            futures = [pool.submit(_worker_run, it.id, cfgs, [e.id for e in plan.shots[it.id]])
                       for it, cfgs in plan.pending]
            for fut in as_completed(futures):
                for row in fut.result():
                    _record(row, plan.store, counts, bar)
                    n += 1
    finally:
        bar.close()
    return {"pairs_run": n, "workers": workers, "threads_per_worker": threads}


# ------------------------------------------------------------------------------------- summary


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


def _aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    lat = [r["metrics"]["latency_ms"] for r in rows if r["metrics"].get("latency_ms") is not None]
    valid, n_valid = _rate(rows, "valid")
    ex, n_ex = _rate(rows, "exec_match")
    ex_rows, n_ex_rows = _rate([r for r in rows if (r.get("gold_execution") or {}).get("row_count")], "exec_match")
    right, _ = _rate(rows, "right")
    exact, n_exact = _rate(rows, "exact_set")
    executed, n_executed = _rate(rows, "executed")
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
        "top_error_codes": dict(codes.most_common(8)),
    }


def summarise(rows: list[dict[str, Any]], *, suite: Suite, suite_arg: str, items: list[Item], configs: list[str],
              seed: int, limit: int | None, model: str, run: dict[str, Any],
              runs: list[dict[str, Any]] | None = None, few_shot: int = 0) -> dict[str, Any]:
    """summary.json: per configuration, per breakdown group, and how the run (and earlier ``runs``) were made."""
    from . import __version__

    runs = runs if runs is not None else [run]

    by_config = {c: [r for r in rows if r["config"] == c] for c in configs}
    ids = [i.id for i in items]
    breakdown: dict[str, dict[str, dict[str, Any]]] = {}
    for key in suite.breakdowns:
        values = sorted({i.groups.get(key, "") for i in items}, key=lambda v: (_LEVELS.index(v) if v in _LEVELS else 9, v))
        breakdown[key] = {}
        for v in values:
            breakdown[key][v] = {}
            for c in configs:
                sub = [r for r in by_config[c] if r["groups"].get(key, "") == v]
                agg = _aggregate(sub) if sub else {"n": 0}
                breakdown[key][v][c] = {k: agg.get(k) for k in ("n", "valid", "exec_acc", "right", "exact_set", "n_executable")}
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
                      "draw": "random.Random(f'{seed}:{item_id}').sample", "ids_per_row": "results.jsonl `few_shot`"}
                     if few_shot else
                     {"k": 0, "split": None, "note": "no few-shot examples; prompts hold the question and the schema only"}),
        "gold_in_prompts": False,
        "results": {c: _aggregate(by_config[c]) if by_config[c] else {"n": 0} for c in configs},
        "breakdown": breakdown,
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


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ report & charts


def _f(v: Any, pct: bool = True) -> str:
    if v is None:
        return "n/a"
    if pct:
        return f"{100 * v:.1f}%"
    return f"{v}"


def _s(ms: Any) -> str:
    return "n/a" if ms is None else f"{ms / 1000:.1f}"


_COLUMNS: dict[str, Callable[[dict[str, Any]], str]] = {
    "n": lambda r: str(r["n"]),
    "valid": lambda r: _f(r["valid"]),
    "exec acc": lambda r: _f(r["exec_acc"]),
    "exec acc (gold has rows)": lambda r: _f(r.get("exec_acc_gold_rows")),
    "valid & right": lambda r: _f(r["right"]),
    "exact set": lambda r: _f(r["exact_set"]),
    "rounds": lambda r: f"{r['rounds_mean']:.2f}",
    "invalid→valid": lambda r: str(r["invalid_to_valid"]),
    "wrong→right": lambda r: str(r["wrong_to_right"]),
    "right→wrong": lambda r: str(r["right_to_wrong"]),
    "p50 s": lambda r: _s(r["latency_ms_p50"]),
    "p95 s": lambda r: _s(r["latency_ms_p95"]),
    "prompt tok": lambda r: f"{r['prompt_tokens_mean']:.0f}",
    "output tok": lambda r: f"{r['output_tokens_mean']:.0f}",
    "tok/item": lambda r: f"{(r['prompt_tokens_mean'] or 0) + (r['output_tokens_mean'] or 0):.0f}",
}
TEXT_COLUMNS = ("n", "valid", "exec acc", "exec acc (gold has rows)", "valid & right", "exact set", "rounds", "invalid→valid", "wrong→right",
                "p50 s", "p95 s", "tok/item")
REPORT_COLUMNS = ("n", "valid", "exec acc", "exec acc (gold has rows)", "valid & right", "exact set", "rounds", "invalid→valid", "wrong→right",
                  "right→wrong", "p50 s", "p95 s", "prompt tok", "output tok")


def results_table(summary: dict[str, Any], columns: Sequence[str] = REPORT_COLUMNS,
                  name: Callable[[str], str] = str) -> tuple[list[str], list[list[str]]]:
    """Header and rows (one per configuration) of the main results table, cells formatted."""
    head = ["config", *columns]
    body = []
    for c in summary["configs"]:
        r = summary["results"][c]
        if not r.get("n"):
            body.append([name(c), "0"] + ["n/a"] * (len(columns) - 1))
        else:
            body.append([name(c)] + [_COLUMNS[k](r) for k in columns])
    return head, body


def format_table(summary: dict[str, Any]) -> str:
    """The per-configuration table as aligned text (what ``nl2q eval`` prints)."""
    head, body = results_table(summary, TEXT_COLUMNS)
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    line = lambda row: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths)))  # noqa: E731
    return "\n".join([line(head), "  ".join("-" * w for w in widths)] + [line(b) for b in body])


def markdown_table(summary: dict[str, Any], columns: Sequence[str] = REPORT_COLUMNS) -> str:
    """The main results table in Markdown (report.md, the README's baseline)."""
    return _md_table(*results_table(summary, columns, name=lambda c: f"`{c}`"))


def _md_table(head: list[str], body: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
                     + ["| " + " | ".join(r) + " |" for r in body])


def render_report(summary: dict[str, Any]) -> str:
    """report.md: the setting, the main table, breakdowns, charts and the definitions."""
    s = summary
    cfgs = s["configs"]
    ex = s["execution"]
    lines = [
        f"# nl2q evaluation: {s['suite_arg']}",
        "",
        f"- model: `{s['model']}`; configurations: {', '.join(f'`{c}`' for c in cfgs)}",
        f"- items: {s['n_items']} (seed {s['seed']}, limit {s['limit']}; {s['sampling']}); "
        f"item ids sha256 `{s['item_ids_sha256'][:16]}`",
        f"- execution: **{ex['mode']}**: {ex.get('note', '')}",
        (f"- few-shot: {s['few_shot']['k']} examples per item; split: {s['few_shot']['split']}; "
         "an evaluated item's own gold query never enters its prompts" if s["few_shot"]["k"]
         else "- few-shot: none; gold queries never enter prompts"),
        f"- rows: {s['rows']} of {s['pairs']} (item, configuration) pairs{'' if s['complete'] else ' (INCOMPLETE)'}",
        f"- generated {s['generated_at']} by nl2q {s['nl2q_version']} (harness v{s['harness_version']})",
        "",
        "## Results",
        "",
    ]
    lines += [markdown_table(s), ""]
    n_exec = {c: s["results"][c].get("n_executable") for c in cfgs}
    n_rows = {c: s["results"][c].get("n_gold_rows") for c in cfgs}
    lines += [f"Execution accuracy is over the items whose gold query executes ({', '.join(f'{c}: {v}' for c, v in n_exec.items())}); "
              f"\"gold has rows\" over those whose gold result is not empty ({', '.join(f'{c}: {v}' for c, v in n_rows.items())}).", ""]
    for key, groups in s["breakdown"].items():
        lines += [f"## By {key}", ""]
        metric = "exec_acc" if any(g[c].get("exec_acc") is not None for g in groups.values() for c in cfgs) else "valid"
        bhead = [key, "n"] + [f"{c} valid" for c in cfgs] + ([f"{c} exec acc" for c in cfgs] if metric == "exec_acc" else [])
        bbody = []
        for v, per in groups.items():
            n = max((per[c].get("n") or 0) for c in cfgs)
            row = [v or "(none)", str(n)] + [_f(per[c].get("valid")) for c in cfgs]
            if metric == "exec_acc":
                row += [_f(per[c].get("exec_acc")) for c in cfgs]
            bbody.append(row)
        lines += [_md_table(bhead, bbody), ""]
    errs = {c: s["results"][c].get("top_error_codes") or {} for c in cfgs}
    if any(errs.values()):
        lines += ["## Most frequent error codes of the final answers", ""]
        lines += [f"- `{c}`: " + (", ".join(f"`{k}` {v}" for k, v in e.items()) or "none") for c, e in errs.items()]
        lines.append("")
    if s.get("charts"):
        lines += ["## Charts", ""] + [f"![{Path(p).stem}]({p})" for p in s["charts"]] + [""]
    t = s["timing"]
    load = f" (model load {t['model_load_s']} s)" if t.get("model_load_s") is not None else ""
    workers = ", ".join(str(r.get("workers")) for r in t.get("runs") or []) or "n/a"
    lines += ["## Timing", "",
              f"- compile time per item (all configurations): {t.get('compile_s_per_item_all_configs')} s; "
              f"per (item, configuration): {t.get('compile_s_per_pair_mean')} s",
              f"- this run: {t.get('pairs_run')} pairs in {t.get('wall_s')} s{load}, "
              f"{t.get('resumed_pairs')} pairs resumed from earlier runs",
              f"- all runs: {len(t.get('runs') or [])} run(s), {t.get('pairs_run_all_runs')} pairs in "
              f"{t.get('wall_s_all_runs')} s wall time (workers: {workers})", ""]
    lines += ["## Definitions", ""] + [f"- **{k}**: {v}" for k, v in s["metric_definitions"].items()] + [""]
    return "\n".join(lines)


def write_charts(summary: dict[str, Any], out: Path) -> list[str]:
    """PNG charts comparing configurations (matplotlib, Agg). Returns file names relative to ``out``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    cfgs = summary["configs"]
    res = summary["results"]
    written = []
    metrics = [("valid", "valid"), ("exec_acc", "exec acc"), ("right", "valid & right"), ("exact_set", "exact set")]
    metrics = [(k, lab) for k, lab in metrics if any(res[c].get(k) is not None for c in cfgs)]

    def bars(ax: Any, groups: list[str], series: dict[str, list[float | None]], ylabel: str, pct: bool = True) -> None:
        width = 0.8 / max(1, len(series))
        for j, (name, vals) in enumerate(series.items()):
            xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))]
            ys = [0 if v is None else (100 * v if pct else v) for v in vals]
            b = ax.bar(xs, ys, width, label=name)
            ax.bar_label(b, labels=["n/a" if v is None else (f"{100 * v:.0f}" if pct else f"{v:.1f}") for v in vals],
                         fontsize=7)
        ax.set_xticks(range(len(groups)), groups, rotation=20 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
        if pct:
            ax.set_ylim(0, 105)

    title = f"{summary['suite_arg']}, {summary['model']}, n={summary['n_items']}"
    fig, ax = plt.subplots(figsize=(7, 4))
    bars(ax, [lab for _, lab in metrics], {c: [res[c].get(k) for k, _ in metrics] for c in cfgs}, "% of items")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=110)
    plt.close(fig)
    written.append("metrics.png")

    fig, ax = plt.subplots(figsize=(6, 3.6))
    bars(ax, cfgs, {"p50": [(res[c].get("latency_ms_p50") or 0) / 1000 for c in cfgs],
                    "p95": [(res[c].get("latency_ms_p95") or 0) / 1000 for c in cfgs]}, "seconds per item", pct=False)
    ax.set_title(f"compile latency: {title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)
    plt.close(fig)
    written.append("latency.png")

    key = summary["breakdown"] and next(iter(summary["breakdown"]))
    if key:
        groups = summary["breakdown"][key]
        metric = "exec_acc" if any(g[c].get("exec_acc") is not None for g in groups.values() for c in cfgs) else "valid"
        names = list(groups)[:12]
        fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names) + 2), 4))
        bars(ax, [n or "(none)" for n in names], {c: [groups[n][c].get(metric) for n in names] for c in cfgs},
             f"{metric} (% of items)")
        ax.set_title(f"{metric} by {key}: {title}", fontsize=10)
        fig.tight_layout()
        fig.savefig(out / f"by_{key}.png", dpi=110)
        plt.close(fig)
        written.append(f"by_{key}.png")
    return written
