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
from .schema.graph import GraphSchema


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
    """Every word of every keyword: names spelt like one are quoted."""
    from sqlglot.dialects.dialect import Dialect as SqlglotDialect

    tokenizer = SqlglotDialect.get_or_raise(sqlglot_dialect).tokenizer_class
    return frozenset(w.upper() for k in tokenizer.KEYWORDS for w in k.split() if w.replace("_", "").isalpha())


def sql_identifier(name: str, dialect: Dialect) -> str:
    """How ``name`` must be spelt in a query: bare when it can be, double-quoted otherwise."""
    bare = name.isascii() and name.isidentifier() and name.upper() not in _sql_keywords(dialect.sqlglot or "")
    return name if bare else '"' + name.replace('"', '""') + '"'


_LOWER = "abcdefghijklmnopqrstuvwxyz"
_WORD = _LOWER + "0123456789_"


def _char_class(chars: Iterable[str]) -> str:
    """A regex character class, runs written as ranges: [a-mo-z]."""
    codes = sorted({ord(c) for c in chars})
    if len(codes) == 1:
        return chr(codes[0])
    runs: list[list[int]] = []
    for c in codes:
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return "[" + "".join(chr(a) if a == b else f"{chr(a)}{chr(b)}" if b == a + 1 else f"{chr(a)}-{chr(b)}" for a, b in runs) + "]"


def words_excluding(excluded: Iterable[str], max_len: int, first: str = _LOWER, rest: str = _WORD,
                    fold_case: bool = False) -> str:
    """A regex for words of ``first`` then ``rest`` characters, 1..max_len long, except ``excluded``.

    The decoding regex dialect has no lookarounds, so the exclusion is spelt out
    over a trie of the excluded words. With ``fold_case`` the exclusion ignores case
    (Cypher keywords do): ``excluded`` is given in lower case.
    """

    def variants(ch: str, allowed: str) -> list[str]:
        return [c for c in dict.fromkeys([ch, ch.upper()] if fold_case else [ch]) if c in allowed]

    trie: dict = {}
    for word in excluded:
        if 0 < len(word) <= max_len and variants(word[0], first) and all(variants(c, rest) for c in word[1:]):
            node = trie
            for ch in word:
                node = node.setdefault(ch, {})
            node["$"] = True

    def node_regex(node: dict, depth: int) -> str | None:
        """Regex for the continuations of this trie node's prefix; None if there are none."""
        ends_here = depth > 0 and not node.get("$")
        alts = []
        if depth < max_len:
            chars = first if depth == 0 else rest
            children = sorted(k for k in node if k != "$")
            taken = {v for ch in children for v in variants(ch, chars)}
            others = [c for c in chars if c not in taken]
            if others:
                tail = max_len - depth - 1
                alts.append(_char_class(others) + (f"{_char_class(rest)}{{0,{tail}}}" if tail else ""))
            for ch in children:
                sub = node_regex(node[ch], depth + 1)
                if sub is not None:
                    alts.append(_char_class(variants(ch, chars)) + sub)
        if not alts:
            return "" if ends_here else None
        return f"(?:{'|'.join(alts)})" + ("?" if ends_here else "")

    return node_regex(trie, 0) or ""


@cache
def reserved_words(dialect: Dialect) -> frozenset[str]:
    """Words an alias must not be: the grammar's own keywords, and those sqlglot refuses as aliases."""
    import re

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
def alias_terminals(dialect: Dialect) -> tuple[str, ...]:
    """Alias terminals that can never spell a reserved word in lower case."""
    keywords = reserved_words(dialect)
    short = keywords | {k.lower() for k in _sql_keywords(dialect.sqlglot or "") if len(k) <= 3}
    return (
        f"ALIAS: /{words_excluding(short, 3, rest=_LOWER)}|[a-z]{{1,3}}[0-9]|T[0-9]{{1,2}}/",
        f"NAME_ALIAS: /{words_excluding(keywords, 30)}/",
    )


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
        "nullary_function: " + alternatives(lark_literal(f) for f in dialect.nullary_functions),
        "type_name: " + alternatives(lark_literal(t) for t in dialect.types),
        "dialect_atom: " + (dialect.atoms or '"CURRENT_TIMESTAMP"'),
        *alias_terminals(dialect),
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


# ------------------------------------------------------------------ Cypher

_NAME = r"/[A-Za-z_][A-Za-z0-9_]*|`[^`]+`/"
_RELAXED_WS = {
    "RWS": r"/(?:[ \t\r\n]|\/\/[^\n]*\n)+/",
    "OWS": r"/(?:[ \t\r\n]|\/\/[^\n]*\n)*/",
    "CWS": r"/(?:[ \t\r\n]|\/\/[^\n]*\n)*/",
}


def cypher_name(name: str) -> str:
    """How a label, type or property must be spelt: bare, or in backticks."""
    return name if name.isascii() and name.replace("_", "a").isalnum() and not name[0].isdigit() else f"`{name}`"


@cache
def cypher_keywords() -> frozenset[str]:
    """Every keyword of the Cypher grammars, lower case (Cypher keywords ignore case)."""
    import re

    text = base_grammar("cypher") + base_grammar("cypher_write")
    return frozenset(w.lower() for w in re.findall(r'"([A-Za-z]+)"', text)) | {
        "create", "merge", "set", "delete", "detach", "remove", "call", "yield", "load", "foreach", "on",
        "union", "all", "optional", "case", "when", "then", "else", "end", "is", "in", "contains", "starts", "ends",
    }


def _constructs(dialect: Dialect) -> list[str]:
    return list(dialect.extra.get("constructs", []))


def specialise_cypher(schema: "GraphSchema", dialect: Dialect) -> str:
    """``grammars/cypher.lark`` bound to one graph schema and one dialect (the decode variant)."""
    constructs = _constructs(dialect)
    words = words_excluding(cypher_keywords(), 30, rest=_WORD + _LOWER.upper(), fold_case=True)
    rules = [
        "label_name: " + alternatives(lark_literal(cypher_name(n)) for n in schema.labels),
        "rel_type: " + alternatives(lark_literal(cypher_name(r)) for r in schema.rels),
        "property_key: " + alternatives(lark_literal(cypher_name(k)) for k in schema.property_keys() or ["id"]),
        "function_name: " + alternatives(lark_literal(f) for f in dialect.functions if f != "count") + ' | "count"',
        'var_length: "*" INT ".." INT | "*" INT',
        "pattern_body: " + alternatives(["pattern_element"] + (["shortest_path"] if "shortest_path" in constructs else [])),
        "dialect_atom: " + alternatives([c for c in constructs if c != "shortest_path"] or ["exists_subquery"]),
        f"VARIABLE: /{words}/",
        f"MAP_KEY: /{words}/",
    ]
    return base_grammar("cypher") + f"\n// specialised for dialect {dialect.name}\n" + "\n".join(rules) + "\n"


@cache
def cypher_check_grammar() -> str:
    """The check variant: the decode rules with generic names, free whitespace, any-case keywords, writes."""
    import re

    text = base_grammar("cypher") + "\n" + base_grammar("cypher_write")
    for name, pattern in _RELAXED_WS.items():
        text = re.sub(rf"^{name}: .*$", lambda _m, n=name, p=pattern: f"{n}: {p}", text, flags=re.M)
    text = re.sub(r'"([A-Za-z][A-Za-z_]*)"(?!i)', r'"\1"i', text)
    rules = [
        f"NAME: {_NAME}",
        "label_name: NAME",
        "rel_type: NAME",
        "property_key: NAME",
        'function_name: NAME ("." NAME)*',
        'var_length: "*" INT? (".." INT?)?',
        "pattern_body: pattern_element | shortest_path",
        "dialect_atom: count_subquery | pattern_comprehension",
        f"VARIABLE: {_NAME}",
        f"MAP_KEY: {_NAME}",
    ]
    return text + "\n" + "\n".join(rules) + "\n"
