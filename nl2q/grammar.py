"""Grammars: Lark files shipped as data, and the helpers targets use to specialise them.

A target's specialised grammar is its single source of truth: the decoder is constrained
by it and the conformance tests prove the target's checker parses all it derives.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any, Iterable, Mapping

from .errors import GrammarRejected
from .resources import data_dir
from .types import Constraint


# Characters a decode grammar may put inside a string literal: visible ones only, so nothing the
# checkers refuse as hidden (controls, odd spaces, invisible marks) can be emitted. Quotes and
# backslashes are left to each grammar's own escaping rule.
VISIBLE_CHARS = r" !#-&(-\[\]-~\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF\u3040-\u30FF\u4E00-\u9FFF"


@cache
def base_grammar(name: str) -> str:
    """The unspecialised ``grammars/<name>.lark``."""
    return (data_dir("grammars") / f"{name}.lark").read_text()


def redefine(text: str, definitions: Mapping[str, str]) -> str:
    """``text`` with the line defining each ``NAME:`` replaced by ``NAME: definition``: how a variant (check,
    decode) respecifies a base grammar's terminals while the rules stay one source."""
    for name, body in definitions.items():
        text = re.sub(rf"^{re.escape(name)}: .*$", lambda _m, n=name, b=body: f"{n}: {b}", text, count=1, flags=re.M)
    return text


def lark_literal(text: str) -> str:
    """``text`` as a Lark string literal."""
    return json.dumps(text, ensure_ascii=False)


def alternatives(options: Iterable[str]) -> str:
    return " | ".join(dict.fromkeys(options))


_LOWER = "abcdefghijklmnopqrstuvwxyz"
_WORD = _LOWER + "0123456789_"


def _char_class(chars: Iterable[str]) -> str:
    """A regex character class, runs written as ranges: [a-mo-z]."""
    codes = sorted({ord(c) for c in chars})

    def e(code: int) -> str:  # inside a class only these are special
        return "\\" + chr(code) if chr(code) in "\\]^-[" else chr(code)

    if len(codes) == 1:
        return chr(codes[0]) if chr(codes[0]).isalnum() or chr(codes[0]) == "_" else f"[{e(codes[0])}]"
    runs: list[list[int]] = []
    for c in codes:
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])

    return "[" + "".join(e(a) if a == b else f"{e(a)}{e(b)}" if b == a + 1 else f"{e(a)}-{e(b)}" for a, b in runs) + "]"


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


def llguidance_grammar(constraint: Constraint) -> str:
    """The constraint in llguidance's own form (every kind nl2q has maps onto one of its formats)."""
    import llguidance

    return llguidance.grammar_from(constraint.kind, constraint.text)


def validate(constraint: Constraint, tokenizer: Any = None) -> None:
    """Raise :class:`GrammarRejected` if llguidance cannot use ``constraint``."""
    import llguidance

    try:
        message = llguidance.LLMatcher.validate_grammar(llguidance_grammar(constraint), tokenizer)
    except ValueError as e:
        message = str(e)
    if message:
        raise GrammarRejected(
            f"the decoding backend rejected the grammar: {message}",
            "a grammar may only use the Lark subset llguidance supports (no lookarounds, priorities, templates)",
        )
