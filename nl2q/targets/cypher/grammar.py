"""Cypher's grammar, one file used two ways: the decode variant (the schema's names, exact
whitespace, the dialect's constructs) and the check variant (any names, free whitespace,
comments, any-case keywords, writes) that the checker parses with.
"""

from __future__ import annotations

import re
from functools import cache

from ...grammar import (_LOWER, _WORD, VISIBLE_CHARS, alternatives, base_grammar, lark_literal, redefine,
                        words_excluding)
from .profile import CypherProfile
from .schema import GraphSchema

_NAME = r"/[A-Za-z_][A-Za-z0-9_]*|`[^`]+`/"
# What separates tokens when checking, kept exactly as narrow as nl2q.check.hidden_characters: a line
# ends at \n (or \r\n) only, and a // comment may hold nothing any engine could read as a line end
# (ArcadeDB ends one at a lone \r). A block comment holds no '*' at all, so every reading of where it
# ends agrees (openCypher's own rule does not end '/* **/' at '**/').
_LINE_END_CHARS = r"\r\n\x0b\x0c\x85\u2028\u2029"
_SPACE = rf"[ \t\n]|\r\n|\/\/[^{_LINE_END_CHARS}]*\r?\n|\/\*[^*]*\*\/"
_RELAXED_WS = {
    "RWS": rf"/(?:{_SPACE})+/",
    "OWS": rf"/(?:{_SPACE})*/",
    "CWS": rf"/(?:{_SPACE})*/",
}
# The check variant parses the exact text the engine will run: spacing and comments before, an optional
# ';' and spacing after, and a last // comment that the end of the text closes.
_CHECK_START = "\n".join([
    "%override start: _LEAD? query _SEMI? _TAIL?",
    rf"_LEAD: /(?:{_SPACE})+/",
    rf"_TAIL: /(?:{_SPACE})+(?:\/\/[^{_LINE_END_CHARS}]*)?|\/\/[^{_LINE_END_CHARS}]*/",
])


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


def specialise_cypher(schema: GraphSchema, dialect: CypherProfile) -> str:
    """``grammars/cypher.lark`` bound to one graph schema and one dialect (the decode variant)."""
    constructs = list(dialect.constructs)
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
    text = re.sub(r"^STRING: .*$", lambda _m: _DECODE_STRING, base_grammar("cypher"), count=1, flags=re.M)
    return text + f"\n// specialised for dialect {dialect.name}\n" + "\n".join(rules) + "\n"


# The decode variant's strings hold visible characters only (the check variant reads any string).
_DECODE_STRING = (f"STRING: /'([{VISIBLE_CHARS}\"]|\\\\['\\\\])*'|\"([{VISIBLE_CHARS}']|\\\\[\"\\\\])*\"/")


@cache
def cypher_check_grammar() -> str:
    """The check variant: the decode rules with generic names, free whitespace, any-case keywords, writes."""
    import re

    text = base_grammar("cypher") + "\n" + base_grammar("cypher_write")
    text = redefine(text, _RELAXED_WS)
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
        _CHECK_START,
    ]
    return text + "\n" + "\n".join(rules) + "\n"
