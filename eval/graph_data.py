"""Load the two text2cypher databases that ship with data (movies, northwind) into real engines.

    python eval/graph_data.py [--ladybug-dir DIR] [--no-bolt]

- ``load_ladybug(name, path)``: a Ladybug (embedded, Kuzu fork) database. Ladybug has a strict
  schema, so node and relationship tables are created from the text2cypher ``GraphSchema``
  first (primary keys from the source scripts' uniqueness constraints), then the data is
  inserted in ``UNWIND $rows`` batches.
- ``load_bolt(name, driver)``: any Bolt server (ArcadeDB's Bolt plugin here, Neo4j elsewhere).
  It runs the *original* scripts: ``movies.cypher`` statement by statement, and
  ``northwind/northwind.cypher`` with each ``LOAD CSV WITH HEADERS FROM "<url>" AS row`` replaced
  by ``UNWIND $rows AS row`` fed from the local CSV file in batches (the URLs are unreachable
  offline).

Both verify node and relationship counts (per label and per type) against the source, parsed
independently here (``read_graph``): movies has 171 nodes / 253 relationships, northwind
1,035 / 3,139.

The northwind CSV files are malformed in places (unquoted commas in 9 supplier and 176 order
rows). ``LOAD CSV WITH HEADERS`` maps the header to the first fields and drops the extra ones,
and ``read_csv_rows`` does the same, so shifted values are loaded as they are in the demo
database the text2cypher questions were written against (its schema statistics show the
shift: ``Supplier.homePage`` values include fax numbers such as '(03) 444-6588').
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval.benchmarks import benchmarks_dir  # noqa: E402
from nl2q.targets.cypher.schema import GraphSchema  # noqa: E402

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


def source_dir() -> Path:
    return benchmarks_dir("text2cypher")


def read_graph(name: str) -> GraphData:
    if name == "movies":
        return read_movies()
    if name == "northwind":
        return read_northwind()
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


def read_movies() -> GraphData:
    text = (source_dir() / "movies.cypher").read_text(encoding="utf-8")
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
_LOAD_CSV = re.compile(r'LOAD\s+CSV\s+WITH\s+HEADERS\s+FROM\s+(["\'])[^"\']*?([^/"\']+\.csv)\1\s+AS\s+(\w+)', re.I)


def read_csv_rows(path: Path) -> list[dict[str, str | None]]:
    """Rows as ``LOAD CSV WITH HEADERS`` gives them: extra fields dropped, missing or empty ones null."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        return [{h: (r[i] if i < len(r) and r[i] != "" else None) for i, h in enumerate(header)} for r in reader if r]


def northwind_script() -> str:
    return (source_dir() / "northwind" / "northwind.cypher").read_text(encoding="utf-8")


def read_northwind() -> GraphData:
    """What ``northwind.cypher`` builds, computed in Python (MERGE: later rows overwrite, pairs are unique)."""
    base = source_dir() / "northwind"
    script = northwind_script()
    files = [m.group(2) for m in _LOAD_CSV.finditer(script)]
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
# Ladybug

LADYBUG_TYPES = {
    "STRING": "STRING", "INTEGER": "INT64", "FLOAT": "DOUBLE", "BOOLEAN": "BOOLEAN", "DATE": "DATE",
    "DATETIME": "TIMESTAMP", "LOCALDATETIME": "TIMESTAMP", "DURATION": "INTERVAL", "POINT": "STRING",
    "LOCALTIME": "STRING", "TIME": "STRING",
}


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def ladybug_type(prop: str, typ: str, sample: Any = None) -> str:
    t = typ.upper()
    if t == "LIST":
        if isinstance(sample, list) and sample and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in sample):
            return "DOUBLE[]" if any(isinstance(x, float) for x in sample) else "INT64[]"
        return "DOUBLE[]" if "embedding" in prop.lower() else "STRING[]"
    return LADYBUG_TYPES.get(t, "STRING")


def ladybug_ddl(schema: GraphSchema, keys: dict[str, str], samples: dict[tuple[str, str], Any] | None = None) -> list[str]:
    """CREATE NODE/REL TABLE statements for a schema; ``keys`` gives each label's primary key."""
    samples = samples or {}
    out = []
    for label in schema.labels.values():
        key = keys.get(label.name)
        if key is None or key not in label.properties:
            raise LoadError(f"label {label.name} has no unique key property among {list(label.properties)}; "
                            "Ladybug node tables need a primary key")
        cols = [f"{_q(p)} {ladybug_type(p, t, samples.get((label.name, p)))}" for p, t in label.properties.items()]
        out.append(f"CREATE NODE TABLE {_q(label.name)}({', '.join(cols)}, PRIMARY KEY({_q(key)}))")
    for rel in schema.rels.values():
        if not rel.endpoints:
            continue
        pairs = [f"FROM {_q(a)} TO {_q(b)}" for a, b in rel.endpoints]
        cols = [f"{_q(p)} {ladybug_type(p, t, samples.get((rel.name, p)))}" for p, t in rel.properties.items()]
        out.append(f"CREATE REL TABLE {_q(rel.name)}({', '.join(pairs + cols)})")
    return out


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _check_fits(data: GraphData, schema: GraphSchema) -> None:
    problems = []
    for label, rows in data.nodes.items():
        if label not in schema.labels:
            problems.append(f"label {label} is not in the schema")
            continue
        extra = {k for r in rows for k in r} - set(schema.labels[label].properties)
        if extra:
            problems.append(f"{label} has properties {sorted(extra)} the schema lacks")
    for rel in data.rels:
        if not schema.fits(rel.type, rel.start_label, rel.end_label):
            problems.append(f"({rel.start_label})-[:{rel.type}]->({rel.end_label}) is not in the schema")
        elif set(rel.properties) - set(schema.rels[rel.type].properties):
            problems.append(f"{rel.type} has properties {sorted(set(rel.properties) - set(schema.rels[rel.type].properties))} the schema lacks")
    if problems:
        raise LoadError("the data does not fit the text2cypher schema: " + "; ".join(sorted(set(problems))[:10]))


def graph_counts(one: Callable[[str], int], data: GraphData) -> dict[str, Any]:
    """Nodes and relationships, in total and per label and type of ``data``; ``one`` runs a count query."""
    return {
        "nodes": one("MATCH (n) RETURN count(n)"),
        "relationships": one("MATCH ()-[r]->() RETURN count(r)"),
        "labels": {label: one(f"MATCH (n:{_q(label)}) RETURN count(n)") for label in data.nodes},
        "types": {t: one(f"MATCH ()-[r:{_q(t)}]->() RETURN count(r)") for t in sorted({r.type for r in data.rels})},
    }


def ladybug_counts(conn: Any, data: GraphData) -> dict[str, Any]:
    return graph_counts(lambda q: int(conn.execute(q).get_next()[0]), data)


def load_ladybug(name: str, path: str | Path, schema: GraphSchema | None = None, *, overwrite: bool = False,
                 batch: int = 2000) -> Path:
    """Create a Ladybug database at ``path`` holding text2cypher database ``name`` (movies or northwind).

    Tables come from ``schema`` (default: the text2cypher schema of ``name``); counts are verified
    against the source and a ``LoadError`` is raised when they differ. Returns ``path``.
    """
    import ladybug

    path = Path(path)
    data = read_graph(name)
    if schema is None:
        from eval.text2cypher import load_schemas

        schema = load_schemas()[name]
    _check_fits(data, schema)
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        for extra in path.parent.glob(path.name + ".*"):  # write-ahead log and the like
            extra.unlink() if extra.is_file() else shutil.rmtree(extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples: dict[tuple[str, str], Any] = {}
    for label, rows in data.nodes.items():
        for r in rows:
            for k, v in r.items():
                if v is not None:
                    samples.setdefault((label, k), v)
    for rel in data.rels:
        for k, v in rel.properties.items():
            if v is not None:
                samples.setdefault((rel.type, k), v)
    db = ladybug.Database(str(path))
    conn = ladybug.Connection(db)
    try:
        for stmt in ladybug_ddl(schema, data.keys, samples):
            conn.execute(stmt)
        for label, rows in data.nodes.items():
            props = list(schema.labels[label].properties)
            sets = ", ".join(f"{_q(p)}: r.{_q(p)}" for p in props)
            query = f"UNWIND $rows AS r CREATE (n:{_q(label)} {{{sets}}})"
            for chunk in _batches([{p: r.get(p) for p in props} for r in rows], batch):
                conn.execute(query, {"rows": chunk})
        groups: dict[tuple[str, str, str], list[Rel]] = {}
        for rel in data.rels:
            groups.setdefault((rel.type, rel.start_label, rel.end_label), []).append(rel)
        for (rtype, a, b), rels in groups.items():
            props = list(schema.rels[rtype].properties)
            sets = ", ".join(f"{_q(p)}: r.p.{_q(p)}" for p in props)
            create = f"(x)-[:{_q(rtype)} {{{sets}}}]->(y)" if props else f"(x)-[:{_q(rtype)}]->(y)"
            query = (f"UNWIND $rows AS r MATCH (x:{_q(a)} {{{_q(data.keys[a])}: r.a}}), (y:{_q(b)} {{{_q(data.keys[b])}: r.b}}) "
                     f"CREATE {create}")
            payload = [{"a": r.start_key, "b": r.end_key, **({"p": {p: r.properties.get(p) for p in props}} if props else {})}
                       for r in rels]
            for chunk in _batches(payload, batch):
                conn.execute(query, {"rows": chunk})
        got = ladybug_counts(conn, data)
    finally:
        conn.close()
        db.close()
    _verify(name, "ladybug", got, data.counts())
    return path


# ---------------------------------------------------------------------------------------------
# Bolt


def _split_statements(text: str) -> list[str]:
    """Split a script on ';' outside strings, comments and backticks."""
    out, start, i, quote = [], 0, 0, None
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote != "`":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"`":
            quote = c
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = len(text) if j < 0 else j
            continue
        elif c == ";":
            out.append(text[start:i])
            start = i + 1
        i += 1
    out.append(text[start:])
    return [s.strip() for s in out if s.strip()]


def bolt_counts(session: Any, data: GraphData) -> dict[str, Any]:
    return graph_counts(lambda q: int(session.run(q).single()[0]), data)


def load_bolt(name: str, driver: Any, database: str | None = None, *, clear: bool = False, batch: int = 1000,
              log: Any = None) -> dict[str, Any]:
    """Run the original load script of ``name`` (movies or northwind) through a ``neo4j`` driver.

    ``database`` is the server-side database (default: the driver's default). A non-empty database
    is refused unless ``clear=True`` (which deletes every node in it first). Schema statements
    (constraints, indexes) a server rejects are skipped and listed. Returns the counts and what
    was skipped; raises ``LoadError`` when the counts differ from the source.
    """
    data = read_graph(name)
    text = (source_dir() / "movies.cypher").read_text(encoding="utf-8") if name == "movies" else northwind_script()
    base = source_dir() / "northwind"
    skipped: list[str] = []
    t0 = time.perf_counter()
    with driver.session(**({"database": database} if database else {})) as session:
        existing = int(session.run("MATCH (n) RETURN count(n)").single()[0])
        if existing:
            if not clear:
                raise LoadError(f"database {database or '(default)'} already holds {existing} nodes; pass clear=True to delete them")
            session.run("MATCH (n) DETACH DELETE n").consume()
        for stmt in _split_statements(text):
            m = _LOAD_CSV.search(stmt)
            is_schema = re.match(r"(CREATE|DROP)\s+(CONSTRAINT|INDEX)\b", stmt, re.I)
            try:
                if m:
                    rows = read_csv_rows(base / m.group(2))
                    unwound = stmt[:m.start()] + f"UNWIND $rows AS {m.group(3)}" + stmt[m.end():]
                    for chunk in _batches(rows, batch):
                        session.run(unwound, {"rows": chunk}).consume()
                else:
                    session.run(stmt).consume()
            except Exception as e:  # noqa: BLE001 - schema statements are optional; data statements are not
                if not is_schema:
                    raise LoadError(f"{name}: the server refused {stmt[:80]!r}...: {e}") from e
                skipped.append(f"{stmt.splitlines()[0][:80]}: {str(e).splitlines()[0][:160]}")
            if log:
                log(f"  {stmt.splitlines()[0][:70]}")
        got = bolt_counts(session, data)
    _verify(name, "bolt", got, data.counts())
    return {**got, "skipped": skipped, "seconds": round(time.perf_counter() - t0, 2)}


def verify_bolt(name: str, session: Any) -> None:
    """Raise ``LoadError`` unless ``session``'s database holds ``name`` whole (counts per label and type)."""
    data = read_graph(name)
    _verify(name, "bolt", bolt_counts(session, data), data.counts())


def _verify(name: str, engine: str, got: dict[str, Any], want: dict[str, Any]) -> None:
    diffs = [f"{k}: {got[k]} != {want[k]}" for k in ("nodes", "relationships") if got[k] != want[k]]
    diffs += [f"{k} {x}: {got[k].get(x)} != {n}" for k in ("labels", "types") for x, n in want[k].items() if got[k].get(x) != n]
    if diffs:
        raise LoadError(f"{name} on {engine}: loaded counts differ from the source: " + "; ".join(diffs))


# ---------------------------------------------------------------------------------------------
# An ArcadeDB server with the Bolt plugin: tests/graph_server.py starts it in a subprocess


def _graph_server_module() -> Any:
    path = ROOT / "tests" / "graph_server.py"
    if not path.is_file():
        raise LoadError(f"{path} is missing: it starts the ArcadeDB Bolt server these loads run against")
    import importlib.util

    spec = importlib.util.spec_from_file_location("nl2q_tests_graph_server", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules.setdefault(spec.name, mod)  # type: ignore[union-attr]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@dataclass
class BoltServer:
    driver: Any
    uri: str
    databases: tuple[str, ...]
    auth: tuple[str, str]

    @property
    def database(self) -> str:
        return self.databases[0]

    @property
    def uri_with_auth(self) -> str:
        """``bolt://user:password@host:port``, the form ``$NL2Q_BOLT_URI`` takes."""
        user, password = self.auth
        return self.uri.replace("bolt://", f"bolt://{user}:{password}@", 1)


@contextmanager
def bolt_server(*databases: str) -> Iterator[BoltServer]:
    """An ArcadeDB server (in a subprocess, temporary root) holding empty ``databases`` (default: nl2q); stopped on exit."""
    gs = _graph_server_module()
    names = databases or ("nl2q",)
    with tempfile.TemporaryDirectory(prefix="nl2q-arcadedb-") as root:
        server = gs.start_arcadedb(root, database=",".join(names))
        driver = None
        try:
            driver = server.driver()
            yield BoltServer(driver, server.uri, names, server.auth)
        finally:
            if driver is not None:
                driver.close()
            server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ladybug-dir", help="where to write <name>.lbug databases (default: a temporary directory)")
    ap.add_argument("--no-bolt", action="store_true", help="skip the ArcadeDB/Bolt load")
    ap.add_argument("names", nargs="*", default=list(DATABASES))
    args = ap.parse_args(argv)
    ok = True
    for name in args.names:
        c = read_graph(name).counts()
        print(f"source {name}: {c['nodes']} nodes, {c['relationships']} relationships; {c['labels']}; {c['types']}")
    with tempfile.TemporaryDirectory(prefix="nl2q-ladybug-") as tmp:
        out = Path(args.ladybug_dir or tmp)
        for name in args.names:
            t0 = time.perf_counter()
            try:
                path = load_ladybug(name, out / f"{name}.lbug", overwrite=True)
                print(f"ladybug {name}: counts match the source ({time.perf_counter() - t0:.2f} s) -> {path}")
            except Exception as e:  # noqa: BLE001
                ok = False
                print(f"ladybug {name}: FAILED: {e}")
    if not args.no_bolt:
        t0 = time.perf_counter()
        with bolt_server() as srv:
            print(f"ArcadeDB Bolt server up at {srv.uri} ({time.perf_counter() - t0:.1f} s)")
            for name in args.names:  # one database, loaded in turn (clear=True empties it first)
                try:
                    res = load_bolt(name, srv.driver, database=srv.database, clear=True)
                    print(f"bolt {name}: counts match the source ({res['seconds']} s); skipped: {res['skipped'] or 'nothing'}")
                except Exception as e:  # noqa: BLE001
                    ok = False
                    print(f"bolt {name}: FAILED: {e}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
