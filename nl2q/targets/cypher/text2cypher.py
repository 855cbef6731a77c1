"""The neo4j-labs text2cypher synthetic sets and their demo-database schemas.

    python -m nl2q.targets.cypher.text2cypher        # summary: rows per database, clean vs author-flagged

Files (read from ``<benchmarks>/text2cypher``; the root is ``nl2q.evaluate.benchmarks``'s, or ``root=``):
- ``text2cypher_gpt4turbo.csv`` (9,846 rows) and ``text2cypher_claudeopus.csv`` (4,970 rows), columns
  question, cypher, type, database, syntax_error, timeout, returns_results, false_schema. The three
  flags are the strings ``True``/``False``; ``false_schema`` is empty or a comma-separated list of
  the schema names the query invented (``Label``, ``REL_TYPE``, ``Label.property``).
- ``text2cypher_schemas.csv``: one row per demo database, a prompt-style ``schema`` text and a
  ``structured_schema`` column holding a Python literal (single quotes, ``None``) with
  ``node_props`` {Label: [{property, type, ...statistics}]}, ``rel_props`` {TYPE: [...]},
  ``relationships`` [{start, type, end}] and ``metadata`` {constraint, index}.

The schema file holds 15 databases; the question sets use 16: ``slack`` (356 gpt4turbo rows)
has no schema in the file, so those rows cannot be checked (``MISSING_SCHEMAS``).
"""

from __future__ import annotations

import ast
import csv
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ...evaluate.benchmarks import benchmarks_dir
from .schema import GraphSchema, from_dict

SETS = {"gpt4turbo": "text2cypher_gpt4turbo.csv", "claudeopus": "text2cypher_claudeopus.csv"}
SCHEMAS_FILE = "text2cypher_schemas.csv"
COLUMNS = ["question", "cypher", "type", "database", "syntax_error", "timeout", "returns_results", "false_schema"]
MISSING_SCHEMAS = frozenset({"slack"})  # used by rows, absent from text2cypher_schemas.csv

# Neo4j's apoc.meta type names as the schema file spells them -> the names GraphSchema uses.
TYPE_NAMES = {
    "DATE_TIME": "DATETIME",
    "LOCAL_DATE_TIME": "LOCALDATETIME",
    "LOCAL_TIME": "LOCALTIME",
    "ZONED_DATE_TIME": "DATETIME",
}

csv.field_size_limit(1 << 30)


Root = str | Path | None  # the benchmark root; None: the resolver's (``$NL2Q_BENCHMARKS`` or the default)


def data_dir(root: Root = None) -> Path:
    return benchmarks_dir("text2cypher", root)


def _key(root: Root) -> Path:
    """One cache entry per benchmark directory, whichever way it was named."""
    return data_dir(root)


@dataclass(frozen=True)
class Row:
    question: str
    cypher: str
    type: str  # the authors' question category, e.g. "Simple Retrieval Queries"
    database: str
    syntax_error: bool
    timeout: bool
    returns_results: bool
    false_schema: str  # "" or e.g. "HAS_CEO.endDate, HAS_CEO.startDate"
    source: str = ""  # "gpt4turbo" or "claudeopus"
    index: int = 0  # 0-based row number in its file

    @property
    def false_schema_items(self) -> list[str]:
        return [x.strip() for x in self.false_schema.split(",") if x.strip()]

    @property
    def clean(self) -> bool:
        """No author flag: parsed on the real database and used only names its schema has."""
        return not self.syntax_error and not self.false_schema

    @property
    def flags(self) -> list[str]:
        """The author flags that mark this row's query as bad: "syntax_error", "false_schema"."""
        return [name for name, on in (("syntax_error", self.syntax_error), ("false_schema", bool(self.false_schema))) if on]

    @property
    def id(self) -> str:
        return f"{self.source}:{self.index}"


def _bool(value: str, column: str, where: str) -> bool:
    v = value.strip()
    if v == "True":
        return True
    if v == "False":
        return False
    raise ValueError(f"{where}: column {column} should be True or False, got {value!r}")


def _read_rows(source: str, path: Path) -> list[Row]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            raise ValueError(f"{path}: expected columns {COLUMNS}, found {reader.fieldnames}")
        rows = []
        for i, r in enumerate(reader):
            where = f"{path.name} row {i + 2}"
            if None in r or any(r[c] is None for c in COLUMNS):
                raise ValueError(f"{where}: wrong number of fields")
            rows.append(Row(
                question=r["question"].strip(),
                cypher=r["cypher"],
                type=r["type"].strip(),
                database=r["database"].strip(),
                syntax_error=_bool(r["syntax_error"], "syntax_error", where),
                timeout=_bool(r["timeout"], "timeout", where),
                returns_results=_bool(r["returns_results"], "returns_results", where),
                false_schema=r["false_schema"].strip(),
                source=source,
                index=i,
            ))
    return rows


@cache
def _rows(source: str, directory: Path) -> tuple[Row, ...]:
    if source not in SETS:
        raise ValueError(f"unknown text2cypher set {source!r}; choose from {sorted(SETS)}")
    return tuple(_read_rows(source, directory / SETS[source]))


def load_rows(which: tuple[str, ...] | list[str] | str = ("gpt4turbo", "claudeopus"),
              database: str | None = None, clean: bool | None = None, root: Root = None) -> list[Row]:
    """Rows of the chosen sets, in file order; optionally one database, only clean (True) or only flagged (False)."""
    if isinstance(which, str):
        which = (which,)
    directory = _key(root)
    out = [r for source in which for r in _rows(source, directory)]
    if database is not None:
        out = [r for r in out if r.database == database]
    if clean is not None:
        out = [r for r in out if r.clean == clean]
    return out


def _schema_rows(directory: Path) -> list[dict[str, str]]:
    path = directory / SCHEMAS_FILE
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or set(rows[0]) != {"database", "schema", "structured_schema"}:
        raise ValueError(f"{path}: expected columns database, schema, structured_schema")
    return rows


def _type(name: Any) -> str:
    t = str(name or "STRING").strip().upper()
    return TYPE_NAMES.get(t, t)


def structured_to_dict(structured: dict[str, Any]) -> dict[str, Any]:
    """The ``structured_schema`` literal -> the ``nl2q.schema.graph.from_dict`` format.

    Every label named by a relationship is declared (with no properties when ``node_props`` lacks
    it); a property listed twice keeps its first type; relationship properties of a type that has
    no endpoint row still make a relationship type (with no endpoints).
    """
    nodes: dict[str, dict[str, str]] = {}
    for label, props in (structured.get("node_props") or {}).items():
        nodes[str(label)] = {}
        for p in props or []:
            nodes[str(label)].setdefault(str(p["property"]), _type(p.get("type")))
    rels: dict[str, dict[str, Any]] = {}
    for e in structured.get("relationships") or []:
        start, rtype, end = str(e["start"]), str(e["type"]), str(e["end"])
        nodes.setdefault(start, {})
        nodes.setdefault(end, {})
        spec = rels.setdefault(rtype, {"endpoints": [], "properties": {}})
        if [start, end] not in spec["endpoints"]:
            spec["endpoints"].append([start, end])
    for rtype, props in (structured.get("rel_props") or {}).items():
        spec = rels.setdefault(str(rtype), {"endpoints": [], "properties": {}})
        for p in props or []:
            spec["properties"].setdefault(str(p["property"]), _type(p.get("type")))
    return {"nodes": nodes, "relationships": rels}


def unique_keys(structured: dict[str, Any]) -> dict[str, list[str]]:
    """Single-property uniqueness constraints on node labels: {Label: [property, ...]}."""
    keys: dict[str, list[str]] = {}
    for c in (structured.get("metadata") or {}).get("constraint") or []:
        if c.get("type") in ("UNIQUENESS", "NODE_KEY") and c.get("entityType") == "NODE" and len(c.get("properties") or []) == 1:
            for label in c.get("labelsOrTypes") or []:
                keys.setdefault(label, []).append(c["properties"][0])
    return keys


def load_structured(root: Root = None) -> dict[str, dict[str, Any]]:
    """The raw ``structured_schema`` literal of every database."""
    return _structured(_key(root))


@cache
def _structured(directory: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for r in _schema_rows(directory):
        name = r["database"].strip()
        try:
            out[name] = ast.literal_eval(r["structured_schema"])
        except (ValueError, SyntaxError) as e:
            raise ValueError(f"{SCHEMAS_FILE}: structured_schema of {name} is not a Python literal: {e}") from e
    return out


def load_schemas(root: Root = None) -> dict[str, GraphSchema]:
    """{database: GraphSchema} for every database of ``text2cypher_schemas.csv`` (15; not ``slack``)."""
    return {name: from_dict(structured_to_dict(s)) for name, s in load_structured(root).items()}


def load_schema_texts(root: Root = None) -> dict[str, str]:
    """{database: the prompt-style schema text the authors gave their generator}."""
    return {r["database"].strip(): r["schema"] for r in _schema_rows(_key(root))}


def summary(rows: list[Row] | None = None, root: Root = None) -> str:
    """Rows per database: per set, clean, each author flag; and each database's schema size."""
    rows = load_rows(root=root) if rows is None else rows
    schemas = load_schemas(root)
    by_db: dict[str, Counter] = {}
    for r in rows:
        c = by_db.setdefault(r.database, Counter())
        c["rows"] += 1
        c[r.source] += 1
        c["clean"] += r.clean
        c["syntax_error"] += r.syntax_error
        c["false_schema"] += bool(r.false_schema)
        c["both"] += r.syntax_error and bool(r.false_schema)
        c["timeout"] += r.timeout
        c["no_results"] += not r.returns_results
    cols = ["rows", "gpt4turbo", "claudeopus", "clean", "syntax_error", "false_schema", "both", "timeout", "no_results"]
    lines = [f"{'database':16} " + " ".join(f"{c:>12}" for c in cols) + "  schema"]
    total: Counter = Counter()
    for db in sorted(by_db, key=lambda d: -by_db[d]["rows"]):
        total.update(by_db[db])
        s = schemas.get(db)
        note = f"{len(s.labels)} labels, {len(s.rels)} rel types" if s else "MISSING"
        lines.append(f"{db:16} " + " ".join(f"{by_db[db][c]:>12}" for c in cols) + f"  {note}")
    lines.append(f"{'TOTAL':16} " + " ".join(f"{total[c]:>12}" for c in cols) + f"  {len(schemas)} schemas")
    lines.append("clean = syntax_error False and false_schema empty; flagged = the rest (both = rows with the two flags)")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary())
