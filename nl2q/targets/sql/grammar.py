"""SQL's grammar: ``grammars/sql.lark`` bound to one schema and one profile, and the one quoting rule.

:func:`sql_identifier` is how a name must be spelt; the prompt's schema and the grammar
both use it, so the model is never shown a spelling the grammar refuses.
"""

from __future__ import annotations

import re
from functools import cache

from ...grammar import _LOWER, VISIBLE_CHARS, alternatives, base_grammar, lark_literal, words_excluding
from .profile import SqlProfile
from .schema import SqlSchema


@cache
def _sql_keywords(sqlglot_dialect: str) -> frozenset[str]:
    """Every word of every keyword: names spelt like one are quoted."""
    from sqlglot.dialects.dialect import Dialect as SqlglotDialect

    tokenizer = SqlglotDialect.get_or_raise(sqlglot_dialect).tokenizer_class
    return frozenset(w.upper() for k in tokenizer.KEYWORDS for w in k.split() if w.replace("_", "").isalpha())


def sql_identifier(name: str, dialect: SqlProfile) -> str:
    """How ``name`` must be spelt in a query: bare when it can be, double-quoted otherwise."""
    bare = name.isascii() and name.isidentifier() and name.upper() not in _sql_keywords(dialect.sqlglot or "")
    return name if bare else '"' + name.replace('"', '""') + '"'


@cache
def reserved_words(dialect: SqlProfile) -> frozenset[str]:
    """Words an alias must not be: the grammar's own keywords, and those sqlglot refuses as aliases."""
    from sqlglot.dialects.dialect import Dialect as SqlglotDialect

    d = SqlglotDialect.get_or_raise(dialect.sqlglot or "")
    p = d.parser_class
    usable = (p.TABLE_ALIAS_TOKENS & p.ALIAS_TOKENS & p.ID_VAR_TOKENS) - p.FUNC_TOKENS
    words = {
        w.lower()
        for key, token in d.tokenizer_class.KEYWORDS.items()
        for w in key.split()
        if w.replace("_", "").isalpha() and (len(key.split()) > 1 or token not in usable)
    }
    words |= {w.lower() for w in re.findall(r'"([A-Z_]+)"', base_grammar("sql"))}
    return frozenset(words)


@cache
def alias_terminals(dialect: SqlProfile) -> tuple[str, ...]:
    """Alias terminals that can never spell a reserved word in lower case."""
    keywords = reserved_words(dialect)
    short = keywords | {k.lower() for k in _sql_keywords(dialect.sqlglot or "") if len(k) <= 3}
    return (
        f"ALIAS: /{words_excluding(short, 3, rest=_LOWER)}|[a-z]{{1,3}}[0-9]|T[0-9]{{1,2}}/",
        f"NAME_ALIAS: /{words_excluding(keywords, 30)}/",
    )


@cache
def folds_table_names(dialect: SqlProfile) -> bool:
    """Whether the engine resolves an unquoted table name whatever its case (SQLite, DuckDB, Postgres)."""
    from sqlglot.dialects.dialect import Dialect as SqlglotDialect, NormalizationStrategy

    strategy = SqlglotDialect.get_or_raise(dialect.sqlglot or "").NORMALIZATION_STRATEGY
    return strategy not in (NormalizationStrategy.CASE_SENSITIVE, NormalizationStrategy.CASE_INSENSITIVE_EXCEPT_TABLES)


def _arguments(least: int, most: int | None) -> str:
    """Lark for ``least`` to ``most`` (None: any number of) comma-separated expressions."""
    def exprs(n: int) -> str:
        return " _COMMA ".join(["expr"] * n)

    first = max(least, 1)
    if most is None:
        counts = f"{exprs(first)} (_COMMA expr)*"
    elif most == 0:
        return ""
    else:
        counts = " | ".join(exprs(n) for n in range(first, most + 1))
    return f"({counts})?" if least == 0 else f"({counts})"


def function_calls(dialect: SqlProfile) -> str:
    """The ``function_call`` rule: each function with the number of arguments its engine takes."""
    groups: dict[tuple[int, int | None], list[str]] = {}
    for f in dialect.functions:
        groups.setdefault(dialect.arguments(f), []).append(lark_literal(f))
    return "function_call: " + " | ".join(
        f"({alternatives(names)}) _LP {_arguments(*spec)} _RP" for spec, names in groups.items())


def specialise_sql(schema: SqlSchema, dialect: SqlProfile) -> str:
    """``grammars/sql.lark`` bound to one schema and one dialect.

    Bare table names match in any case where the engine folds them, so a model that writes
    ``singer`` for ``Singer`` names the table rather than wandering into a CTE name.
    """
    any_case = "i" if folds_table_names(dialect) else ""

    def lit(name: str) -> str:
        return lark_literal(sql_identifier(name, dialect))

    def table(name: str) -> str:
        spelt = sql_identifier(name, dialect)
        return lark_literal(spelt) + (any_case if spelt == name else "")

    rules = [
        "table_name: " + alternatives(table(t) for t in schema.tables),
        "column_name: " + alternatives(lit(c) for c in schema.column_names()),
        "qualified_column: "
        + alternatives(
            f'{table(t.name)} "." ({alternatives(lit(c) for c in t.columns)})' for t in schema.tables.values() if t.columns
        ),
        function_calls(dialect),
        "nullary_function: " + alternatives(lark_literal(f) for f in dialect.nullary_functions),
        "type_name: " + alternatives(lark_literal(t) for t in dialect.types),
        "dialect_atom: " + (dialect.atoms or '"CURRENT_TIMESTAMP"'),
        *alias_terminals(dialect),
    ]
    header = f"// specialised for dialect {dialect.name}: {len(schema.tables)} tables\n"
    text = re.sub(r"^STRING: .*$", lambda _m: f"STRING: /'([{VISIBLE_CHARS}\"]|'')*'/", base_grammar("sql"),
                  count=1, flags=re.M)
    return text + "\n" + header + "\n".join(rules) + "\n"
