"""What an SPL search may name: indexes, sourcetypes and fields (with their types and where they occur).

Sources: the offline event store (:mod:`.events`, its ``_fields`` table), or a schema file (YAML or
JSON) of the same shape::

    indexes: [hdfs, openssh]          # or {hdfs: ["loghub:hdfs"], ...}: each index with its sourcetypes
    sourcetypes: ["loghub:hdfs", "loghub:openssh"]
    fields:
      Level: {type: VARCHAR, sourcetypes: ["loghub:hdfs"]}
      Pid: {type: BIGINT}
    datamodels: [Endpoint.Processes]  # what `| tstats ... from datamodel=` may name
    lookups: [ioc_domains]
    macros: {hdfs_logs: "index=hdfs sourcetype=loghub:hdfs"}  # or a directory of Security Content macro files
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import SchemaError
from .macros import Macros

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
    datamodels: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    macros: Macros | None = None  # expanded before a search is checked or run

    def field(self, name: str) -> Field | None:
        return self.fields.get(name)

    def render(self, question: str = "", limit: int = 60) -> str:
        """The schema for a prompt: indexes with their sourcetypes, datamodels, lookups, the macros a search can
        start with, then fields; long lists keep the names sharing words with the question, and say so."""
        words = set(_parts(question))
        named = _ranked(self.indexes, words)
        if self.by_index:
            lines = ["Indexes (sourcetypes): " + ", ".join(f"{i} ({', '.join(self.by_index.get(i, []))})"
                                                          for i in named)]
        else:
            lines = [f"Indexes: {', '.join(named)}" if named else "",
                     _listing("Sourcetypes", self.sourcetypes, words, 30)]
        lines.append(_listing("Datamodels (| tstats ... from datamodel=NAME)", self.datamodels, words, 30))
        lines.append(_listing("Lookups", self.lookups, words, 20))
        if self.macros is not None:
            from .grammar import macro_uses

            starts, _ = macro_uses(self)
            lines.append(_listing("Macros that select events (write `name` first)", [m.name for m in starts],
                                  words, 20))
        ranked = _ranked(sorted(self.fields, key=lambda n: (n.startswith("_"), n.lower())), words)
        lines.append("Fields:")
        for name in ranked[:limit]:
            f = self.fields[name]
            where = f" (in {', '.join(f.indexes)})" if f.indexes and len(f.indexes) < len(self.indexes) else ""
            lines.append(f"  {f.name}: {f.type.lower()}{where}")
        if len(ranked) > limit:
            lines.append(f"  (Only {limit} of {len(ranked)} fields are shown: those closest to the question.)")
        lines.append("A search names its data and time range first (index=... earliest=-24h), then filters, "
                     "then | commands.")
        return "\n".join(line for line in lines if line)


def _parts(text: str) -> list[str]:
    """Lower-case words of a question or a name (snake_case, dotted and CamelCase names split)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def _ranked(names: list[str], words: set[str]) -> list[str]:
    """``names`` with those sharing most words with the question first, otherwise in their order."""
    score = {n: -sum(1 for p in set(_parts(n)) if p in words) for n in names}
    return sorted(names, key=lambda n: score[n])


def _listing(title: str, names: list[str], words: set[str], limit: int) -> str:
    if not names:
        return ""
    shown = _ranked(names, words)[:limit]
    more = f" (and {len(names) - limit} more)" if len(names) > limit else ""
    return f"{title}: {', '.join(shown)}{more}"


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
    macros = data.get("macros")
    if isinstance(macros, (str, Path)):
        macros = Macros.from_dir(macros)
    elif isinstance(macros, dict):
        macros = Macros(macros)
    return SplSchema([str(i) for i in indexes], sourcetypes, fields, by_index=by_index,
                     datamodels=[str(d) for d in data.get("datamodels") or []],
                     lookups=[str(x) for x in data.get("lookups") or []], macros=macros)


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
