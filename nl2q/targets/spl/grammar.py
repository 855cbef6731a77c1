"""The decode variant of ``grammars/spl.lark``, specialised with the bound schema's names.

The rules stay the file's; the decode variant narrows what a model may start with and where it may
wander: a search starts from events (a bound index, optionally one of its sourcetypes, or a bound
macro that selects events, then a time range) or from a bound datamodel (``| tstats``); spacing is
one space (a line break only before ``|``); commands with nothing bound to read (lookups,
datamodels) or not modelled are left out, so every token goes to the question.
"""

from __future__ import annotations

import re
import weakref
from functools import cache

from ...grammar import VISIBLE_CHARS, alternatives, base_grammar, lark_literal, redefine, words_excluding
from .macros import Macro, Macros
from .profile import SplProfile
from .schema import SplSchema

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_COUNTS = ("count", "c")  # the stats functions that take no field
_KEYWORDS = ["AND", "OR", "NOT", "IN", "TERM", "CASE", "by", "as", "where", "from", "over", "span"]
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_VALUE = re.compile(r"[A-Za-z0-9_.:@/{}+-]{1,80}")
# fields every search may name in its terms although no event table column holds them
_SCOPE_FIELDS = ("index", "sourcetype", "_time", "_raw")
_UNIT = "(s|m|h|d|w|mon|y)"
EARLIEST = rf"-[1-9][0-9]{{0,3}}{_UNIT}(@{_UNIT})?|@{_UNIT}|0"
LATEST = rf"{EARLIEST}|now"

# convert is left out: its functions are not stats functions, and the bound macros (ctime) cover its use
_COMMANDS = ["search_cmd", "where_cmd", "eval_cmd", "stats_cmd", "timechart_cmd", "chart_cmd", "table_cmd",
             "fields_cmd", "rename_cmd", "sort_cmd", "head_cmd", "dedup_cmd", "top_cmd", "bin_cmd", "rex_cmd",
             "regex_cmd", "spath_cmd", "join_cmd", "append_cmd", "foreach_cmd", "transaction_cmd", "fillnull_cmd",
             "makemv_cmd", "mvexpand_cmd", "iplocation_cmd"]
# the argument shapes that hold options: each command gets its own copy, with only the options it takes
_WITH_OPTIONS = ("option", "_fo_args", "_stats_items", "sort_item", "by_clause")
_COMMAND_RULE = re.compile(r'^(\w+_cmd): \(?("[a-z]+"(?: \| "[a-z]+")*)\)?(.*)$', re.M)


@cache
def new_field_regex() -> str:
    """A name a command creates: a lower-case start (``firstTime``, ``src_count``), never one of the grammar's
    words (``sort -num x`` would read ``num`` as the start of ``num(x)``)."""
    words = set(re.findall(r'"([a-z][a-z_]*)"', base_grammar("spl")))
    return words_excluding(sorted(words), 31, first=_LETTERS, rest=_LETTERS + _LETTERS.upper() + "0123456789_")


_USES: "weakref.WeakKeyDictionary[Macros, tuple[list[Macro], list[Macro]]]" = weakref.WeakKeyDictionary()


def macro_uses(schema: SplSchema) -> tuple[list[Macro], list[Macro]]:
    """The bound macros a search may start with (they expand to a plain search) and those it may pipe into
    (they expand to modelled commands only), by parsing each definition once per macro set; a macro that is
    neither is not offered."""
    if schema.macros is None:
        return [], []
    if schema.macros not in _USES:
        _USES[schema.macros] = _classify(schema.macros)
    return _USES[schema.macros]


def _classify(macros: Macros) -> tuple[list[Macro], list[Macro]]:
    from .parse import SplSyntaxError, parse

    starts: list[Macro] = []
    piped: list[Macro] = []
    for m in macros:
        body = m.definition
        for a in m.arguments:
            body = body.replace(f"${a}$", "x")
        if "`" in body or not body.strip():
            continue
        try:
            if all(c.modelled for c in parse("x | " + body).commands[1:]):
                piped.append(m)
                continue
        except SplSyntaxError:
            pass
        try:
            head = parse(body).commands
            if len(head) == 1 and head[0].implicit and head[0].search is not None:
                starts.append(m)
        except SplSyntaxError:
            pass
    return starts, piped


def _call(m: Macro) -> str:
    if not m.arguments:
        return lark_literal(f"`{m.name}`")
    return lark_literal(f"`{m.name}(") + ' MACRO_ARG' + ' "," MACRO_ARG' * (len(m.arguments) - 1) + ' ")`"'


def _command_options(text: str, profile: SplProfile) -> str:
    """Each command with its own copies of the option-holding shapes, so an option appears only where the profile
    says the command takes it, and an aggregating command has at least one aggregation. A rule naming several
    commands (stats, eventstats, streamstats) becomes one alternative per command."""
    copies: list[str] = []

    def variant(name: str, rest: str) -> str:
        kept = list(profile.command_options.get(name, []))
        if not kept:
            rest = rest.replace(" (_WS option)*", "")
        r = f"__{name}"
        for x in _WITH_OPTIONS:
            rest = re.sub(rf"\b{x}\b", f"{x}{r}", rest)
        before = f"(option{r} _WS)* " if kept else ""
        after = f" (_WS option{r})*" if kept else ""
        copies.extend([  # options stand apart, spaced: `limit=5,host` would read as limit="5,host"
            f"option{r}: option_key{r} EQ option_value",
            f"option_key{r}: " + (alternatives(lark_literal(k) for k in kept) or '"none_taken"'),
            f"_fo_args{r}: {before}field (_list_sep field)*{after}",
            f"_stats_items{r}: {before}agg (_list_sep agg)*",
            f"sort_item{r}: sort_key",
            f'by_clause{r}: "by" _WS _fo_args{r}',
        ])
        return f"{lark_literal(name)}{rest}"

    def one(m: re.Match[str]) -> str:
        rule, names, rest = m.group(1), re.findall(r'"([a-z]+)"', m.group(2)), m.group(3)
        if not any(re.search(rf"\b{x}\b", rest) for x in _WITH_OPTIONS):
            return m.group(0)
        return f"{rule}: " + " | ".join(variant(n, rest) for n in names)

    return _COMMAND_RULE.sub(one, text) + "\n" + "\n".join(copies)


def _calls(profile: SplProfile) -> str:
    """Each eval function with as many arguments as it takes."""
    out = []
    for name, (least, most) in sorted(profile.eval_arity.items()):
        args = " _COMMA ".join(["expr"] * least) if least else ""
        more = " (_COMMA expr)*" if most < 0 else " (_COMMA expr)?" * (most - least)
        if least == 0 and most != 0:
            body = f"(expr{' (_COMMA expr)*' if most < 0 else ' (_COMMA expr)?' * (most - 1)})?"
        else:
            body = args + (more if least else "")
        out.append(f"{lark_literal(name)} _LP {body} _RP".replace("_LP  _RP", "_LP _RP"))
    return alternatives(out)


def specialise_spl(schema: SplSchema, profile: SplProfile) -> str:
    """Fields, functions and aggregations as alternatives of the bound names. A field a command created
    (``count``, ``stats ... as n``) is a lower-case name: the grammar cannot track the pipeline, the
    checker does (and backtracking vetoes a name nothing created)."""
    def lits(xs: list[str]) -> str:
        return alternatives(lark_literal(x) for x in xs)

    names = sorted(schema.fields)
    quoted = [n if _PLAIN.fullmatch(n) else f"'{n}'" for n in names]
    listed = [n for n in names if _PLAIN.fullmatch(n)]
    searched = [n for n in listed if n not in _SCOPE_FIELDS]
    aggs = [f for f in profile.stats_functions if f not in _COUNTS] + ["p50", "p90", "p95", "p99", "perc95"]

    def value(v: str) -> str:
        return lark_literal(v if _VALUE.fullmatch(v) else '"' + v.replace('"', '\\"') + '"')

    def scoped(index: str) -> str:
        sourcetypes = schema.by_index.get(index, schema.sourcetypes) if schema.by_index else schema.sourcetypes
        rest = f' (" sourcetype=" ({alternatives(value(s) for s in sourcetypes)}))?' if sourcetypes else ""
        return f'"index=" {value(index)}{rest}'

    starts, piped = macro_uses(schema)
    scope = "(" + alternatives([scoped(i) for i in schema.indexes or ([] if starts else ["main"])]
                               + [_call(m) for m in starts]) + ")"
    scope += ' " earliest=" EARLIEST (" latest=" LATEST)?'
    first = ["implicit_search"]
    if schema.datamodels:
        first.append("_PIPE tstats_cmd")
    commands = _COMMANDS + (["lookup_cmd"] if schema.lookups else []) + (["macro_call"] if piped else [])
    text = redefine(base_grammar("spl"), {
        "_first_command": alternatives(first),
        "implicit_search": "search_scope (_WS search_expr)?",
        "_command": alternatives(commands),
        "STRING": f"/\"([{VISIBLE_CHARS}']|\\\\[\"\\\\])*\"/",
        "RWS": '" "',
        "OWS": '" "?',
        "_PIPE": '/\\n?/ OWS "|" OWS',
        "_END": "/\\n```/",  # on its own line: a macro call's closing ` must not run into the fence
        "search_field": "SEARCH_FIELD",
        # a sign is its own word (`fields - x`) or sticks to the field (`sort -count`): no spaces of its own, or
        # the greedy punctuation lexeme would take the space the next word needs
        "fields_sign": '"+" | "-"',
        "sort_sign": '"-" | "+"',
        "subpipeline": "(" + alternatives(c for c in commands if c != "search_cmd") + ") (_PIPE _command)*",
        "call": _calls(profile),
        # count alone counts events; every other function needs its field: `dc(user)`, not `dc`
        "agg": '("count" | "c") (_LP agg_arg? _RP)? (_WS agg_alias)? | agg_name _LP agg_arg _RP (_WS agg_alias)?',
    })
    text = _command_options(text, profile)
    text = re.sub(r"^_modelled_command:.*?(?=^\S)", "", text, flags=re.M | re.S)
    return text + "\n" + "\n".join([
        "search_scope: " + scope,
        "EARLIEST: /" + EARLIEST + "/",
        "LATEST: /" + LATEST + "/",
        # the bound names are one lexeme each slot (a terminal), not a rule of a thousand alternatives: the
        # Earley parser computing the mask would carry an item per alternative wherever a field may come
        "field: FIELD | new_field",
        "eval_field: EVAL_FIELD | new_field",
        "new_field: NEW_FIELD",
        "FIELD: " + lits(listed or ["_time"]),
        "EVAL_FIELD: " + lits(quoted or ["_time"]),
        "SEARCH_FIELD: " + lits(searched or ["host"]),
        "NEW_FIELD: /" + new_field_regex() + "/",
        "function_name: " + lits(sorted(profile.eval_arity)),
        "agg_name: " + lits(aggs),
        "command_name: " + lits(["makeresults"]),
        "lookup_name: " + lits(schema.lookups or ["none_bound"]),
        "datamodel_name: " + lits(schema.datamodels or ["none_bound"]),
        "macro_call: " + (alternatives(_call(m) for m in piped) or '"`none_bound`"'),
        "MACRO_ARG: /[A-Za-z_][A-Za-z0-9_.]{0,40}/",
        "WORD: /" + words_excluding(_KEYWORDS, 30, first=_LETTERS + _LETTERS.upper() + "*",
                                    rest=_LETTERS + _LETTERS.upper() + "0123456789_*.:-") + "/",
    ]) + "\n"
