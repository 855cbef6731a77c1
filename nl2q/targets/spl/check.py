"""The SPL checker: the parse, the policy on the tree (commands that write or send, a time range), the
names against the schema (indexes, sourcetypes, fields as they flow through the pipeline), and
Splunk's semantic traps as warnings."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import get_args

from ...check import hidden_characters, input_bounds, lookalike_characters, suggestion
from ...policy import Policy
from ...types import Diagnostic, position
from .macros import Macros
from .profile import SplProfile
from .schema import SplSchema
from .tree import (BoolOp, Call, Command, Compare, Expr, FieldUse, InList, Not, Search, expr_nodes,
                   search_nodes)

# fields every event has, or that a search names without them being event fields
DEFAULT_FIELDS = frozenset({"_time", "_raw", "index", "sourcetype", "source", "host", "linecount", "splunk_server",
                            "eventtype", "tag", "punct", "timestartpos", "timeendpos", "date_hour", "date_mday",
                            "date_minute", "date_month", "date_second", "date_wday", "date_year", "date_zone",
                            "_indextime", "_cd", "_bkt", "_serial", "_si", "_sourcetype"})
TIME_FIELDS = frozenset({"earliest", "latest", "_index_earliest", "_index_latest", "starttime", "endtime",
                         "starttimeu", "endtimeu", "earliest_time", "latest_time"})

REASONS = {
    "delete": "deletes events from an index", "collect": "writes results into an index",
    "mcollect": "writes metrics into an index", "meventcollect": "writes metrics into an index",
    "tscollect": "writes a tsidx namespace", "outputlookup": "writes a lookup table", "outputcsv": "writes a CSV file",
    "sendemail": "sends results by email", "sendalert": "triggers an alert action", "sendresults": "sends results by email",
    "script": "runs a script", "run": "runs a script", "runshellscript": "runs a shell script",
    "map": "runs a search per result row", "dump": "writes the index to files",
    "rest": "reads Splunk's REST API (configuration, users, secrets)",
}


@dataclass
class SplCheck:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    search: Search | None = None
    text: str = ""  # the checked text: macros expanded


def check_spl(text: str, schema: SplSchema, profile: SplProfile, policy: Policy,
              macros: Macros | None = None) -> SplCheck:
    from .parse import SplSyntaxError, parse

    out = SplCheck(text=text)
    bounds = input_bounds(text) + hidden_characters(text) + lookalike_characters(text, _TOKEN, ('"', "```"))
    if bounds:
        out.diagnostics = bounds
        return out
    if macros is not None and "`" in text:
        from .macros import MacroError

        try:
            out.text = text = macros.expand(text)
        except MacroError as exc:
            out.diagnostics = [Diagnostic("schema.unknown_macro", exc.message, hint=exc.hint)]
            return out
    try:
        search = parse(text)
    except SplSyntaxError as exc:
        out.diagnostics = [exc.diagnostic()]
        return out
    out.search = search
    every = list(_all_commands(search))
    out.diagnostics += policy_diagnostics(text, search, every, profile, policy)
    out.diagnostics += usage_diagnostics(text, every, profile)
    out.diagnostics += name_diagnostics(text, search, schema)
    out.diagnostics += trap_diagnostics(text, every)
    return out


def _all_commands(search: Search):
    for c in search.commands:
        yield c
        for sub in c.subsearches:
            yield from _all_commands(sub)


def _at(text: str, start: int, end: int) -> dict[str, int]:
    line, col = position(text, start)
    return {"line": line, "col": col, "start": start, "end": max(end, start + 1)}


def policy_diagnostics(text: str, search: Search, every: list[Command], profile: SplProfile,
                       policy: Policy) -> list[Diagnostic]:
    """Commands that write, send or run are refused; ``rest`` needs allow_writes; a search needs a time range."""
    out = []
    refused = set(profile.refused_commands)
    guarded = set(profile.guarded_commands)
    for c in every:
        why = REASONS.get(c.name, "changes state outside the search")
        if c.name in refused:
            out.append(Diagnostic("policy.refused_command", f"`{c.name}` {why}; nl2q never runs it",
                                  hint="answer with a search that only reads events", stage="policy",
                                  **_at(text, c.start, c.start + len(c.name))))
        elif c.name in guarded and not policy.allow_writes:
            out.append(Diagnostic("policy.guarded_command", f"`{c.name}` {why}; the policy does not allow it",
                                  hint="search the events instead, or allow it (allow_writes=True)", stage="policy",
                                  **_at(text, c.start, c.end)))
    first = search.commands[0] if search.commands else None
    if first is not None and first.name != "search" and first.name not in profile.generating_commands:
        out.append(Diagnostic("syntax.not_generating", f"a search cannot start with `| {first.name}`: it needs "
                              "events to work on", hint="start with index=... (and a time range), or a generating "
                              f"command ({', '.join(profile.generating_commands[:5])})", **_at(text, first.start,
                                                                                               first.end)))
    if (profile.require_time_range and policy.require_time_range and first is not None
            and first.name == "search" and not _has_time_range(first)):
        out.append(Diagnostic("policy.time_range", "the search has no time range: it would scan every event ever "
                              "indexed", hint="add earliest= (e.g. earliest=-24h) to the first search",
                              stage="policy", **_at(text, first.start, first.end)))
    return out


def _has_time_range(c: Command) -> bool:
    if any(k in TIME_FIELDS for k in c.options):
        return True
    return c.search is not None and any(isinstance(n, Compare) and n.field.name in TIME_FIELDS
                                        for n in search_nodes(c.search, under_not=False))


_EXPR_TYPES = get_args(Expr)
# quoted strings and ``` comments (where any character is only text), and the words between them
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|```.*?(?:```|$)|[^\s"`]+|`', re.S)
_NO_ARGUMENT = frozenset({"count", "c", "sparkline"})  # stats functions that may stand alone
_PERCENTILE = re.compile(r"(?:p|perc|exactperc|upperperc)\d{1,2}(?:\.\d+)?")
# options the parser records itself (lookup's OUTPUT/OUTPUTNEW), not written as key=value
_RECORDED = frozenset({"output", "outputnew"})


def usage_diagnostics(text: str, every: list[Command], profile: SplProfile) -> list[Diagnostic]:
    """How commands and functions are called: options a command does not take, an aggregating command without
    an aggregation, functions this deployment lacks or called with the wrong arguments."""
    out = []
    for c in every:
        if c.modelled:
            out += _options(text, c, profile) + _aggregations(text, c, profile) + _calls(text, c, profile)
    return out


def _options(text: str, c: Command, profile: SplProfile) -> list[Diagnostic]:
    allowed = profile.command_options.get(c.name)
    if allowed is None:
        return []
    out = []
    for key, opt in c.options.items():
        if key not in allowed and key not in _RECORDED:
            takes = f"; it takes {', '.join(allowed)}" if allowed else "; it takes no key=value options"
            out.append(Diagnostic("syntax.unknown_option", f"`{c.name}` has no option `{key}`{takes}",
                                  hint=suggestion(key, allowed, "option") if allowed else
                                  f"remove {key}={opt.text or '...'}", **_at(text, opt.start, opt.end)))
    return out


def _aggregations(text: str, c: Command, profile: SplProfile) -> list[Diagnostic]:
    out = []
    # `stats by host` reads "by" and "host" as functions: nothing comes before the by clause
    aggregations = list(itertools.takewhile(lambda a: a.func.lower() != "by", c.aggregations))
    if c.name in profile.aggregating_commands and not aggregations:
        out.append(Diagnostic("syntax.no_aggregation", f"`{c.name}` computes nothing: it needs a function such as "
                              "count, dc(field) or avg(field)", hint=f"e.g. `{c.name} count by host`",
                              **_at(text, c.start, c.end)))
    functions = profile.convert_functions if c.name == "convert" else profile.stats_functions
    for agg in aggregations:
        func = agg.func.lower()
        if func not in functions and not (c.name != "convert" and _PERCENTILE.fullmatch(func)):
            out.append(Diagnostic("syntax.unknown_function", f"`{agg.func}` is not a {c.name} function",
                                  hint=suggestion(func, list(functions), "function"), **_at(text, agg.start, agg.end)))
        elif agg.field is None and agg.expr is None and func not in _NO_ARGUMENT:
            out.append(Diagnostic("syntax.arity", f"`{agg.func}` needs a field to work on",
                                  hint=f"write {agg.func}(field), e.g. {agg.func}(user)",
                                  **_at(text, agg.start, agg.end)))
    return out


def _calls(text: str, c: Command, profile: SplProfile) -> list[Diagnostic]:
    out = []
    for call in (n for e in _expressions(c) for n in expr_nodes(e) if isinstance(n, Call)):
        arity = profile.eval_arity.get(call.name.lower())
        if arity is None:
            out.append(Diagnostic("syntax.unknown_function", f"`{call.name}` is not an eval function",
                                  hint=suggestion(call.name.lower(), sorted(profile.eval_arity), "function"),
                                  **_at(text, call.start, call.end)))
            continue
        least, most = arity
        n = len(call.args)
        if n < least or most >= 0 and n > most:
            want = str(least) if least == most else f"{least} or more" if most < 0 else f"{least} to {most}"
            out.append(Diagnostic("syntax.arity", f"`{call.name}` takes {want} argument{'s' if want != '1' else ''}, "
                                  f"not {n}", hint=f"call it with {want}", **_at(text, call.start, call.end)))
    return out


def _expressions(c: Command) -> list[Expr]:
    exprs = [c.where] if c.where is not None else []
    exprs += [a.expr for a in c.assignments]
    exprs += [a.expr for a in c.aggregations if a.expr is not None]
    exprs += [o.value for o in c.options.values() if isinstance(o.value, _EXPR_TYPES)]
    return exprs


def name_diagnostics(text: str, search: Search, schema: SplSchema) -> list[Diagnostic]:
    """Unknown index, sourcetype and field names, with the field set following the pipeline: a field made
    by eval/rex/stats/rename counts from there on, one dropped by fields/table/stats no longer does."""
    out: list[Diagnostic] = []
    known = set(schema.fields) | DEFAULT_FIELDS
    available: set[str] | None = set(known)  # None: the command before made fields this tree cannot name
    for i, c in enumerate(search.commands):
        if c.search is not None:
            out += _values(text, c, schema)
        if i == 0 and c.name != "search":
            available = None  # a generating command (tstats, inputlookup, rest): its own fields
        if available is not None:
            for use in _reads(c):
                if use.is_pattern or use.name in available or use.name in TIME_FIELDS or use.name in c.options:
                    continue
                pool = sorted(available - DEFAULT_FIELDS) + ["_time", "host", "source", "sourcetype"]
                gone = use.name in known and use.name not in available
                out.append(Diagnostic(
                    "schema.unknown_field",
                    f"field '{use.name}' " + ("was dropped by an earlier command" if gone else "does not exist here"),
                    hint=("keep it in the earlier fields/table/stats, or read it before" if gone
                          else suggestion(use.name, pool, "field")), **_at(text, use.start, use.end)))
        available = _after(c, available)
    return out


def _reads(c: Command) -> list[FieldUse]:
    reads = list(c.fields_read)
    if c.search is not None:
        reads += [n.field for n in search_nodes(c.search) if isinstance(n, (Compare, InList))]
    seen, out = set(), []
    for u in reads:
        if (u.name, u.start) not in seen:
            seen.add((u.name, u.start))
            out.append(u)
    return out


def _after(c: Command, before: set[str] | None) -> set[str] | None:
    if before is None or c.writes_unknown:
        return None
    written = {u.name for u in c.fields_written if not u.is_pattern}
    if c.keeps is not None:
        patterns = [u for u in c.keeps if u.is_pattern]
        kept = before & {u.name for u in c.keeps} | {f for f in before if any(u.matches(f) for u in patterns)}
        return kept | written | ({"_raw", "_time"} & before if c.name == "fields" else set())
    patterns = [u for u in c.fields_dropped if u.is_pattern]
    dropped = before & {u.name for u in c.fields_dropped} | {f for f in before if any(u.matches(f) for u in patterns)}
    return (before - dropped) | written


def _values(text: str, c: Command, schema: SplSchema) -> list[Diagnostic]:
    out = []
    lists = {"index": schema.indexes, "sourcetype": schema.sourcetypes}
    for n in search_nodes(c.search):  # type: ignore[arg-type]
        if isinstance(n, Compare) and n.field.name in lists and n.op == "=":
            values = [n.value]
        elif isinstance(n, InList) and n.field.name in lists:
            values = n.values
        else:
            continue
        names = lists[n.field.name]
        if not names:
            continue
        for v in values:
            if "*" in v or v.lower() in {x.lower() for x in names}:
                continue
            out.append(Diagnostic(f"schema.unknown_{n.field.name}", f"{n.field.name} '{v}' does not exist",
                                  hint=suggestion(v, names, n.field.name), **_at(text, n.start, n.end)))
    return out


def trap_diagnostics(text: str, every: list[Command]) -> list[Diagnostic]:
    """Where SPL means something other than it seems: warnings a person (and the model) should read."""
    out = []
    for c in every:
        if c.name == "sort" and c.count is None:
            out.append(Diagnostic("semantics.sort_limit", "sort keeps only the first 10,000 rows",
                                  severity="warning", hint="write `sort 0 ...` to keep every row", **_at(text, c.start, c.end)))
        if c.name == "join" and "max" not in c.options:
            out.append(Diagnostic("semantics.join_max", "join keeps one match per row (max=1) unless told otherwise",
                                  severity="warning", hint="add max=0 for every match, or use stats to combine",
                                  **_at(text, c.start, c.end)))
        if c.search is not None:
            out += _boolean_traps(text, c)
    return out


def _boolean_traps(text: str, c: Command) -> list[Diagnostic]:
    out = []
    for n in search_nodes(c.search):  # type: ignore[arg-type]
        if isinstance(n, BoolOp) and n.op == "AND":
            for item in n.items:
                if isinstance(item, BoolOp) and item.op == "OR" and not text[:item.start].rstrip().endswith("("):
                    out.append(Diagnostic(
                        "semantics.or_binding", "OR binds tighter than the implied AND here: `a b OR c` is "
                        "`a AND (b OR c)`", severity="warning", hint="add parentheses to say which was meant",
                        **_at(text, item.start, item.end)))
        if isinstance(n, Not) and isinstance(n.item, Compare) and n.item.op == "=":
            out.append(Diagnostic(
                "semantics.not_equal", f"NOT {n.item.field.name}={n.item.value} also keeps events without "
                f"{n.item.field.name}", severity="info",
                hint=f"{n.item.field.name}!={n.item.value} keeps only events that have the field",
                **_at(text, n.start, n.end)))
    return out
