"""SQL checks with sqlglot: parse in the dialect, enforce the policy, resolve every name."""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass, field, replace
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType
from sqlglot.optimizer.scope import Scope, traverse_scope

from .profile import SqlProfile
from ...policy import Policy
from ...types import Diagnostic, position
from .schema import SqlSchema, Table, type_class
from ...check import hidden_characters, input_bounds, suggestion

logging.getLogger("sqlglot").setLevel(logging.ERROR)

READ_ROOTS = (exp.Select, exp.SetOperation)
WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.TruncateTable, exp.Into)
# Statements that touch the engine, its files or its session: refused even when writes are allowed.
NEVER = (
    exp.Command, exp.Attach, exp.Detach, exp.Install, exp.Pragma, exp.Set, exp.Copy, exp.Use, exp.Transaction,
    exp.Commit, exp.Rollback, exp.LoadData, exp.Export, exp.Grant, exp.Revoke, exp.Cache, exp.Uncache,
    exp.Refresh, exp.Lock, exp.Describe, exp.Summarize, exp.Show,
)
# DuckDB runs ``(SHOW DATABASES)`` and ``(DESCRIBE t)`` as subqueries; sqlglot may read the keyword as a
# table name, so an unquoted table reference spelled like one of these is the statement, not a table.
STATEMENT_WORDS = frozenset({"show", "describe", "desc", "summarize", "pragma", "call", "explain"})
STRUCTURAL_FUNCTIONS = frozenset({"COUNT", "SUM", "AVG", "MIN", "MAX", "CAST", "TRY_CAST", "CASE", "IF", "EXTRACT", "EXISTS"})


@dataclass
class SqlCheck:
    tree: exp.Expression | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.tree is not None and not any(d.is_error for d in self.diagnostics)


def check_sql(text: str, schema: SqlSchema, dialect: SqlProfile, policy: Policy = Policy()) -> SqlCheck:
    """All the SQL checks; stops early only where later checks could not be meaningful.

    Size and bracket depth are bounded before sqlglot sees the text, and any recursion sqlglot
    still runs out of becomes a diagnostic: the checker refuses, it never crashes.
    """
    bounds = input_bounds(text)
    if bounds:
        return SqlCheck(None, bounds + hidden_characters(text[:MAX_SCAN]))
    diags = hidden_characters(text)
    try:
        return _check(text, schema, dialect, policy, diags)
    except RecursionError:
        return SqlCheck(None, diags + [Diagnostic(
            "policy.input_too_deep", "the query nests too deeply for the checker to follow",
            hint="write it flatter: fewer chained operators or nested CASE/NOT, or split it with WITH", stage="policy")])


MAX_SCAN = 100_000


def _check(text: str, schema: SqlSchema, dialect: SqlProfile, policy: Policy, diags: list[Diagnostic]) -> SqlCheck:
    tree, syntax = parse(text, dialect)
    diags = diags + syntax
    if tree is None:
        return SqlCheck(None, diags)
    diags += check_policy(tree, dialect, policy)
    if any(d.is_error and d.code.startswith("policy.statement") for d in diags):
        return SqlCheck(tree, _with_positions(diags, text))
    diags += check_growth(tree)
    diags += check_tables(tree, schema, dialect)
    diags += check_aggregates(tree, text)
    diags += _advisory(check_names, tree, schema, lateral=dialect.lateral_aliases)
    diags += _advisory(check_types, tree, schema)
    return SqlCheck(tree, _with_positions(diags, text))


def _advisory(check: Any, tree: exp.Expression, schema: SqlSchema, **options: Any) -> list[Diagnostic]:
    """Column and type checks help repair; where sqlglot cannot scope a tree they are skipped, with a
    warning, instead of crashing. The refusals (policy, tables) never go through here."""
    try:
        return check(tree, schema, **options)
    except RecursionError:
        raise
    except Exception as e:  # noqa: BLE001 - sqlglot's scope asserts on trees it does not model
        return [Diagnostic("check.skipped", f"{check.__name__} skipped: {type(e).__name__}: {e}", severity="warning")]


# sqlglot types every list index while parsing, each over all the ones before it: quadratic.
MAX_BRACKETS = 200


def parse(text: str, dialect: SqlProfile) -> tuple[exp.Expression | None, list[Diagnostic]]:
    if not text.strip():
        return None, [Diagnostic("syntax.empty", "the query is empty", hint="write one SELECT statement", stage="parse")]
    try:
        engine = sqlglot.Dialect.get_or_raise(dialect.sqlglot)
        tokens = engine.tokenize(text)
        brackets = sum(t.token_type == TokenType.L_BRACKET for t in tokens)
        if brackets > MAX_BRACKETS:
            return None, [Diagnostic(
                "policy.input_too_deep", f"{brackets} square brackets; the limit is {MAX_BRACKETS}",
                hint="index or build lists fewer times, or split the query with WITH", stage="policy")]
        statements = [s for s in engine.parser().parse(tokens, text) if s is not None]
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


# Keywords that read the session, which sqlglot renders without parentheses (SELECT current_catalog).
_SESSION_FUNCS = tuple(getattr(exp, n) for n in ("CurrentCatalog", "SessionUser", "CurrentUser", "CurrentSchema",
                                                  "CurrentRole", "CurrentDatabase", "CurrentVersion") if hasattr(exp, n))


def _head(node: exp.Func) -> exp.Func:
    """The call with every argument replaced by a literal: rendering it costs O(arguments), not O(subtree)
    (rendering each call of a 1,500-term AND chain whole took two minutes)."""
    def placeholder(value: Any) -> Any:
        if isinstance(value, list):
            return [placeholder(v) for v in value]
        return exp.Literal.string("x") if isinstance(value, exp.Expression) else value

    return type(node)(**{k: placeholder(v) for k, v in node.args.items()})


def function_name(node: exp.Func, dialect: SqlProfile) -> str:
    """The name as the dialect spells it (sqlglot normalises, e.g. strftime -> TimeToStr).

    "" for nodes that are syntax rather than a call (CASE, CURRENT_DATE, AND/OR, wrappers sqlglot
    adds around an argument), so they are never refused as unknown functions. A keyword that reads
    the session (CURRENT_CATALOG, SESSION_USER) is a name like any other.
    """
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, _SYNTAX_FUNCS) or isinstance(node, exp.Connector):
        return ""
    if isinstance(node, _SESSION_FUNCS):
        return node.sql_name().upper()
    for shallow in (True, False):  # the whole node only where a generator rejects the placeholders
        try:
            rendered = (_head(node) if shallow else node).sql(dialect=dialect.sqlglot)
        except Exception:
            continue
        head = rendered.split("(", 1)[0].strip()
        return head.upper() if "(" in rendered and head[:1].isalpha() and head.replace("_", "").isalnum() else ""
    return node.sql_name().upper()


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
        if isinstance(func.parent, exp.Table) and func.arg_key == "this":
            continue  # a table function: check_tables refuses it
        name = function_name(func, dialect)
        if not _function_allowed(func, name, allowed):
            diags.append(Diagnostic("policy.function", f"function {name} is not allowed in {dialect.title}",
                                    hint=suggestion(name, sorted(allowed), "function") or "use a listed function",
                                    stage="policy", **_at(func)))
    return diags


# ------------------------------------------------------------------ cost

# Lengths assumed where the text cannot tell: one column value, and an aggregate over many rows.
_VALUE_LEN = 1_000
_AGGREGATE_LEN = 100_000
MAX_BUILT_STRING = 10_000_000
_CAP = 10**15


def _int_literal(node: Any, default: int) -> int:
    try:
        return max(0, int(node.this)) if isinstance(node, exp.Literal) and not node.is_string else default
    except ValueError:
        return default


def check_growth(tree: exp.Expression) -> list[Diagnostic]:
    """Refuse an expression that can build a huge string inside one function call.

    Engines stop a query only between rows or vectors, and DuckDB's memory limit does not cover a
    function's result: nine nested ``replace(.., 'x', 'xxxxxxxxxx')`` build 1 GB during EXPLAIN and
    overrun a 1 s timeout by 6 s. So the longest string each node can make is estimated from the
    text (bottom-up, no recursion): literals by their length, columns and aggregates by an assumed
    size, REPLACE multiplies by replacement/pattern length, concatenation adds, REPEAT/LPAD use
    their counts.
    """
    est: dict[int, int] = {}
    for node in reversed(list(tree.dfs())):
        kids = [est.get(id(c), 0) for c in node.iter_expressions()]
        sub = lambda key: est.get(id(node.args.get(key)), 0)  # noqa: E731
        if isinstance(node, exp.Literal):
            n = len(str(node.this))
        elif isinstance(node, exp.Column):
            n = _VALUE_LEN
        elif isinstance(node, exp.Replace):
            old = node.args.get("expression")
            old_len = len(old.this) if isinstance(old, exp.Literal) and old.is_string else 1
            n = sub("this") * max(1, -(-sub("replacement") // old_len)) if old_len else sub("this")
        elif isinstance(node, (exp.DPipe, exp.Concat, exp.ConcatWs)):
            n = sum(kids)
        elif isinstance(node, exp.Repeat):
            n = sub("this") * _int_literal(node.args.get("times"), _VALUE_LEN)
        elif isinstance(node, exp.Pad):
            n = max(sub("this"), _int_literal(node.args.get("expression"), _VALUE_LEN))
        elif isinstance(node, exp.GroupConcat):
            n = max(_AGGREGATE_LEN, sum(kids) * 100)
        else:
            n = max(kids, default=0)
        est[id(node)] = n = min(n, _CAP)
        if n > MAX_BUILT_STRING:
            name = node.sql_name().upper() if isinstance(node, exp.Func) else type(node).__name__.upper()
            return [Diagnostic(
                "policy.expensive",
                f"{name} here can build a string of about {n:,} characters in one call; the limit is {MAX_BUILT_STRING:,}",
                hint="each nested REPLACE (or concatenation) multiplies the text: use fewer levels or shorter replacements",
                stage="policy", **_at(node))]
    return []


# ------------------------------------------------------------------ tables

# Unquoted and quoted names alike match ASCII-case-insensitively in DuckDB and SQLite, and only ASCII:
# folding more (str.lower) would call two names one that the engine keeps apart.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
# Names the engines answer with their own catalog, never with a user's table.
# No catalog table ends in _cte, the grammar's form for CTE names (pg_cte is an undefined CTE, not the catalog).
_CATALOG_PREFIXES = ("sqlite_", "duckdb_", "pragma_", "pg_", "information_schema")


def fold(name: str) -> str:
    return name.translate(_ASCII_LOWER)


def bound_table(schema: SqlSchema, name: str) -> Table | None:
    """The schema's table the engine resolves an unqualified ``name`` to, if any."""
    key = fold(name)
    return next((t for n, t in schema.tables.items() if fold(n) == key), None)


def cte_in_scope(table: exp.Table) -> bool:
    """Whether an unqualified table reference names a CTE where it stands.

    A CTE is visible in the body of the query its WITH belongs to (subqueries included), in the
    CTEs after it in the same WITH, and in its own body only under WITH RECURSIVE. Elsewhere,
    including earlier siblings, the engine may resolve the name in its catalog, so it must be a
    bound table: DuckDB binds ``WITH duckdb_tables AS (SELECT * FROM duckdb_tables)`` to the
    catalog view (every attached database's tables), though SQLite calls it circular.
    """
    key = fold(table.name)
    child: exp.Expression = table
    node = table.parent
    while node is not None:
        if isinstance(node, exp.With):
            ctes = node.expressions
            i = next((k for k, c in enumerate(ctes) if c is child), len(ctes))
            visible = ctes[: i + 1] if node.args.get("recursive") else ctes[:i]
            if any(fold(c.alias_or_name) == key for c in visible):
                return True
        else:
            with_ = node.args.get("with_")
            if isinstance(with_, exp.With) and with_ is not child:
                if any(fold(c.alias_or_name) == key for c in with_.expressions):
                    return True
        child, node = node, node.parent
    return False


def _span(table: exp.Table) -> dict[str, Any]:
    """The whole dotted name (catalog.db.name) a qualified reference spans."""
    metas = [n.meta for n in (table.args.get("catalog"), table.args.get("db"), table.this)
             if isinstance(n, exp.Expression) and "start" in (n.meta or {})]
    if not metas:
        return _at(table)
    return {"start": min(m["start"] for m in metas), "end": max(m["end"] for m in metas) + 1}


def check_tables(tree: exp.Expression, schema: SqlSchema, dialect: SqlProfile) -> list[Diagnostic]:
    """Every table reference must reach a bound table or a CTE in scope, by its bare name.

    Qualified names are refused outright, whatever they qualify: ``main.t`` and ``db.main.t``
    can reach another schema, an attached database or the engine's catalog, and the grammar
    never writes them. Table functions (read_csv, range, pragma_*, duckdb_*()) read outside the
    bound tables and are refused too.
    """
    diags: list[Diagnostic] = []
    known = ", ".join(list(schema.tables)[:12])
    for table in tree.find_all(exp.Table):
        this = table.this
        if isinstance(this, exp.Func):
            name = function_name(this, dialect) or this.sql_name().upper()
            diags.append(Diagnostic(
                "policy.table_function", f"table function {name} reads outside the schema's tables",
                hint=f"read from the schema's tables ({known})", stage="policy", **_at(table, this)))
            continue
        if isinstance(this, exp.Identifier) and not this.quoted and fold(this.name) in STATEMENT_WORDS:
            diags.append(Diagnostic(
                "policy.statement", f"{this.name.upper()} here is a statement that reads the engine's catalog",
                hint=f"read from the schema's tables ({known}); quote a table that is really called {this.name}",
                stage="policy", **_at(table, this)))
            continue
        qualified = bool(table.args.get("db") or table.args.get("catalog")) or not isinstance(this, exp.Identifier)
        if qualified:
            spelled = exp.Table(this=this, db=table.args.get("db"), catalog=table.args.get("catalog")).sql(dialect.sqlglot)
            bound = bound_table(schema, table.name) if isinstance(this, exp.Identifier) else None
            hint = (f"write {bound.name} without the qualifier" if bound else
                    suggestion(table.name, schema.tables, "table") or f"read from the schema's tables ({known})")
            diags.append(Diagnostic(
                "policy.qualified_name",
                f"'{spelled}' names a schema or database; only the schema's own tables, unqualified, can be read",
                hint=hint, stage="policy", **_span(table)))
            continue
        if cte_in_scope(table) or bound_table(schema, table.name):
            continue
        if fold(table.name).startswith(_CATALOG_PREFIXES) and not fold(table.name).endswith("_cte"):
            diags.append(Diagnostic(
                "policy.catalog_table", f"'{table.name}' is the engine's catalog, not a table of this schema",
                hint=f"read from the schema's tables ({known})", stage="policy", **_at(table, this)))
            continue
        diags.append(Diagnostic(
            "schema.unknown_table", f"table '{table.name}' does not exist",
            hint=suggestion(table.name, schema.tables, "table"), **_at(table, this)))
    return diags


# ------------------------------------------------------------------ engine errors

# What SQLite and DuckDB name in their errors: a column (maybe qualified), a table or a function.
_QUALIFIED = r'"?(?:(?P<table>\w+)\.)?(?P<name>\w+)"?'
_ENGINE_NAMES = tuple((kind, re.compile(pattern)) for kind, pattern in (
    (exp.Column, rf"no such column: {_QUALIFIED}"),
    (exp.Column, rf"ambiguous column name: {_QUALIFIED}"),
    (exp.Column, r'Referenced column "(?P<name>\w+)" not found'),
    (exp.Column, r'Table "(?P<table>\w+)" does not have a column named "(?P<name>\w+)"'),
    (exp.Column, r'Ambiguous reference to column name "(?P<name>\w+)"'),
    (exp.Table, r"no such table: (?P<name>\w+)"),
    (exp.Table, r"Table with name (?P<name>\w+) does not exist"),
    (exp.Func, r"(?:function|aggregate:?(?: function)?) (?P<name>\w+)\(\)"),
    (exp.Func, r"argument types '(?P<name>\w+)\("),
))


def locate_engine_error(text: str, error: str, dialect: SqlProfile) -> dict[str, int] | None:
    """The span of the column, table or function an engine's error message names, found in the parsed
    tree (first occurrence); None when the message names nothing or the tree has no such node."""
    found = next(((kind, m) for kind, pattern in _ENGINE_NAMES if (m := pattern.search(error))), None)
    if found is None:
        return None
    kind, m = found
    name, qualifier = m.group("name"), m.groupdict().get("table")
    try:
        tree, syntax = parse(text, dialect)
    except RecursionError:
        return None
    if tree is None or syntax:
        return None
    for node in tree.find_all(kind):
        if kind is exp.Func:
            if name.upper() not in (function_name(node, dialect), node.sql_name().upper(), *type(node).sql_names()):
                continue
            span = _at(node)
        else:
            if fold(node.name) != fold(name) or (qualifier and fold(node.text("table")) != fold(qualifier)):
                continue
            span = _at(node, node.this)
        if span:
            return span
    return None


# ------------------------------------------------------------------ aggregates

_AGGREGATE_PLACES = {
    "where": ("in WHERE, which filters rows before any grouping",
              "filter groups with HAVING after GROUP BY, or compare with a subquery: WHERE x > (SELECT AVG(x) FROM t)"),
    "group": ("in GROUP BY, which groups by values of rows", "group by columns; aggregate in the select list"),
    "joins": ("in a JOIN condition, which pairs rows before any grouping", "join on columns; aggregate afterwards"),
}


def _is_aggregate(node: exp.Expression) -> bool:
    """An aggregate call; MIN(a, b) and MAX(a, b) with several arguments are scalar functions, and a call
    with OVER is a window function."""
    return (isinstance(node, exp.AggFunc) and not (isinstance(node, (exp.Min, exp.Max)) and node.expressions)
            and not isinstance(node.parent, exp.Window))


def _call_span(node: exp.Func, text: str) -> dict[str, Any]:
    """The span of a call's name; where sqlglot kept no position for it (a call in JOIN .. ON), the
    name as written just before its first positioned argument."""
    span = _at(node)
    if span or not text:
        return span
    starts = [n.meta["start"] for n in node.walk() if "start" in (n.meta or {})]
    if not starts:
        return {}
    name = node.sql_name().upper()
    at = text.upper().rfind(name, 0, min(starts))
    return {"start": at, "end": at + len(name)} if at >= 0 else {}


def check_aggregates(tree: exp.Expression, text: str = "") -> list[Diagnostic]:
    """Aggregates where no engine takes them: inside another aggregate (of the same query), in WHERE,
    GROUP BY or a JOIN condition. A subquery or a window starts afresh: ``SUM(COUNT(*)) OVER ()`` is fine."""
    diags: list[Diagnostic] = []
    for agg in tree.find_all(exp.AggFunc):
        if not _is_aggregate(agg):
            continue
        name = agg.sql_name().upper()
        child, node = agg, agg.parent
        while node is not None and not isinstance(node, (exp.Query, exp.Subquery, exp.Window)):
            if _is_aggregate(node):
                outer = node.sql_name().upper()
                diags.append(Diagnostic(
                    "semantic.aggregate", f"aggregate {name}() inside aggregate {outer}(): aggregates do not nest",
                    hint=f"aggregate once, or aggregate a subquery's result: SELECT {outer}(v) FROM "
                         f"(SELECT {name}(...) AS v FROM ... GROUP BY ...)", **_call_span(agg, text)))
                break
            child, node = node, node.parent
        else:
            if isinstance(node, exp.Select) and child.arg_key in _AGGREGATE_PLACES:
                where, hint = _AGGREGATE_PLACES[child.arg_key]
                diags.append(Diagnostic("semantic.aggregate", f"aggregate {name}() {where}", hint=hint,
                                        **_call_span(agg, text)))
    return diags


# ------------------------------------------------------------------ names


def _source_table(schema: SqlSchema, source: Any) -> Table | None:
    return schema.table(source.name) if isinstance(source, exp.Table) else None


def _alias_columns(node: exp.Expression) -> list[str]:
    alias = node.args.get("alias")
    return [c.name for c in alias.columns] if isinstance(alias, exp.TableAlias) else []


def _source_columns(schema: SqlSchema, source: Any) -> list[str] | None:
    """Output columns of a FROM source; None when unknown (SELECT * from a derived table).

    Column lists in an alias (``WITH r(n) AS``, ``AS t(a, b)``) rename the first columns.
    """
    if isinstance(source, exp.Table):
        t = schema.table(source.name)
        if t is None:
            return None
        names = _alias_columns(source)
        return names + list(t.columns)[len(names):]
    if isinstance(source, Scope):
        query = source.expression
        while isinstance(query.parent, exp.SetOperation):
            query = query.parent  # a recursive CTE's self-reference is scoped to its first branch
        names = _alias_columns(query.parent) if isinstance(query.parent, (exp.CTE, exp.Subquery)) else []
        selects = source.expression.selects if hasattr(source.expression, "selects") else []
        if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and isinstance(s.this, exp.Star)) for s in selects):
            return None
        return names + list(source.expression.named_selects)[len(names):]
    return None


def _selected(scope: Scope) -> list[tuple[str, Any]]:
    """(alias, source) pairs of the scope's FROM and JOINs; CTEs that are defined but not selected do not count."""
    return [(name, src) for name, (_, src) in scope.selected_sources.items()]


def _visible(scope: Scope) -> list[tuple[str, Any]]:
    """(alias, source) pairs a column in ``scope`` may refer to, nearest first (outer scopes for correlation)."""
    out: list[tuple[str, Any]] = []
    s: Scope | None = scope
    while s is not None:
        out += [(name, src) for name, src in _selected(s) if not any(name == n and src is o for n, o in out)]
        s = s.parent if s.is_subquery else None
    return out


def check_names(tree: exp.Expression, schema: SqlSchema, lateral: bool = False) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    try:
        scopes = traverse_scope(tree)
    except RecursionError:
        raise
    except Exception as e:  # sqlglot cannot scope some exotic trees
        return [Diagnostic("check.skipped", f"name resolution skipped: {e}", severity="warning")]
    for scope in scopes:
        diags += _check_columns(scope, schema, lateral)
    return diags


def _alias_visible(col: exp.Column, select: exp.Expression, lateral: bool) -> bool:
    """Whether a select-list alias named like ``col`` can be what it means: anywhere after the select
    list; inside it only where the engine reads earlier items' aliases (``lateral``), never its own."""
    node: exp.Expression = col
    while node.parent is not None and node.parent is not select:
        node = node.parent
    if node.parent is None or node.arg_key != "expressions":
        return True
    if not lateral:
        return False
    earlier = select.expressions[: node.index or 0]
    return any(s.alias and s.alias.lower() == col.name.lower() for s in earlier)


def _check_columns(scope: Scope, schema: SqlSchema, lateral: bool = False) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    visible = _visible(scope)
    local = _selected(scope)
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
        if owners_local or unknown_local or (name.lower() in select_aliases
                                              and _alias_visible(col, scope.expression, lateral)):
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
    except RecursionError:
        raise
    except Exception:
        return diags
    for scope in scopes:
        sources = dict(_selected(scope))
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
