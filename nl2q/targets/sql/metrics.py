"""SQL-specific evaluation metrics: Spider's exact-set match and hardness, and whether a query orders its result."""

from __future__ import annotations

import hashlib
import re
from typing import Any


def sql_orders(query: str) -> bool:
    """Whether the outermost statement of a SQL query has ORDER BY (a subquery's does not count)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(query, read="sqlite")
    except Exception:  # noqa: BLE001 - fall back to the text
        return re.search(r"\border\s+by\b", query, re.I) is not None
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    return tree.args.get("order") is not None


def exact_set_match(gold: str, pred: str, schema: dict[str, set[str]] | None = None) -> bool:
    """Spider-style exact-set match on sqlglot trees (parsed as SQLite).

    Both queries are parsed, identifiers normalised (``normalize_identifiers``, then lowercased,
    as SQLite names are case-insensitive), table aliases resolved to table names, unqualified
    columns qualified with the one FROM table that has them (``schema``: {table: {column}}, lower
    case), literals replaced by a placeholder, and each SELECT reduced to components compared as
    sets: select expressions (with DISTINCT), FROM tables (a multiset; subqueries by their own
    components), WHERE and HAVING conjuncts (split on top-level AND, an OR as the set of its
    disjuncts; ``a = b`` with operands sorted), GROUP BY expressions, ORDER BY (list with direction), LIMIT presence (its value is a
    literal, ignored as Spider does) and INTERSECT/UNION/EXCEPT (both sides, recursively). Join
    conditions are not compared (Spider compares table units only). A query that does not parse
    never matches.
    """
    try:
        return _signature(gold, schema) == _signature(pred, schema)
    except Exception:  # noqa: BLE001 - an unparsable prediction simply does not match
        return False


def _signature(sql: str, schema: dict[str, set[str]] | None) -> Any:
    import sqlglot
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    tree = sqlglot.parse_one(sql, read="sqlite")
    tree = normalize_identifiers(tree, dialect="sqlite")
    return _sig(tree, schema or {})


def _sig(node: Any, schema: dict[str, set[str]]) -> Any:
    from sqlglot import exp

    while isinstance(node, (exp.Subquery, exp.Paren)) and isinstance(node.this, (exp.Query, exp.Subquery, exp.Paren)):
        node = node.this
    if isinstance(node, (exp.Union, exp.Intersect, exp.Except)):
        kind = type(node).__name__.lower() + ("" if node.args.get("distinct", True) else " all")
        return (kind, _sig(node.left, schema), _sig(node.right, schema),
                node.args.get("order") is not None, node.args.get("limit") is not None)
    if not isinstance(node, exp.Select):
        raise ValueError(f"not a SELECT: {type(node).__name__}")
    aliases: dict[str, str] = {}
    tables: list[Any] = []
    sources = []
    frm = node.args.get("from") or node.args.get("from_")  # the key's name differs across sqlglot versions
    if frm is not None:
        sources.append(frm.this)
    sources += [j.this for j in node.args.get("joins") or []]
    for src in sources:
        if isinstance(src, exp.Table):
            name = src.name.lower()
            aliases[(src.alias or src.name).lower()] = name
            aliases[name] = name
            tables.append(name)
        else:
            tables.append(("sub", _sig(src.this if isinstance(src, exp.Subquery) else src, schema)))
    in_scope = [t for t in tables if isinstance(t, str)]

    def col_owner(column: str) -> str | None:
        if len(in_scope) == 1:
            return in_scope[0]
        owners = [t for t in dict.fromkeys(in_scope) if column in schema.get(t, set())]
        return owners[0] if len(owners) == 1 else None

    def norm(e: Any) -> str:
        e = e.copy()
        if isinstance(e, exp.Alias):
            e = e.this
        if isinstance(e, exp.Ordered):
            e = e.this

        def fix(n: Any) -> Any:
            if isinstance(n, (exp.Subquery,)) or (isinstance(n, exp.Select) and n is not e):
                return exp.Literal.string("subquery:" + hashlib.sha1(repr(_sig(n, schema)).encode()).hexdigest()[:12])
            if isinstance(n, exp.Literal) and not str(n.this).startswith("subquery:"):
                return exp.Placeholder()
            if isinstance(n, exp.Neg) and isinstance(n.this, exp.Literal):
                return exp.Placeholder()
            if isinstance(n, exp.Column) and not isinstance(n.this, exp.Star):
                owner = aliases.get(n.table.lower()) if n.table else col_owner(n.name.lower())
                return exp.column(n.name.lower(), table=owner) if owner else exp.column(n.name.lower())
            return n

        e = e.transform(fix)
        if isinstance(e, (exp.EQ, exp.NEQ)):
            a, b = sorted([e.left.sql(dialect="sqlite").lower(), e.right.sql(dialect="sqlite").lower()])
            return f"{a} {type(e).__name__} {b}"
        return e.sql(dialect="sqlite").lower()

    def conjuncts(cond: Any) -> frozenset[str]:
        if cond is None:
            return frozenset()
        parts = list(cond.flatten()) if isinstance(cond, exp.And) else [cond]
        out = set()
        for p in parts:
            p = p.unnest() if isinstance(p, exp.Paren) else p
            if isinstance(p, exp.Or):  # a disjunction is a set of its disjuncts too
                out.add("or" + repr(sorted(norm(d.unnest() if isinstance(d, exp.Paren) else d) for d in p.flatten())))
            else:
                out.add(norm(p))
        return frozenset(out)

    where = node.args.get("where")
    having = node.args.get("having")
    group = node.args.get("group")
    order = node.args.get("order")
    return (
        "select",
        bool(node.args.get("distinct")),
        frozenset(norm(e) for e in node.expressions),
        tuple(sorted(map(repr, tables))),
        conjuncts(where.this if where else None),
        frozenset(norm(e) for e in (group.expressions if group else [])),
        conjuncts(having.this if having else None),
        tuple((norm(o), bool(o.args.get("desc"))) for o in (order.expressions if order else [])),
        node.args.get("limit") is not None,
    )


_WHERE_LIKE = 9  # index of 'like' in Spider's WHERE_OPS
LEVELS = ("easy", "medium", "hard", "extra")  # Spider's hardness levels, easiest first


def spider_hardness(sql: dict[str, Any]) -> str:
    """Spider's official hardness (evaluation.py ``eval_hardness``) from a dev.json ``sql`` structure."""
    def has_agg(unit: Any) -> bool:
        return unit[0] != 0

    def count_agg(units: list[Any]) -> int:
        return len([u for u in units if has_agg(u)])

    def nested(s: dict[str, Any]) -> list[Any]:
        out = []
        for cu in s["from"]["conds"][::2] + s["where"][::2] + s["having"][::2]:
            out += [v for v in (cu[3], cu[4]) if isinstance(v, dict)]
        out += [s[k] for k in ("intersect", "except", "union") if s[k] is not None]
        return out

    def comp1(s: dict[str, Any]) -> int:
        n = sum(1 for k in ("where", "groupBy", "orderBy") if len(s[k]) > 0) + (s["limit"] is not None)
        if len(s["from"]["table_units"]) > 0:
            n += len(s["from"]["table_units"]) - 1
        ao = s["from"]["conds"][1::2] + s["where"][1::2] + s["having"][1::2]
        n += len([t for t in ao if t == "or"])
        cus = s["from"]["conds"][::2] + s["where"][::2] + s["having"][::2]
        return n + len([cu for cu in cus if cu[1] == _WHERE_LIKE])

    def others(s: dict[str, Any]) -> int:
        agg = count_agg(s["select"][1]) + count_agg(s["where"][::2]) + count_agg(s["groupBy"])
        if len(s["orderBy"]) > 0:
            agg += count_agg([u[1] for u in s["orderBy"][1] if u[1]] + [u[2] for u in s["orderBy"][1] if u[2]])
        agg += count_agg(s["having"])
        return sum([agg > 1, len(s["select"][1]) > 1, len(s["where"]) > 1, len(s["groupBy"]) > 1])

    return _level(comp1(sql), len(nested(sql)), others(sql))


def _level(c1: int, c2: int, co: int) -> str:
    if c1 <= 1 and co == 0 and c2 == 0:
        return "easy"
    if (co <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and co < 2 and c2 == 0):
        return "medium"
    if (co > 2 and c1 <= 2 and c2 == 0) or (2 < c1 <= 3 and co <= 2 and c2 == 0) or (c1 <= 1 and co == 0 and c2 <= 1):
        return "hard"
    return "extra"


def sql_hardness(query: str) -> str:
    """The same rules counted on a sqlglot tree, for items without Spider's ``sql`` structure (approximate)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(query, read="sqlite")
    except Exception:  # noqa: BLE001
        return "extra"
    setops = 0
    while isinstance(tree, (exp.Union, exp.Intersect, exp.Except)):
        setops += 1
        tree = tree.left
    if not isinstance(tree, exp.Select):
        return "extra"
    where, having, group, order = (tree.args.get(k) for k in ("where", "having", "group", "order"))
    conds = [c for c in (where, having) if c is not None]
    c1 = sum(x is not None for x in (where, group, order, tree.args.get("limit"))) + len(tree.args.get("joins") or [])
    c1 += sum(len(list(c.find_all(exp.Or))) + len(list(c.find_all(exp.Like))) for c in conds)
    nested = sum(1 for c in conds for s in c.find_all(exp.Select))
    aggs = sum(1 for e in tree.expressions if e.find(exp.AggFunc)) + sum(1 for c in conds if c.find(exp.AggFunc))
    where_n = len(list(where.this.flatten())) if where is not None and isinstance(where.this, exp.And) else int(where is not None)
    co = sum([aggs > 1, len(tree.expressions) > 1, where_n > 1, len(group.expressions) > 1 if group else False])
    return _level(c1, nested + setops, co)
