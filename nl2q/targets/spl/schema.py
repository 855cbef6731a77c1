"""What an SPL search may name: indexes, sourcetypes and fields (with their types and where they occur).

Sources: the offline event store (:mod:`.events`, its ``_fields`` table), or a schema file (YAML or
JSON) of the same shape::

    indexes: [hdfs, openssh]          # or {hdfs: ["loghub:hdfs"], ...}: each index with its sourcetypes
    sourcetypes: ["loghub:hdfs", "loghub:openssh"]
    fields:
      Level: {type: VARCHAR, sourcetypes: ["loghub:hdfs"]}
      Pid: {type: BIGINT}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import SchemaError

BUILTIN_FIELDS = ("_time", "_raw", "index", "sourcetype", "source", "host", "linecount")


@dataclass(frozen=True)
class Field:
    name: str
    type: str = "VARCHAR"  # VARCHAR, BIGINT, DOUBLE, TIMESTAMP
    column: str = ""  # the event table's column (store only)
    indexes: tuple[str, ...] = ()  # empty: every index
    sourcetypes: tuple[str, ...] = ()


@dataclass
class SplSchema:
    indexes: list[str]
    sourcetypes: list[str]
    fields: dict[str, Field] = field(default_factory=dict)
    store: Path | None = None  # the DuckDB event store, when there is one to run on
    by_index: dict[str, list[str]] = field(default_factory=dict)  # index -> its sourcetypes, when known

    def field(self, name: str) -> Field | None:
        return self.fields.get(name)

    def render(self, question: str = "", limit: int = 60) -> str:
        """The schema for a prompt: indexes with their sourcetypes, then fields (the question's words first)."""
        words = {w.lower().strip("?.!'\"") for w in question.replace(",", " ").split()}
        ranked = sorted(self.fields.values(), key=lambda f: (f.name.lower() not in words, f.name.startswith("_"),
                                                            f.name.lower()))
        shown = ranked[:limit]
        named = sorted(self.indexes, key=lambda i: i.lower() not in words)
        if self.by_index:
            lines = ["Indexes (sourcetypes): " + ", ".join(f"{i} ({', '.join(self.by_index.get(i, []))})"
                                                          for i in named)]
        else:
            lines = [f"Indexes: {', '.join(named)}", f"Sourcetypes: {', '.join(self.sourcetypes)}"]
        lines.append("Fields:")
        for f in shown:
            where = f" (in {', '.join(f.indexes)})" if f.indexes and len(f.indexes) < len(self.indexes) else ""
            lines.append(f"  {f.name}: {f.type.lower()}{where}")
        if len(ranked) > len(shown):
            lines.append(f"  (Only {len(shown)} of {len(ranked)} fields are shown.)")
        lines.append("A search names its index and time range first (index=... earliest=-24h), then filters, "
                     "then | commands.")
        return "\n".join(lines)


def load_schema(source: Any) -> SplSchema:
    """A schema from an event store (``.duckdb``), a schema file (``.yaml``/``.yml``/``.json``) or a dict."""
    if isinstance(source, SplSchema):
        return source
    if isinstance(source, dict):
        return _from_mapping(source)
    path = Path(source)
    if not path.exists():
        raise SchemaError(f"SPL source not found: {path}", "pass the event store (make demo writes fixtures/loghub.duckdb) "
                          "or a schema file (.yaml/.json)")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return _from_mapping(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    if path.suffix == ".json":
        return _from_mapping(json.loads(path.read_text(encoding="utf-8")))
    return _from_store(path)


def _from_mapping(data: dict[str, Any]) -> SplSchema:
    fields = {}
    for name, spec in (data.get("fields") or {}).items():
        spec = spec or {}
        fields[name] = Field(name, str(spec.get("type", "VARCHAR")).upper(), name, tuple(spec.get("indexes", ())),
                             tuple(spec.get("sourcetypes", ())))
    for name in BUILTIN_FIELDS:
        fields.setdefault(name, Field(name, "TIMESTAMP" if name == "_time" else "VARCHAR", name))
    indexes = data.get("indexes") or []
    by_index = {str(i): [str(s) for s in (v or [])] for i, v in indexes.items()} if isinstance(indexes, dict) else {}
    sourcetypes = list(data.get("sourcetypes") or dict.fromkeys(s for v in by_index.values() for s in v))
    return SplSchema([str(i) for i in indexes], sourcetypes, fields, by_index=by_index)


def _from_store(path: Path) -> SplSchema:
    import duckdb

    from .events import FIELDS, TABLE

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise SchemaError(f"{path} is not a DuckDB event store: {exc}", "build one with fixtures/loghub_store.py") from exc
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if not {TABLE, FIELDS} <= tables:
            raise SchemaError(f"{path} has no {TABLE}/{FIELDS} tables", "build it with fixtures/loghub_store.py")
        pairs = con.execute(f'SELECT DISTINCT "index", sourcetype FROM {TABLE} ORDER BY 1, 2').fetchall()
        rows = con.execute(f'SELECT field, "column", type, "index", sourcetype FROM {FIELDS} ORDER BY 1').fetchall()
    finally:
        con.close()
    grouped: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        grouped.setdefault(r[0], []).append(r)
    fields = {name: Field(name, rs[0][2], rs[0][1], tuple(sorted({r[3] for r in rs if r[3]})),
                          tuple(sorted({r[4] for r in rs if r[4]}))) for name, rs in grouped.items()}
    by_index: dict[str, list[str]] = {}
    for index, sourcetype in pairs:
        by_index.setdefault(index, []).append(sourcetype)
    return SplSchema(list(by_index), sorted({s for _, s in pairs}), fields, path, by_index)
