"""Graph schemas read from live stores: Ladybug's catalog, or a sample over Bolt.

Types are normalised to STRING, INTEGER, FLOAT, BOOLEAN, DATE, DATETIME, TIME, DURATION,
POINT, BYTES, MAP, LIST<T> and ANY, whatever the engine calls them.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from ...errors import SchemaError
from .schema import GraphSchema, NodeLabel, RelType

_LADYBUG_TYPES = {
    "INT8": "INTEGER", "INT16": "INTEGER", "INT32": "INTEGER", "INT64": "INTEGER", "INT128": "INTEGER",
    "UINT8": "INTEGER", "UINT16": "INTEGER", "UINT32": "INTEGER", "UINT64": "INTEGER", "SERIAL": "INTEGER",
    "FLOAT": "FLOAT", "DOUBLE": "FLOAT", "DECIMAL": "FLOAT",
    "BOOL": "BOOLEAN", "BOOLEAN": "BOOLEAN",
    "STRING": "STRING", "UUID": "STRING",
    "DATE": "DATE", "TIMESTAMP": "DATETIME", "TIMESTAMP_TZ": "DATETIME", "TIMESTAMP_NS": "DATETIME",
    "TIMESTAMP_MS": "DATETIME", "TIMESTAMP_SEC": "DATETIME", "INTERVAL": "DURATION",
    "BLOB": "BYTES", "STRUCT": "MAP", "MAP": "MAP", "UNION": "ANY", "JSON": "STRING",
}


def ladybug_type(name: str) -> str:
    """Normalise a Ladybug/Kuzu type name (``INT64``, ``STRING[]``, ``DECIMAL(18, 3)``, ...)."""
    name = name.strip().upper()
    list_of = re.fullmatch(r"(.+)\[\d*\]", name)
    if list_of:
        return f"LIST<{ladybug_type(list_of.group(1))}>"
    return _LADYBUG_TYPES.get(re.split(r"[\s(]", name, maxsplit=1)[0], name)


def _ladybug_connection(source: Any) -> tuple[Any, list[Any]]:
    """A connection to ``source`` and the objects this module opened (to close afterwards)."""
    import ladybug

    if isinstance(source, ladybug.Connection):
        return source, []
    if isinstance(source, ladybug.Database):
        con = ladybug.Connection(source)
        return con, [con]
    if not isinstance(source, (str, Path)):
        raise SchemaError(f"cannot read a Ladybug schema from a {type(source).__name__}",
                          "pass a database path, a ladybug.Database or a ladybug.Connection")
    path = Path(source)
    if not path.exists():
        raise SchemaError(f"Ladybug database not found: {path}", "check the path; nl2q never creates a database")
    if path.is_dir():
        raise SchemaError(f"{path} is a directory, not a Ladybug database file",
                          "pass the database file itself (Ladybug keeps a database in one file)")
    try:
        db = ladybug.Database(str(path), read_only=True)
        con = ladybug.Connection(db)
    except Exception as e:
        raise SchemaError(f"cannot open {path} as a Ladybug database: {e}",
                          "is it a Ladybug database written by a compatible version, and not locked by a writer?") from e
    return con, [con, db]


def _quote(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def from_ladybug(source: str | Path | Any) -> GraphSchema:
    """Node and relationship tables, their typed properties and every FROM/TO pair."""
    con, opened = _ladybug_connection(source)
    try:
        labels: dict[str, NodeLabel] = {}
        rels: dict[str, RelType] = {}
        tables = con.execute("CALL show_tables() RETURN id, name, type").get_all()
        for _, name, kind in sorted(tables):
            info = con.execute(f"CALL table_info({_quote(name)}) RETURN name, type").get_all()
            props = {str(p): ladybug_type(str(t)) for p, t in info}
            if kind == "NODE":
                labels[name] = NodeLabel(name, props)
            elif kind.startswith("REL"):
                pairs = con.execute(f"CALL show_connection({_quote(name)}) "
                                    "RETURN `source table name`, `destination table name`").get_all()
                rels[name] = RelType(name, [(str(a), str(b)) for a, b in pairs], props)
        return GraphSchema(labels, rels)
    except SchemaError:
        raise
    except Exception as e:
        raise SchemaError(f"cannot read the Ladybug catalog: {e}", "is this a Ladybug (or Kuzu) database?") from e
    finally:
        for obj in opened:
            obj.close()


def value_type(value: Any) -> str:
    """The schema type of one value a neo4j driver returned."""
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "FLOAT"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, (bytes, bytearray)):
        return "BYTES"
    if isinstance(value, dict):
        return "MAP"
    if isinstance(value, (list, tuple)):
        inner = _merge_types(Counter(value_type(v) for v in value if v is not None))
        return f"LIST<{inner}>"
    kind = type(value).__name__
    return {"DateTime": "DATETIME", "datetime": "DATETIME", "Date": "DATE", "date": "DATE", "Time": "TIME",
            "time": "TIME", "Duration": "DURATION", "timedelta": "DURATION"}.get(
        kind, "POINT" if "Point" in kind else "ANY")


def _merge_types(seen: Counter[str]) -> str:
    if not seen:
        return "ANY"
    if set(seen) == {"INTEGER", "FLOAT"}:
        return "FLOAT"
    return seen.most_common(1)[0][0]


def _infer(samples: list[dict[str, Any]]) -> dict[str, str]:
    seen: dict[str, Counter[str]] = {}
    for props in samples:
        for key, value in props.items():
            counter = seen.setdefault(key, Counter())
            if value is not None:
                counter[value_type(value)] += 1
    return {key: _merge_types(c) for key, c in seen.items()}


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def from_bolt(driver: Any, database: str | None = None, sample: int = 1000) -> GraphSchema:
    """Labels, relationship types, property types and endpoint pairs, from a sample.

    Schema-less servers (ArcadeDB) declare nothing, so this looks at data: up to ``sample``
    nodes per label for properties, the outgoing relationships of up to ``sample`` nodes per
    label for endpoint pairs, and up to ``sample`` relationships per type for their
    properties. A pair that no sampled node has is missed.
    """
    import neo4j.exceptions as nx

    try:
        with driver.session(database=database, default_access_mode="READ") as session:
            def rows(query: str, **params: Any) -> list[Any]:
                return list(session.run(query, **params))

            try:
                label_names = [r[0] for r in rows("CALL db.labels()")]
            except nx.Neo4jError:
                label_names = [r[0] for r in rows("MATCH (n) WITH n LIMIT $k UNWIND labels(n) AS l RETURN DISTINCT l",
                                                  k=sample * 10)]
            try:
                rel_names = [r[0] for r in rows("CALL db.relationshipTypes()")]
            except nx.Neo4jError:
                rel_names = [r[0] for r in rows("MATCH ()-[r]->() WITH r LIMIT $k RETURN DISTINCT type(r)",
                                                k=sample * 10)]

            labels: dict[str, NodeLabel] = {}
            endpoints: dict[str, dict[tuple[str, str], None]] = {name: {} for name in rel_names}
            for label in sorted(label_names):
                props = rows(f"MATCH (n:{_ident(label)}) RETURN properties(n) AS p LIMIT $k", k=sample)
                inferred = _infer([r["p"] for r in props])
                if "id" in inferred:
                    inferred = {"id": inferred.pop("id"), **inferred}
                labels[label] = NodeLabel(label, inferred)
                out = rows(f"MATCH (a:{_ident(label)}) WITH a LIMIT $k MATCH (a)-[r]->(b) "
                           "RETURN DISTINCT type(r) AS t, labels(b) AS b", k=sample)
                for r in out:
                    for end in r["b"]:
                        endpoints.setdefault(r["t"], {})[(label, end)] = None
            rels: dict[str, RelType] = {}
            for name in sorted(endpoints):
                props = rows(f"MATCH ()-[r:{_ident(name)}]->() RETURN properties(r) AS p LIMIT $k", k=sample)
                rels[name] = RelType(name, sorted(endpoints[name]), _infer([r["p"] for r in props]))
            return GraphSchema(labels, rels)
    except (nx.ServiceUnavailable, nx.SessionExpired, OSError) as e:
        raise SchemaError(f"cannot reach the graph server: {e}",
                          "check the bolt:// URI and that the server is running") from e
    except nx.AuthError as e:
        raise SchemaError(f"the graph server refused the credentials: {e.code}: {e.message}",
                          "set the user and password (NL2Q_BOLT_USER / NL2Q_BOLT_PASSWORD)") from e
    except nx.Neo4jError as e:
        raise SchemaError(f"cannot read the graph schema: {e.code}: {e.message}",
                          "check the database name and that the user may read it") from e
    except nx.DriverError as e:
        raise SchemaError(f"cannot read the graph schema: {e}", "check the bolt:// URI and driver settings") from e
