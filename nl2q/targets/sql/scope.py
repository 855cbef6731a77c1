"""Incremental name-scope checks for SQL while it is decoded (PICARD-style).

:meth:`SqlScope.check` gets any prefix of a query and returns the first *definite* name error
in it: one that no continuation the checker accepts can repair. Two layers:

* **cuts**: where a SELECT's FROM clause closes (a WHERE/GROUP BY/HAVING/ORDER BY/LIMIT or
  set operation at its depth, the ``)`` ending its subquery, a top-level ``;``), the prefix up to
  there is completed into a whole query (open parentheses closed, ``SELECT 1`` after an
  unfinished WITH) and the checker's own name resolution (:func:`check_tables`,
  :func:`_check_columns` over sqlglot's scopes) runs on it. Of its ``schema.*`` errors only
  those whose scope is settled count: the SELECT holding the name has its FROM closed before the
  cut and, unless the error is local (a qualified column of a local alias, an ambiguous column),
  so have all enclosing SELECTs (correlation can reach them). One parse per cut, cached.
* **tokens**: a small lexer follows every SELECT frame, its FROM items and clause, so that
  between cuts a name is judged as soon as it is written: ``X.col`` for a known alias ``X``
  (even part-written: no column starts so), unknown qualifiers and unqualified columns once the
  scope is complete, ambiguous columns, unknown tables in FROM.

Soundness comes first: anything the lexer does not understand (backticks, brackets, ``$``,
backslashes, lambdas, odd FROM items, keywords used as names) turns the token layer off for
that frame or the whole text, and a name whose meaning a continuation could still change
(``T1.lower(``, a three-part name, a later JOIN, an outer FROM not written yet, a bare word inside
a call that may read it as a unit, as in ``DATE_TRUNC(month, d)``) is left alone.
With ``final=True`` the verdict is the checker's own (:func:`check_sql`).

Known limit, shared with the checker: when sqlglot cannot scope a query (two sources with the
same alias), ``check_sql`` skips name resolution altogether and accepts any names; a prefix
vetoed here can then be completed into such a query. Engines reject duplicate aliases.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any, Callable, Iterable

from ...types import Veto
from .profile import SqlProfile
from .schema import SqlSchema

CODES = frozenset({"schema.unknown_column", "schema.unknown_alias", "schema.unknown_table", "schema.ambiguous_column"})

_TOKEN = re.compile(r"""
  (?P<ws>\s+)
| (?P<cm>--[^\n]*|/\*(?:[^*]|\*(?!/))*(?:\*/)?)
| (?P<s>'(?:[^']|'')*'?)
| (?P<q>"(?:[^"]|"")*"?)
| (?P<n>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
| (?P<w>[^\W\d]\w*)
| (?P<o><=|>=|<>|!=|==|\|\||::|->>|->|[-+*/%=<>(),.;|&~^!])
""", re.X)
_CLOSED_STRING = re.compile(r"'(?:[^']|'')*'")
_CLOSED_QUOTED = re.compile(r'"(?:[^"]|"")*"')
_CLOSED_PUNCT = frozenset("(),;")  # tokens no further character can extend

# Clause keywords that end a SELECT's FROM clause at its own depth (GROUP/ORDER need BY).
_CLOSERS = frozenset({"WHERE", "HAVING", "LIMIT", "UNION", "INTERSECT", "EXCEPT", "WINDOW", "QUALIFY", "GROUP", "ORDER"})
_SETOPS = frozenset({"UNION", "INTERSECT", "EXCEPT"})
_JOIN_WORDS = frozenset({"INNER", "LEFT", "RIGHT", "FULL", "OUTER", "CROSS", "NATURAL"})
# An unqualified word is a column reference only between these (anything else: not judged).
_PREV_OPS = frozenset({"(", ",", "=", "<", ">", "<=", ">=", "<>", "!=", "==", "+", "-", "*", "/", "%", "||"})
_PREV_WORDS = frozenset({"WHERE", "ON", "AND", "OR", "NOT", "BY", "HAVING", "WHEN", "THEN", "ELSE", "CASE", "LIKE", "BETWEEN"})
_NEXT_OPS = frozenset({")", ",", "=", "<", ">", "<=", ">=", "<>", "!=", "==", "+", "-", "*", "/", "%", "||", ";"})
_NEXT_WORDS = frozenset({"AND", "OR", "IS", "NOT", "IN", "LIKE", "BETWEEN", "ASC", "DESC", "THEN", "WHEN", "ELSE", "END",
                         "GROUP", "ORDER", "HAVING", "LIMIT", "UNION", "INTERSECT", "EXCEPT", "AS", "NULLS", "JOIN",
                         "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "NATURAL", "WHERE"})
_EXPR_REGIONS = frozenset({"on", "where", "group", "having", "order"})
# Calls whose arguments sqlglot always parses as expressions (unlike DATE_TRUNC(month, d), whose
# unit becomes a Var the checker never resolves): bare names directly inside other calls are not judged.
_SAFE_HEADS = frozenset({"IN", "AND", "OR", "NOT", "WHERE", "ON", "HAVING", "WHEN", "THEN", "ELSE", "CASE", "BY",
                         "BETWEEN", "LIKE", "COUNT", "SUM", "AVG", "MIN", "MAX", "LOWER", "UPPER", "LENGTH", "ABS",
                         "COALESCE", "ROUND", "REPLACE", "SUBSTR"})


class _Bail(Exception):
    """The text holds something the token layer does not model: judge nothing from tokens."""


class _Tok:
    __slots__ = ("kind", "start", "end", "text", "up", "val", "done")

    def __init__(self, kind: str, start: int, end: int, text: str, done: bool) -> None:
        self.kind = kind  # w word, q quoted identifier, s string, n number, o operator
        self.start, self.end, self.text, self.done = start, end, text, done
        self.up = text.upper() if kind in "wo" else ""
        self.val = text


def _tokenize(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    n, pos, match = len(text), 0, _TOKEN.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            raise _Bail(f"character {text[pos]!r}")
        kind, end = m.lastgroup, m.end()
        if kind == "ws" or kind == "cm":
            pos = end
            continue
        tok = m.group()
        if kind == "s":
            done = end < n and _CLOSED_STRING.fullmatch(tok) is not None
        elif kind == "q":
            closed = _CLOSED_QUOTED.fullmatch(tok) is not None
            done = end < n and closed
            t = _Tok("q", pos, end, tok, done)
            t.val = (tok[1:-1] if closed else tok[1:]).replace('""', '"')
            out.append(t)
            pos = end
            continue
        else:
            done = end < n or tok in _CLOSED_PUNCT
            if kind == "n" and end < n and (text[end].isalnum() or text[end] == "_"):
                raise _Bail("number glued to a name")
        out.append(_Tok(kind, pos, end, tok, done))
        pos = end
    return out


class _Item:
    __slots__ = ("alias", "cols", "name")

    def __init__(self, alias: str, cols: frozenset[str] | None, name: str) -> None:
        self.alias, self.cols, self.name = alias, cols, name


class _Frame:
    """One SELECT: where it starts and ends, its FROM items, the clause being written."""

    __slots__ = ("start", "end", "parent", "close", "region", "fs", "items", "pending", "env_ok", "names",
                 "depth", "branch", "outer")

    def __init__(self, start: int, parent: "_Frame | None", branch: bool, sees_outer: bool) -> None:
        self.start = start
        self.end: int | None = None
        self.parent = parent
        self.depth = parent.depth + 1 if parent else 0
        self.branch = branch  # after a set operation: its ORDER BY/LIMIT belong to the set operation
        # the SELECT a correlated name may reach: none from a derived table, a CTE's body or a set
        # operation's later branch, as sqlglot scopes them (a first branch is not known to be one yet)
        self.outer = parent if sees_outer else None
        self.close: int | None = None  # where the FROM clause closed (its sources are all known)
        self.region = "select"
        self.fs = ""  # FROM parser state
        self.items: list[_Item] = []
        self.pending: list[Any] | None = None  # [kind, name, alias]
        self.env_ok = True
        self.names: set[str] = set()  # every name in the select list: a superset of its aliases


class _Level:
    """One parenthesis level (or the top): the SELECT written directly in it, or the frame owning it."""

    __slots__ = ("paren", "purpose", "owner", "owner_region", "frame", "active", "setop", "with_state", "safe")

    def __init__(self, paren: bool, purpose: str, owner: _Frame | None, owner_region: str, safe: bool = True) -> None:
        self.paren, self.purpose, self.owner, self.owner_region = paren, purpose, owner, owner_region
        self.safe = safe  # a bare name here is an expression (not inside a call that may read it as a keyword)
        self.frame: _Frame | None = None
        self.active = False
        self.setop = False
        self.with_state = ""  # "", name, after_name, as, body, after


_MISSING = object()
_UNKNOWN = object()


class _Analysis:
    __slots__ = ("frames", "cuts", "veto")

    def __init__(self) -> None:
        self.frames: list[_Frame] = []
        self.cuts: list[tuple[int, str]] = []
        self.veto: tuple[int, int, str, str] | None = None


class SqlScope:
    """The incremental scope checker of one schema and dialect; safe to share between threads."""

    def __init__(self, schema: SqlSchema, dialect: SqlProfile, cache_size: int = 4096) -> None:
        import sqlglot

        from .check import STRUCTURAL_FUNCTIONS, fold

        self.schema = schema
        self.dialect = dialect
        self._fold = fold
        self._tables = frozenset(fold(n) for n in schema.tables)
        # columns by table name as _source_columns finds them (schema.table: the first case-insensitive match)
        self._lower_tables: dict[str, frozenset[str]] = {}
        for n, t in reversed(list(schema.tables.items())):
            self._lower_tables[n.lower()] = frozenset(c.lower() for c in t.columns)
        tok = sqlglot.Dialect.get_or_raise(dialect.sqlglot or None).tokenizer_class
        self._kw = frozenset(w.upper() for k in tok.KEYWORDS for w in k.split() if w.replace("_", "").isalpha())
        self._kw_lower = tuple(sorted(k.lower() for k in self._kw))
        self._funcs = tuple(sorted(f.lower() for f in dialect.allowed_functions | STRUCTURAL_FUNCTIONS))
        self._lock = threading.Lock()
        self._cache_size = cache_size
        self._q_cache: OrderedDict[str, tuple[tuple[int, int, str, str, bool], ...] | None] = OrderedDict()
        self._final_cache: OrderedDict[str, Veto | None] = OrderedDict()
        self._lex_cache: tuple[str, list[_Tok]] | None = None

    # ------------------------------------------------------------------ public

    def check(self, text: str, final: bool = False) -> Veto | None:
        tick = text.find("`")
        if tick >= 0:
            final = final or text.startswith("```", tick)
            text = text[:tick]
        if final:
            return self._final(text)
        if "\\" in text:
            return None
        try:
            toks = self._lex(text)
            an = self._analyse(toks)
        except _Bail:
            return None
        best = an.veto
        q = self._cut_veto(text, an)
        if q is not None and (best is None or q[0] < best[0]):
            best = q
        if best is None:
            return None
        return Veto(best[0], best[1], best[2], best[3])

    # ------------------------------------------------------------------ caches

    def _remember(self, cache: OrderedDict, key: str, value: Any) -> None:
        with self._lock:
            cache[key] = value
            if len(cache) > self._cache_size:
                cache.popitem(last=False)

    def _recall(self, cache: OrderedDict, key: str) -> Any:
        with self._lock:
            try:
                value = cache[key]
            except KeyError:
                return _MISSING
            cache.move_to_end(key)
            return value

    def _lex(self, text: str) -> list[_Tok]:
        """Tokens, re-lexing only from the last token of the previous call's text when this one extends it."""
        prev = self._lex_cache
        if prev is not None and prev[1]:
            old_text, old = prev
            keep = len(old) - 1
            resume = old[keep].start
            if text.startswith(old_text):
                toks = old[:keep] + _shifted(_tokenize(text[resume:]), resume)
                self._lex_cache = (text, toks)
                return toks
        toks = _tokenize(text)
        self._lex_cache = (text, toks)
        return toks

    # ------------------------------------------------------------------ final: the checker's verdict

    def _final(self, text: str) -> Veto | None:
        hit = self._recall(self._final_cache, text)
        if hit is not _MISSING:
            return hit
        from .check import check_sql

        veto = None
        try:
            errs = [d for d in check_sql(text, self.schema, self.dialect).diagnostics
                    if d.is_error and d.code in CODES and d.start is not None and d.end is not None]
        except Exception:  # noqa: BLE001 - the checker refuses rather than crashes; never veto on a surprise
            errs = []
        if errs:
            d = min(errs, key=lambda d: (d.start, d.end))
            veto = Veto(d.start, d.end, d.message, d.code)  # type: ignore[arg-type]
        self._remember(self._final_cache, text, veto)
        return veto

    # ------------------------------------------------------------------ cuts: the checker on a completed prefix

    def _cut_veto(self, text: str, an: _Analysis) -> tuple[int, int, str, str] | None:
        for tries, (cut, completion) in enumerate(reversed(an.cuts)):
            if tries >= 3:
                break
            diags = self._q_diags(text[:cut] + completion)
            if diags is None:
                continue  # the completion does not parse: try an earlier cut
            best = None
            for start, end, message, code, local in diags:
                if start >= cut or (best is not None and start >= best[0]):
                    continue
                if code != "schema.unknown_table" and not _settled(an.frames, start, cut, local):
                    continue
                best = (start, end, message, code)
            return best
        return None

    def _q_diags(self, q: str) -> tuple[tuple[int, int, str, str, bool], ...] | None:
        hit = self._recall(self._q_cache, q)
        if hit is not _MISSING:
            return hit
        out = self._evaluate(q)
        self._remember(self._q_cache, q, out)
        return out

    def _evaluate(self, q: str) -> tuple[tuple[int, int, str, str, bool], ...] | None:
        """The checker's table and column errors on a whole query; ``local`` marks those its own FROM settles."""
        from sqlglot import exp
        from sqlglot.optimizer.scope import traverse_scope

        from .check import READ_ROOTS, _at, _check_columns, _selected, check_tables, parse

        try:
            tree, syntax = parse(q, self.dialect)
        except RecursionError:
            return None
        if tree is None or syntax or not isinstance(tree, READ_ROOTS):
            return None
        out: list[tuple[int, int, str, str, bool]] = []
        try:
            for d in check_tables(tree, self.schema, self.dialect):
                if d.code == "schema.unknown_table" and d.start is not None and d.end is not None:
                    out.append((d.start, d.end, d.message, d.code, True))
        except Exception:  # noqa: BLE001
            return None
        names: list[tuple[int, int, str, str, bool]] = []
        try:
            for scope in traverse_scope(tree):
                diags = _check_columns(scope, self.schema, self.dialect.lateral_aliases)
                if not diags:
                    continue
                local = {alias.lower() for alias, _ in _selected(scope)}
                qualified = {}
                for col in scope.find_all(exp.Column):
                    span = _at(col, col.this)
                    if span and col.table:
                        qualified[span["start"]] = col.table.lower()
                for d in diags:
                    if d.code not in CODES or d.start is None or d.end is None:
                        continue
                    is_local = d.code == "schema.ambiguous_column" or (
                        d.code == "schema.unknown_column" and qualified.get(d.start) in local)
                    names.append((d.start, d.end, d.message, d.code, is_local))
        except Exception:  # noqa: BLE001 - as check_sql: when sqlglot cannot scope the tree, names go unchecked
            names = []
        return tuple(sorted(out + names))

    # ------------------------------------------------------------------ tokens: frames, FROM items, names

    def _analyse(self, toks: list[_Tok]) -> _Analysis:
        an = _Analysis()
        levels = [_Level(False, "top", None, "none")]
        ctes: set[str] = set()
        kw = self._kw
        count = len(toks)

        def veto(tok: _Tok, message: str, code: str) -> None:
            if an.veto is None or tok.start < an.veto[0]:
                an.veto = (tok.start, tok.end, message, code)

        def cut(pos: int) -> None:
            parts = []
            for lv in reversed(levels):
                if lv.with_state:
                    parts.append(" SELECT 1")
                if lv.paren:
                    parts.append(")")
            an.cuts.append((pos, "".join(parts)))

        def is_name(t: _Tok) -> bool:
            return t.kind == "q" or (t.kind == "w" and t.up not in kw)

        def commit(f: _Frame) -> None:
            p = f.pending
            f.pending = None
            if p is None:
                return
            kind, name, alias = p
            if kind == "table":
                low = name.lower()
                cols = None if low in ctes else self._lower_tables.get(low)
                f.items.append(_Item((alias if alias is not None else name).lower(), cols, name))
            else:
                f.items.append(_Item((alias or "").lower(), None, ""))

        def close(f: _Frame, pos: int) -> None:
            if f.close is None:
                commit(f)
                f.close = pos

        for i, t in enumerate(toks):
            lv = levels[-1]
            if lv.frame is not None and lv.active:
                f: _Frame | None = lv.frame
                region, at_frame = lv.frame.region, True
            elif lv.frame is not None:
                f, region, at_frame = None, "none", False
            else:
                f, region, at_frame = lv.owner, lv.owner_region, False
            # the clause a name is in ("on" inside a FROM clause)
            eregion = "on" if at_frame and region == "from" and f.fs == "on" else region  # type: ignore[union-attr]
            kind, up = t.kind, t.up
            nxt = toks[i + 1] if i + 1 < count else None

            if not t.done:  # the last token, still being written: only name checks
                if f is not None and at_frame and region == "from" and f.fs == "item" and is_name(t):
                    self._partial_table(t, ctes, veto)
                elif (f is not None and eregion in _EXPR_REGIONS and i >= 2 and toks[i - 1].up == "."
                      and kind in "wq" and not (eregion == "order" and f.branch)):
                    self._qualified(toks, i, f, None, veto)
                continue

            # ---- parentheses
            if up == "(":
                purpose, owner, oregion = "expr", (f if f is not None else lv.owner), eregion
                if at_frame and region == "from":
                    fs = f.fs  # type: ignore[union-attr]
                    if fs == "item":
                        purpose, oregion = "derived", "none"
                        f.pending, f.fs = ["derived", None, None], "in_derived"  # type: ignore[union-attr]
                        if nxt is not None and nxt.up not in ("SELECT", "WITH"):
                            f.env_ok = False  # type: ignore[union-attr]  # a parenthesised join, VALUES, ...
                    elif fs == "after_alias" and f.items:  # type: ignore[union-attr]
                        f.items[-1].cols = None  # type: ignore[union-attr]  # AS t(a, b): renamed columns
                        purpose, oregion = "cols", "none"
                    elif fs == "using":
                        purpose, oregion = "using", "none"
                    elif fs != "on":
                        f.env_ok, oregion = False, "none"  # type: ignore[union-attr]
                elif not lv.active and lv.with_state == "as":
                    purpose, owner, oregion = "cte", lv.owner, "none"
                    lv.with_state = "body"
                elif not lv.active and lv.with_state == "after_name":
                    purpose, oregion = "ctecols", "none"
                head = toks[i - 1] if i else None
                safe = lv.safe and (head is None or (head.kind == "o" and head.up not in (")", "."))
                                    or (head.kind == "w" and head.up in _SAFE_HEADS))
                levels.append(_Level(True, purpose, owner, oregion, safe))
                continue
            if up == ")":
                if len(levels) == 1:
                    raise _Bail("unbalanced )")
                if lv.frame is not None:
                    if lv.active:
                        close(lv.frame, t.start)
                        lv.frame.end = t.start
                    cut(t.start)
                levels.pop()
                parent = levels[-1]
                pf = parent.frame if parent.frame is not None and parent.active else None
                if lv.purpose == "derived" and pf is not None:
                    pf.fs = "after_name"
                elif lv.purpose in ("cols", "using") and pf is not None:
                    pf.fs = "after_alias"
                elif lv.purpose == "cte":
                    parent.with_state = "after"
                elif lv.purpose == "ctecols":
                    parent.with_state = "after_name"
                continue
            if up == ";" and kind == "o":
                if len(levels) > 1 or nxt is not None:
                    raise _Bail("; inside parentheses or before a second statement")
                if lv.frame is not None and lv.active:
                    close(lv.frame, t.start)
                    lv.frame.end = t.start
                    lv.active = False
                cut(t.start)
                continue

            # ---- WITH lists
            if lv.with_state and not lv.active:
                ws = lv.with_state
                if ws == "after" and up == "SELECT" and kind == "w":
                    lv.with_state = ""
                elif ws == "name" and up == "RECURSIVE" and kind == "w":
                    continue
                elif ws == "name" and is_name(t):
                    ctes.add(t.val.lower())
                    lv.with_state = "after_name"
                    continue
                elif ws == "after_name" and up == "AS" and kind == "w":
                    lv.with_state = "as"
                    continue
                elif ws == "after" and up == "," and kind == "o":
                    lv.with_state = "name"
                    continue
                else:
                    raise _Bail("unexpected token in WITH")
            if up == "WITH" and kind == "w":
                if lv.frame is not None or lv.active:
                    raise _Bail("WITH after SELECT")
                lv.with_state = "name"
                continue

            # ---- a new SELECT
            if up == "SELECT" and kind == "w":
                if lv.active or (lv.frame is not None and not lv.setop):
                    raise _Bail("SELECT where none can start")
                nf = _Frame(t.start, lv.owner, lv.setop, not (lv.setop or lv.purpose in ("derived", "cte")))
                lv.frame, lv.active, lv.safe = nf, True, True
                an.frames.append(nf)
                continue
            if lv.frame is None and not lv.paren:
                raise _Bail("text before the first SELECT")

            # ---- clause keywords at a SELECT's own depth
            if kind == "w" and up in _CLOSERS and lv.frame is not None:
                if up in ("GROUP", "ORDER") and not (nxt is not None and nxt.up == "BY" and nxt.done):
                    if at_frame and region == "from":
                        f.env_ok = False  # type: ignore[union-attr]
                    continue  # WITHIN GROUP, or BY not written yet
                if up in _SETOPS and i and toks[i - 1].up == "*":
                    raise _Bail("* EXCEPT (...)")
                if lv.active:
                    fr = lv.frame
                    close(fr, t.start)
                    if up in _SETOPS:
                        fr.end = t.start
                        lv.active = False
                        lv.setop = True
                    elif up in ("ORDER", "LIMIT") and lv.setop:
                        fr.region = "uorder"  # ORDER BY of a set operation names its output columns
                    else:
                        fr.region = {"WHERE": "where", "GROUP": "group", "HAVING": "having", "ORDER": "order"}.get(up, "skip")
                elif up in _SETOPS:
                    lv.setop = True
                cut(t.start)
                continue

            if f is None:
                continue

            # ---- select list: remember every name (its aliases among them); FROM starts the sources
            if region == "select":
                if at_frame and up == "FROM" and kind == "w":
                    if i and toks[i - 1].up == "DISTINCT":
                        raise _Bail("IS DISTINCT FROM")
                    f.region, f.fs = "from", "item"
                elif kind in "qw":
                    f.names.add(t.val.lower())
                elif kind == "s":  # AS 'label' names a column too
                    f.names.add(t.text.strip("'").replace("''", "'").lower())
                continue
            if region == "from" and at_frame:
                self._from_token(toks, i, f, ctes, commit, veto)
            elif eregion in _EXPR_REGIONS:
                self._expr_token(toks, i, f, eregion, veto, lv.safe)
        return an

    # ------------------------------------------------------------------ FROM items

    def _from_token(self, toks: list[_Tok], i: int, f: _Frame, ctes: set[str],
                    commit: Callable[[_Frame], None], veto: Callable[[_Tok, str, str], None]) -> None:
        t = toks[i]
        up, fs = t.up, f.fs
        name = t.kind == "q" or (t.kind == "w" and up not in self._kw)
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if fs == "item":
            if name:
                f.pending = ["table", t.val, None]
                f.fs = "after_name"
                if nxt is None or nxt.up not in (".", "("):  # schema.t, read_csv(..): the policy refuses those
                    self._complete_table(t, ctes, veto)
                return
            f.env_ok, f.fs = False, "bad"
            return
        if fs in ("after_name", "after_alias", "on"):
            if up == "," and t.kind == "o":
                commit(f)
                f.fs = "item"
                return
            if t.kind == "w" and up in _JOIN_WORDS and not (nxt is not None and nxt.up == "("):
                commit(f)
                f.fs = "joinkw"
                return
            if t.kind == "w" and up == "JOIN":
                commit(f)
                f.fs = "item"
                return
            if fs == "on":
                self._expr_token(toks, i, f, "on", veto, True)
                return
            if t.kind == "w" and up == "ON":
                commit(f)
                f.fs = "on"
                return
            if t.kind == "w" and up == "USING":
                commit(f)
                f.fs = "using"
                return
            if fs == "after_name":
                if t.kind == "w" and up == "AS":
                    f.fs = "after_as"
                    return
                if name and f.pending is not None:
                    f.pending[2] = t.val
                    commit(f)
                    f.fs = "after_alias"
                    return
            f.env_ok, f.fs = False, "bad"
            return
        if fs == "after_as":
            if name and f.pending is not None:
                f.pending[2] = t.val
                commit(f)
                f.fs = "after_alias"
                return
            f.env_ok, f.fs = False, "bad"
            return
        if fs == "joinkw":
            if t.kind == "w" and up in _JOIN_WORDS:
                return
            if t.kind == "w" and up == "JOIN":
                f.fs = "item"
                return
            f.env_ok, f.fs = False, "bad"
            return
        if fs == "using":
            f.env_ok, f.fs = False, "bad"
            return
        # bad / in_derived: nothing to learn

    def _table_known(self, name: str, ctes: set[str]) -> bool:
        return self._fold(name) in self._tables or name.lower() in ctes

    def _complete_table(self, t: _Tok, ctes: set[str], veto: Callable[[_Tok, str, str], None]) -> None:
        if not self._table_known(t.val, ctes):
            veto(t, f"table '{t.val}' does not exist", "schema.unknown_table")

    def _partial_table(self, t: _Tok, ctes: set[str], veto: Callable[[_Tok, str, str], None]) -> None:
        part = t.val
        if t.kind == "w" and any(k.startswith(part.lower()) for k in self._kw_lower):
            return  # could still become a keyword (VALUES, LATERAL, ...)
        low, folded = part.lower(), self._fold(part)
        if any(n.startswith(folded) for n in self._tables) or any(c.startswith(low) for c in ctes):
            return
        if t.kind == "w" and any(n.startswith(low) for n in self._lower_tables):
            return
        veto(t, f"no table name starts with '{part}'", "schema.unknown_table")

    # ------------------------------------------------------------------ names in expressions

    def _expr_token(self, toks: list[_Tok], i: int, f: _Frame, region: str,
                    veto: Callable[[_Tok, str, str], None], safe: bool) -> None:
        t = toks[i]
        if t.kind not in "wq" or not f.env_ok:
            return
        if region == "order" and f.branch:
            return
        prev = toks[i - 1] if i else None
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if prev is not None and prev.up == "." and i >= 2:
            self._qualified(toks, i, f, nxt, veto)
            return
        if not safe or (t.kind == "w" and t.up in self._kw):
            return
        if nxt is None or nxt.up in (".", "("):
            return
        # an unqualified name: a column only between operators/keywords that make it one
        if prev is None:
            return
        if prev.kind == "o":
            if prev.up not in _PREV_OPS:
                return
            if prev.up == "(" and i >= 2 and toks[i - 2].up in ("OVER", "FILTER", "WITHIN", "USING"):
                return
        elif prev.kind == "w":
            if prev.up == "DISTINCT":
                if not (i >= 2 and toks[i - 2].up == "("):
                    return
            elif prev.up not in _PREV_WORDS:
                return
        else:
            return
        if nxt.kind == "o":
            if nxt.up not in _NEXT_OPS:
                return
        elif nxt.kind == "w":
            if nxt.up not in _NEXT_WORDS or not nxt.done:
                return
        else:
            return
        self._unqualified(t, f, region, veto)

    def _unqualified(self, t: _Tok, f: _Frame, region: str, veto: Callable[[_Tok, str, str], None]) -> None:
        name = t.val.lower()
        owners = [it.alias for it in f.items if it.cols is not None and name in it.cols]
        if len(owners) > 1:
            veto(t, f"column '{t.val}' is ambiguous: it is in {', '.join(owners)}", "schema.ambiguous_column")
            return
        if owners or f.close is None or region == "on":
            return
        if any(it.cols is None for it in f.items) or name in f.names:
            return
        a = f.outer
        while a is not None:
            if a.close is None or not a.env_ok:
                return
            for it in a.items:
                if it.cols is None or name in it.cols:
                    return
            a = a.outer
        where = ", ".join(it.alias for it in f.items) or "this query"
        veto(t, f"column '{t.val}' does not exist in {where}", "schema.unknown_column")

    def _resolve(self, f: _Frame, alias: str) -> Any:
        for it in f.items:
            if it.alias == alias:
                return it
        if f.close is None:
            return _UNKNOWN
        a = f.outer
        while a is not None:
            if a.close is None or not a.env_ok:
                return _UNKNOWN
            for it in a.items:
                if it.alias == alias:
                    return it
            a = a.outer
        return _MISSING

    def _visible_aliases(self, f: _Frame) -> list[str] | None:
        if f.close is None:
            return None
        out = [it.alias for it in f.items]
        a = f.outer
        while a is not None:
            if a.close is None or not a.env_ok:
                return None
            out += [it.alias for it in a.items]
            a = a.outer
        return out

    def _qualified(self, toks: list[_Tok], i: int, f: _Frame, nxt: _Tok | None,
                   veto: Callable[[_Tok, str, str], None]) -> None:
        """``X.col`` with ``col`` at ``i``: a column of X's source, once X is known."""
        t, q = toks[i], toks[i - 2]
        if not f.env_ok or t.kind not in "wq" or q.kind not in "wq" or (q.kind == "w" and q.up in self._kw):
            return
        if i >= 3 and toks[i - 3].up == ".":
            return  # a three-part name: its middle part is the qualifier
        source = self._resolve(f, q.val.lower())
        if source is _UNKNOWN:
            return
        definite = t.done and nxt is not None
        if definite and nxt.up in (".", "("):  # type: ignore[union-attr]
            return
        if source is _MISSING:
            if definite:
                aliases = self._visible_aliases(f) or []
                veto(q, f"'{q.val}' is not a table or alias in scope here" +
                     (f" (in scope: {', '.join(aliases)})" if aliases else ""), "schema.unknown_alias")
            return
        cols = source.cols
        if cols is None:
            return
        name = t.val.lower()
        if definite:
            if name not in cols:
                veto(t, _no_column(t.val, q.val, source), "schema.unknown_column")
            return
        # still being written, or its follower unknown: it could become a call T1.lower(..) or a
        # three-part name T1.b.c (b then is the qualifier)
        match = (lambda n: n == name) if t.done else (lambda n: n.startswith(name))
        if any(match(c) for c in cols) or any(match(fn) for fn in self._funcs):
            return
        aliases = self._visible_aliases(f)
        if aliases is None or any(match(a) for a in aliases):
            return
        veto(t, _no_column(t.val, q.val, source) if t.done else
             f"no column of '{q.val}' starts with '{t.val}'", "schema.unknown_column")


def _no_column(name: str, qualifier: str, source: _Item) -> str:
    table = f" (table {source.name})" if source.name and source.name != qualifier else ""
    return f"column '{name}' does not exist in '{qualifier}'{table}"


def _shifted(toks: list[_Tok], offset: int) -> list[_Tok]:
    for t in toks:
        t.start += offset
        t.end += offset
    return toks


def _settled(frames: Iterable[_Frame], pos: int, cut: int, local: bool) -> bool:
    """Whether the name at ``pos`` has its whole scope written before ``cut``."""
    inner = None
    for fr in frames:
        if fr.start <= pos and (fr.end is None or pos < fr.end) and (inner is None or fr.depth >= inner.depth):
            inner = fr
    if inner is None:
        return False
    if inner.close is None or inner.close > cut:
        return False
    if local:
        return True
    a = inner.outer
    while a is not None:
        if a.close is None or a.close > cut:
            return False
        a = a.outer
    return True
