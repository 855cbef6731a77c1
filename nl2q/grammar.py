"""Grammars: Lark files shipped as data, specialised at run time with a schema's own names.

The specialised text is the single source of truth for a target: the decoder is
constrained by it and the property tests prove the checker parses all it derives.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from functools import cache
from typing import Callable, Iterable

from .dialect import Dialect
from .errors import GrammarRejected
from .resources import data_dir
from .schema import SqlSchema


@cache
def base_grammar(name: str) -> str:
    """The unspecialised ``grammars/<name>.lark``."""
    return (data_dir("grammars") / f"{name}.lark").read_text()


def lark_literal(text: str) -> str:
    """``text`` as a Lark string literal."""
    return json.dumps(text, ensure_ascii=False)


def alternatives(options: Iterable[str]) -> str:
    return " | ".join(dict.fromkeys(options))


@cache
def _sql_keywords(sqlglot_dialect: str) -> frozenset[str]:
    from sqlglot.dialects.dialect import Dialect as SqlglotDialect

    tokenizer = SqlglotDialect.get_or_raise(sqlglot_dialect).tokenizer_class
    return frozenset(w.upper() for k in tokenizer.KEYWORDS for w in k.split() if w.replace("_", "").isalpha())


def sql_identifier(name: str, dialect: Dialect) -> str:
    """How ``name`` must be spelt in a query: bare when it can be, double-quoted otherwise."""
    bare = name.isascii() and name.isidentifier() and name.upper() not in _sql_keywords(dialect.sqlglot or "")
    return name if bare else '"' + name.replace('"', '""') + '"'


def specialise_sql(schema: SqlSchema, dialect: Dialect) -> str:
    """``grammars/sql.lark`` bound to one schema and one dialect."""

    def lit(name: str) -> str:
        return lark_literal(sql_identifier(name, dialect))

    rules = [
        "table_name: " + alternatives(lit(t) for t in schema.tables),
        "column_name: " + alternatives(lit(c) for c in schema.column_names()),
        "qualified_column: "
        + alternatives(
            f'{lit(t.name)} "." ({alternatives(lit(c) for c in t.columns)})' for t in schema.tables.values() if t.columns
        ),
        "function_name: " + alternatives(lark_literal(f) for f in dialect.functions),
        "type_name: " + alternatives(lark_literal(t) for t in dialect.types),
        "dialect_atom: " + (dialect.atoms or '"CURRENT_TIMESTAMP"'),
    ]
    header = f"// specialised for dialect {dialect.name}: {len(schema.tables)} tables\n"
    return base_grammar("sql") + "\n" + header + "\n".join(rules) + "\n"


def fingerprint(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def validate(grammar: str, tokenizer: object | None = None) -> None:
    """Raise :class:`GrammarRejected` if llguidance cannot use ``grammar``."""
    import llguidance

    message = llguidance.LLMatcher.validate_grammar(llguidance.grammar_from("lark", grammar), tokenizer)
    if message:
        raise GrammarRejected(
            f"the decoding backend rejected the grammar: {message}",
            "a grammar may only use the Lark subset llguidance supports (see NOTES: no lookarounds, priorities, templates)",
        )


class LruCache(OrderedDict):
    """A small bounded cache for compiled constraints."""

    def __init__(self, size: int = 32) -> None:
        super().__init__()
        self.size = size

    def get_or_make(self, key: str, make: Callable[[], object]) -> object:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
        return value
