"""SQL over DuckDB and SQLite: sqlglot checks on the tree, read-only bounded dry runs."""

from __future__ import annotations

import random
from typing import Any

from ...policy import Policy
from ...types import Constraint, DryRun, Scope
from ..base import Bound, Checked, Conformance, Target, TargetSpec
from .profile import SqlProfile
from .schema import SqlSchema

SQL = TargetSpec(name="sql", noun="query", nouns="queries", fence="sql", has_rows=True, source_flag="db",
                source_help="DuckDB or SQLite database file", default_dialect="duckdb", closers=("FROM", "END"),
                extenders=("AND", "OR", "NOT", "CASE", "WHEN", "EXISTS", "IN", "LIKE", "BETWEEN", "JOIN", "UNION",
                           "INTERSECT", "EXCEPT", "WHERE", "WITH"))


class SqlBound(Bound):
    spec = SQL

    def __init__(self, schema: SqlSchema, dialect: SqlProfile, executor: Any) -> None:
        from .grammar import specialise_sql

        self.schema = schema
        self.dialect = dialect
        self.constraint = Constraint("lark", specialise_sql(schema, dialect))
        self.executor = executor
        self.has_data = executor.has_data

    def spell(self, name: str) -> str:
        from .grammar import sql_identifier

        return sql_identifier(name, self.dialect)

    def schema_text(self, question: str) -> str:
        return self.schema.render(self.spell)

    def check(self, text: str, policy: Policy) -> Checked:
        from .check import WRITES, check_sql

        result = check_sql(text, self.schema, self.dialect, policy)
        writes = result.tree is not None and isinstance(result.tree, WRITES)
        return Checked(result.diagnostics, writes)

    def dry_run(self, text: str, policy: Policy, writes: bool) -> DryRun:
        return self.executor.run(text, policy, writes=writes)

    def locate_error(self, text: str, error: str) -> dict[str, int] | None:
        from .check import locate_engine_error

        return locate_engine_error(text, error, self.dialect)

    def scope(self) -> Scope | None:
        """The incremental scope checker for decoding (:class:`~nl2q.types.Scope`), built once and shared."""
        found = self.__dict__.get("_scope")
        if found is None:
            from .scope import SqlScope

            found = self.__dict__.setdefault("_scope", SqlScope(self.schema, self.dialect))
        return found

    def normalise(self, text: str) -> str:
        """sqlglot's rendering of the tree: spacing and keyword case differ, literals and quoted names do not."""
        from .check import parse

        plain = " ".join(text.strip().rstrip(";").split())
        try:
            tree, diags = parse(text, self.dialect)
        except RecursionError:  # nesting sqlglot cannot follow: the checker refuses it, the key is the text
            return plain
        if tree is None or diags:
            return plain
        try:
            return tree.sql(dialect=self.dialect.sqlglot)
        except Exception:  # sqlglot's generator can fail on trees its parser built (a CREATE naming no such column)
            return plain

    def describe(self) -> dict[str, Any]:
        from .browse import describe

        return describe(self.schema)

    def sample_questions(self, n: int = 6) -> list[str]:
        from .browse import sample_questions

        return sample_questions(self.schema, n)

    def close(self) -> None:
        self.executor.close()


class SqlTarget(Target):
    spec = SQL
    profile_type = SqlProfile

    def bind(self, source: Any, dialect: str | None = None) -> Bound:
        from .execute import sql_executor
        from .schema import load_schema

        schema, engine, handle = load_schema(source)
        d = self.profile(dialect, engine)
        assert isinstance(d, SqlProfile)
        return SqlBound(schema, d, sql_executor(engine, handle, schema, d.executor))

    def conformance(self) -> Conformance:
        return Conformance(
            source={"hosts": {"id": "INTEGER", "hostname": "VARCHAR", "order": "INTEGER", "Site Name": "VARCHAR"},
                    "alerts": {"id": "INTEGER", "host_id": "INTEGER", "severity": "VARCHAR"}},
            random_source=_random_tables,
            valid=("SELECT hostname FROM hosts", 'SELECT "order", "Site Name" FROM hosts WHERE id > 3',
                   "SELECT a.severity, count(*) FROM alerts AS a JOIN hosts AS h ON a.host_id = h.id GROUP BY a.severity"),
            writes=("DELETE FROM hosts", "UPDATE hosts SET hostname = 'x'", "DROP TABLE alerts",
                    "INSERT INTO hosts VALUES (1, 'a', 2, 'b')", "CREATE TABLE t AS SELECT * FROM hosts"),
            different=(("SELECT hostname FROM hosts WHERE hostname = 'A'", "SELECT hostname FROM hosts WHERE hostname = 'a'"),
                       ('SELECT "Site Name" FROM hosts', "SELECT hostname FROM hosts")),
            same=(("SELECT hostname FROM hosts", "select  hostname\nFROM hosts;"),),
            never=("syntax.", "policy.", "dialect."),
            foreign_names=_foreign_names,
        )


def _foreign_names(bound: SqlBound, text: str) -> list[str]:
    """Tables and columns in ``text`` the schema does not have (the grammar leaves only ``cte``/``*_cte`` free)."""
    from sqlglot import exp

    from .check import parse

    tree, _ = parse(text, bound.dialect)
    if tree is None:
        return [f"unparsable: {text}"]
    schema = bound.schema
    bad = [f"comment {c!r}" for node in tree.walk() for c in (node.comments or [])]
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for t in tree.find_all(exp.Table):
        if not schema.table(t.name) and not (t.name.lower().startswith("cte") or t.name.lower().endswith("_cte")):
            bad.append(f"table {t.name}")
    for c in tree.find_all(exp.Column):
        if isinstance(c.this, exp.Star) or c.find_ancestor(exp.Order):
            continue  # ORDER BY may name a select alias
        if not any(t.column(c.name) for t in schema.tables.values()):
            bad.append(f"column {c.name}")
        table = schema.table(c.table) if c.table else None
        if table is not None and c.table.lower() not in ctes and not table.column(c.name):
            bad.append(f"column {c.table}.{c.name}")
    return bad


_AWKWARD = ("order", "select", "Group", "from", "My Column", "year", "Name", "count", "user", "T1")
_TYPES = ("INTEGER", "VARCHAR", "DOUBLE", "TIMESTAMP", "BOOLEAN", "TEXT")


def _random_tables(rng: random.Random) -> dict[str, dict[str, str]]:
    """Mostly plain names, sometimes ones that need quoting: reserved words, spaces, capitals."""

    def names(k: int) -> list[str]:
        out: dict[str, str] = {}
        while len(out) < k:
            name = rng.choice(_AWKWARD) if rng.random() < 0.25 else \
                rng.choice("abcdefghijklmnopqrstuvwxyz") + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789_", k=rng.randint(0, 8)))
            out.setdefault(name.lower(), name)
        return list(out.values())

    return {t: {c: rng.choice(_TYPES) for c in names(rng.randint(1, 5))} for t in names(rng.randint(1, 4))}
