"""Parse an SPL search (macros already expanded) into the typed tree of :mod:`.tree`.

The grammar is ``grammars/spl.lark``; this module derives its check variant (any names, free
whitespace and ``` comments, keywords in any case, every command) and parses it with Lark's
LALR parser and contextual lexer, so a keyword is one only where the grammar can take it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.lexer import PatternStr

from ...errors import Nl2qError
from ...grammar import base_grammar
from ...types import Diagnostic, position
from .tree import (Aggregation, Arg, Assignment, BinOp, BoolOp, Call, Command, Compare, Expr, FieldRef, FieldUse,
                   InExpr, InList, Literal, Not, Option, Rename, Search, SearchExpr, SortKey, Subsearch, Term, TermFn,
                   UnaryOp, expr_fields, search_fields, search_nodes)

# What the check variant reads where the decode variant has exact, visible-only forms.
_CHECK_TERMINALS = {
    "STRING": r'/"(?:[^"\\]|\\.)*"/s',
    "SQ_NAME": r"/'(?:[^'\\\n]|\\.)*'/",
    "NUMBER": r"/(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/",
    "INT": r"/[0-9]+/",
    "VALUE": r'/(?:[^\s|"()\[\]\\`]|\\\S?)+/',
    "LVALUE": r'/(?:[^\s|"()\[\],\\`]|\\\S?)+/',
    "GARG": r'/(?:[^\s|"\[\]=\\`]|\\\S?)+/',
}
# Field names as Splunk's tokenizer reads them: quoted parts joined to unquoted ones ("Web".*), a
# leading digit when a letter follows (3cx_iocs); a created name may hold "(...)" (aceFlags(inheritance)).
_FIELD_CHAR = r"[A-Za-z0-9_.*:{}@$<>\/\\-]"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_FIELD_START = r"(?:[A-Za-z_*@$<{]|[0-9]+[A-Za-z_.*:{}@$<>\/\\-]|" + _QUOTED + "(?=" + _FIELD_CHAR + "))"
_FIELD = _FIELD_START + "(?:" + _FIELD_CHAR + "|" + _QUOTED + ")*"
_ALIAS = _FIELD_START + "(?:" + _FIELD_CHAR + "|" + _QUOTED + r"|\([^()\s|\"]*\))*"
# The generated slots, filled with generic names; whitespace and ``` comments between any two tokens;
# lists separated by spaces or commas (doubled commas tolerated), and IN lists with empty items.
_CHECK_RULES = r"""
%override start: pipeline
%override option_key: FIELD
%override search_in: search_field _S_IN _LP _in_item+ _RP
_in_item: list_value | _COMMA
field: FIELD | STRING
new_field: ALIAS | STRING
eval_field: NAME | SQ_NAME
function_name: NAME
agg_name: FIELD
command_name: CMD
lookup_name: FIELD
datamodel_name: VALUE | STRING
WORD: /(?:[^\s|"()\[\]=<>!,\\`]|\\\S?)+/
FIELD: /@FIELD@/
ALIAS: /@ALIAS@/
_LIST_COMMA: /,(?:\s*,)*/
NAME: /(?:[A-Za-z_]|<<\w+>>)(?:\w|<<\w+>>|\{\})*(?:\.(?:\w|<<\w+>>|\{\})+)*/
CMD: /[A-Za-z_][A-Za-z0-9_]*/
_BLANK: /[ \t\r\n]+/
_COMMENT: /```[\s\S]*?```/
%ignore _BLANK
%ignore _COMMENT
"""
_TERMINAL_LINE = re.compile(r"^([A-Z_][A-Z0-9_]*):")


@cache
def spl_check_grammar() -> str:
    """The check variant of ``grammars/spl.lark``.

    Spacing is ignored rather than spelt (so the explicit ``_WS`` separators go and ``OWS`` leaves the
    punctuation terminals), a list separator is an optional comma, and the keywords written in rules
    ignore case (the search operators, defined as terminals, keep theirs).
    """
    lines = []
    for line in base_grammar("spl").splitlines():
        m = _TERMINAL_LINE.match(line)
        if m and m.group(1) in _CHECK_TERMINALS:
            line = f"{m.group(1)}: {_CHECK_TERMINALS[m.group(1)]}"
        elif m and m.group(1) not in ("OWS", "RWS"):
            line = re.sub(r"\bOWS\s*", "", line)
        elif not m:
            line = re.sub(r"\b_WS\b\s*", "", line)
            line = re.sub(r'"([A-Za-z][A-Za-z_]*)"(?!i)', r'"\1"i', line)
        if not line.startswith("_list_sep:"):
            lines.append(line)
    text = re.sub(r"\b_list_sep\b", "_LIST_COMMA?", "\n".join(lines))
    return text + "\n" + _CHECK_RULES.replace("@FIELD@", _FIELD).replace("@ALIAS@", _ALIAS)


@cache
def parser() -> Lark:
    """The check variant's LALR parser (built once: about 0.2 s)."""
    return Lark(spl_check_grammar(), parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=False)


# ---------------------------------------------------------------------------------------------
# errors


class SplSyntaxError(Nl2qError):
    """The text is not SPL this grammar knows: where (1-based line and column, 0-based offset), what was
    found there, what could have come instead, and the command it happened in."""

    def __init__(self, message: str, *, line: int, col: int, offset: int, found: str,
                 expected: tuple[str, ...] = (), command: str | None = None, hint: str = "") -> None:
        super().__init__(message, hint)
        self.line = line
        self.col = col
        self.offset = offset
        self.found = found
        self.expected = expected
        self.command = command

    def diagnostic(self) -> Diagnostic:
        return Diagnostic("syntax.error", self.message, line=self.line, col=self.col, start=self.offset,
                          end=self.offset + max(1, len(self.found)), hint=self.hint, stage="parse")


_DESCRIPTIONS = {
    "WORD": "a search term", "VALUE": "a value", "LVALUE": "a value", "STRING": 'a "quoted string"',
    "SQ_NAME": "a 'quoted field name'", "FIELD": "a field name", "NAME": "a field or function name",
    "CMD": "a command", "GARG": "an argument", "NUMBER": "a number", "INT": "a whole number",
    "ALIAS": "a new field name", "_LIST_COMMA": "','",
    "$END": "the end of the search",
}
_IGNORED = {"_BLANK", "_COMMENT"}


def _describe(name: str) -> str:
    if name in _DESCRIPTIONS:
        return _DESCRIPTIONS[name]
    try:
        pattern = parser().get_terminal(name).pattern
    except KeyError:
        return name
    return f"'{pattern.value}'" if isinstance(pattern, PatternStr) else name


def _expected(names: set[str]) -> tuple[str, ...]:
    names = set(names) - _IGNORED
    keywords = names & _command_keywords()
    if len(keywords) > 4:  # where a command starts: said once, not as forty keywords
        names = (names - keywords) | {"CMD"}
    return tuple(sorted({_describe(n) for n in names}, key=lambda d: (d.startswith("'"), d)))


@cache
def _command_keywords() -> frozenset[str]:
    """The terminals a command starts with: its name."""
    return frozenset(r.expansion[0].name for r in parser().rules
                     if r.origin.name.endswith("_cmd") and r.expansion and r.expansion[0].is_term)


def _is_keyword(name: str) -> bool:
    try:
        pattern = parser().get_terminal(name).pattern
    except KeyError:
        return False
    return isinstance(pattern, PatternStr) and pattern.value.isalpha()


def _command_at(state: Any) -> str | None:
    """The command the parser was in: the word after the innermost '|', else the first word of the
    innermost subsearch or of the search when it is a command keyword (otherwise the implicit search)."""
    stack = list(getattr(state, "value_stack", None) or [])
    opener, rest = "", stack
    for i in range(len(stack) - 1, -1, -1):
        if isinstance(stack[i], Token) and stack[i].type in ("_PIPE", "_LSQ"):
            opener, rest = stack[i].type, stack[i + 1:]
            break
    first = _first_token(rest[0]) if rest else None
    if opener == "_PIPE":
        return str(first).lower() if first is not None else None
    return str(first).lower() if first is not None and _is_keyword(first.type) else "search"


def _first_token(item: Token | Tree) -> Token | None:
    return item if isinstance(item, Token) else next(item.scan_values(lambda v: isinstance(v, Token)), None)


def _accepted(e: UnexpectedInput) -> set[str] | None:
    """The terminals the parser could really take where it stopped (the lexer's set is LALR-merged, wider)."""
    interactive = getattr(e, "interactive_parser", None)
    try:
        return set(interactive.accepts()) if interactive is not None else None
    except UnexpectedInput:
        return None


def _syntax_error(text: str, e: UnexpectedInput) -> SplSyntaxError:
    accepted = _accepted(e)
    if isinstance(e, UnexpectedToken):
        at_end = e.token.type == "$END"
        offset = len(text) if at_end or e.pos_in_stream is None else e.pos_in_stream
        found = "" if at_end else str(e.token)
        expected = _expected(accepted if accepted is not None else e.expected)
    elif isinstance(e, UnexpectedCharacters):
        offset, found = e.pos_in_stream, text[e.pos_in_stream]
        expected = _expected(accepted if accepted is not None else e.allowed or set())
    else:  # UnexpectedEOF
        offset, found, expected = len(text), "", _expected(set(getattr(e, "expected", ()) or ()))
    line, col = position(text, offset)
    what = f"{found[:40]!r}" if found else "end of search"
    interactive = getattr(e, "interactive_parser", None)
    command = _command_at(interactive.parser_state if interactive is not None else getattr(e, "state", None))
    message = f"unexpected {what} at line {line} col {col}"
    if command:
        message += f" (in {command})"
    if expected:
        shown = ", ".join(expected[:12]) + (", ..." if len(expected) > 12 else "")
        message += f"; expected {shown}" if len(expected) == 1 else f"; expected one of {shown}"
    hint = ""
    if found.startswith("`"):
        hint = "expand macros before parsing (nl2q.targets.spl.macros.Macros.expand)"
    elif found.startswith('"'):
        hint = "a quoted string is not closed"
    return SplSyntaxError(message, line=line, col=col, offset=offset, found=found, expected=expected,
                          command=command, hint=hint)


# ---------------------------------------------------------------------------------------------
# the tree builder

_UNESCAPE = re.compile(r'\\(["\\])')
_QUOTED_PART = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_GROUP = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>")


def unquote(token: str) -> str:
    """A quoted string's value: quotes removed, ``\\"`` and ``\\\\`` unescaped (other escapes are the regex's)."""
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        return _UNESCAPE.sub(r"\1", token[1:-1])
    return token


def field_name(token: str) -> str:
    """A field name as written, its quoted parts unquoted: ``"Web".*`` -> ``Web.*``, ``'a b'`` -> ``a b``."""
    if token[:1] == "'":
        return unquote(token)
    return _QUOTED_PART.sub(lambda m: _UNESCAPE.sub(r"\1", m.group(1)), token)


class _Text(NamedTuple):
    value: str
    quoted: bool
    start: int
    end: int


@dataclass
class _By:
    fields: list[FieldUse]
    options: list[Option]


@dataclass
class _Marker:
    """A part of a command the builder sorts by kind: a clause or a keyword's value."""

    kind: str
    value: Any = None
    start: int = 0
    end: int = 0


def _of(children: list[Any], kind: type) -> list[Any]:
    return [c for c in children if isinstance(c, kind)]


def _marker(children: list[Any], kind: str) -> _Marker | None:
    return next((c for c in children if isinstance(c, _Marker) and c.kind == kind), None)


def _int(children: list[Any]) -> int | None:
    return next((int(c) for c in children if isinstance(c, Token) and c.type == "INT"), None)


def _options(children: list[Any]) -> dict[str, Option]:
    return {o.key: o for o in _of(children, Option)}


def _subsearches(expr: SearchExpr | None) -> list[Search]:
    return [n.search for n in search_nodes(expr) if isinstance(n, Subsearch)] if expr is not None else []


@v_args(meta=True)
class _Builder(Transformer):
    """One method per grammar rule: rules become tree nodes, commands say what they do to fields."""

    def __init__(self, text: str) -> None:
        super().__init__(visit_tokens=False)
        self.text = text

    def _name(self, meta: Any) -> str:
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", self.text[meta.start_pos:])
        return m.group().lower() if m else ""

    def _command(self, meta: Any, **kw: Any) -> Command:
        return Command(name=kw.pop("name", None) or self._name(meta), start=meta.start_pos, end=meta.end_pos, **kw)

    def _token_field(self, tok: Token) -> FieldUse:
        return FieldUse(field_name(str(tok)), tok.start_pos, tok.end_pos)

    # pipelines ---------------------------------------------------------------------------------

    def start(self, meta: Any, ch: list[Search]) -> Search:
        return ch[0]

    def pipeline(self, meta: Any, ch: list[Command]) -> Search:
        return Search(list(ch), meta.start_pos, meta.end_pos)

    subpipeline = pipeline

    def subsearch(self, meta: Any, ch: list[Search]) -> Subsearch:
        return Subsearch(ch[0], meta.start_pos, meta.end_pos)

    # the search language ------------------------------------------------------------------------

    def _search(self, meta: Any, expr: SearchExpr | None, implicit: bool = False) -> Command:
        return self._command(meta, name="search", search=expr, implicit=implicit,
                             fields_read=search_fields(expr) if expr is not None else [],
                             subsearches=_subsearches(expr))

    def implicit_search(self, meta: Any, ch: list[SearchExpr]) -> Command:
        return self._search(meta, ch[0], implicit=True)

    def search_cmd(self, meta: Any, ch: list[SearchExpr]) -> Command:
        return self._search(meta, ch[0] if ch else None)

    def search_and(self, meta: Any, ch: list[SearchExpr]) -> BoolOp:
        return BoolOp("AND", list(ch), meta.start_pos, meta.end_pos)

    def search_or(self, meta: Any, ch: list[SearchExpr]) -> BoolOp:
        return BoolOp("OR", list(ch), meta.start_pos, meta.end_pos)

    def search_negation(self, meta: Any, ch: list[SearchExpr]) -> Not:
        return Not(ch[0], meta.start_pos, meta.end_pos)

    def search_term(self, meta: Any, ch: list[Token]) -> Term:
        return Term(str(ch[0]), False, meta.start_pos, meta.end_pos)

    def search_phrase(self, meta: Any, ch: list[Token]) -> Term:
        return Term(unquote(str(ch[0])), True, meta.start_pos, meta.end_pos)

    def search_field(self, meta: Any, ch: list[Token]) -> FieldUse:
        return self._token_field(ch[0])

    def search_op(self, meta: Any, ch: list[Token]) -> str:
        return str(ch[0]).strip()

    def search_value(self, meta: Any, ch: list[Token]) -> _Text:
        tok = ch[0]
        return _Text(unquote(str(tok)), tok.type == "STRING", tok.start_pos, tok.end_pos)

    list_value = search_value

    def search_compare(self, meta: Any, ch: list[Any]) -> Compare:
        fld, op, value = ch
        return Compare(fld, op, value.value, value.quoted, meta.start_pos, meta.end_pos)

    def search_in(self, meta: Any, ch: list[Any]) -> InList:
        return InList(ch[0], [v.value for v in ch[1:]], meta.start_pos, meta.end_pos)

    def term_fn(self, meta: Any, ch: list[_Text]) -> TermFn:
        return TermFn("TERM", ch[0].value, meta.start_pos, meta.end_pos)

    def case_fn(self, meta: Any, ch: list[_Text]) -> TermFn:
        return TermFn("CASE", ch[0].value, meta.start_pos, meta.end_pos)

    # eval expressions ----------------------------------------------------------------------------

    def _binary(self, op: str, meta: Any, left: Expr, right: Expr) -> BinOp:
        return BinOp(op, left, right, meta.start_pos, meta.end_pos)

    def or_expr(self, meta: Any, ch: list[Expr]) -> BinOp:
        return self._binary("OR", meta, ch[0], ch[1])

    def xor_expr(self, meta: Any, ch: list[Expr]) -> BinOp:
        return self._binary("XOR", meta, ch[0], ch[1])

    def and_expr(self, meta: Any, ch: list[Expr]) -> BinOp:
        return self._binary("AND", meta, ch[0], ch[1])

    def not_expr(self, meta: Any, ch: list[Expr]) -> UnaryOp:
        return UnaryOp("NOT", ch[0], meta.start_pos, meta.end_pos)

    def compare_expr(self, meta: Any, ch: list[Any]) -> BinOp:
        return self._binary(ch[1], meta, ch[0], ch[2])

    def arith_expr(self, meta: Any, ch: list[Any]) -> BinOp:
        return self._binary(ch[1], meta, ch[0], ch[2])

    def like_expr(self, meta: Any, ch: list[Expr]) -> BinOp:
        return self._binary("LIKE", meta, ch[0], ch[1])

    def in_expr(self, meta: Any, ch: list[Any]) -> InExpr:
        return InExpr(ch[0], ch[1], False, meta.start_pos, meta.end_pos)

    def not_in_expr(self, meta: Any, ch: list[Any]) -> InExpr:
        return InExpr(ch[0], ch[1], True, meta.start_pos, meta.end_pos)

    def _op(self, meta: Any, ch: list[Token]) -> str:
        return str(ch[0]).strip()

    compare_op = add_op = mul_op = regex_op = _op

    def neg_expr(self, meta: Any, ch: list[Any]) -> UnaryOp:
        return UnaryOp("-", ch[-1], meta.start_pos, meta.end_pos)

    def number(self, meta: Any, ch: list[Token]) -> Literal:
        text = str(ch[0])
        value: int | float = int(text) if text.isdigit() else float(text)
        return Literal(value, meta.start_pos, meta.end_pos)

    def string(self, meta: Any, ch: list[Token]) -> Literal:
        return Literal(unquote(str(ch[0])), meta.start_pos, meta.end_pos)

    def eval_field(self, meta: Any, ch: list[Token]) -> FieldRef:
        tok = ch[0]
        return FieldRef(unquote(str(tok)), tok.type == "SQ_NAME", meta.start_pos, meta.end_pos)

    def function_name(self, meta: Any, ch: list[Token]) -> str:
        return str(ch[0])

    def call(self, meta: Any, ch: list[Any]) -> Call:
        return Call(ch[0], ch[1] if len(ch) > 1 else [], meta.start_pos, meta.end_pos)

    def like_call(self, meta: Any, ch: list[Any]) -> Call:
        return Call("like", ch[0], meta.start_pos, meta.end_pos)

    def in_call(self, meta: Any, ch: list[Any]) -> Call:
        return Call("in", ch[0], meta.start_pos, meta.end_pos)

    def expr_list(self, meta: Any, ch: list[Expr]) -> list[Expr]:
        return list(ch)

    # shared argument shapes ----------------------------------------------------------------------

    def option(self, meta: Any, ch: list[Any]) -> Option:
        key, _eq, value = ch
        if isinstance(value, _Text):
            return Option(key.lower(), value.value, value.quoted, meta.start_pos, meta.end_pos)
        return Option(key.lower(), value, False, meta.start_pos, meta.end_pos)

    def option_key(self, meta: Any, ch: list[Token]) -> str:
        return str(ch[0]) if ch else self.text[meta.start_pos:meta.end_pos]

    option_text = search_value

    def option_search(self, meta: Any, ch: list[SearchExpr]) -> SearchExpr:
        return ch[0]

    def option_eval(self, meta: Any, ch: list[Expr]) -> Expr:
        return ch[0]

    def field(self, meta: Any, ch: list[Token]) -> FieldUse:
        return self._token_field(ch[0])

    new_field = field

    def field_list(self, meta: Any, ch: list[FieldUse]) -> list[FieldUse]:
        return list(ch)

    def by_clause(self, meta: Any, ch: list[Any]) -> _By:
        return _By(_of(ch, FieldUse), _of(ch, Option))

    def agg_name(self, meta: Any, ch: list[Token]) -> Token:
        return ch[0]

    def agg_eval(self, meta: Any, ch: list[Expr]) -> _Marker:
        return _Marker("eval", ch[0], meta.start_pos, meta.end_pos)

    def agg_alias(self, meta: Any, ch: list[FieldUse]) -> _Marker:
        return _Marker("alias", ch[0], meta.start_pos, meta.end_pos)

    def agg(self, meta: Any, ch: list[Any]) -> Aggregation:
        alias = _marker(ch, "alias")
        alias_field = alias.value if alias else None
        evaluated = _marker(ch, "eval")
        if evaluated is not None:
            return Aggregation(str(ch[0]), None, evaluated.value, alias_field, meta.start_pos, meta.end_pos,
                               self.text[evaluated.start:evaluated.end])
        arg = next(iter(_of(ch[1:], FieldUse)), None)
        return Aggregation(str(ch[0]), arg, None, alias_field, meta.start_pos, meta.end_pos, arg.name if arg else "")

    # commands -----------------------------------------------------------------------------------

    def where_cmd(self, meta: Any, ch: list[Expr]) -> Command:
        return self._command(meta, where=ch[0], fields_read=expr_fields(ch[0]))

    def eval_target(self, meta: Any, ch: list[Any]) -> FieldUse:
        return ch[0] if isinstance(ch[0], FieldUse) else self._token_field(ch[0])

    def eval_assign(self, meta: Any, ch: list[Any]) -> Assignment:
        return Assignment(ch[0], ch[2], meta.start_pos, meta.end_pos)

    def eval_cmd(self, meta: Any, ch: list[Assignment]) -> Command:
        read: list[FieldUse] = []
        written: set[str] = set()
        for a in ch:
            read.extend(f for f in expr_fields(a.expr) if f.name not in written)
            written.add(a.target.name)
        return self._command(meta, assignments=list(ch), fields_read=read, fields_written=[a.target for a in ch])

    def _aggregating(self, meta: Any, ch: list[Any], keeps_outputs: bool, **kw: Any) -> Command:
        aggs = _of(ch, Aggregation)
        by = next(iter(_of(ch, _By)), _By([], []))
        outputs = [a.alias or FieldUse(a.output, a.start, a.end) for a in aggs]
        read = [f for a in aggs for f in a.fields_read()] + by.fields + kw.pop("read", [])
        keeps = kw.pop("keeps", outputs + by.fields) if keeps_outputs else None
        return self._command(meta, aggregations=aggs, by=by.fields, options=_options(ch + by.options),
                             fields_read=read, fields_written=outputs, keeps=keeps, **kw)

    def stats_cmd(self, meta: Any, ch: list[Any]) -> Command:
        return self._aggregating(meta, ch, keeps_outputs=self._name(meta) == "stats")

    def datamodel_source(self, meta: Any, ch: list[Any]) -> _Marker:
        return _Marker("datamodel", ch[-1], meta.start_pos, meta.end_pos)

    def datamodel_name(self, meta: Any, ch: list[Token]) -> str:
        return unquote(str(ch[0]))

    def tstats_where(self, meta: Any, ch: list[SearchExpr]) -> _Marker:
        return _Marker("where", ch[0], meta.start_pos, meta.end_pos)

    def tstats_cmd(self, meta: Any, ch: list[Any]) -> Command:
        where = _marker(ch, "where")
        datamodel = _marker(ch, "datamodel")
        expr = where.value if where else None
        return self._aggregating(meta, ch, keeps_outputs=True, search=expr, subsearches=_subsearches(expr),
                                 read=search_fields(expr) if expr is not None else [],
                                 target=datamodel.value if datamodel else None)

    def timechart_cmd(self, meta: Any, ch: list[Any]) -> Command:
        aggs = _of(ch, Aggregation)
        split = bool(_of(ch, _By))
        time = FieldUse("_time", meta.start_pos, meta.end_pos)
        return self._aggregating(meta, ch, keeps_outputs=True, writes_unknown=split,
                                 keeps=[time] + [a.alias or FieldUse(a.output, a.start, a.end) for a in aggs])

    def over_clause(self, meta: Any, ch: list[FieldUse]) -> _Marker:
        return _Marker("over", ch[0], meta.start_pos, meta.end_pos)

    def chart_cmd(self, meta: Any, ch: list[Any]) -> Command:
        over = _marker(ch, "over")
        aggs = _of(ch, Aggregation)
        outputs = [a.alias or FieldUse(a.output, a.start, a.end) for a in aggs]
        rows = [over.value] if over else []
        return self._aggregating(meta, ch, keeps_outputs=True, writes_unknown=bool(_of(ch, _By)),
                                 read=rows, keeps=rows + outputs)

    def convert_cmd(self, meta: Any, ch: list[Any]) -> Command:
        aggs = _of(ch, Aggregation)
        written = [a.alias or a.field for a in aggs if a.alias or a.field]
        return self._command(meta, aggregations=aggs, options=_options(ch),
                             fields_read=[f for a in aggs for f in a.fields_read()], fields_written=written)

    def table_cmd(self, meta: Any, ch: list[list[FieldUse]]) -> Command:
        return self._command(meta, fields_read=ch[0], keeps=ch[0])

    def fields_sign(self, meta: Any, ch: list[Token]) -> _Marker:
        return _Marker("sign", str(ch[0]).strip(), meta.start_pos, meta.end_pos)

    def fields_cmd(self, meta: Any, ch: list[Any]) -> Command:
        sign = _marker(ch, "sign")
        listed = ch[-1]
        if sign is not None and sign.value == "-":
            return self._command(meta, fields_dropped=listed)
        return self._command(meta, fields_read=listed, keeps=listed)

    def rename_pair(self, meta: Any, ch: list[FieldUse]) -> Rename:
        return Rename(ch[0], ch[1])

    def rename_cmd(self, meta: Any, ch: list[Rename]) -> Command:
        sources = [r.source for r in ch]
        return self._command(meta, renames=list(ch), fields_read=sources, fields_dropped=sources,
                             fields_written=[r.target for r in ch])

    sort_sign = fields_sign

    def sort_fn(self, meta: Any, ch: list[Any]) -> _Marker:
        return _Marker("fn", self._name(meta), meta.start_pos, meta.end_pos)

    def sort_desc(self, meta: Any, ch: list[Any]) -> _Marker:
        return _Marker("desc", True, meta.start_pos, meta.end_pos)

    def sort_key(self, meta: Any, ch: list[Any]) -> SortKey:
        sign, fn, desc = _marker(ch, "sign"), _marker(ch, "fn"), _marker(ch, "desc")
        descending = (sign is not None and sign.value == "-") != (desc is not None)
        return SortKey(_of(ch, FieldUse)[0], descending, fn.value if fn else None)

    def sort_cmd(self, meta: Any, ch: list[Any]) -> Command:
        keys = _of(ch, SortKey)
        return self._command(meta, sort=keys, count=_int(ch), options=_options(ch), fields_read=[k.field for k in keys])

    def head_cmd(self, meta: Any, ch: list[Any]) -> Command:
        return self._command(meta, count=_int(ch), options=_options(ch))

    def dedup_sortby(self, meta: Any, ch: list[SortKey]) -> _Marker:
        return _Marker("sortby", list(ch), meta.start_pos, meta.end_pos)

    def dedup_cmd(self, meta: Any, ch: list[Any]) -> Command:
        sortby = _marker(ch, "sortby")
        keys = sortby.value if sortby else []
        return self._command(meta, count=_int(ch), options=_options(ch), sort=keys,
                             fields_read=_of(ch, FieldUse) + [k.field for k in keys])

    def top_cmd(self, meta: Any, ch: list[Any]) -> Command:
        by = next(iter(_of(ch, _By)), _By([], []))
        options = _options(ch + by.options)
        fields = _of(ch, FieldUse)
        written = [FieldUse(options[k].text if k in options and options[k].text else default, meta.start_pos, meta.end_pos)
                   for k, default, shown in (("countfield", "count", "showcount"), ("percentfield", "percent", "showperc"))
                   if _truthy(options.get(shown), True)]
        return self._command(meta, count=_int(ch), options=options, by=by.fields, fields_read=fields + by.fields,
                             fields_written=written, keeps=fields + by.fields + written)

    def bin_alias(self, meta: Any, ch: list[FieldUse]) -> _Marker:
        return _Marker("alias", ch[0], meta.start_pos, meta.end_pos)

    def bin_cmd(self, meta: Any, ch: list[Any]) -> Command:
        alias = _marker(ch, "alias")
        fields = _of(ch, FieldUse)
        return self._command(meta, options=_options(ch), fields_read=fields,
                             fields_written=[alias.value] if alias else fields)

    def rex_cmd(self, meta: Any, ch: list[Any]) -> Command:
        options = _options(ch)
        regex = next(c for c in ch if isinstance(c, Token) and c.type == "STRING")
        source = _option_field(options.get("field"), "_raw", meta)
        if (options.get("mode") and (options["mode"].text or "").lower()) == "sed":
            written = [source]
        else:
            written = [FieldUse(m.group(1), regex.start_pos + m.start(1), regex.start_pos + m.end(1))
                       for m in _GROUP.finditer(str(regex))]
        return self._command(meta, options=options, pattern=unquote(str(regex)), fields_read=[source],
                             fields_written=written)

    def regex_cmd(self, meta: Any, ch: list[Any]) -> Command:
        regex = next(c for c in ch if isinstance(c, Token) and c.type == "STRING")
        fields = _of(ch, FieldUse) or [FieldUse("_raw", meta.start_pos, meta.end_pos)]
        negated = "!=" in [c for c in ch if type(c) is str]
        options = {"negated": Option("negated", "true", False, meta.start_pos, meta.end_pos)} if negated else {}
        return self._command(meta, pattern=unquote(str(regex)), fields_read=fields, options=options)

    def spath_cmd(self, meta: Any, ch: list[Any]) -> Command:
        options = _options(ch)
        positional = _of(ch, FieldUse)
        path = positional[0] if positional else _option_field(options.get("path"), None, meta)
        output = _option_field(options.get("output"), None, meta) or path
        return self._command(meta, options=options, fields_read=[_option_field(options.get("input"), "_raw", meta)],
                             fields_written=[output] if output else [], writes_unknown=output is None)

    def lookup_name(self, meta: Any, ch: list[Token]) -> _Marker:
        return _Marker("table", unquote(str(ch[0])), meta.start_pos, meta.end_pos)

    def lookup_field(self, meta: Any, ch: list[FieldUse]) -> Rename:
        return Rename(ch[0], ch[1] if len(ch) > 1 else ch[0])

    def lookup_output(self, meta: Any, ch: list[Rename]) -> _Marker:
        return _Marker("output", list(ch), meta.start_pos, meta.end_pos)

    def lookup_outputnew(self, meta: Any, ch: list[Rename]) -> _Marker:
        return _Marker("outputnew", list(ch), meta.start_pos, meta.end_pos)

    def lookup_cmd(self, meta: Any, ch: list[Any]) -> Command:
        output = _marker(ch, "output") or _marker(ch, "outputnew")
        inputs = _of(ch, Rename)
        options = _options(ch)
        if output is not None:
            options[output.kind] = Option(output.kind, "true", False, output.start, output.end)
        return self._command(meta, target=_marker(ch, "table").value, options=options, renames=inputs,
                             fields_read=[r.target for r in inputs],
                             fields_written=[r.target for r in output.value] if output else [],
                             writes_unknown=output is None)

    def inputlookup_cmd(self, meta: Any, ch: list[Any]) -> Command:
        where = _marker(ch, "where")
        expr = where.value if where else None
        return self._command(meta, target=_marker(ch, "table").value, options=_options(ch), search=expr,
                             subsearches=_subsearches(expr), writes_unknown=True)

    def join_cmd(self, meta: Any, ch: list[Any]) -> Command:
        return self._command(meta, options=_options(ch), fields_read=_of(ch, FieldUse),
                             subsearches=[s.search for s in _of(ch, Subsearch)], writes_unknown=True)

    def append_cmd(self, meta: Any, ch: list[Any]) -> Command:
        return self._command(meta, options=_options(ch), subsearches=[s.search for s in _of(ch, Subsearch)],
                             writes_unknown=True)

    foreach_cmd = join_cmd

    def transaction_cmd(self, meta: Any, ch: list[Any]) -> Command:
        made = [FieldUse(n, meta.start_pos, meta.end_pos) for n in ("duration", "eventcount")]
        return self._command(meta, options=_options(ch), fields_read=_of(ch, FieldUse), fields_written=made)

    def fillnull_cmd(self, meta: Any, ch: list[Any]) -> Command:
        return self._command(meta, options=_options(ch), fields_written=_of(ch, FieldUse))

    def _in_place(self, meta: Any, ch: list[Any]) -> Command:
        fields = _of(ch, FieldUse)
        return self._command(meta, options=_options(ch), fields_read=fields, fields_written=fields)

    makemv_cmd = mvexpand_cmd = _in_place

    def iplocation_cmd(self, meta: Any, ch: list[Any]) -> Command:
        options = _options(ch)
        prefix = options["prefix"].text or "" if "prefix" in options else ""
        names = ["City", "Country", "Region", "lat", "lon"]
        if _truthy(options.get("allfields"), False):
            names += ["Continent", "MetroCode", "Timezone"]
        return self._command(meta, options=options, fields_read=_of(ch, FieldUse),
                             fields_written=[FieldUse(prefix + n, meta.start_pos, meta.end_pos) for n in names])

    # commands parsed generically ------------------------------------------------------------------

    def command_name(self, meta: Any, ch: list[Token]) -> str:
        return str(ch[0]).lower()

    def generic_word(self, meta: Any, ch: list[Token]) -> Arg:
        return Arg("word", str(ch[0]), meta.start_pos, meta.end_pos)

    def generic_string(self, meta: Any, ch: list[Token]) -> Arg:
        return Arg("string", unquote(str(ch[0])), meta.start_pos, meta.end_pos)

    def generic_option(self, meta: Any, ch: list[Token]) -> Arg:
        key, _eq, value = ch
        return Arg("option", unquote(str(value)), meta.start_pos, meta.end_pos, key=str(key).lower())

    def generic_cmd(self, meta: Any, ch: list[Any]) -> Command:
        args = [Arg("subsearch", self.text[a.start:a.end], a.start, a.end) if isinstance(a, Subsearch) else a
                for a in ch[1:]]
        options = {a.key: Option(a.key, a.text, False, a.start, a.end) for a in args if a.kind == "option" and a.key}
        return self._command(meta, name=ch[0], args=args, options=options, writes_unknown=True, modelled=False,
                             subsearches=[s.search for s in _of(ch, Subsearch)])


def _option_field(option: Option | None, default: str | None, meta: Any) -> FieldUse | None:
    if option is not None and option.text:
        return FieldUse(option.text, option.start, option.end)
    return FieldUse(default, meta.start_pos, meta.end_pos) if default else None


def _truthy(option: Option | None, default: bool) -> bool:
    if option is None or option.text is None:
        return default
    return option.text.lower() in ("t", "true", "1", "yes")


# ---------------------------------------------------------------------------------------------
# the interface


def parse(text: str) -> Search:
    """The typed tree of ``text``, an SPL search with its macros expanded; raise :class:`SplSyntaxError`."""
    if not text.strip():
        raise SplSyntaxError("the search is empty", line=1, col=1, offset=0, found="",
                             hint="write a search, e.g. index=main error | stats count by host")
    try:
        tree = parser().parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(text, e) from None
    try:
        return _Builder(text).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, RecursionError):
            raise SplSyntaxError("the search nests too deeply to parse", line=1, col=1, offset=0, found="",
                                 hint="use fewer nested brackets") from None
        raise
    except RecursionError:
        raise SplSyntaxError("the search nests too deeply to parse", line=1, col=1, offset=0, found="",
                             hint="use fewer nested brackets") from None


def commands(text: str, *, lenient: bool = False) -> list[str]:
    """The top-level command sequence (``search`` for the initial search), for the command-sequence metric.

    With ``lenient`` a search that does not parse still gets a sequence: the first word of each
    top-level ``|`` segment (outside quotes and brackets), so a metric can score a broken prediction.
    """
    try:
        return parse(text).names
    except SplSyntaxError:
        if not lenient:
            raise
    names = []
    for i, segment in enumerate(_segments(text)):
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", segment)
        if i == 0 and segment.strip():
            names.append("search")
        elif m:
            names.append(m.group(1).lower())
    return names


def _segments(text: str) -> list[str]:
    """Top-level ``|`` segments: a '|' inside quotes or brackets does not split."""
    from .macros import split_outside

    return split_outside(text, "|", "[", "]")
