"""Cypher scope while decoding: the first name in a prefix of a query that no continuation can make valid.

The decoder calls :meth:`CypherScope.check` after every token with the prefix written so far.
It returns a :class:`~nl2q.types.Veto` for the first name the checker (``check.py``) is certain
to refuse whatever follows, or None:

- ``schema.unknown_variable``: a variable read in an expression that nothing in scope binds
  (also as soon as a partial name can no longer become a bound variable, keyword or function);
- ``schema.unknown_property``: ``v.key`` (and ``{key: ...}`` in a pattern) where no property of
  v's labels or relationship types, or of the whole graph for an unlabelled v, starts with the
  key written so far;
- ``schema.unknown_label`` / ``schema.unknown_relationship`` in patterns and label tests.

It mirrors the checker's scope rules: clauses bind left to right; in a pattern the nodes bind
first, then the relationships, then the path variable; WITH and RETURN keep only what they
project (ORDER BY, SKIP and LIMIT also see the clause's input); UNWIND and comprehensions bind
values; UNION starts afresh. It must be sound (a prefix of a query the checker accepts never
gets a veto), so whatever it does not follow exactly (EXISTS/COUNT subqueries, pattern
comprehensions, writes, CALL, a variable named like a keyword) it skips or stops judging.

One call re-reads the whole prefix (a regular-expression lexer and a recursive-descent reader;
tens of microseconds for a typical query); results are cached by text.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

from ...types import Veto
from .grammar import cypher_keywords
from .profile import CypherProfile
from .schema import GraphSchema

_LEX = re.compile(r"""
 (?P<ws>(?:[ \t\r\n]+|//[^\n]*|/\*[^*]*(?:\*/|\Z))+)
|(?P<fence>```)
|(?P<str>'(?:[^'\\\r\n]|\\.)*'|"(?:[^"\\\r\n]|\\.)*")
|(?P<ustr>['"].*)
|(?P<bt>`[^`]+`)
|(?P<ubt>`[^`]*)
|(?P<num>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
|(?P<id>[A-Za-z_][A-Za-z0-9_]*)
|(?P<op>\.\.|<>|<=|>=|=~|->|<-|.)
""", re.X | re.S)
_GROWS = frozenset({"<", "-", ".", "=", "/", ">"})  # operators a next character can lengthen

# Words that are not keywords of a read query: only LOAD CSV and CALL ... IN TRANSACTIONS use them.
_SOFT = frozenset({"row", "rows", "headers", "csv", "from", "of", "concurrent", "transactions"})
_KEYWORDS = cypher_keywords()
_STRUCT = _KEYWORDS - _SOFT
_ENDS_EXPR = frozenset({
    "MATCH", "OPTIONAL", "UNWIND", "WITH", "RETURN", "UNION", "WHERE", "AS", "ORDER", "SKIP", "LIMIT", "ASC", "DESC",
    "WHEN", "THEN", "ELSE", "END", "BY", "CREATE", "MERGE", "SET", "DELETE", "DETACH", "REMOVE", "CALL", "FOREACH",
    "LOAD", "YIELD", "ON",
})
_BINARY = frozenset({"AND", "OR", "XOR", "IN", "CONTAINS", "IS", "NOT", "DISTINCT"})
_OPERATORS = frozenset({"+", "-", "*", "/", "%", "=", "<>", "<", ">", "<=", ">=", "=~", "..", "<-"})
_SHORTEST = frozenset({"SHORTESTPATH", "ALLSHORTESTPATHS"})
_QUANTIFIERS = frozenset({"all", "any", "none", "single"})
_CLOSERS = frozenset({",", ")", "]", "}", "|", ";"})

# Bindings, as the checker's: (kind, labels or relationship types). "any" is one this reader cannot
# pin down (the checker may hold a node with labels): it is in scope, and its properties are not judged.
VALUE = ("value", frozenset())
PATH = ("path", frozenset())
ANY = ("any", frozenset())
Binding = tuple  # (str, frozenset[str])


class _Tok:
    __slots__ = ("kind", "text", "start", "end", "partial", "up", "low")

    def __init__(self, kind: str, text: str, start: int, end: int, partial: bool) -> None:
        self.kind, self.text, self.start, self.end, self.partial = kind, text, start, end, partial
        self.up, self.low = text.upper(), text.lower()

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.kind}:{self.text!r}@{self.start}{'~' if self.partial else ''}"


_EOF = _Tok("eof", "", -1, -1, False)


class _Stop(Exception):
    """The end of what can be judged: a veto, or nothing (more text is needed, or the reader gives up)."""

    def __init__(self, veto: Veto | None = None) -> None:
        self.veto = veto


def _lex(text: str, final: bool) -> tuple[list[_Tok], bool]:
    """Tokens without spacing and comments; the last is partial when more text could lengthen it.

    A closing fence ends the query (what follows is not read), as the end of a final text does."""
    toks: list[_Tok] = []
    n = len(text)
    for m in _LEX.finditer(text):
        kind = m.lastgroup
        if kind == "ws":
            continue
        if kind == "fence":
            return toks, True
        s, e = m.span()
        partial = kind in ("ustr", "ubt") or (not final and e == n and (
            kind in ("id", "num") or kind == "op" and m.group() in _GROWS))
        toks.append(_Tok(kind, m.group(), s, e, partial))  # type: ignore[arg-type]
    return toks, final


class CypherScope:
    """The incremental scope checker of one graph schema and dialect (see the module docstring).

    ``check`` is a pure function of its arguments plus a bounded cache under a lock, so one
    instance can serve several decoding threads.
    """

    CACHE = 512

    def __init__(self, schema: GraphSchema, dialect: CypherProfile) -> None:
        self.node_props = {name: frozenset(lab.properties) for name, lab in schema.labels.items()}
        self.rel_props = {name: frozenset(rel.properties) for name, rel in schema.rels.items()}
        self.all_props = frozenset(schema.property_keys())
        self.functions = tuple(sorted({f.lower() for f in dialect.functions}))
        self.dotted_functions = any("." in f for f in self.functions)
        self._known: dict[tuple[str, frozenset[str]], frozenset[str]] = {}
        self._cache: OrderedDict[tuple[str, bool], Veto | None] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, text: str, final: bool = False) -> Veto | None:
        key = (text, final)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        try:
            _Reader(self, text, final).query()
            veto = None
        except _Stop as stop:
            veto = stop.veto
        except RecursionError:  # brackets nested past Python's stack: judge nothing
            veto = None
        with self._lock:
            self._cache[key] = veto
            if len(self._cache) > self.CACHE:
                self._cache.popitem(last=False)
        return veto

    # -------------------------------------------------------------- names against the schema

    def known_properties(self, kind: str, owners: frozenset[str]) -> frozenset[str]:
        """The properties ``check.py`` accepts on a node (relationship) with these known labels (types)."""
        if not owners:
            return self.all_props
        key = (kind, owners)
        known = self._known.get(key)
        if known is None:
            table = self.node_props if kind == "node" else self.rel_props
            known = frozenset().union(*(table[o] for o in owners))
            self._known[key] = known  # a race only computes the same value twice
        return known

    def property(self, tok: _Tok, kind: str, owners: frozenset[str], postfix: bool) -> None:
        """Veto a property key no property of ``owners`` is (or, while it is being written, starts with)."""
        name, partial = _spelling(tok)
        known = self.known_properties(kind, owners)
        where = f"on :{'|'.join(sorted(owners))}" if owners else "in the graph"
        if partial:
            if any(k.startswith(name) for k in known) or (postfix and self.dotted_functions):
                raise _Stop()
            message = f"no property {where} starts with '{name}'"
        elif name not in known:
            message = f"property '{name}' does not exist {where}"
        else:
            return
        raise _Stop(Veto(tok.start, tok.end, message, "schema.unknown_property"))

    def name_in(self, tok: _Tok, names: dict, what: str, code: str) -> str:
        """A label or relationship type: its name when the schema has it; a veto when it cannot become one."""
        name, partial = _spelling(tok)
        if partial:
            if any(n.startswith(name) for n in names):
                raise _Stop()
            raise _Stop(Veto(tok.start, tok.end, f"no {what} starts with '{name}'", code))
        if name not in names:
            raise _Stop(Veto(tok.start, tok.end, f"{what} :{name} does not exist", code))
        return name

    def could_become_name(self, prefix: str, scope: dict) -> bool:
        """Whether a partial word where an expression starts can still become a bound variable, a keyword
        or a function (any case: the checker matches both without regard to case)."""
        if any(n.startswith(prefix) for n in scope):
            return True
        low = prefix.lower()
        return any(k.startswith(low) for k in _KEYWORDS) or any(f.startswith(low) for f in self.functions)


def _spelling(tok: _Tok) -> tuple[str, bool]:
    """(name, partial) of a name token: backticks removed, as the checker's ``_name`` does."""
    if tok.kind == "id":
        return tok.text, tok.partial
    if tok.kind == "bt":
        return tok.text[1:-1], False
    if tok.kind == "ubt":
        if tok.partial:
            return tok.text[1:], True
        raise _Stop()  # an unterminated name in a final text: a syntax error, not ours
    raise _Stop()


class _Reader:
    """One left-to-right reading of a prefix. Raises _Stop at the first veto, at the end of the
    text (when more could follow), or where it gives up; returns only for a complete query."""

    def __init__(self, scope: CypherScope, text: str, final: bool) -> None:
        self.s = scope
        self.text = text
        self.toks, self.final = _lex(text, final)
        self.n = len(self.toks)
        self.i = 0

    # -------------------------------------------------------------- tokens

    def peek(self, k: int = 0) -> _Tok:
        j = self.i + k
        if j < self.n:
            return self.toks[j]
        if self.final:
            return _EOF
        raise _Stop()

    def take(self) -> _Tok:
        t = self.peek()
        if t is _EOF or t.kind == "ustr":
            raise _Stop()
        self.i += 1
        return t  # an unterminated `name is returned: only name slots (labels, keys) accept it

    def expect(self, text: str) -> _Tok:
        t = self.take()
        if t.text != text:
            raise _Stop()
        return t

    @staticmethod
    def kw(t: _Tok) -> str | None:
        return t.up if t.kind == "id" and not t.partial else None

    def after(self, t: _Tok) -> str:
        """The character right after a token ('' at the end of the text)."""
        return self.text[t.end] if t.end < len(self.text) else ""

    def binder(self) -> str:
        """A name being bound (pattern, alias, UNWIND, comprehension): spelt as the checker keys it."""
        t = self.take()
        if t.partial or t.kind not in ("id", "bt") or t.kind == "id" and t.low in _STRUCT:
            raise _Stop()  # a variable named like a keyword: this reader cannot tell the two apart
        return t.text

    # -------------------------------------------------------------- clauses

    def query(self) -> None:
        scope: dict[str, Binding] = {}
        while True:
            t = self.peek()
            if t is _EOF:
                return
            if t.text == ";":
                self.take()
                if self.peek() is not _EOF:
                    raise _Stop()
                return
            w = self.kw(t)
            if w == "MATCH" or w == "OPTIONAL":
                self.take()
                if w == "OPTIONAL" and self.kw(self.take()) != "MATCH":
                    raise _Stop()
                self.pattern(scope)
                if self.kw(self.peek()) == "WHERE":
                    self.take()
                    self.expr(scope)
            elif w == "UNWIND":
                self.take()
                self.expr(scope)
                if self.kw(self.take()) != "AS":
                    raise _Stop()
                scope[self.binder()] = VALUE
            elif w == "WITH" or w == "RETURN":
                self.take()
                scope = self.projection(scope)
                if w == "WITH" and self.kw(self.peek()) == "WHERE":
                    self.take()
                    self.expr(scope)
            elif w == "UNION":
                self.take()
                if self.kw(self.peek()) == "ALL":
                    self.take()
                scope = {}
            else:
                raise _Stop()  # writes, CALL, or something this reader does not follow

    def projection(self, old: dict[str, Binding]) -> dict[str, Binding]:
        """WITH/RETURN: items read ``old``; ORDER BY, SKIP and LIMIT read ``old`` and the new names."""
        if self.kw(self.peek()) == "DISTINCT":
            self.take()
        new: dict[str, Binding] = {}
        if self.peek().text == "*":
            self.take()
            new = dict(old)
        else:
            while True:
                start = self.i
                self.expr(old)
                if self.i == start:
                    raise _Stop()
                how, name = self.item(start, self.i)
                if self.kw(self.peek()) == "AS":
                    self.take()
                    alias = self.binder()
                    new[alias] = old.get(name, VALUE) if how == "bare" else ANY if how == "maybe" else VALUE
                elif how == "bare" and name in old:
                    new[name] = old[name]
                elif how == "maybe" and name in old:
                    new[name] = ANY
                if self.peek().text != ",":
                    break
                self.take()
        visible = {**old, **new}
        if self.kw(self.peek()) == "ORDER":
            self.take()
            if self.kw(self.take()) != "BY":
                raise _Stop()
            while True:
                self.expr(visible)
                if self.kw(self.peek()) in ("ASC", "DESC"):
                    self.take()
                if self.peek().text != ",":
                    break
                self.take()
        for word in ("SKIP", "LIMIT"):
            if self.kw(self.peek()) == word:
                self.take()
                self.expr(visible)
        return new

    def item(self, start: int, end: int) -> tuple[str | None, str]:
        """Whether a projected expression is a bare variable to the checker: "bare" (exactly one name),
        "maybe" or None. The checker follows single-child nodes down its tree, and keywords and
        brackets leave no node, so `(n)`, `-n`, `NOT n`, `n IS NULL`, `[n]`, even `EXISTS { (n) }` count
        as n there: "maybe" is any expression with one name that is not a keyword (a superset)."""
        toks = self.toks[start:end]
        if len(toks) == 1 and toks[0].kind in ("id", "bt"):
            return "bare", toks[0].text
        names = [t for t in toks if t.kind == "bt" or t.kind == "id" and t.low not in _KEYWORDS]
        if len(names) == 1:
            return "maybe", names[0].text
        return None, ""

    # -------------------------------------------------------------- patterns

    def pattern(self, scope: dict[str, Binding]) -> None:
        while True:
            t = self.peek()
            path = None
            if t.kind in ("id", "bt") and self.kw(t) not in _SHORTEST:
                if t.partial or self.peek(1).text != "=":
                    raise _Stop()
                path = self.binder()
                self.take()
                t = self.peek()
            pending: list[tuple[str, Binding]] = []
            if self.kw(t) in _SHORTEST:
                self.take()
                self.expect("(")
                self.element(scope, pending)
                self.expect(")")
            elif t.text == "(":
                self.element(scope, pending)
            else:
                raise _Stop()
            for var, binding in pending:  # the checker binds an element's relationships after its nodes
                scope[var] = binding
            if path is not None:
                scope[path] = PATH
            if self.peek().text != ",":
                return
            self.take()

    def element(self, scope: dict[str, Binding], pending: list[tuple[str, Binding]]) -> None:
        self.node(scope)
        while self.peek().text in ("-", "<-"):
            self.relationship(scope, pending)
            self.node(scope)

    def node(self, scope: dict[str, Binding]) -> None:
        self.expect("(")
        var = self.binder() if self.peek().kind in ("id", "bt") else None
        labels: set[str] = set()
        while self.peek().text == ":":
            self.take()
            labels.add(self.s.name_in(self.take(), self.s.node_props, "label", "schema.unknown_label"))
        owners: frozenset[str] | None = frozenset(labels)
        if var is not None:
            prior = scope.get(var)
            binding: Binding = ("node", owners)
            if prior is not None and not labels:
                if prior[0] == "node":
                    binding = prior
                elif prior[0] == "rel" and prior[1]:
                    binding = ANY  # the checker would look relationship types up as labels
                owners = binding[1] if binding[0] == "node" else None
            scope[var] = binding
        t = self.peek()
        if t.text == "{":
            self.properties(scope, "node", owners, judge=True)
        elif t.text == "$":
            self.parameter()
        self.expect(")")

    def relationship(self, scope: dict[str, Binding], pending: list[tuple[str, Binding]]) -> None:
        self.take()  # - or <-
        if self.peek().text == "[":
            self.take()
            var = self.binder() if self.peek().kind in ("id", "bt") else None
            types: set[str] = set()
            if self.peek().text == ":":
                self.take()
                while True:
                    types.add(self.s.name_in(self.take(), self.s.rel_props, "relationship type",
                                             "schema.unknown_relationship"))
                    if self.peek().text != "|":
                        break
                    self.take()
                    if self.peek().text == ":":
                        self.take()
            if self.peek().text == "*":
                self.take()
                while self.peek().kind == "num" or self.peek().text in ("..", "."):
                    if self.take().partial:
                        raise _Stop()
            t = self.peek()
            if t.text == "{":  # values are read after the whole element is bound: not judged here
                self.properties(scope, "rel", frozenset(types), judge=False)
            elif t.text == "$":
                self.parameter()
            self.expect("]")
            if var is not None:
                pending.append((var, ("rel", frozenset(types))))
        if self.take().text not in ("-", "->"):
            raise _Stop()

    def properties(self, scope: dict[str, Binding], kind: str, owners: frozenset[str] | None, judge: bool) -> None:
        self.expect("{")
        if self.peek().text == "}":
            self.take()
            return
        while True:
            key = self.take()
            if key.kind not in ("id", "bt", "ubt"):
                raise _Stop()
            if owners is not None:
                self.s.property(key, kind, owners, postfix=False)
            elif key.partial:
                raise _Stop()
            self.expect(":")
            if judge:
                self.expr(scope)
            else:
                self.skip_to(frozenset({",", "}"}))
            t = self.take()
            if t.text == "}":
                return
            if t.text != ",":
                raise _Stop()

    def parameter(self) -> None:
        self.expect("$")
        t = self.take()
        if t.partial or t.kind not in ("id", "num"):
            raise _Stop()

    def skip_to(self, stops: frozenset[str]) -> None:
        """Past balanced brackets, up to (not over) one of ``stops`` outside them; judges nothing."""
        depth = 0
        while True:
            t = self.peek()
            if t is _EOF or t.kind in ("ustr", "ubt"):
                raise _Stop()
            if t.kind == "op":
                if depth == 0 and t.text in stops:
                    return
                if t.text in ("(", "[", "{"):
                    depth += 1
                elif t.text in (")", "]", "}"):
                    depth -= 1
                    if depth < 0:
                        raise _Stop()
            self.i += 1

    # -------------------------------------------------------------- expressions

    def expr(self, scope: dict[str, Binding]) -> None:
        """One expression, up to (not over) what cannot continue it: a comma, a closing bracket, a clause word."""
        operand = True  # an operand is due (else an operator)
        while True:
            t = self.peek()
            kind = t.kind
            if t is _EOF:
                return
            if kind == "id":
                if t.partial:
                    if operand and not self.s.could_become_name(t.text, scope):
                        raise _Stop(Veto(t.start, t.end, f"no variable in scope starts with '{t.text}'",
                                         "schema.unknown_variable"))
                    raise _Stop()
                if t.low in _STRUCT:
                    w = t.up
                    if w in _ENDS_EXPR:
                        return
                    if w in _BINARY:
                        self.take()
                        operand = True
                        continue
                    if w in ("STARTS", "ENDS"):
                        self.take()
                        if self.kw(self.take()) != "WITH":
                            raise _Stop()
                        operand = True
                        continue
                    if not operand:
                        raise _Stop()
                    if w in ("TRUE", "FALSE", "NULL"):
                        self.take()
                        self.suffixes(scope, None)
                    elif w == "CASE":
                        self.take()
                        self.case(scope)
                        self.suffixes(scope, None)
                    elif w in ("EXISTS", "COUNT") and self.peek(1).text == "{":
                        self.take()
                        self.take()
                        self.skip_to(frozenset({"}"}))
                        self.take()
                    elif self.after(t) == "(":
                        self.name(t, scope)
                    else:
                        raise _Stop()
                    operand = False
                    continue
                if not operand:
                    raise _Stop()
                self.name(t, scope)
                operand = False
                continue
            if kind == "bt":
                if not operand:
                    raise _Stop()
                self.name(t, scope)
                operand = False
                continue
            if kind in ("num", "str"):
                if t.partial or not operand:
                    raise _Stop()
                self.take()
                self.suffixes(scope, None)
                operand = False
                continue
            if kind != "op":
                raise _Stop()
            x = t.text
            if x in _CLOSERS:
                return
            if x in _OPERATORS:
                self.take()
                operand = True
                continue
            if not operand:
                raise _Stop()
            self.take()
            if x == "$":
                p = self.take()
                if p.partial or p.kind not in ("id", "num") or p.start != t.end:
                    raise _Stop()
            elif x == "(":
                self.expr(scope)
                self.expect(")")
            elif x == "[":
                self.list(scope)
            elif x == "{":
                self.map(scope)
            else:
                raise _Stop()
            self.suffixes(scope, None)
            operand = False

    def name(self, t: _Tok, scope: dict[str, Binding]) -> None:
        """A name where an operand starts: a function call, a variable (and its property), a label test."""
        nxt = self.after(t)
        if not nxt and not self.final:
            raise _Stop()  # `name` at the very end: a call, a property or a label test may follow
        if nxt == "(":
            self.take()
            self.take()
            self.call(t, scope)
            self.suffixes(scope, None)
            return
        if t.kind == "id" and t.low in _STRUCT:
            raise _Stop()
        if nxt == "." and self.peek(1).text == ".":
            call = self.dotted_call()
            if call:  # a namespaced function: the checker reports it (dialect.function) if anything
                while self.peek().text != "(":
                    self.take()
                first = self.toks[self.i - 1]
                self.take()
                self.call(first, scope)
                self.suffixes(scope, None)
                return
            binding = self.ref(t, scope)
            self.take()
            self.suffixes(scope, binding)
            return
        if nxt == ":":  # a label test
            self.ref(t, scope)
            self.take()
            while self.peek().text == ":":
                self.take()
                self.s.name_in(self.take(), self.s.node_props, "label", "schema.unknown_label")
            return
        binding = self.ref(t, scope)
        self.take()
        self.suffixes(scope, binding)

    def dotted_call(self) -> bool | None:
        """Whether the name at the cursor starts ``a.b.c(``: True, False, or None while it is undecided."""
        j = self.i
        toks = self.toks
        while True:
            tok = toks[j]
            if tok.partial:
                return None
            nxt = self.after(tok)
            if nxt == "(":
                return True
            if nxt != ".":
                return False if nxt or self.final else None
            if j + 2 >= self.n:
                return False if self.final else None
            dot, part = toks[j + 1], toks[j + 2]
            if dot.text != "." or part.start != dot.end or part.kind not in ("id", "bt"):
                return False
            j += 2

    def ref(self, t: _Tok, scope: dict[str, Binding]) -> Binding:
        binding = scope.get(t.text)
        if binding is not None:
            return binding
        raise _Stop(Veto(t.start, t.end, f"variable '{t.text}' is not defined here", "schema.unknown_variable"))

    def suffixes(self, scope: dict[str, Binding], binding: Binding | None) -> None:
        """``.key`` and ``[index]`` right after an operand; the checker judges the key only when it is
        the first suffix of a variable bound to a node or relationship."""
        first = True
        while True:
            end = self.toks[self.i - 1].end
            t = self.peek()
            if t.start != end:
                return
            if t.text == ".":
                self.take()
                key = self.take()
                if key.kind not in ("id", "bt", "ubt"):
                    raise _Stop()
                if first and binding is not None and binding[0] in ("node", "rel"):
                    self.s.property(key, binding[0], binding[1], postfix=True)
                elif key.partial:
                    raise _Stop()
            elif t.text == "[":
                self.take()
                self.expr(scope)
                self.expect("]")
            else:
                return
            first = False

    def call(self, fn: _Tok, scope: dict[str, Binding]) -> None:
        """Arguments of a call, after its '('; ``all(x IN list WHERE ...)`` and the like bind x."""
        t = self.peek()
        if t.text == ")":
            self.take()
            return
        if t.text == "*" and fn.low == "count":
            self.take()
            self.expect(")")
            return
        if fn.low in _QUANTIFIERS and t.kind in ("id", "bt") and self.comprehension(scope, ")", projection=False):
            return
        while True:
            self.expr(scope)
            t = self.take()
            if t.text == ")":
                return
            if t.text != ",":
                raise _Stop()

    def comprehension(self, scope: dict[str, Binding], close: str, projection: bool) -> bool:
        """``x IN list [WHERE cond] [| expr]`` up to ``close``, binding ``x`` inside; False if the words are not one."""
        if self.peek().partial:
            raise _Stop()
        word = self.peek(1)
        if word.kind == "id" and word.partial:
            raise _Stop()
        if self.kw(word) != "IN":
            return False
        var = self.binder()
        self.take()
        self.expr(scope)
        inner = {**scope, var: VALUE}
        if self.kw(self.peek()) == "WHERE":
            self.take()
            self.expr(inner)
        if projection and self.peek().text == "|":
            self.take()
            self.expr(inner)
        self.expect(close)
        return True

    def list(self, scope: dict[str, Binding]) -> None:
        """After '[': a list, a list comprehension (binds its variable), or maybe a pattern comprehension."""
        t = self.peek()
        if t.text == "]":
            self.take()
            return
        if t.text == "(":  # [(a)-->(b) | ...] or [(1 + 2), ...]: judged by neither reading here
            self.skip_to(frozenset({"]"}))
            self.take()
            return
        if t.kind in ("id", "bt") and not (t.kind == "id" and t.low in _STRUCT):
            if self.comprehension(scope, "]", projection=True):
                return
            if self.peek(1).text in ("=", "=~"):  # [p = (a)-->(b) | ...] or a comparison: not judged
                self.skip_to(frozenset({"]"}))
                self.take()
                return
        while True:
            self.expr(scope)
            t = self.take()
            if t.text == "]":
                return
            if t.text != ",":
                raise _Stop()

    def map(self, scope: dict[str, Binding]) -> None:
        if self.peek().text == "}":
            self.take()
            return
        while True:
            key = self.take()
            if key.partial or key.kind not in ("id", "bt"):
                raise _Stop()
            self.expect(":")
            self.expr(scope)
            t = self.take()
            if t.text == "}":
                return
            if t.text != ",":
                raise _Stop()

    def case(self, scope: dict[str, Binding]) -> None:
        first = True
        while True:
            w = self.kw(self.peek())
            if w in ("WHEN", "THEN", "ELSE"):
                self.take()
                self.expr(scope)
            elif w == "END":
                self.take()
                return
            elif first:
                start = self.i
                self.expr(scope)
                if self.i == start:
                    raise _Stop()
            else:
                raise _Stop()
            first = False
