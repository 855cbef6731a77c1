"""Lark grammars as GBNF, for servers that take only GBNF.

llama.cpp's server, SGLang (``ebnf``) and vLLM's xgrammar backend constrain decoding by
GBNF, not by llguidance's Lark. :func:`lark_to_gbnf` turns a (specialised) grammar into
GBNF that accepts the same sentences:

- rules keep their shape: EBNF ``* + ? [] ~`` become GBNF repetitions, so the output reads
  like the source (Lark's own BNF expansion would be left-recursive, which llama.cpp refuses);
- every named terminal becomes a rule; regexes are read with Python's own regex parser, so
  classes, ``\\d \\w \\s``, ``.`` and case folding (``"abc"i``, ``/.../i``) mean exactly
  what they mean to Lark;
- names are made GBNF-safe (``select_core`` -> ``select-core``), the start rule is ``root``,
  and non-ASCII characters are written as ``\\uXXXX`` escapes;
- for llama.cpp, which follows each option on a stack of its own: options that start alike
  share their start (``x | x "=" x`` is ``x ("=" x)?``), immediate left recursion
  (``a: a "x" | "y"``) becomes repetition, and repeated groups too big for its repetition
  limit get rules of their own.

GBNF is read character by character, so it accepts every sentence of the grammar, including
the few that llguidance's greedy lexer refuses (``1.x`` where ``1.5`` would be a FLOAT).

Not translatable, refused with :class:`GrammarRejected` naming the construct: ``%ignore``
(GBNF has no implicit skipping), ``%declare``, rule templates, llguidance extensions
(``%json``, ``%regex``, ``%llguidance`` options, special tokens, rule attributes), indirect
left recursion, repeating what may be empty, and in regexes lookarounds, anchors and word
boundaries, backreferences, conditionals, possessive repeats, atomic groups and repetition
bounds above 2000. Lazy repeats (``+?``) are read as greedy ones: they match the same strings.
"""

from __future__ import annotations

import copy
import json
import re
import re._constants as sre
import re._parser as sre_parse
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Union

from .errors import GrammarRejected

MAX_CODE = 0x10FFFF
LLAMA_REPEAT_LIMIT = 2000  # llama.cpp's MAX_REPETITION_THRESHOLD
_HINT = "use a backend that takes Lark (llguidance), or rewrite the grammar without it"

Ranges = tuple[tuple[int, int], ...]


# ----------------------------------------------------------------------------- GBNF expressions


@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Chars:
    """One character from ``ranges`` (inclusive code point pairs, sorted and disjoint)."""

    ranges: Ranges


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Seq:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Alt:
    options: tuple[Expr, ...]


@dataclass(frozen=True)
class Rep:
    item: Expr
    lo: int
    hi: int | None


Expr = Union[Lit, Chars, Ref, Seq, Alt, Rep]
EMPTY = Seq(())


def seq(items: Iterable[Expr]) -> Expr:
    """A sequence, flattened, with adjacent literals joined."""
    out: list[Expr] = []
    for item in items:
        for part in item.items if isinstance(item, Seq) else (item,):
            if isinstance(part, Lit) and out and isinstance(out[-1], Lit):
                out[-1] = Lit(out[-1].text + part.text)
            elif part != Lit(""):
                out.append(part)
    return out[0] if len(out) == 1 else Seq(tuple(out))


def alt(options: Iterable[Expr]) -> Expr:
    """A choice, flattened and deduplicated; a choice that may be empty becomes ``(...)?``."""
    flat: dict[Expr, None] = {}
    for option in options:
        for part in option.options if isinstance(option, Alt) else (option,):
            flat[EMPTY if part == Lit("") else part] = None
    if not flat:
        raise GrammarRejected("a choice with no options cannot be translated to GBNF", _HINT)
    nonempty = [o for o in flat if o != EMPTY]
    if not nonempty:
        return EMPTY
    if len(nonempty) < len(flat):
        return rep(alt(nonempty), 0, 1)
    singles = [_one_of(o) for o in nonempty]
    if len(nonempty) > 1 and None not in singles:
        return chars(r for ranges in singles for r in ranges)  # type: ignore[union-attr]
    factored = _factored(nonempty)
    return factored[0] if len(factored) == 1 else Alt(tuple(factored))


def _factored(options: list[Expr]) -> list[Expr]:
    """``x a | x b`` as ``x (a | b)``.

    llama.cpp follows every option in a copy of its parse stack, so options that start
    with the same rule multiply the stacks at each level of nesting; shared, they do not.
    """
    tails: dict[Expr, list[Expr]] = {}
    for option in options:
        head, *rest = option.items if isinstance(option, Seq) else (option,)
        tails.setdefault(head, []).append(seq(rest))
    return [seq([head, alt(rest)]) for head, rest in tails.items()]


def _one_of(e: Expr) -> Ranges | None:
    """The characters ``e`` is one of, if it is a single character."""
    if isinstance(e, Chars):
        return e.ranges
    if isinstance(e, Lit) and len(e.text) == 1:
        return ((ord(e.text), ord(e.text)),)
    return None


def rep(item: Expr, lo: int, hi: int | None) -> Expr:
    """``item`` repeated ``lo`` to ``hi`` times (``None``: unbounded); ``(x?)*``-style nests collapse."""
    if hi == 0 or item == EMPTY:
        return EMPTY
    if (lo, hi) == (1, 1):
        return item
    if isinstance(item, Rep) and item.lo <= 1 and lo <= 1 and {item.hi, hi} <= {None, 1}:
        return item if item.hi == hi == 1 else Rep(item.item, item.lo * lo, None)
    return Rep(item, lo, hi)


def chars(ranges: Iterable[tuple[int, int]]) -> Expr:
    """One character of ``ranges``; a single one is a literal."""
    merged = _merge(ranges)
    if not merged:
        raise GrammarRejected("a character class that matches nothing cannot be translated to GBNF", _HINT)
    if len(merged) == 1 and merged[0][0] == merged[0][1]:
        return Lit(chr(merged[0][0]))
    return Chars(merged)


def _merge(ranges: Iterable[tuple[int, int]]) -> Ranges:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def _complement(ranges: Ranges) -> Ranges:
    out, start = [], 0
    for a, b in ranges:
        if a > start:
            out.append((start, a - 1))
        start = b + 1
    if start <= MAX_CODE:
        out.append((start, MAX_CODE))
    return tuple(out)


# ----------------------------------------------------------------------------- character sets


@lru_cache(maxsize=1)
def _universe() -> str:
    return "".join(map(chr, range(MAX_CODE + 1)))


@lru_cache(maxsize=4096)
def _matching(regex: str) -> Ranges:
    """The code points the one-character ``regex`` matches, as Python's ``re`` decides."""
    return tuple((m.start(), m.end() - 1) for m in re.finditer(f"(?:{regex})+", _universe()))


def _re_char(code: int) -> str:
    return f"\\U{code:08x}"


_CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s", sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w", sre.CATEGORY_NOT_WORD: r"\W",
}


# ----------------------------------------------------------------------------- regexes


class _Regex:
    """A Python regex (as ``re._parser`` reads it) as a GBNF expression."""

    _UNSUPPORTED = {
        sre.AT: "anchors and word boundaries (^ $ \\b \\A \\Z)",
        sre.GROUPREF: "backreferences",
        sre.GROUPREF_EXISTS: "conditional groups (?(1)...)",
        sre.POSSESSIVE_REPEAT: "possessive repeats",
        sre.ATOMIC_GROUP: "atomic groups (?>...)",
    }

    def __init__(self, source: str) -> None:
        self.source = source
        self.handlers: dict[Any, Callable[[Any, int], Expr]] = {
            sre.LITERAL: self.literal,
            sre.NOT_LITERAL: self.not_literal,
            sre.ANY: self.any,
            sre.IN: self.char_class,
            sre.BRANCH: self.branch,
            sre.SUBPATTERN: self.group,
            sre.MAX_REPEAT: self.repeat,
            sre.MIN_REPEAT: self.repeat,
            sre.ASSERT: self.lookaround,
            sre.ASSERT_NOT: self.lookaround,
        }

    def translate(self) -> Expr:
        try:
            parsed = sre_parse.parse(self.source)
        except re.error as e:
            raise GrammarRejected(f"invalid regex /{self.source}/: {e}", _HINT) from e
        return self.sequence(parsed, parsed.state.flags)

    def reject(self, construct: str) -> GrammarRejected:
        return GrammarRejected(f"GBNF has no equivalent of {construct}, used in /{self.source}/", _HINT)

    def sequence(self, items: Iterable[tuple[Any, Any]], flags: int) -> Expr:
        return seq(self.node(op, av, flags) for op, av in items)

    def node(self, op: Any, av: Any, flags: int) -> Expr:
        if op in self._UNSUPPORTED:
            raise self.reject(self._UNSUPPORTED[op])
        if op not in self.handlers:
            raise self.reject(f"the regex construct {op}")
        return self.handlers[op](av, flags)

    def one_char(self, items: list[tuple[Any, Any]], flags: int) -> Expr:
        """A class's items (as in ``IN``), folded and categories resolved the way ``re`` does."""
        negated = bool(items) and items[0][0] is sre.NEGATE
        body = items[1:] if negated else items
        if flags & sre.SRE_FLAG_IGNORECASE or any(op is sre.CATEGORY for op, _ in body):
            parts = []
            for op, av in body:
                if op is sre.LITERAL:
                    parts.append(_re_char(av))
                elif op is sre.RANGE:
                    parts.append(f"{_re_char(av[0])}-{_re_char(av[1])}")
                else:
                    parts.append(_CATEGORIES[av])
            mode = ("i" if flags & sre.SRE_FLAG_IGNORECASE else "") + ("a" if flags & sre.SRE_FLAG_ASCII else "")
            regex = f"[{'^' if negated else ''}{''.join(parts)}]"
            return chars(_matching(f"(?{mode}:{regex})" if mode else regex))
        ranges = _merge((av, av) if op is sre.LITERAL else av for op, av in body)
        return chars(_complement(ranges) if negated else ranges)

    def literal(self, code: int, flags: int) -> Expr:
        return self.one_char([(sre.LITERAL, code)], flags)

    def not_literal(self, code: int, flags: int) -> Expr:
        return self.one_char([(sre.NEGATE, None), (sre.LITERAL, code)], flags)

    def any(self, _: None, flags: int) -> Expr:
        return chars([(0, MAX_CODE)] if flags & sre.SRE_FLAG_DOTALL else _complement(((10, 10),)))

    def char_class(self, items: list[tuple[Any, Any]], flags: int) -> Expr:
        return self.one_char(items, flags)

    def branch(self, av: tuple[None, list[Any]], flags: int) -> Expr:
        return alt(self.sequence(option, flags) for option in av[1])

    def group(self, av: tuple[Any, int, int, Any], flags: int) -> Expr:
        _, add, remove, body = av
        return self.sequence(body, (flags | add) & ~remove)

    def repeat(self, av: tuple[int, int, Any], flags: int) -> Expr:
        lo, hi, body = av
        hi = None if hi == sre.MAXREPEAT else hi
        if lo > LLAMA_REPEAT_LIMIT or (hi or 0) > LLAMA_REPEAT_LIMIT:
            raise self.reject(f"a repetition bound above {LLAMA_REPEAT_LIMIT} (llama.cpp's limit)")
        return rep(self.sequence(body, flags), lo, hi)

    def lookaround(self, av: tuple[int, Any], _: int) -> Expr:
        kind = "lookahead assertions (?=...) (?!...)" if av[0] == 1 else "lookbehind assertions (?<=...) (?<!...)"
        raise self.reject(kind)


def _pattern(pattern: Any) -> Expr:
    """A Lark ``PatternStr`` / ``PatternRE`` as a GBNF expression."""
    from lark.lexer import PatternStr

    if isinstance(pattern, PatternStr) and not pattern.flags:
        return Lit(pattern.value)
    return _regex(pattern.to_regexp())


@lru_cache(maxsize=1024)
def _regex(source: str) -> Expr:
    return _Regex(source).translate()


# ----------------------------------------------------------------------------- Lark trees


class _Names:
    """Unique GBNF names for Lark symbols and helper rules."""

    def __init__(self, start: str) -> None:
        self.of: dict[str, str] = {start: "root"}
        self.taken = {"root"}

    def fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}-{n}"
        self.taken.add(name)
        return name

    def __call__(self, symbol: str) -> str:
        if symbol not in self.of:
            self.of[symbol] = self.fresh(re.sub(r"[^A-Za-z0-9]+", "-", symbol).strip("-") or "r")
        return self.of[symbol]


class _Tree:
    """Lark's rule and terminal trees (before its EBNF-to-BNF expansion) as GBNF expressions."""

    def __init__(self, names: _Names) -> None:
        self.names = names
        self.wanted: deque[str] = deque()
        self.handlers: dict[str, Callable[[Any], Expr]] = {
            "expansions": lambda t: alt(self.expr(c) for c in t.children),
            "alias": lambda t: self.expr(t.children[0]),
            "expansion": lambda t: seq(self.expr(c) for c in t.children),
            "maybe": lambda t: rep(self.expr(t.children[0]), 0, 1),
            "expr": self.repeat,
            "value": lambda t: self.expr(t.children[0]),
            "pattern": lambda t: _pattern(t.children[0]),
        }

    def expr(self, node: Any) -> Expr:
        from lark import Tree
        from lark.grammar import Symbol

        if isinstance(node, Symbol):
            self.wanted.append(node.name)
            return Ref(self.names(node.name))
        if isinstance(node, Tree) and node.data in self.handlers:
            return self.handlers[node.data](node)
        kind = node.data if isinstance(node, Tree) else type(node).__name__
        if kind == "template_usage":
            raise GrammarRejected("GBNF has no equivalent of Lark rule templates", _HINT)
        raise GrammarRejected(f"GBNF translation does not know the Lark construct {kind!r}", _HINT)

    def repeat(self, tree: Any) -> Expr:
        item, op, *bounds = tree.children
        body = self.expr(item)
        if op == "~":
            lo = int(bounds[0])
            hi = int(bounds[1]) if len(bounds) > 1 else lo
            if hi > LLAMA_REPEAT_LIMIT:
                raise GrammarRejected(f"repetition ~{lo}..{hi} is above llama.cpp's limit, {LLAMA_REPEAT_LIMIT}", _HINT)
            return rep(body, lo, hi)
        return rep(body, *{"*": (0, None), "+": (1, None), "?": (0, 1)}[str(op)])


# ----------------------------------------------------------------------------- recursion


def _without_immediate_left_recursion(name: str, body: Expr) -> Expr:
    """``a ::= a x | y`` as ``a ::= y x*``."""
    recursive, base = [], []
    for option in body.options if isinstance(body, Alt) else (body,):
        items = option.items if isinstance(option, Seq) else (option,)
        if items and items[0] == Ref(name):
            recursive.append(seq(items[1:]))
        else:
            base.append(option)
    if not recursive:
        return body
    if not base:
        raise GrammarRejected(f"rule {name} is left-recursive with no other option, so it derives nothing", _HINT)
    return seq([alt(base), rep(alt(recursive), 0, None)])


def _check_left_recursion(rules: dict[str, Expr], lark_name: dict[str, str]) -> None:
    """Refuse what llama.cpp refuses: a rule reachable from itself before any character is read."""
    nullable = {name: False for name in rules}

    def empty(e: Expr) -> bool:
        match e:
            case Lit(text):
                return not text
            case Ref(name):
                return nullable[name]
            case Seq(items):
                return all(map(empty, items))
            case Alt(options):
                return any(map(empty, options))
            case Rep(item, lo, _):
                return lo == 0 or empty(item)
        return False

    changed = True
    while changed:
        changed = False
        for name, body in rules.items():
            if not nullable[name] and empty(body):
                nullable[name] = changed = True

    def first(e: Expr) -> set[str]:
        """The rules ``e`` may start with."""
        match e:
            case Ref(name):
                return {name}
            case Seq(items):
                out: set[str] = set()
                for item in items:
                    out |= first(item)
                    if not empty(item):
                        break
                return out
            case Alt(options):
                return set().union(*map(first, options))
            case Rep(item, _, None) if empty(item):
                raise GrammarRejected("GBNF cannot repeat what may be empty (llama.cpp sees left recursion)", _HINT)
            case Rep(item, _, _):
                return first(item)
        return set()

    edges = {name: first(body) for name, body in rules.items()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = [lark_name.get(n, n) for n in path[path.index(name):] + [name]]
            raise GrammarRejected(f"left recursion {' -> '.join(cycle)} cannot be expressed in GBNF", _HINT)
        if name in done:
            return
        for nxt in sorted(edges[name]):
            visit(nxt, path + [name])
        done.add(name)

    for name in rules:
        visit(name, [])


# ----------------------------------------------------------------------------- rendering


def _grouped(e: Expr) -> bool:
    return isinstance(e, Alt) or (isinstance(e, Seq) and len(e.items) != 1) or isinstance(e, Rep)


def _symbols(e: Expr) -> int:
    """How many rules llama.cpp makes while reading ``e`` (an upper bound)."""
    match e:
        case Ref():
            return 1
        case Seq(items):
            return sum(_symbols(i) + isinstance(i, Alt) for i in items)
        case Alt(options):
            return sum(map(_symbols, options))
        case Rep(item, lo, hi):
            return _symbols(item) + _grouped(item) + (1 if hi is None else hi - lo)
    return 0


def _hoisted(e: Expr, owner: str, names: _Names, helpers: list[tuple[str, Expr]]) -> Expr:
    """``e`` with repeated groups too big for llama.cpp's repetition limit moved to rules of their own."""
    if isinstance(e, Seq):
        return Seq(tuple(_hoisted(i, owner, names, helpers) for i in e.items))
    if isinstance(e, Alt):
        return Alt(tuple(_hoisted(o, owner, names, helpers) for o in e.options))
    if not isinstance(e, Rep):
        return e
    item = _hoisted(e.item, owner, names, helpers)
    times = e.hi if e.hi else (e.lo or 1)
    if _grouped(item) and (1 + _symbols(item)) * times > LLAMA_REPEAT_LIMIT:
        name = names.fresh(owner)
        helpers.append((name, item))
        item = Ref(name)
    return Rep(item, e.lo, e.hi)


_ESCAPES = {0x0A: r"\n", 0x0D: r"\r", 0x09: r"\t", 0x5C: r"\\", 0x22: r"\""}
_CLASS_ESCAPES = {**_ESCAPES, 0x5D: r"\]", 0x5B: r"\[", 0x2D: r"\u002D", 0x5E: r"\u005E"}


def _char(code: int, escapes: dict[int, str]) -> str:
    if code in escapes:
        return escapes[code]
    if 0x20 <= code < 0x7F:
        return chr(code)
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def _class(ranges: Ranges) -> str:
    def body(rs: Ranges) -> str:
        def one(a: int, b: int) -> str:
            first, last = _char(a, _CLASS_ESCAPES), _char(b, _CLASS_ESCAPES)
            return first if a == b else first + last if b == a + 1 else f"{first}-{last}"

        return "".join(one(a, b) for a, b in rs)

    inverse = _complement(ranges)
    return f"[^{body(inverse)}]" if inverse and len(inverse) < len(ranges) else f"[{body(ranges)}]"


def _render(e: Expr) -> str:
    match e:
        case Lit(text):
            return '"' + "".join(_char(ord(c), _ESCAPES) for c in text) + '"'
        case Chars(ranges):
            return _class(ranges)
        case Ref(name):
            return name
        case Seq(()):
            return '""'
        case Seq(items):
            return " ".join(f"({_render(i)})" if isinstance(i, Alt) else _render(i) for i in items)
        case Alt(options):
            return " | ".join(map(_render, options))
        case Rep(item, lo, hi):
            text = f"({_render(item)})" if _grouped(item) else _render(item)
            suffix = {(0, None): "*", (1, None): "+", (0, 1): "?"}.get((lo, hi))
            return text + (suffix or (f"{{{lo}}}" if lo == hi else f"{{{lo},{'' if hi is None else hi}}}"))
    raise TypeError(e)


# ----------------------------------------------------------------------------- entry point


_LLGUIDANCE_ONLY = {
    r"%json\b": "%json (an embedded JSON Schema)",
    r"%regex\b": "%regex",
    r"%lark\b": "%lark (a nested grammar)",
    r"<\[\d": "token references <[...]>",
    r"<\|[^|\n]*\|>": "special tokens <|...|>",
    r"\[\s*(lazy|stop|max_tokens|temperature|capture|suffix)\b": "rule attributes such as [lazy] or [stop=...]",
}


def _without_options(text: str) -> str:
    """``text`` without empty ``%llguidance {}`` lines; options that change decoding are refused."""
    kept = []
    for line in text.splitlines():
        if line.lstrip().startswith("%llguidance"):
            raw = line.split("%llguidance", 1)[1].strip()
            try:
                options = json.loads(raw or "{}")
            except json.JSONDecodeError:
                options = raw
            if options:
                raise GrammarRejected(f"GBNF has no equivalent of llguidance options %llguidance {raw}", _HINT)
            continue
        kept.append(line)
    return "\n".join(kept)


def _load(text: str, start: str) -> Any:
    """Lark's reading of ``text``: rule and terminal trees before its EBNF-to-BNF expansion."""
    from lark.exceptions import LarkError
    from lark.load_grammar import load_grammar

    try:
        grammar, _ = load_grammar(text, "<grammar>", [], True)
        grammar.compile([start], ())
    except LarkError as e:
        for pattern, construct in _LLGUIDANCE_ONLY.items():
            if re.search(pattern, text):
                raise GrammarRejected(f"GBNF has no equivalent of llguidance's {construct}", _HINT) from e
        why = " ".join(str(e).split())[:200] or type(e).__name__
        raise GrammarRejected(f"not a Lark grammar GBNF can be made from: {why}", _HINT) from e
    return grammar


@lru_cache(maxsize=32)
def lark_to_gbnf(lark_text: str, start: str = "start") -> str:
    """The GBNF form of ``lark_text``, rooted at its rule ``start``; raises :class:`GrammarRejected`."""
    from lark.load_grammar import PrepareLiterals

    grammar = _load(_without_options(lark_text), start)
    if grammar.ignore:
        raise GrammarRejected("GBNF has no equivalent of %ignore: it has no implicit skipping", _HINT)
    trees: dict[str, Any] = {name: tree for name, params, tree, _ in grammar.rule_defs if not params}
    trees.update((name, tree) for name, (tree, _) in grammar.term_defs)

    names = _Names(start)
    reader = _Tree(names)
    reader.wanted.append(start)
    rules: dict[str, Expr] = {}
    while reader.wanted:
        symbol = reader.wanted.popleft()
        name = names(symbol)
        if name in rules:
            continue
        if trees.get(symbol) is None:
            raise GrammarRejected(f"GBNF needs a definition of {symbol} (%declare has no GBNF equivalent)", _HINT)
        body = reader.expr(PrepareLiterals().transform(copy.deepcopy(trees[symbol])))
        rules[name] = _without_immediate_left_recursion(name, body)
    _check_left_recursion(rules, {name: symbol for symbol, name in names.of.items()})

    lines = []
    for name, body in rules.items():
        helpers: list[tuple[str, Expr]] = []
        body = _hoisted(body, name, names, helpers)
        lines.append(f"{name} ::= {_render(body)}")
        while helpers:
            helper, expr = helpers.pop(0)
            lines.append(f"{helper} ::= {_render(_hoisted(expr, helper, names, helpers))}")
    return "\n".join(lines) + "\n"
