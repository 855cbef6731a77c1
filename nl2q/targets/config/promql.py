"""PromQL inside a rule's ``expr``: parsed by promql-parser (the Rust parser Prometheus tools use), walked
for the metrics and labels it names; the decode grammar a model writes it in; the checks of a rule's
durations and alert templates.

promql-parser reports no positions, so spans come from a scan of the text: the tree says *what* is wrong,
the scan says *where*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ...check import suggestion
from ...grammar import VISIBLE_CHARS, alternatives, base_grammar, lark_literal, redefine, words_excluding
from ...types import Diagnostic, Severity, position

if TYPE_CHECKING:
    from .metrics import MetricSet


@dataclass(frozen=True)
class Selector:
    """One vector selector: ``metric{label op "value", ...}[range]``."""

    metric: str | None
    matchers: tuple[tuple[str, str, str], ...] = ()  # (label, op, value); op one of = != =~ !~
    range_s: float | None = None


class PromQLError(ValueError):
    """The expression does not parse; ``str(e)`` is the parser's message."""


_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def parse(expr: str) -> Any:
    import promql_parser

    try:
        return promql_parser.parse(expr)
    except ValueError as e:
        raise PromQLError(str(e)) from None


def selectors(expr: str | Any) -> list[Selector]:
    """The vector selectors of ``expr`` (text or a parsed tree), in the order they appear."""
    import promql_parser

    tree = parse(expr) if isinstance(expr, str) else expr
    found: list[Selector] = []

    def visit(node: Any) -> None:
        rng = None
        if isinstance(node, promql_parser.MatrixSelector):
            rng, node = node.range.total_seconds(), node.vector_selector
        elif not isinstance(node, promql_parser.VectorSelector):
            return
        matchers = tuple((m.name, _op(m.op), m.value) for m in node.matchers.matchers if m.name != "__name__")
        found.append(Selector(node.name, matchers, rng))

    promql_parser.walk(tree, pre_visit=lambda n: visit(n))
    return _dedupe_matrix(found)


def _op(op: Any) -> str:
    name = str(op).rsplit(".", 1)[-1]
    return _OPS.get(name.split("(")[0], name)


def _dedupe_matrix(found: list[Selector]) -> list[Selector]:
    """A walk visits a matrix selector and then its inner vector selector: keep the matrix one."""
    out: list[Selector] = []
    for s in found:
        if out and s.range_s is None and out[-1].range_s is not None and out[-1].metric == s.metric \
                and out[-1].matchers == s.matchers:
            continue
        out.append(s)
    return out


# ------------------------------------------------------------------ the decode grammar

# Words PromQL's lexer reads as keywords, in any case: never a bare metric or label name.
RESERVED = ("and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
            "offset", "start", "end", "inf", "nan", "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
            "topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio")
# A label may be named like a keyword (quantile, group) except the numbers; __name__ is the metric's own.
_RESERVED_LABELS = ("inf", "nan", "__name__")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NAME_LEN = 100
_REGEX_META = frozenset(".^$*+?()[]{}|/")


def promql_rules(metrics: Sequence[str], labels: Sequence[str], *, in_json: bool, decode: bool = False) -> str:
    """Lark rules deriving the PromQL of a rule's ``expr`` (entry rule ``promql``, every other name ``pq_``/``PQ_``)
    over the bound metric and label names, to embed in a host grammar. ``in_json``: the text is what stands
    inside a JSON string literal, so PromQL's backslashes and double quotes come escaped once more.

    Names that cannot be written bare (not identifiers, or reserved words) are left out; with none bound, any
    identifier that is not a reserved word is a name, and a selector may also pick metrics by a name pattern.

    ``decode``: the variant a model is held to, a subset of the rest: an alerting condition (``pq_alert`` in
    the grammar: an expression compared with a number, nesting bounded), keywords in lower case, one space
    where whitespace goes, plain numbers of at most nine digits (a small model loops in what is left open)."""
    written = _Written(in_json)
    bound_metrics = _bindable(metrics, _METRIC_NAME, RESERVED)
    bound_labels = _bindable(labels, _LABEL_NAME, _RESERVED_LABELS)
    definitions = {
        "PQ_METRIC": _literals(bound_metrics) or f"/{_free_name(True)}/",
        "PQ_LABEL": _literals(bound_labels) or f"/{_free_name(False)}/",
        **written.terminals(),
    }
    if bound_metrics:
        definitions["pq_selector"] = "PQ_METRIC | PQ_METRIC pq_matchers"
    if decode:
        definitions.update(DECODE)
    text = redefine(base_grammar("promql"), definitions)
    if decode:
        text = re.sub(r"^promql: .*$", "promql: pq_alert", text, count=1, flags=re.M)
    return re.sub(r'"([a-z_]+)"i\b', r'"\1"', text) if decode else text


DECODE = {"PQ_WS": '" "', "PQ_NUMBER": r"/[1-9][0-9]{0,8}(\.[0-9]{1,3})?|0(\.[0-9]{1,3})?/"}


def promql_grammar(metrics: Sequence[str], labels: Sequence[str]) -> str:
    """A standalone grammar of PromQL over the bound names (``start: promql``), for tests and tools."""
    return "start: promql\n" + promql_rules(metrics, labels, in_json=False)


def _bindable(names: Iterable[str], shape: re.Pattern[str], reserved: Sequence[str]) -> list[str]:
    return [n for n in dict.fromkeys(names) if shape.fullmatch(n) and n.lower() not in reserved]


def _literals(names: list[str]) -> str:
    return alternatives(lark_literal(n) for n in names)


@cache
def _free_name(metric: bool) -> str:
    """Any metric (or label) identifier except the reserved words, which PromQL would read as keywords."""
    first = _LETTERS + ("_:" if metric else "_")
    reserved = RESERVED if metric else _RESERVED_LABELS
    return words_excluding(reserved, _NAME_LEN, first=first, rest=first + "0123456789", fold_case=True)


class _Written:
    """Regexes for PromQL as it is written where it sits: bare, or inside a JSON string, where each of PromQL's
    backslashes and double quotes gains a backslash. Only string literals hold either."""

    def __init__(self, in_json: bool) -> None:
        self.in_json = in_json

    def lit(self, text: str) -> str:
        """A regex matching ``text`` (PromQL) as written."""
        if self.in_json:
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        # a backslash as a class: Lark's reading of regex literals turns an escaped backslash before a quote into
        # an escaped quote
        return "".join("[\\\\]" if c == "\\" else "\\" + c if c in _REGEX_META else c for c in text)

    def quoted(self, body: Callable[[str], str]) -> str:
        """A double- or single-quoted PromQL string whose content matches ``body(quote)``."""
        return "|".join(f"{self.lit(q)}{body(q)}{self.lit(q)}" for q in ('"', "'"))

    def text(self, quote: str) -> str:
        """Any visible text, the other quote, and the escapes Go's string syntax has for the backslash and this
        quote (promql-parser refuses ``\\'`` between double quotes)."""
        other = "'" if quote == '"' else '"'
        return f"(?:[{VISIBLE_CHARS}]|{self.lit(other)}|{self.lit(chr(92) * 2)}|{self.lit(chr(92) + quote)})*"

    def terminals(self) -> dict[str, str]:
        regex, name_regex = self._regexes()
        return {
            "PQ_STRING": f"/{self.quoted(self.text)}/",
            "PQ_REGEX": f"/{self.quoted(lambda _q: regex)}/",
            "PQ_NAME_STRING": f"/{self.quoted(lambda _q: '[a-zA-Z_:][a-zA-Z0-9_:]{0,99}')}/",
            "PQ_NAME_REGEX": f"/{self.quoted(lambda _q: name_regex)}/",
        }

    def _regexes(self) -> tuple[str, str]:
        """The regular expressions a matcher may hold: literals, ``.``, escapes, classes of ranges, one level of
        groups, one quantifier per atom, anchors at a branch's ends. Each compiles in Prometheus (RE2) and
        promql-parser (Rust), and a name pattern cannot match the empty name."""
        literal = r"[ !#%&,0-9:;<=>@A-Z_a-z~\/\-]"
        escaped = self.lit("\\\\") + r"[.+*?()|\[\]{}^$dsw]"
        klass = r"\[\^?(?:0\-9|a\-z|A\-Z|[ #%&,.0-9:;<=>@A-Z_a-z~\/])+\]"
        atom = rf"(?:{literal}|\.|{escaped}|{klass})"
        piece = rf"{atom}[*+?]?"
        group = rf"\((?:\?:)?(?:{piece})+(?:\|(?:{piece})+)*\)"
        any_piece = rf"(?:{atom}|{group})[*+?]?"
        branch = rf"\^?(?:{any_piece})+\$?"
        return rf"(?:\(\?i\))?(?:{branch}(?:\|{branch})*)?", rf"(?:[a-zA-Z_:]|\.\+)(?:{any_piece})*"


# ------------------------------------------------------------------ where names are written

_SCAN = re.compile(r"""
    (?P<string>"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|`[^`]*`?)
  | (?P<comment>\#[^\n]*)
  | (?P<word>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<number>[0-9.][0-9a-zA-Z_.]*(?:(?<=[eE])[+-][0-9]+)?)
  | (?P<space>\s+)
  | (?P<op>==|!=|=~|!~|>=|<=|.)
""", re.X | re.S)
_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})


@dataclass(frozen=True)
class _Token:
    kind: str  # string, word, number, op; words get a role: metric, label, function, keyword
    text: str
    start: int
    end: int
    role: str = ""


class _Scan:
    """The tokens of an expression, each word with the role its place gives it, to point at a name the tree
    named: the parser keeps no positions."""

    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = _roles([_Token(m.lastgroup or "op", m.group(), m.start(), m.end()) for m in _SCAN.finditer(expr)
                              if m.lastgroup not in ("space", "comment")])

    def find(self, role: str, name: str, after: str | None = None) -> tuple[int, int] | None:
        """The first ``name`` in ``role`` (after the first word ``after``, when given)."""
        start = 0
        if after is not None:
            start = next((i for i, t in enumerate(self.tokens) if t.kind == "word" and t.text == after), 0)
        hit = next((t for t in self.tokens[start:] if t.role == role and t.text == name), None)
        return (hit.start, hit.end) if hit else None

    def text_at(self, text: str, kind: str | None = None) -> tuple[int, int] | None:
        hit = next((t for t in self.tokens if t.text == text and kind in (None, t.kind)), None)
        return (hit.start, hit.end) if hit else None

    def unbalanced(self, opener: str) -> tuple[int, int] | None:
        """The first closer without an opener, else the last opener left open."""
        closer = {"(": ")", "{": "}", "[": "]"}[opener]
        open_at: list[_Token] = []
        for t in self.tokens:
            if t.text == opener:
                open_at.append(t)
            elif t.text == closer:
                if not open_at:
                    return t.start, t.end
                open_at.pop()
        return (open_at[-1].start, open_at[-1].end) if open_at else None

    def last(self) -> tuple[int, int]:
        return (self.tokens[-1].start, self.tokens[-1].end) if self.tokens else (0, len(self.expr))


def _roles(tokens: list[_Token]) -> list[_Token]:
    out: list[_Token] = []
    braces = in_list = list_next = False
    for i, t in enumerate(tokens):
        following = tokens[i + 1].text if i + 1 < len(tokens) else ""
        role = ""
        if t.kind == "word":
            low = t.text.lower()
            role = ("label" if braces or in_list else "keyword" if low in RESERVED
                    else "function" if following == "(" else "metric")
        out.append(_Token(t.kind, t.text, t.start, t.end, role))
        braces = t.text == "{" or (braces and t.text != "}")
        in_list = (list_next and t.text == "(") or (in_list and t.text != ")")
        list_next = t.kind == "word" and t.text.lower() in _LIST_KEYWORDS
    return out


# ------------------------------------------------------------------ checking an expression

FUNCTIONS = ("abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time",
             "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
             "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv", "exp", "floor",
             "histogram_quantile", "holt_winters", "hour", "idelta", "increase", "irate", "label_join",
             "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time", "max_over_time",
             "min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time", "quantile_over_time",
             "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_desc", "sqrt",
             "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp", "vector",
             "year")
_COUNTER_FUNCTIONS = frozenset({"rate", "irate", "increase"})
_Span = tuple[int, int] | None
_TYPE_HINTS = {"matrix": "give it a range vector: a selector with a range, e.g. x[5m]",
               "scalar": "give it a number or a scalar expression (scalar(...) turns a one-series vector into one)",
               "vector": "give it an instant vector: a selector without a range, or a function of one"}


def check_expr(expr: str, metrics: "MetricSet | None") -> list[Diagnostic]:
    """A rule's PromQL: syntax and types (promql-parser), the names against ``metrics`` (when bound), and the
    functions used against their data's nature. Offsets are into ``expr``."""
    try:
        tree = parse(expr)
    except PromQLError as e:
        return [_syntax(expr, str(e))]
    scan = _Scan(expr)
    named = [] if metrics is None else [*_unknown_metrics(tree, scan, metrics), *_unknown_labels(tree, scan, metrics),
                                        *_rate_on_gauge(tree, scan, metrics)]
    return named + _histogram_warnings(tree, scan, metrics)


def _diagnostic(expr: str, code: str, message: str, span: _Span, hint: str = "",
                severity: Severity = "error") -> Diagnostic:
    """A finding at ``span`` of ``expr``, or over all of it when the span is unknown."""
    start, end = span if span else (0, len(expr))
    line, col = position(expr, start)
    return Diagnostic(code, message, severity=severity, line=line, col=col, start=start, end=end, hint=hint)


def _nodes(tree: Any, kind: str) -> list[Any]:
    import promql_parser

    cls = getattr(promql_parser, kind)
    found: list[Any] = []
    promql_parser.walk(tree, pre_visit=lambda n: found.append(n) if isinstance(n, cls) else None)
    return found


def _unknown_metrics(tree: Any, scan: _Scan, metrics: "MetricSet") -> list[Diagnostic]:
    names = dict.fromkeys(s.metric for s in selectors(tree) if s.metric and metrics.info(s.metric) is None)
    fallback = f"use a metric of {metrics.source or 'the bound list'}"
    return [_diagnostic(scan.expr, "schema.unknown_metric", f"unknown metric '{n}'", scan.find("metric", n),
                        suggestion(n, sorted(metrics.names), "metric") or fallback) for n in names]


def _unknown_labels(tree: Any, scan: _Scan, metrics: "MetricSet") -> list[Diagnostic]:
    known = metrics.label_names
    if not known:
        return []
    known = known | {"__name__"} | _created_labels(tree)
    used = [m[0] for s in selectors(tree) for m in s.matchers] + _grouping_labels(tree)
    return [_diagnostic(scan.expr, "schema.unknown_label", f"unknown label '{n}'", scan.find("label", n),
                        suggestion(n, sorted(known - {"__name__"}), "label") or "use a label the metrics have")
            for n in dict.fromkeys(used) if n not in known]


def _grouping_labels(tree: Any) -> list[str]:
    labels = [label for n in _nodes(tree, "AggregateExpr") if n.modifier for label in n.modifier.labels]
    for n in _nodes(tree, "BinaryExpr"):
        modifier = n.modifier
        if modifier is not None:
            labels += [*(modifier.matching.labels if modifier.matching else ()), *(modifier.group_labels or ())]
    return labels


def _created_labels(tree: Any) -> set[str]:
    """Labels the expression itself makes: label_replace/label_join's destination, count_values's label."""
    made = {n.args[1].val for n in _nodes(tree, "Call") if n.func.name in ("label_replace", "label_join")}
    return made | {n.param.val for n in _nodes(tree, "AggregateExpr") if str(n.op) == "count_values"}


def _rate_on_gauge(tree: Any, scan: _Scan, metrics: "MetricSet") -> list[Diagnostic]:
    out = []
    for call in _nodes(tree, "Call"):
        if call.func.name not in _COUNTER_FUNCTIONS:
            continue
        for name in dict.fromkeys(s.metric for s in selectors(call.args[0]) if s.metric):
            info = metrics.info(name)
            if info is not None and info.type == "gauge":
                out.append(_diagnostic(
                    scan.expr, "promql.rate_on_gauge",
                    f"{call.func.name}() over '{name}', a gauge: it assumes a counter, and reads every drop as a reset",
                    scan.find("metric", name, after=call.func.name),
                    f"for a gauge use deriv({name}[5m]) or delta({name}[5m]), or avg_over_time/max_over_time",
                    severity="warning"))
    return out


def _histogram_warnings(tree: Any, scan: _Scan, metrics: "MetricSet | None") -> list[Diagnostic]:
    out = []
    for call in _nodes(tree, "Call"):
        if call.func.name != "histogram_quantile" or len(call.args) < 2:
            continue
        for name in dict.fromkeys(s.metric for s in selectors(call.args[1]) if s.metric):
            if "_bucket" not in name:
                out.append(_diagnostic(
                    scan.expr, "promql.histogram_not_bucket",
                    f"histogram_quantile() over '{name}', which is not a histogram's _bucket series",
                    scan.find("metric", name, after="histogram_quantile"), _bucket_hint(name, metrics),
                    severity="warning"))
    return out


def _bucket_hint(name: str, metrics: "MetricSet | None") -> str:
    info = metrics.info(name) if metrics else None
    if metrics is not None and metrics.info(name + "_bucket") is not None:
        return f"did you mean '{name}_bucket'? e.g. sum by (le) (rate({name}_bucket[5m]))"
    if info is not None and info.type == "summary":
        return f"'{name}' is a summary: select a precomputed quantile with {{quantile=\"0.99\"}} instead"
    return "pass the rate of a classic histogram's buckets, summed by le: sum by (le) (rate(<name>_bucket[5m]))"


# ------------------------------------------------------------------ syntax errors, located

_Locate = Callable[[_Scan, "re.Match[str]"], _Span]
_Hint = Callable[["re.Match[str]"], str]


def _word(group: int) -> _Locate:
    return lambda scan, m: scan.text_at(m.group(group), "word")


def _unbalanced(opener: str) -> _Locate:
    return lambda scan, m: scan.unbalanced(opener)


def _string_with(text: Callable[["re.Match[str]"], str]) -> _Locate:
    return lambda scan, m: next(((t.start, t.end) for t in scan.tokens if t.kind == "string" and text(m) in t.text),
                                None)


def _token(group: int) -> _Locate:
    return lambda scan, m: scan.text_at(m.group(group))


def _grammar_position(scan: _Scan, m: "re.Match[str]") -> _Span:
    """Where our grammar (free names) stops reading: for the parser's position-less 'invalid promql query'."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedInput

    try:
        _locator().parse(scan.expr)
    except UnexpectedCharacters as e:
        token = next((t for t in scan.tokens if t.start <= e.pos_in_stream < t.end), None)
        return (token.start, token.end) if token else (e.pos_in_stream, e.pos_in_stream + 1)
    except UnexpectedInput:
        return scan.last()
    return None


@cache
def _locator() -> Any:
    from lark import Lark

    return Lark(promql_grammar([], []), parser="earley")


def _fixed(text: str) -> _Hint:
    return lambda m: text


# (parser message, where it points, how to fix): the parser's messages carry no position
_SYNTAX_TABLE: tuple[tuple[str, _Locate, _Hint], ...] = (
    (r"unclosed left parenthesis", _unbalanced("("), _fixed("close it with ')'")),
    (r"unexpected right parenthesis", _unbalanced("("), _fixed("remove it, or open a '(' before it")),
    (r"unexpected right brace|unexpected end of input inside braces", _unbalanced("{"),
     _fixed("label matchers go in one pair of braces: metric{label=\"value\"}")),
    (r"unexpected right bracket|unexpected end of input inside brackets", _unbalanced("["),
     _fixed("a range goes in one pair of brackets: metric[5m]")),
    (r"unknown function with name '([^']*)'", _word(1),
     lambda m: suggestion(m.group(1), FUNCTIONS, "function") or "use a PromQL function (names are lower case)"),
    (r"unknown escape sequence '(.)'", _string_with(lambda m: "\\" + m.group(1)),
     _fixed("in a double-quoted string a regex escape needs two backslashes (\"\\\\.\"), or use a `raw` string")),
    (r"illegal regex for (.*)", _string_with(lambda m: m.group(1)),
     _fixed("the regex must compile: balance parentheses and brackets, escape a literal . * + ? ( ) [ with \\\\")),
    (r"(?:bad number or duration syntax|not a valid duration string): (\S+)", _token(1),
     _fixed("durations are a number and a unit (ms s m h d w y), largest unit first: 5m, 1h30m")),
    (r"duration must be greater than 0", lambda scan, m: scan.text_at("[") or scan.text_at("offset", "word"),
     _fixed("use a duration above zero, e.g. 5m")),
    (r"expected type (\w+) in call to function '([^']*)', got (\w+)", _word(2),
     lambda m: _TYPE_HINTS.get(m.group(1), "")),
    (r"expected type (\w+) in aggregation expression", lambda scan, m: None,
     _fixed("aggregate an instant vector: sum(rate(x[5m])), not a number or a range")),
    (r"expected \d+ argument\(s\) in call to '([^']*)'", _word(1), _fixed("give the function its arguments")),
    (r"set operator '(\w+)' not allowed in binary scalar expression", _word(1),
     _fixed("and/or/unless join two vectors: compare with a vector, e.g. x > 0 and y > 0")),
    (r"comparisons between scalars must use BOOL modifier", lambda scan, m: None,
     _fixed("write `== bool` to compare two scalars (or compare a vector)")),
    (r"bool modifier can only be used on comparison operators", lambda scan, m: scan.text_at("bool", "word"),
     _fixed("remove bool: it only goes after == != > < >= <=")),
    (r"vector matching only allowed between vectors", lambda scan, m: scan.text_at("on", "word")
     or scan.text_at("ignoring", "word"), _fixed("drop on(...)/ignoring(...): one side is a number")),
    (r"no grouping allowed for '(\w+)' operation", lambda scan, m: scan.text_at("group_left", "word")
     or scan.text_at("group_right", "word"), _fixed("and/or/unless take on(...)/ignoring(...) only")),
    (r"label '([^']*)' must not occur in ON and GROUP clause at once", lambda scan, m: scan.find("label", m.group(1)),
     _fixed("on(...) labels are kept already: list only other labels in group_left(...)/group_right(...)")),
    (r"offset modifier must be preceded by", lambda scan, m: scan.text_at("offset", "word"),
     _fixed("put offset right after a selector: rate(x[5m] offset 1h)")),
    (r"unexpected (?:identifier|character inside braces:) '([^']*)'", _token(1),
     _fixed("label matchers are label=\"value\", label!=\"value\", label=~\"regex\" or label!~\"regex\"")),
    (r"metric name must not be set twice", lambda scan, m: scan.text_at("__name__", "word"),
     _fixed("give the metric once: before the braces, or as __name__ inside them")),
    (r"", _grammar_position, _fixed("check the operators and operands around here")),
)
_SYNTAX = tuple((re.compile(p), locate, hint) for p, locate, hint in _SYNTAX_TABLE)


def _syntax(expr: str, message: str) -> Diagnostic:
    scan = _Scan(expr)
    for pattern, locate, hint in _SYNTAX:
        m = pattern.search(message)
        if m:
            return _diagnostic(expr, "promql.syntax", f"PromQL does not parse: {message}", locate(scan, m), hint(m))
    raise AssertionError("the last pattern matches every message")


# ------------------------------------------------------------------ durations

_DURATION = re.compile(r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?"
                       r"(?:([0-9]+)ms)?")
_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)


def check_duration(text: str) -> str | None:
    """Why ``text`` is not a Prometheus duration (``for``, ``keep_firing_for``, ``interval``), or None."""
    m = _DURATION.fullmatch(text)
    if text == "0":
        return None
    if not text or not m:
        return (f"{text!r} is not a Prometheus duration: write a number and a unit (ms s m h d w y), largest unit "
                "first, e.g. 30s, 5m, 1h30m")
    total = sum(int(n) * unit for n, unit in zip(m.groups(), _UNIT_MS) if n)
    if total * 1_000_000 >= 2 ** 63:
        return f"{text!r} is too long a duration (at most about 292 years)"
    return None


# ------------------------------------------------------------------ alert templates

# Prometheus's template functions (2.x) and Go's builtins; the keywords are the template language's own
TEMPLATE_FUNCTIONS = frozenset({
    "humanize", "humanize1024", "humanizeDuration", "humanizePercentage", "humanizeTimestamp", "printf", "title",
    "toUpper", "toLower", "reReplaceAll", "match", "label", "value", "first", "query", "strvalue", "args",
    "safeHtml", "pathPrefix", "tableLink", "graphLink", "externalURL", "stripPort", "stripDomain", "toTime",
    "parseDuration", "sortByLabel",
    "and", "or", "not", "len", "index", "slice", "eq", "ne", "lt", "le", "gt", "ge", "print", "println", "html",
    "js", "urlquery", "call"})
_TEMPLATE_KEYWORDS = frozenset({"if", "else", "end", "range", "with", "define", "template", "block", "nil", "true",
                                "false", "break", "continue"})
_OPENS_BLOCK = frozenset({"if", "range", "with", "define", "block"})
TEMPLATE_VARIABLES = frozenset({"$", "$labels", "$value", "$externalLabels", "$externalURL"})
_ACTION = re.compile(r"""
    (?P<string>"(?:[^"\\\n]|\\.)*"|`[^`]*`|'(?:[^'\\\n]|\\.)+')
  | (?P<comment>/\*.*?\*/)
  | (?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>[0-9][0-9a-zA-Z_.]*)
  | (?P<close>-?\}\})
  | (?P<declare>:=)
  | (?P<space>\s+)
  | (?P<other>.)
""", re.X | re.S)


@dataclass
class _Template:
    """The state of one template's scan: the variables declared so far and the blocks left open."""

    text: str
    labels: set[str] | None
    declared: set[str]
    blocks: list[tuple[str, int, int]]
    found: list[Diagnostic]

    def report(self, code: str, message: str, start: int, end: int, hint: str, severity: Severity = "error") -> None:
        self.found.append(_diagnostic(self.text, code, message, (start, end), hint, severity))


def check_template(text: str, labels: set[str] | None) -> list[Diagnostic]:
    """An alert's label or annotation template (Go templates, Prometheus's functions and variables): unbalanced
    ``{{ }}``, blocks left open, unknown variables and functions; ``$labels.x`` for an ``x`` not in ``labels``
    (when given) is a warning, since the series may not carry it."""
    state = _Template(text, labels, set(TEMPLATE_VARIABLES), [], [])
    pos = 0
    while (opening := text.find("{{", pos)) >= 0 or text.find("}}", pos) >= 0:
        stray = text.find("}}", pos)
        if stray >= 0 and (opening < 0 or stray < opening):
            state.report("template.syntax", "'}}' without an opening '{{' (it is printed as text)", stray, stray + 2,
                         "write {{ before it, or drop it", "warning")
            pos = stray + 2
            continue
        closed = _action(state, opening)
        if closed is None:
            state.report("template.syntax", "'{{' is never closed by '}}'", opening, opening + 2,
                         "close the action with }}, e.g. {{ $labels.instance }}")
            break
        pos = closed
    for keyword, start, end in state.blocks:
        state.report("template.syntax", f"{{{{ {keyword} }}}} is never closed by {{{{ end }}}}", start, end,
                     f"add {{{{ end }}}} where the {keyword} block ends")
    return state.found


def _action(state: _Template, opening: int) -> int | None:
    """Check the action opening at ``opening``; where its ``}}`` ends, or None when it has none."""
    tokens: list[re.Match[str]] = []
    for m in _ACTION.finditer(state.text, opening + 2):
        if m.lastgroup == "close":
            _check_action(state, tokens, opening)
            return m.end()
        if m.lastgroup not in ("space", "comment"):
            tokens.append(m)
    return None


def _check_action(state: _Template, tokens: list["re.Match[str]"], opening: int) -> None:
    if tokens and tokens[0].group() == "-":
        tokens = tokens[1:]
    if any(t.group() == ":=" for t in tokens):
        state.declared |= {t.group() for t in tokens if t.lastgroup == "variable"}
    first = tokens[0].group() if tokens and tokens[0].lastgroup == "word" else ""
    _blocks(state, first, opening, tokens[0].end() if tokens else opening + 2)
    for t in tokens:
        _TEMPLATE_TOKEN_CHECKS.get(t.lastgroup or "", _no_check)(state, t)


def _blocks(state: _Template, first: str, start: int, end: int) -> None:
    if first in _OPENS_BLOCK:
        state.blocks.append((first, start, end))
    elif first in ("end", "else") and not state.blocks:
        state.report("template.syntax", f"{{{{ {first} }}}} without an open if/range/with block", start, end,
                     "remove it, or open the block it belongs to")
    elif first == "end":
        state.blocks.pop()


def _check_variable(state: _Template, t: "re.Match[str]") -> None:
    root, _, path = t.group().partition(".")
    if root not in state.declared:
        state.report("template.unknown_variable", f"unknown variable '{root}'", t.start(), t.start() + len(root),
                     suggestion(root, sorted(state.declared), "variable")
                     or "alert templates define $labels, $value, $externalLabels and $externalURL")
    elif root == "$labels" and path:
        _check_label(state, path.split(".")[0], t.start() + len(root) + 1)


def _check_field(state: _Template, t: "re.Match[str]") -> None:
    """``.Labels.x`` is the alert's label only where ``.`` is the alert (range and with rebind it)."""
    parts = t.group().split(".")
    rebound = any(keyword in ("range", "with") for keyword, _, _ in state.blocks)
    if len(parts) > 2 and parts[1] == "Labels" and not rebound:
        _check_label(state, parts[2], t.start() + len(".Labels."))


def _check_label(state: _Template, label: str, start: int) -> None:
    if state.labels is not None and label not in state.labels:
        state.report("template.unknown_label", f"'{label}' is not a label of this rule's series",
                     start, start + len(label),
                     suggestion(label, sorted(state.labels), "label") or "it renders as an empty string", "warning")


def _check_word(state: _Template, t: "re.Match[str]") -> None:
    name = t.group()
    if name not in TEMPLATE_FUNCTIONS and name not in _TEMPLATE_KEYWORDS:
        state.report("template.unknown_function", f"unknown template function '{name}'", t.start(), t.end(),
                     suggestion(name, sorted(TEMPLATE_FUNCTIONS), "function")
                     or "Prometheus templates have humanize, printf, toUpper, reReplaceAll, ...")


def _check_other(state: _Template, t: "re.Match[str]") -> None:
    if t.group() in "\"'`":
        state.report("template.syntax", "unterminated string in a template action", t.start(), t.end(),
                     "close the string with the same quote")


def _no_check(state: _Template, t: "re.Match[str]") -> None:
    return None


_TEMPLATE_TOKEN_CHECKS: dict[str, Callable[[_Template, "re.Match[str]"], None]] = {
    "variable": _check_variable, "field": _check_field, "word": _check_word, "other": _check_other}


__all__ = ["FUNCTIONS", "PromQLError", "RESERVED", "Selector", "TEMPLATE_FUNCTIONS", "TEMPLATE_VARIABLES",
           "check_duration", "check_expr", "check_template", "parse", "promql_grammar", "promql_rules", "selectors"]
