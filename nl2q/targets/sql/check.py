"""SQL checks with sqlglot: parse in the dialect, enforce the policy, resolve every name."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.scope import Scope, traverse_scope

from .profile import SqlProfile
from ...policy import Policy
from ...types import Diagnostic, position
from .schema import SqlSchema, Table, type_class
from ...check import hidden_characters, suggestion

logging.getLogger("sqlglot").setLevel(logging.ERROR)

READ_ROOTS = (exp.Select, exp.SetOperation)
WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.TruncateTable, exp.Into)
# Statements that touch the engine, its files or its session: refused even when writes are allowed.
NEVER = (
    exp.Command, exp.Attach, exp.Detach, exp.Install, exp.Pragma, exp.Set, exp.Copy, exp.Use, exp.Transaction,
    exp.Commit, exp.Rollback, exp.LoadData, exp.Export, exp.Grant, exp.Revoke, exp.Cache, exp.Uncache,
    exp.Refresh, exp.Lock,
)
STRUCTURAL_FUNCTIONS = frozenset({"COUNT", "SUM", "AVG", "MIN", "MAX", "CAST", "TRY_CAST", "CASE", "IF", "EXTRACT", "EXISTS"})


@dataclass
class SqlCheck:
    tree: exp.Expression | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.tree is not None and not any(d.is_error for d in self.diagnostics)


def check_sql(text: str, schema: SqlSchema, dialect: SqlProfile, policy: Policy = Policy()) -> SqlCheck:
    """All the SQL checks; stops early only where later checks could not be meaningful."""
    diags = hidden_characters(text)
    tree, syntax = parse(text, dialect)
    diags += syntax
    if tree is None:
        return SqlCheck(None, diags)
    diags += check_policy(tree, dialect, policy)
    if any(d.is_error and d.code.startswith("policy.statement") for d in diags):
        return SqlCheck(tree, _with_positions(diags, text))
    diags += check_names(tree, schema)
    diags += check_types(tree, schema)
    return SqlCheck(tree, _with_positions(diags, text))


def parse(text: str, dialect: SqlProfile) -> tuple[exp.Expression | None, list[Diagnostic]]:
    if not text.strip():
        return None, [Diagnostic("syntax.empty", "the query is empty", hint="write one SELECT statement", stage="parse")]
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect.sqlglot) if s is not None]
    except ParseError as e:
        return None, [_parse_error(text, err) for err in e.errors[:3]] or [Diagnostic("syntax.error", str(e), stage="parse")]
    except TokenError as e:
        return None, [Diagnostic("syntax.error", f"cannot tokenize the query: {e}", stage="parse")]
    if not statements:
        return None, [Diagnostic("syntax.empty", "the query has no statement", stage="parse")]
    if len(statements) > 1:
        return statements[0], [
            Diagnostic(
                "policy.statement_count",
                f"{len(statements)} statements; exactly one is allowed",
                hint="send a single statement, without a second one after ';'",
                stage="policy",
            )
        ]
    return statements[0], []


def _parse_error(text: str, err: dict[str, Any]) -> Diagnostic:
    line, col = err.get("line"), err.get("col")
    highlight = err.get("highlight") or ""
    start = end = None
    if line and col:
        offsets = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        if line <= len(offsets):
            end = offsets[line - 1] + col
            start = max(offsets[line - 1], end - len(highlight))
            line, col = position(text, start)
    desc = err.get("description") or "syntax error"
    desc = desc.split(" <Token")[0]
    return Diagnostic("syntax.error", f"{desc} near {highlight!r}" if highlight else desc, line=line, col=col,
                      start=start, end=end, hint="check the statement against the SQL grammar", stage="parse")


def _at(node: exp.Expression, text_node: exp.Expression | None = None) -> dict[str, Any]:
    """Position kwargs for a diagnostic from sqlglot's token metadata."""
    for candidate in (text_node, node, node.this if isinstance(node.this, exp.Expression) else None):
        meta = getattr(candidate, "meta", None) or {}
        if "start" in meta:
            return {"start": meta["start"], "end": meta["end"] + 1}
    return {}


def _with_positions(diags: list[Diagnostic], text: str) -> list[Diagnostic]:
    """Fill line/col from character offsets."""
    return [replace(d, line=(p := position(text, d.start))[0], col=p[1]) if d.start is not None else d for d in diags]


# sqlglot builds these from syntax, not from a call the text spells (CASE WHEN .. END may become IIF(..)).
_SYNTAX_FUNCS = (exp.If, exp.Case, exp.CurrentDate, exp.CurrentTime, exp.CurrentTimestamp)


def function_name(node: exp.Func, dialect: SqlProfile) -> str:
    """The name as the dialect spells it (sqlglot normalises, e.g. strftime -> TimeToStr).

    "" for nodes that are syntax rather than a call (CASE, CURRENT_DATE, wrappers sqlglot adds
    around an argument), so they are never refused as unknown functions.
    """
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, _SYNTAX_FUNCS):
        return ""
    try:
        rendered = node.sql(dialect=dialect.sqlglot)
    except Exception:
        return node.sql_name().upper()
    if "(" not in rendered:
        return ""
    head = rendered.split("(", 1)[0].strip()
    return head.upper() if head.replace("_", "").isalnum() else ""


def _function_allowed(node: exp.Func, name: str, allowed: frozenset[str] | set[str]) -> bool:
    """Allowed under the dialect's spelling, or under another name sqlglot knows it by (SUBSTR / SUBSTRING)."""
    return not name or name in allowed or any(n in allowed for n in type(node).sql_names())


def check_policy(tree: exp.Expression, dialect: SqlProfile, policy: Policy) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    for node in tree.walk():
        if isinstance(node, NEVER):
            kind = node.name.upper() if isinstance(node, exp.Command) else type(node).__name__.upper()
            diags.append(Diagnostic("policy.statement", f"{kind} is never allowed: it reaches outside the query",
                                    hint="ask a question answerable with SELECT", stage="policy", **_at(node)))
        elif isinstance(node, WRITES) and not policy.allow_writes:
            diags.append(Diagnostic("policy.statement_write", f"{type(node).__name__.upper()} writes data; the policy is read-only",
                                    hint="only SELECT (optionally WITH ... SELECT) is allowed", stage="policy", **_at(node)))
    if not diags and not isinstance(tree, READ_ROOTS) and not (policy.allow_writes and isinstance(tree, WRITES)):
        diags.append(Diagnostic("policy.statement", f"{type(tree).__name__.upper()} statements are not allowed",
                                hint="write one SELECT statement", stage="policy"))
    allowed = dialect.allowed_functions | STRUCTURAL_FUNCTIONS
    for func in tree.find_all(exp.Func):
        name = function_name(func, dialect)
        if not _function_allowed(func, name, allowed):
            diags.append(Diagnostic("policy.function", f"function {name} is not allowed in {dialect.title}",
                                    hint=suggestion(name, sorted(allowed), "function") or "use a listed function",
                                    stage="policy", **_at(func)))
    return diags


# ------------------------------------------------------------------ names


def _source_table(schema: SqlSchema, source: Any) -> Table | None:
    return schema.table(source.name) if isinstance(source, exp.Table) else None


def _source_columns(schema: SqlSchema, source: Any) -> list[str] | None:
    """Output columns of a FROM source; None when unknown (SELECT * from a derived table)."""
    if isinstance(source, exp.Table):
        t = schema.table(source.name)
        return list(t.columns) if t else None
    if isinstance(source, Scope):
        selects = source.expression.selects if hasattr(source.expression, "selects") else []
        if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and isinstance(s.this, exp.Star)) for s in selects):
            return None
        return list(source.expression.named_selects)
    return None


def _visible(scope: Scope) -> list[tuple[str, Any]]:
    """(alias, source) pairs a column in ``scope`` may refer to, nearest first (outer scopes for correlation)."""
    out: list[tuple[str, Any]] = []
    s: Scope | None = scope
    while s is not None:
        out += [(name, src) for name, src in s.sources.items() if (name, src) not in out]
        s = s.parent if s.is_subquery else None
    return out


def check_names(tree: exp.Expression, schema: SqlSchema) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    try:
        scopes = traverse_scope(tree)
    except Exception as e:  # sqlglot cannot scope some exotic trees
        return [Diagnostic("check.skipped", f"name resolution skipped: {e}", severity="warning")]
    cte_names = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    seen_tables: set[int] = set()
    for scope in scopes:
        for name, source in scope.sources.items():
            if isinstance(source, exp.Table) and id(source) not in seen_tables:
                seen_tables.add(id(source))
                if source.name.lower() in cte_names or schema.table(source.name):
                    continue
                if isinstance(source.this, exp.Func):
                    continue  # table functions are the policy's business
                diags.append(Diagnostic(
                    "schema.unknown_table", f"table '{source.name}' does not exist",
                    hint=suggestion(source.name, schema.tables, "table"), **_at(source, source.this)))
        diags += _check_columns(scope, schema)
    return diags


def _check_columns(scope: Scope, schema: SqlSchema) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    visible = _visible(scope)
    local = list(scope.sources.items())
    if isinstance(scope.expression, exp.SetOperation):
        return diags  # ORDER BY of a UNION names its output columns
    select_aliases = {s.alias.lower() for s in getattr(scope.expression, "selects", []) if s.alias}
    for col in scope.find_all(exp.Column):
        if isinstance(col.this, exp.Star):
            continue
        name = col.name
        qualifier = col.table
        if qualifier:
            source = next((src for alias, src in visible if alias.lower() == qualifier.lower()), None)
            if source is None:
                aliases = [a for a, _ in visible]
                diags.append(Diagnostic(
                    "schema.unknown_alias", f"'{qualifier}' is not a table or alias in scope here",
                    hint=(f"in scope: {', '.join(aliases)}." if aliases else "") + " Define it in FROM/JOIN or use one that is.",
                    **_at(col, col.args.get("table"))))
                continue
            cols = _source_columns(schema, source)
            if cols is None or any(c.lower() == name.lower() for c in cols):
                continue
            owners = [a for a, src in visible if (sc := _source_columns(schema, src)) and any(c.lower() == name.lower() for c in sc)]
            where = f" '{qualifier}'" + (f" (table {source.name})" if isinstance(source, exp.Table) and source.name != qualifier else "")
            hint = suggestion(name, cols, "column")
            if owners:
                hint = f"'{name}' belongs to {', '.join(owners)}. " + hint
            diags.append(Diagnostic("schema.unknown_column", f"column '{name}' does not exist in{where}",
                                    hint=hint.strip(), **_at(col, col.this)))
            continue
        owners_local = [a for a, src in local if (sc := _source_columns(schema, src)) and any(c.lower() == name.lower() for c in sc)]
        unknown_local = any(_source_columns(schema, src) is None for _, src in local)
        if len(owners_local) > 1:
            diags.append(Diagnostic("schema.ambiguous_column", f"column '{name}' is ambiguous: it is in {', '.join(owners_local)}",
                                    hint=f"qualify it, e.g. {owners_local[0]}.{name}", **_at(col, col.this)))
            continue
        if owners_local or unknown_local or name.lower() in select_aliases:
            continue
        outer = [a for a, src in visible if (sc := _source_columns(schema, src)) and any(c.lower() == name.lower() for c in sc)]
        if outer:
            continue
        all_cols = [c for _, src in local for c in (_source_columns(schema, src) or [])]
        elsewhere = schema.tables_with_column(name)
        hint = suggestion(name, all_cols, "column")
        if elsewhere:
            hint = f"'{name}' is a column of {', '.join(elsewhere)}, which is not in this FROM clause: join it. " + hint
        diags.append(Diagnostic("schema.unknown_column",
                                f"column '{name}' does not exist in {', '.join(a for a, _ in local) or 'this query'}",
                                hint=hint.strip(), **_at(col, col.this)))
    return diags


# ------------------------------------------------------------------ types

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def _column_type(col: exp.Column, scope_sources: dict[str, Any], schema: SqlSchema) -> str | None:
    if col.table:
        src = scope_sources.get(col.table)
        t = _source_table(schema, src)
        return t.columns.get(t.column(col.name) or "") if t else None
    owners = [t for src in scope_sources.values() if (t := _source_table(schema, src)) and t.column(col.name)]
    return owners[0].columns[owners[0].column(col.name) or ""] if len(owners) == 1 else None


def check_types(tree: exp.Expression, schema: SqlSchema) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    try:
        scopes = traverse_scope(tree)
    except Exception:
        return diags
    for scope in scopes:
        sources = dict(scope.sources)
        for cmp in scope.find_all(*_COMPARISONS):
            left, right = cmp.left, cmp.right
            if isinstance(right, exp.Column) and isinstance(left, exp.Literal):
                left, right = right, left
            if not (isinstance(left, exp.Column) and isinstance(right, exp.Literal)):
                continue
            declared = _column_type(left, sources, schema)
            kind = type_class(declared)
            problem = _literal_mismatch(kind, right)
            if problem:
                severity, message, hint = problem
                diags.append(Diagnostic("schema.type_mismatch",
                                        f"'{left.sql()}' is {declared} but is compared with {right.sql()}: {message}",
                                        severity=severity, hint=hint, **_at(right, right)))
    return diags


def _literal_mismatch(kind: str, lit: exp.Literal) -> tuple[str, str, str] | None:
    value = lit.this
    if kind == "number" and lit.is_string:
        try:
            float(value)
        except ValueError:
            return "error", "the text is not a number", "compare with a number, or pick the text column you meant"
        return "warning", "a number written as text", f"write {value} without quotes"
    if kind == "text" and not lit.is_string:
        return "warning", "a number compared with text", f"write '{value}' in quotes if the column holds text"
    if kind == "time" and lit.is_string:
        from datetime import datetime

        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return "error", "the text is not a date/time", "use an ISO date such as '2024-05-01 12:00:00'"
    return None
