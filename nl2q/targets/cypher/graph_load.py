"""Load the text2cypher graphs with data (movies, northwind) into real engines, verified against the source.

- ``load_ladybug(name, path)``: a Ladybug (embedded, Kuzu fork) database. Ladybug has a strict
  schema, so node and relationship tables are created from the text2cypher ``GraphSchema``
  first (primary keys from the source scripts' uniqueness constraints), then the data is
  inserted in ``UNWIND $rows`` batches.
- ``load_bolt(name, driver)``: any Bolt server (ArcadeDB's Bolt plugin here, Neo4j elsewhere).
  It runs the *original* scripts: ``movies.cypher`` statement by statement, and
  ``northwind/northwind.cypher`` with each ``LOAD CSV WITH HEADERS FROM "<url>" AS row`` replaced
  by ``UNWIND $rows AS row`` fed from the local CSV file in batches (the URLs are unreachable
  offline).

Both verify node and relationship counts (per label and per type) against ``graph_data.read_graph``.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from .graph_data import (
    LOAD_CSV, GraphData, LoadError, Rel, Root, graph_counts, quote_name, read_csv_rows, read_graph, source_dir,
    source_script, verify_counts,
)
from .schema import GraphSchema

LADYBUG_TYPES = {
    "STRING": "STRING", "INTEGER": "INT64", "FLOAT": "DOUBLE", "BOOLEAN": "BOOLEAN", "DATE": "DATE",
    "DATETIME": "TIMESTAMP", "LOCALDATETIME": "TIMESTAMP", "DURATION": "INTERVAL", "POINT": "STRING",
    "LOCALTIME": "STRING", "TIME": "STRING",
}


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
        cols = [f"{quote_name(p)} {ladybug_type(p, t, samples.get((label.name, p)))}" for p, t in label.properties.items()]
        out.append(f"CREATE NODE TABLE {quote_name(label.name)}({', '.join(cols)}, PRIMARY KEY({quote_name(key)}))")
    for rel in schema.rels.values():
        if not rel.endpoints:
            continue
        pairs = [f"FROM {quote_name(a)} TO {quote_name(b)}" for a, b in rel.endpoints]
        cols = [f"{quote_name(p)} {ladybug_type(p, t, samples.get((rel.name, p)))}" for p, t in rel.properties.items()]
        out.append(f"CREATE REL TABLE {quote_name(rel.name)}({', '.join(pairs + cols)})")
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


def ladybug_counts(conn: Any, data: GraphData) -> dict[str, Any]:
    return graph_counts(lambda q: int(conn.execute(q).get_next()[0]), data)


def load_ladybug(name: str, path: str | Path, schema: GraphSchema | None = None, *, overwrite: bool = False,
                 batch: int = 2000, root: Root = None) -> Path:
    """Create a Ladybug database at ``path`` holding text2cypher database ``name`` (movies or northwind).

    Tables come from ``schema`` (default: the text2cypher schema of ``name``); counts are verified
    against the source and a ``LoadError`` is raised when they differ. Returns ``path``.
    """
    import ladybug

    path = Path(path)
    data = read_graph(name, root)
    if schema is None:
        from .text2cypher import load_schemas

        schema = load_schemas(root)[name]
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
            sets = ", ".join(f"{quote_name(p)}: r.{quote_name(p)}" for p in props)
            query = f"UNWIND $rows AS r CREATE (n:{quote_name(label)} {{{sets}}})"
            for chunk in _batches([{p: r.get(p) for p in props} for r in rows], batch):
                conn.execute(query, {"rows": chunk})
        groups: dict[tuple[str, str, str], list[Rel]] = {}
        for rel in data.rels:
            groups.setdefault((rel.type, rel.start_label, rel.end_label), []).append(rel)
        for (rtype, a, b), rels in groups.items():
            props = list(schema.rels[rtype].properties)
            sets = ", ".join(f"{quote_name(p)}: r.p.{quote_name(p)}" for p in props)
            create = f"(x)-[:{quote_name(rtype)} {{{sets}}}]->(y)" if props else f"(x)-[:{quote_name(rtype)}]->(y)"
            query = (f"UNWIND $rows AS r MATCH (x:{quote_name(a)} {{{quote_name(data.keys[a])}: r.a}}), (y:{quote_name(b)} {{{quote_name(data.keys[b])}: r.b}}) "
                     f"CREATE {create}")
            payload = [{"a": r.start_key, "b": r.end_key, **({"p": {p: r.properties.get(p) for p in props}} if props else {})}
                       for r in rels]
            for chunk in _batches(payload, batch):
                conn.execute(query, {"rows": chunk})
        got = ladybug_counts(conn, data)
    finally:
        conn.close()
        db.close()
    verify_counts(name, "ladybug", got, data.counts())
    return path


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
              log: Any = None, root: Root = None) -> dict[str, Any]:
    """Run the original load script of ``name`` (movies or northwind) through a ``neo4j`` driver.

    ``database`` is the server-side database (default: the driver's default). A non-empty database
    is refused unless ``clear=True`` (which deletes every node in it first). Schema statements
    (constraints, indexes) a server rejects are skipped and listed. Returns the counts and what
    was skipped; raises ``LoadError`` when the counts differ from the source.
    """
    data = read_graph(name, root)
    text = source_script(name, root)
    base = source_dir(root) / "northwind"
    skipped: list[str] = []
    t0 = time.perf_counter()
    with driver.session(**({"database": database} if database else {})) as session:
        existing = int(session.run("MATCH (n) RETURN count(n)").single()[0])
        if existing:
            if not clear:
                raise LoadError(f"database {database or '(default)'} already holds {existing} nodes; pass clear=True to delete them")
            session.run("MATCH (n) DETACH DELETE n").consume()
        for stmt in _split_statements(text):
            m = LOAD_CSV.search(stmt)
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
    verify_counts(name, "bolt", got, data.counts())
    return {**got, "skipped": skipped, "seconds": round(time.perf_counter() - t0, 2)}


def verify_bolt(name: str, session: Any, root: Root = None) -> None:
    """Raise ``LoadError`` unless ``session``'s database holds ``name`` whole (counts per label and type)."""
    data = read_graph(name, root)
    verify_counts(name, "bolt", bolt_counts(session, data), data.counts())
