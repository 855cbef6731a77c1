"""The typed tree of an SPL search, built by :func:`nl2q.targets.spl.parse.parse`.

A checker asks each :class:`Command` what it reads, creates and drops; a compiler walks the
typed expressions. Offsets (``start``, ``end``) are character positions in the parsed text, i.e.
the search after macro expansion, end exclusive.

Field names may be patterns (``Processes.*``, ``user*``): :meth:`FieldUse.matches` tests one.
"""

from __future__ import annotations

import re
from functools import cache
from dataclasses import dataclass, field
import typing
from typing import Iterator, Union


@dataclass(frozen=True)
class FieldUse:
    """A field named at one place in the text: read, written, dropped, kept or grouped by."""

    name: str
    start: int
    end: int

    @property
    def is_pattern(self) -> bool:
        return "*" in self.name

    def matches(self, name: str) -> bool:
        """Whether the field ``name`` is this one, or fits this pattern (``*`` is any run of characters)."""
        if not self.is_pattern:
            return self.name == name
        return _pattern(self.name).fullmatch(name) is not None


@cache
def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in glob.split("*")), re.S)


# ---------------------------------------------------------------------------------------------
# The search language: the initial search, `search`, tstats/inputlookup `where`.


@dataclass
class Term:
    """A bare term (``error``, ``*.exe``) or a quoted phrase (``"failed login"``), matched against the raw event."""

    text: str
    quoted: bool
    start: int
    end: int

    def children(self) -> Iterator[SearchExpr]:
        return iter(())


@dataclass
class Compare:
    """``field op value``; ``value`` is as written (wildcards and escapes kept), unquoted when ``quoted``."""

    field: FieldUse
    op: str  # = != < <= > >=
    value: str
    quoted: bool
    start: int
    end: int

    def children(self) -> Iterator[SearchExpr]:
        return iter(())


@dataclass
class InList:
    """``field IN (a, b, ...)``: the field equals one of the values (wildcards allowed)."""

    field: FieldUse
    values: list[str]
    start: int
    end: int

    def children(self) -> Iterator[SearchExpr]:
        return iter(())


@dataclass
class TermFn:
    """``TERM(x)`` (match x as one indexed term) or ``CASE(x)`` (match x case-sensitively)."""

    fn: typing.Literal["TERM", "CASE"]
    value: str
    start: int
    end: int

    def children(self) -> Iterator[SearchExpr]:
        return iter(())


@dataclass
class BoolOp:
    """AND (explicit or implied by juxtaposition) or OR over two or more items. In a search OR binds
    tighter than AND, so ``a b OR c`` is ``BoolOp(AND, [a, BoolOp(OR, [b, c])])``."""

    op: typing.Literal["AND", "OR"]
    items: list[SearchExpr]
    start: int
    end: int

    def children(self) -> Iterator[SearchExpr]:
        return iter(self.items)


@dataclass
class Not:
    """``NOT x``: also keeps events that lack the field, unlike ``field!=value``."""

    item: SearchExpr
    start: int
    end: int

    def children(self) -> Iterator[SearchExpr]:
        return iter((self.item,))


@dataclass
class Subsearch:
    """``[ ... ]``: a search run first, whose results become a search expression or a command's input."""

    search: Search
    start: int
    end: int

    def children(self) -> Iterator[SearchExpr]:
        return iter(())


SearchExpr = Union[Term, Compare, InList, TermFn, BoolOp, Not, Subsearch]


def search_nodes(expr: SearchExpr, *, under_not: bool = True) -> Iterator[SearchExpr]:
    """Every node of a search expression, depth first (subsearches not entered; ``Not`` subtrees
    skipped when ``under_not`` is False)."""
    yield expr
    if isinstance(expr, Not) and not under_not:
        return
    for child in expr.children():
        yield from search_nodes(child, under_not=under_not)


# ---------------------------------------------------------------------------------------------
# Eval expressions: eval, where, eval(...) inside stats and options.


@dataclass
class Literal:
    """A number or a string (unquoted)."""

    value: str | int | float
    start: int
    end: int

    def children(self) -> Iterator[Expr]:
        return iter(())


@dataclass
class FieldRef:
    """A field read by an expression; ``quoted`` when written ``'like this'``."""

    name: str
    quoted: bool
    start: int
    end: int

    def children(self) -> Iterator[Expr]:
        return iter(())


@dataclass
class Call:
    """``name(args)``; ``name`` as written (Splunk function names ignore case)."""

    name: str
    args: list[Expr]
    start: int
    end: int

    def children(self) -> Iterator[Expr]:
        return iter(self.args)


@dataclass
class BinOp:
    """``left op right``: op is one of + - . * / % = == != < <= > >= LIKE AND OR XOR (upper case)."""

    op: str
    left: Expr
    right: Expr
    start: int
    end: int

    def children(self) -> Iterator[Expr]:
        return iter((self.left, self.right))


@dataclass
class UnaryOp:
    """``-x`` or ``NOT x``."""

    op: typing.Literal["-", "NOT"]
    operand: Expr
    start: int
    end: int

    def children(self) -> Iterator[Expr]:
        return iter((self.operand,))


@dataclass
class InExpr:
    """``x IN (a, b)`` or ``x NOT IN (a, b)``."""

    operand: Expr
    values: list[Expr]
    negated: bool
    start: int
    end: int

    def children(self) -> Iterator[Expr]:
        yield self.operand
        yield from self.values


Expr = Union[Literal, FieldRef, Call, BinOp, UnaryOp, InExpr]


def expr_nodes(expr: Expr) -> Iterator[Expr]:
    """Every node of an expression, depth first."""
    yield expr
    for child in expr.children():
        yield from expr_nodes(child)


def expr_fields(expr: Expr) -> list[FieldUse]:
    """The fields an expression reads, in order of appearance."""
    return [FieldUse(n.name, n.start, n.end) for n in expr_nodes(expr) if isinstance(n, FieldRef)]


def search_fields(expr: SearchExpr) -> list[FieldUse]:
    """The fields a search expression compares (``f=v``, ``f IN (...)``), in order of appearance."""
    return [n.field for n in search_nodes(expr) if isinstance(n, (Compare, InList))]


# ---------------------------------------------------------------------------------------------
# Command parts.


@dataclass
class Option:
    """``key=value``. ``value`` is text (unquoted when ``quoted``), a search expression
    (``startswith=(EventCode=1)``) or an eval expression (``endswith=eval(x>1)``)."""

    key: str
    value: str | SearchExpr | Expr
    quoted: bool
    start: int
    end: int

    @property
    def text(self) -> str | None:
        """The value when it is text."""
        return self.value if isinstance(self.value, str) else None


@dataclass
class Aggregation:
    """A stats-family function: ``dc(user) as users``, ``count``, ``count(eval(x>1))``, ``p95(bytes)``.

    ``field`` is the argument when it is a field (a pattern for ``values(*)``), ``expr`` when it is
    ``eval(...)``; ``output`` is the column it creates."""

    func: str
    field: FieldUse | None
    expr: Expr | None
    alias: FieldUse | None
    start: int
    end: int
    arg_text: str = ""  # the argument as written, for the default output name

    @property
    def output(self) -> str:
        """The alias, else Splunk's default name: ``count``, ``dc(user)``."""
        if self.alias is not None:
            return self.alias.name
        return f"{self.func}({self.arg_text})" if self.arg_text else self.func

    def fields_read(self) -> list[FieldUse]:
        if self.expr is not None:
            return expr_fields(self.expr)
        return [self.field] if self.field is not None else []


@dataclass
class Assignment:
    """``target = expr`` in eval."""

    target: FieldUse
    expr: Expr
    start: int
    end: int


@dataclass
class Rename:
    """``source as target``; both may be patterns (``Processes.* as *``)."""

    source: FieldUse
    target: FieldUse


@dataclass
class SortKey:
    """A sort key: ``-count``, ``+num(port)``, ``user desc``."""

    field: FieldUse
    descending: bool
    fn: str | None = None  # num, str, ip, auto


@dataclass
class Arg:
    """One argument of a command parsed generically, as written."""

    kind: typing.Literal["word", "option", "string", "subsearch"]
    text: str  # word or string value (unquoted); option value; subsearch source text
    start: int
    end: int
    key: str | None = None  # for options


# ---------------------------------------------------------------------------------------------
# Commands and searches.


@dataclass
class Command:
    """One command of a pipeline, with what it does to the fields flowing through it.

    After a command the fields are: ``keeps`` plus ``fields_written`` when ``keeps`` is not None
    (table, fields +, stats, tstats, timechart, chart, top), else the fields before it minus
    ``fields_dropped`` plus ``fields_written``. ``writes_unknown`` says the command also creates
    fields whose names this tree cannot know (spath without output, lookup without OUTPUT,
    inputlookup, a timechart split by a field, join/append, commands parsed generically).
    ``modelled`` is False for commands parsed generically (``name arg*``): then only ``args``,
    ``options`` and ``subsearches`` are filled. ``table`` and ``fields`` keep the named fields only;
    Splunk's ``fields`` also keeps the internal ``_raw`` and ``_time`` unless removed by name.
    """

    name: str  # lower case; "search" for the implicit initial search
    start: int
    end: int
    args: list[Arg] = field(default_factory=list)
    options: dict[str, Option] = field(default_factory=dict)
    fields_read: list[FieldUse] = field(default_factory=list)
    fields_written: list[FieldUse] = field(default_factory=list)
    fields_dropped: list[FieldUse] = field(default_factory=list)
    keeps: list[FieldUse] | None = None
    writes_unknown: bool = False
    subsearches: list[Search] = field(default_factory=list)
    search: SearchExpr | None = None  # search, the implicit search, tstats/inputlookup where
    where: Expr | None = None  # where
    assignments: list[Assignment] = field(default_factory=list)  # eval
    aggregations: list[Aggregation] = field(default_factory=list)  # stats family, convert
    by: list[FieldUse] = field(default_factory=list)  # stats family, top, chart (over and by)
    renames: list[Rename] = field(default_factory=list)  # rename, and lookup's input "x as y"
    sort: list[SortKey] = field(default_factory=list)  # sort, dedup sortby
    target: str | None = None  # lookup/inputlookup table, tstats datamodel
    pattern: str | None = None  # rex/regex regular expression (unquoted)
    count: int | None = None  # sort N, head N, dedup N, top N
    implicit: bool = False
    modelled: bool = True

    def option(self, key: str) -> str | None:
        """An option's text value (keys ignore case), or None."""
        opt = self.options.get(key.lower())
        return opt.text if opt is not None else None


@dataclass
class Search:
    """A pipeline: the top-level search or a subsearch."""

    commands: list[Command]
    start: int
    end: int

    @property
    def names(self) -> list[str]:
        """The command sequence (this pipeline only, not its subsearches)."""
        return [c.name for c in self.commands]

    def walk(self) -> Iterator[Command]:
        """Every command, subsearches included, each subsearch's commands before the command using it."""
        for command in self.commands:
            for sub in command.subsearches:
                yield from sub.walk()
            yield command

    @property
    def initial(self) -> Command | None:
        return self.commands[0] if self.commands else None

    def named_values(self, field_name: str) -> list[str]:
        """The values the initial search requires of a field (``f=v``, ``f IN (...)``, not under NOT),
        field name ignoring case: ``named_values("index")`` -> ``["main"]``."""
        first = self.initial
        if first is None or first.search is None:
            return []
        wanted = field_name.lower()
        values: list[str] = []
        for node in search_nodes(first.search, under_not=False):
            if isinstance(node, Compare) and node.op == "=" and node.field.name.lower() == wanted:
                values.append(node.value)
            elif isinstance(node, InList) and node.field.name.lower() == wanted:
                values.extend(node.values)
        return values

    @property
    def indexes(self) -> list[str]:
        return self.named_values("index")

    @property
    def sourcetypes(self) -> list[str]:
        return self.named_values("sourcetype")

    def aggregations(self) -> list[Aggregation]:
        """Every aggregation of every command, subsearches included."""
        return [a for c in self.walk() for a in c.aggregations]
