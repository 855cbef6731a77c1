"""The two text2cypher databases that ship with data (movies, northwind), read from their sources.

``read_graph(name)`` parses the source independently of any engine, so a load (``graph_load``:
Ladybug, Bolt) can be verified against it: node and relationship counts per label and type.
movies has 171 nodes / 253 relationships, northwind 1,035 / 3,139.

- movies: ``movies.cypher``, a script of ``CREATE`` statements, read by a small parser here.
- northwind: ``northwind/northwind.cypher`` with ``LOAD CSV WITH HEADERS FROM "<url>"`` statements;
  its effect is computed from the local CSV files (the URLs are unreachable offline).

The northwind CSV files are malformed in places (unquoted commas in 9 supplier and 176 order
rows). ``LOAD CSV WITH HEADERS`` maps the header to the first fields and drops the extra ones,
and ``read_csv_rows`` does the same, so shifted values are loaded as they are in the demo
database the text2cypher questions were written against (its schema statistics show the
shift: ``Supplier.homePage`` values include fax numbers such as '(03) 444-6588').
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ...evaluate.benchmarks import benchmarks_dir

Root = str | Path | None  # the benchmark root; None: the resolver's (``$NL2Q_BENCHMARKS`` or the default)
DATABASES = ("movies", "northwind")
EXPECTED = {"movies": (171, 253), "northwind": (1035, 3139)}  # (nodes, relationships) of the sources


class LoadError(RuntimeError):
    """A load did not reproduce the source (counts differ) or the engine refused it."""


# ---------------------------------------------------------------------------------------------
# The source data, parsed independently of any engine


@dataclass
class Rel:
    type: str
    start_label: str
    start_key: Any
    end_label: str
    end_key: Any
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class GraphData:
    """Nodes by label (property maps), each label's unique key property, relationships by key."""

    name: str
    nodes: dict[str, list[dict[str, Any]]]
    keys: dict[str, str]
    rels: list[Rel]

    def counts(self) -> dict[str, Any]:
        return {
            "nodes": sum(len(v) for v in self.nodes.values()),
            "relationships": len(self.rels),
            "labels": {k: len(v) for k, v in self.nodes.items()},
            "types": dict(Counter(r.type for r in self.rels)),
        }


def source_dir(root: Root = None) -> Path:
    return benchmarks_dir("text2cypher", root)


def read_graph(name: str, root: Root = None) -> GraphData:
    if name == "movies":
        return read_movies(root)
    if name == "northwind":
        return read_northwind(root)
    raise ValueError(f"no data for text2cypher database {name!r}; only {', '.join(DATABASES)} have data")


def _constraints(text: str) -> dict[str, str]:
    """``CREATE CONSTRAINT ... FOR (v:Label) REQUIRE (v.prop) IS UNIQUE`` -> {Label: prop}."""
    out = {}
    for m in re.finditer(r"CREATE\s+CONSTRAINT\b[^;]*?FOR\s*\(\s*\w+\s*:\s*(\w+)\s*\)\s*REQUIRE\s*\(?\s*\w+\.(\w+)\s*\)?\s*IS\s+UNIQUE",
                         text, re.I):
        out.setdefault(m.group(1), m.group(2))
    return out


# -- movies.cypher: a small parser for its CREATE statements ---------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)
  | (?P<punct>->|<-|[()\[\]{}:,;\-<>=.])
""", re.X)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise LoadError(f"movies.cypher: cannot read {text[pos:pos + 30]!r} at offset {pos}")
        kind = m.lastgroup
        if kind != "ws":
            out.append((kind, m.group(), pos))
        pos = m.end()
    return out


class _MoviesParser:
    """``CREATE (v:Label {..})`` and ``CREATE (a)-[:TYPE {..}]->(b), ...`` as written in movies.cypher."""

    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.vars: dict[str, tuple[str, dict[str, Any]]] = {}
        self.nodes: dict[str, list[dict[str, Any]]] = {}
        self.rels: list[tuple[str, str, str, dict[str, Any]]] = []

    def peek(self, k: int = 0) -> tuple[str, str, int]:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else ("eof", "", -1)

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        tok = self.peek()
        if (value is not None and tok[1].upper() != value.upper()) or (kind is not None and tok[0] != kind):
            raise LoadError(f"movies.cypher: expected {value or kind} at offset {tok[2]}, found {tok[1]!r}")
        self.i += 1
        return tok[1]

    def parse(self) -> None:
        while self.peek()[0] != "eof":
            if self.peek()[1] == ";":
                self.i += 1
                continue
            if self.peek()[1].upper() == "CREATE" and self.peek(1)[1].upper() in ("CONSTRAINT", "INDEX"):
                while self.peek()[1] not in (";", ""):  # schema statements: constraints are read by regex
                    self.i += 1
                continue
            self.take("CREATE")
            self.path()
            while self.peek()[1] == ",":
                self.i += 1
                self.path()

    def path(self) -> None:
        left = self.node()
        while self.peek()[1] in ("-", "<-"):
            incoming = self.take() == "<-"
            self.take("[")
            if self.peek()[0] == "name" and self.peek(1)[1] == ":":
                self.i += 1  # relationship variable, unused
            self.take(":")
            rtype = self.name(self.take(kind="name"))
            props = self.map() if self.peek()[1] == "{" else {}
            self.take("]")
            outgoing = self.take() == "->"
            if incoming == outgoing:
                raise LoadError(f"movies.cypher: relationship {rtype} needs exactly one direction (offset {self.peek()[2]})")
            right = self.node()
            start, end = (right, left) if incoming else (left, right)
            self.rels.append((rtype, start, end, props))
            left = right

    def node(self) -> str:
        self.take("(")
        var = self.name(self.take(kind="name"))
        labels = []
        while self.peek()[1] == ":":
            self.i += 1
            labels.append(self.name(self.take(kind="name")))
        props = self.map() if self.peek()[1] == "{" else None
        self.take(")")
        if labels or props is not None:
            if var in self.vars:
                raise LoadError(f"movies.cypher: variable {var} is created twice")
            if len(labels) != 1:
                raise LoadError(f"movies.cypher: node {var} has labels {labels}; one label expected")
            node = dict(props or {})
            self.vars[var] = (labels[0], node)
            self.nodes.setdefault(labels[0], []).append(node)
        elif var not in self.vars:
            raise LoadError(f"movies.cypher: variable {var} is used before it is created")
        return var

    @staticmethod
    def name(tok: str) -> str:
        return tok[1:-1] if tok.startswith("`") else tok

    def map(self) -> dict[str, Any]:
        self.take("{")
        out: dict[str, Any] = {}
        while self.peek()[1] != "}":
            key = self.name(self.take(kind="name"))
            self.take(":")
            out[key] = self.value()
            if self.peek()[1] == ",":
                self.i += 1
        self.take("}")
        return out

    def value(self) -> Any:
        kind, text, _ = self.peek()
        if kind == "str":
            self.i += 1
            return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])
        if kind == "num":
            self.i += 1
            return float(text) if any(c in text for c in ".eE") else int(text)
        if text == "[":
            self.i += 1
            items = []
            while self.peek()[1] != "]":
                items.append(self.value())
                if self.peek()[1] == ",":
                    self.i += 1
            self.take("]")
            return items
        if text == "{":
            return self.map()
        if kind == "name" and text.lower() in ("true", "false", "null"):
            self.i += 1
            return {"true": True, "false": False, "null": None}[text.lower()]
        raise LoadError(f"movies.cypher: unexpected {text!r} at offset {self.peek()[2]}")


def source_script(name: str, root: Root = None) -> str:
    """The original load script of ``name``: ``movies.cypher`` or ``northwind/northwind.cypher``."""
    path = source_dir(root) / ("movies.cypher" if name == "movies" else "northwind/northwind.cypher")
    return path.read_text(encoding="utf-8")


def read_movies(root: Root = None) -> GraphData:
    text = (source_dir(root) / "movies.cypher").read_text(encoding="utf-8")
    p = _MoviesParser(text)
    p.parse()
    keys = _constraints(text)
    for label in p.nodes:
        if label not in keys:
            raise LoadError(f"movies.cypher declares no unique key for {label}")
    rels = []
    for rtype, a, b, props in p.rels:
        (la, na), (lb, nb) = p.vars[a], p.vars[b]
        rels.append(Rel(rtype, la, na[keys[la]], lb, nb[keys[lb]], props))
    return GraphData("movies", p.nodes, keys, rels)


# -- northwind: the load script's effect, statement by statement -------------------------------

NORTHWIND_FILES = ["products.csv", "categories.csv", "suppliers.csv", "customers.csv", "orders.csv", "order-details.csv"]
LOAD_CSV = re.compile(r'LOAD\s+CSV\s+WITH\s+HEADERS\s+FROM\s+(["\'])[^"\']*?([^/"\']+\.csv)\1\s+AS\s+(\w+)', re.I)


def read_csv_rows(path: Path) -> list[dict[str, str | None]]:
    """Rows as ``LOAD CSV WITH HEADERS`` gives them: extra fields dropped, missing or empty ones null."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        return [{h: (r[i] if i < len(r) and r[i] != "" else None) for i, h in enumerate(header)} for r in reader if r]


def northwind_script(root: Root = None) -> str:
    return source_script("northwind", root)


def read_northwind(root: Root = None) -> GraphData:
    """What ``northwind.cypher`` builds, computed in Python (MERGE: later rows overwrite, pairs are unique)."""
    base = source_dir(root) / "northwind"
    script = northwind_script(root)
    files = [m.group(2) for m in LOAD_CSV.finditer(script)]
    if files != NORTHWIND_FILES:
        raise LoadError(f"northwind.cypher loads {files}; this reader mirrors a script loading {NORTHWIND_FILES}")
    keys = _constraints(script)

    def merged(label: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: dict[Any, dict[str, Any]] = {}
        for r in rows:
            out.setdefault(r[keys[label]], {}).update(r)  # MERGE (n {key}) SET n += row
        return list(out.values())

    def intval(v: Any) -> int | None:
        return None if v is None else int(float(v))

    products = []
    for r in read_csv_rows(base / "products.csv"):
        r = dict(r)
        r["unitPrice"] = None if r["unitPrice"] is None else float(r["unitPrice"])
        for k in ("unitsInStock", "unitsOnOrder", "reorderLevel"):
            r[k] = intval(r[k])
        r["discontinued"] = None if r["discontinued"] is None else r["discontinued"] != "0"
        products.append(r)
    nodes = {
        "Product": merged("Product", products),
        "Category": merged("Category", read_csv_rows(base / "categories.csv")),
        "Supplier": merged("Supplier", read_csv_rows(base / "suppliers.csv")),
        "Customer": merged("Customer", read_csv_rows(base / "customers.csv")),
        "Order": merged("Order", read_csv_rows(base / "orders.csv")),
    }
    rels: list[Rel] = []

    def join(rtype: str, a: str, b: str, a_field: str, b_field: str, start_is_a: bool = True) -> None:
        index: dict[Any, list[dict[str, Any]]] = {}
        for n in nodes[b]:
            index.setdefault(n.get(b_field), []).append(n)
        seen = set()
        for n in nodes[a]:
            for m in index.get(n.get(a_field), []) if n.get(a_field) is not None else []:
                s, sl, e, el = (n, a, m, b) if start_is_a else (m, b, n, a)
                pair = (s[keys[sl]], e[keys[el]])
                if pair not in seen:  # MERGE (s)-[:T]->(e)
                    seen.add(pair)
                    rels.append(Rel(rtype, sl, pair[0], el, pair[1]))

    join("PART_OF", "Product", "Category", "categoryID", "categoryID")
    join("SUPPLIES", "Product", "Supplier", "supplierID", "supplierID", start_is_a=False)
    join("PURCHASED", "Customer", "Order", "customerID", "customerID")
    product_ids = {n["productID"] for n in nodes["Product"]}
    order_ids = {n["orderID"] for n in nodes["Order"]}
    details: dict[tuple[Any, Any], dict[str, Any]] = {}
    for r in read_csv_rows(base / "order-details.csv"):
        if r["orderID"] in order_ids and r["productID"] in product_ids:
            props = dict(r)  # SET details = row, details.quantity = toInteger(row.quantity)
            props["quantity"] = intval(props["quantity"])
            details[(r["orderID"], r["productID"])] = props
    rels += [Rel("ORDERS", "Order", o, "Product", p, props) for (o, p), props in details.items()]
    return GraphData("northwind", nodes, keys, rels)


# ---------------------------------------------------------------------------------------------
# Counting what a load produced


def quote_name(name: str) -> str:
    """A label, type or property name in backticks, so any spelling is one Cypher name."""
    return "`" + name.replace("`", "``") + "`"


def graph_counts(one: Callable[[str], int], data: GraphData) -> dict[str, Any]:
    """Nodes and relationships, in total and per label and type of ``data``; ``one`` runs a count query."""
    return {
        "nodes": one("MATCH (n) RETURN count(n)"),
        "relationships": one("MATCH ()-[r]->() RETURN count(r)"),
        "labels": {label: one(f"MATCH (n:{quote_name(label)}) RETURN count(n)") for label in data.nodes},
        "types": {t: one(f"MATCH ()-[r:{quote_name(t)}]->() RETURN count(r)") for t in sorted({r.type for r in data.rels})},
    }


def verify_counts(name: str, engine: str, got: dict[str, Any], want: dict[str, Any]) -> None:
    """Raise ``LoadError`` naming every count of ``got`` that differs from the source's ``want``: a partial graph is never used."""
    diffs = [f"{k}: {got[k]} != {want[k]}" for k in ("nodes", "relationships") if got[k] != want[k]]
    diffs += [f"{k} {x}: {got[k].get(x)} != {n}" for k in ("labels", "types") for x, n in want[k].items() if got[k].get(x) != n]
    if diffs:
        raise LoadError(f"{name} on {engine}: loaded counts differ from the source: " + "; ".join(diffs))
