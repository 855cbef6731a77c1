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
    def dry_run(self, query: str, policy: Policy, writes: bool) -> DryRun: ...

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


TARGETS: dict[str, Target] = {"sql": SqlTarget()}


def get_target(name: str) -> Target:
    try:
        return TARGETS[name.lower()]
    except KeyError:
        raise Nl2qError(f"unknown target {name!r}", f"choose one of: {', '.join(TARGETS)}") from None
