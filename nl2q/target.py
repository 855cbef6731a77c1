"""Targets: a query language bound to one schema and one dialect.

A target is a grammar, a schema loader, a checker and an executor. Adding one
(Cypher, SPL, ...) means one subclass here and a grammar file, not a fork.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from .dialect import Dialect, get_dialect
from .errors import DialectError, Nl2qError
from .policy import Policy
from .result import Diagnostic, DryRun


@dataclass
class Checked:
    diagnostics: list[Diagnostic]
    writes: bool = False
    rewritten: str | None = None  # the checker's correction (e.g. a reversed arrow), to use instead


class Bound(ABC):
    """A target specialised for one schema and dialect: what a Compiler caches."""

    target: str
    language: str
    dialect: Dialect
    grammar: str
    has_data: bool

    @abstractmethod
    def schema_text(self, question: str) -> str: ...

    @abstractmethod
    def check(self, query: str, policy: Policy) -> Checked: ...

    @abstractmethod
    def dry_run(self, query: str, policy: Policy, writes: bool) -> DryRun | None:
        """None when there is no engine to run on (a schema file)."""

    def close(self) -> None:
        pass


class Target(ABC):
    name: ClassVar[str]
    default_dialect: ClassVar[str]

    @abstractmethod
    def bind(self, source: Any, dialect: str | None = None) -> Bound: ...

    def dialect(self, name: str | None, inferred: str | None) -> Dialect:
        if name and inferred and name.lower() != inferred:
            raise DialectError(f"the database is {inferred} but dialect {name!r} was asked for",
                               f"omit the dialect or use {inferred}")
        d = get_dialect(name or inferred or self.default_dialect)
        if d.target != self.name:
            raise DialectError(f"dialect {d.name!r} is for {d.target}, not {self.name}")
        return d


class SqlBound(Bound):
    target = "sql"
    language = "sql"

    def __init__(self, schema: Any, dialect: Dialect, executor: Any) -> None:
        from .grammar import specialise_sql

        self.schema = schema
        self.dialect = dialect
        self.grammar = specialise_sql(schema, dialect)
        self.executor = executor
        self.has_data = executor.has_data

    def schema_text(self, question: str) -> str:
        return self.schema.render()

    def check(self, query: str, policy: Policy) -> Checked:
        from .check.sql import WRITES, check_sql

        result = check_sql(query, self.schema, self.dialect, policy)
        writes = result.tree is not None and isinstance(result.tree, WRITES)
        return Checked(result.diagnostics, writes)

    def dry_run(self, query: str, policy: Policy, writes: bool) -> DryRun:
        return self.executor.run(query, policy, writes=writes)

    def close(self) -> None:
        self.executor.close()


class SqlTarget(Target):
    name = "sql"
    default_dialect = "duckdb"

    def bind(self, source: Any, dialect: str | None = None) -> Bound:
        from .execute import sql_executor
        from .schema import load_schema

        schema, engine, handle = load_schema(source)
        d = self.dialect(dialect, engine)
        return SqlBound(schema, d, sql_executor(engine, handle, schema, d.executor))


class CypherBound(Bound):
    target = "cypher"
    language = "cypher"

    def __init__(self, schema: Any, dialect: Dialect, executor: Any | None) -> None:
        from .grammar import specialise_cypher

        self.schema = schema
        self.dialect = dialect
        self.grammar = specialise_cypher(schema, dialect)
        self.executor = executor
        self.has_data = executor is not None and executor.has_data

    def schema_text(self, question: str) -> str:
        shown, pruned = self.schema.subset(question)
        note = (f"(Only the {len(shown.labels)} of {len(self.schema.labels)} labels most relevant to the question "
                "are shown.)") if pruned else ""
        return shown.render(note)

    def check(self, query: str, policy: Policy) -> Checked:
        from .check.cypher import check_cypher

        result = check_cypher(query, self.schema, self.dialect, policy)
        return Checked(result.diagnostics, result.writes, result.corrected)

    def dry_run(self, query: str, policy: Policy, writes: bool) -> DryRun | None:
        return self.executor.run(query, policy, writes=writes) if self.executor is not None else None

    def close(self) -> None:
        if self.executor is not None:
            self.executor.close()


class CypherTarget(Target):
    """Graphs: a Bolt URI (neo4j driver), a Ladybug database, or a schema file/mapping."""

    name = "cypher"
    default_dialect = "neo4j"

    def bind(self, source: Any, dialect: str | None = None) -> Bound:
        from pathlib import Path

        from .errors import SchemaError
        from .schema.graph import GraphSchema, from_dict, from_file

        if isinstance(source, GraphSchema):
            return CypherBound(source, self.dialect(dialect, None), None)
        if isinstance(source, dict):
            return CypherBound(from_dict(source), self.dialect(dialect, None), None)
        if isinstance(source, str) and source.split("://", 1)[0] in ("bolt", "neo4j", "bolt+s", "neo4j+s"):
            return self._bolt(source, dialect)
        if isinstance(source, (str, Path)):
            path = Path(source)
            if path.suffix.lower() in (".yaml", ".yml", ".json"):
                return CypherBound(from_file(path), self.dialect(dialect, None), None)
            if not path.exists():
                raise SchemaError(f"graph not found: {path}",
                                  "pass a Ladybug database path, a bolt:// URI or a .yaml/.json graph schema")
            from .execute.graph import LadybugExecutor
            from .schema.graph_introspect import from_ladybug

            executor = LadybugExecutor(path)
            return CypherBound(from_ladybug(path), self.dialect(dialect, "ladybug"), executor)
        raise SchemaError(f"unsupported graph source of type {type(source).__name__}",
                          "pass a bolt:// URI, a Ladybug database path, a schema file or a GraphSchema")

    def _bolt(self, uri: str, dialect: str | None) -> Bound:
        import os
        from urllib.parse import urlsplit, urlunsplit

        from .execute.graph import BoltExecutor
        from .schema.graph_introspect import from_bolt

        parts = urlsplit(uri)
        user = parts.username or os.environ.get("NL2Q_BOLT_USER", "neo4j")
        password = parts.password or os.environ.get("NL2Q_BOLT_PASSWORD", "")
        clean = urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port or 7687}", "", "", ""))
        database = parts.path.strip("/") or None
        executor = BoltExecutor(clean, auth=(user, password), database=database)
        try:
            schema = from_bolt(executor.driver, database=database)
        except Exception:
            executor.close()
            raise
        return CypherBound(schema, self.dialect(dialect, None), executor)


TARGETS: dict[str, Target] = {"sql": SqlTarget(), "cypher": CypherTarget()}


def get_target(name: str) -> Target:
    try:
        return TARGETS[name.lower()]
    except KeyError:
        raise Nl2qError(f"unknown target {name!r}", f"choose one of: {', '.join(TARGETS)}") from None
