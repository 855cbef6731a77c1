"""SPL to DuckDB SQL, one CTE per command, for the offline dry run over the event store.

Each step is a CTE over the previous one; when the search fails, binding each prefix in turn attributes
the engine's error to the command that caused it. Splunk's semantics are kept where SQL differs, and where the offline
engine cannot follow Splunk the command is refused with :class:`Unsupported` rather than run wrongly:

- event order travels in ``__seq`` (events newest first, as Splunk returns them; ``stats`` output
  sorted by its BY fields; ``sort`` reorders): ``head``/``tail``/``dedup`` and the final rows use it;
- ``_time`` is epoch seconds, as in Splunk (the store keeps a TIMESTAMP), and comes out as a timestamp;
- field names are case-sensitive (``Pid`` and ``PID`` are two fields), DuckDB's identifiers are not:
  each capital is marked in the CTEs' column names;
- ``timechart ... by f`` has a column per value of ``f`` (the ``limit`` largest series, ``OTHER``,
  ``NULL``), the values asked of the engine while compiling;
- ``field=value`` in a search matches case-insensitively with ``*`` wildcards; ``NOT f=v`` keeps
  events without ``f`` while ``f!=v`` does not; a bare term matches within ``_raw`` (Splunk matches
  whole indexed terms: a term is a substring here, a documented difference);
- ``stats ... by f`` drops rows whose ``f`` is null; ``sort`` without a count keeps 10,000 rows;
- relative times (``earliest=-24h@h``) count back from ``now``: the newest event in the store,
  since the store is a fixed sample of old logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from ...errors import Nl2qError
from .events import TABLE
from .schema import SplSchema
from .tree import (Aggregation, BinOp, BoolOp, Call, Command, Compare, Expr, FieldRef, InExpr, InList, Literal,
                   Not, Search, SearchExpr, Subsearch, Term, TermFn, UnaryOp)

SEQ = "__seq"
SORT_DEFAULT = 10_000
HEAD_DEFAULT = 10


class Unsupported(Nl2qError):
    """A command or function the offline engine cannot run as Splunk would."""

    def __init__(self, what: str, start: int, end: int) -> None:
        super().__init__(f"the offline dry run cannot run {what}", "check it on a Splunk server (NL2Q_SPLUNK_URL)")
        self.start, self.end = start, end


@dataclass
class Step:
    """One CTE: its SQL over the previous step, the command it comes from, the fields after it."""

    name: str
    sql: str
    command: Command
    fields: list[str]


def q(name: str) -> str:
    """A field as a column of the CTEs. Splunk's field names are case-sensitive and DuckDB's identifiers are
    not, so each capital is marked (``Pid`` -> ``^Pid``, ``PID`` -> ``^P^I^D``) to keep them apart."""
    return column(re.sub(r"([A-Z^])", r"^\1", name))


def column(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60, "minute": 60,
          "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400,
          "days": 86400, "w": 604800, "week": 604800, "weeks": 604800, "mon": 2592000, "month": 2592000,
          "months": 2592000, "y": 31536000, "year": 31536000, "years": 31536000}


def relative_time(text: str, now: datetime) -> datetime:
    """Splunk's time modifiers: ``-24h``, ``-7d@d``, ``@w0``, ``now``, ``0``, an epoch, ``%m/%d/%Y:%H:%M:%S``."""
    t = text.strip().strip('"')
    if t in ("now", ""):
        return now
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return datetime.utcfromtimestamp(float(t)) if float(t) else datetime(1970, 1, 1)
    try:
        return datetime.strptime(t, "%m/%d/%Y:%H:%M:%S")
    except ValueError:
        pass
    m = re.fullmatch(r"([+-]\d*)([a-z]+)?(?:@([a-z]+)\d*)?", t) or re.fullmatch(r"()()@([a-z]+)\d*", t)
    if not m or (m.group(2) and m.group(2) not in _UNITS) or (m.group(3) and m.group(3) not in _UNITS):
        raise ValueError(f"not a time modifier: {text!r}")
    when = now
    if m.group(1):
        n = int(m.group(1)) if m.group(1) not in "+-" else int(m.group(1) + "1")
        when = now + timedelta(seconds=n * _UNITS[m.group(2) or "s"])
    if m.group(3):
        unit = _UNITS[m.group(3)]
        if unit >= 86400:
            when = when.replace(hour=0, minute=0, second=0, microsecond=0)
            if unit == 604800:
                when -= timedelta(days=(when.weekday() + 1) % 7)
            elif unit == 2592000:
                when = when.replace(day=1)
            elif unit == 31536000:
                when = when.replace(month=1, day=1)
        else:
            epoch = int(when.timestamp()) // unit * unit
            when = datetime.fromtimestamp(epoch, when.tzinfo)
    return when


class Compiler:
    """One search's CTEs; ``fields`` are the field names after the last step (``__seq`` aside)."""

    def __init__(self, schema: SplSchema, now: datetime,
                 values: Callable[[str], list[tuple[Any, ...]]] | None = None) -> None:
        """``values`` runs a query on the engine: a command whose columns are data (``timechart ... by``) asks it
        which values there are; without it such a command is not compiled."""
        self.schema = schema
        self.now = now
        self.values = values
        self.steps: list[Step] = []

    # ---- entry points

    def compile(self, search: Search) -> list[Step]:
        commands = search.commands
        first = commands[0] if commands else None
        if first is None or not (first.name == "search" and first.implicit or first.name == "search"):
            if first is not None and first.name != "search":
                raise Unsupported(f"a search that starts with | {first.name}", first.start, first.end)
        named = indexes_named(search)
        held = [f for f in self.schema.fields.values() if f.name != "_time" and (
            not f.indexes or not named or any("*" in i or i in f.indexes for i in named))]
        base = ", ".join([f"epoch({q('_time')}) AS {q('_time')}"] + [
            f"{column(f.column or f.name)} AS {q(f.name)}" for f in held])
        first = ["index", "host", "source", "sourcetype", "_raw"]  # as Splunk lists an event: time, where, what
        fields = (["_time"] + [n for n in first if n in self.schema.fields]
                  + [f.name for f in held if f.name not in first])
        self._add(f"SELECT {base}, row_number() OVER (ORDER BY {q('_time')} DESC) AS {SEQ} FROM {TABLE}",
                  commands[0], fields)
        for command in commands:
            handler: Callable[[Command], None] | None = getattr(self, f"_cmd_{command.name}", None)
            if handler is None or not command.modelled:
                raise Unsupported(f"`{command.name}`", command.start, command.end)
            handler(command)
        return self.steps

    def final_sql(self, limit: int | None = None) -> str:
        """The whole search as one statement, in Splunk's row order, ``__seq`` left out."""
        return self.prefix_sql(len(self.steps), limit)

    def prefix_sql(self, n: int, limit: int | None = None) -> str:
        """The first ``n`` steps as one statement; ``_time`` (epoch seconds inside, as Splunk computes with it)
        comes out as a timestamp, as Splunk shows it."""
        steps = self.steps[:n]
        ctes = ",\n".join(f"{s.name} AS ({s.sql})" for s in steps)
        last = steps[-1]
        cols = ", ".join(f"to_timestamp({q(f)}) AS {q(f)}" if f == "_time" else q(f) for f in last.fields)
        tail = f" LIMIT {int(limit)}" if limit is not None else ""
        return f"WITH {ctes}\nSELECT {cols} FROM {last.name} ORDER BY {SEQ}{tail}"

    # ---- plumbing

    @property
    def prev(self) -> str:
        return self.steps[-1].name

    @property
    def fields(self) -> list[str]:
        return self.steps[-1].fields

    def _add(self, sql: str, command: Command, fields: list[str]) -> None:
        self.steps.append(Step(f"s{len(self.steps)}", sql, command, list(dict.fromkeys(fields))))

    def _col(self, name: str) -> str:
        return q(name) if name in self.fields else "NULL"

    def _rest(self, skip: set[str]) -> str:
        """The fields not in ``skip``, and the order column, for a SELECT that adds or replaces fields."""
        return ", ".join([q(f) for f in self.fields if f not in skip] + [SEQ])

    # ---- search expressions

    def search_sql(self, e: SearchExpr) -> str:
        method = getattr(self, f"_s_{type(e).__name__.lower()}")
        return method(e)

    def _s_term(self, e: Term) -> str:
        return f"{q('_raw')} ILIKE {lit('%' + _like(e.text) + '%')} ESCAPE '\\'"

    def _s_termfn(self, e: TermFn) -> str:
        if e.fn == "CASE":
            return f"{q('_raw')} LIKE {lit('%' + _like(e.value) + '%')} ESCAPE '\\'"
        return self._s_term(Term(e.value, True, e.start, e.end))

    def _s_compare(self, e: Compare) -> str:
        name = e.field.name
        if name in ("earliest", "latest", "_index_earliest", "_index_latest"):
            try:
                when = relative_time(e.value, self.now)
            except ValueError as exc:
                raise Unsupported(f"the time {e.value!r}", e.start, e.end) from exc
            op = ">=" if name.endswith("earliest") else "<"
            return f"{q('_time')} {op} {when.timestamp() if when.tzinfo else _epoch(when)}"
        col = self._col(name)
        if e.op in ("=", "!=") and not e.quoted and _number(e.value) is not None and self._numeric(name):
            return f"{col} {'=' if e.op == '=' else '!='} {_number(e.value)}"
        if e.op in ("=", "!="):
            if e.value == "*" and not e.quoted:
                match = f"{col} IS NOT NULL"
            else:
                match = f"lower(CAST({col} AS VARCHAR)) LIKE {lit(_like(e.value).lower())} ESCAPE '\\'"
            return match if e.op == "=" else f"({col} IS NOT NULL AND NOT ({match}))"
        if _number(e.value) is not None:
            return f"TRY_CAST({col} AS DOUBLE) {e.op} {_number(e.value)}"
        return f"CAST({col} AS VARCHAR) {e.op} {lit(e.value)}"

    def _numeric(self, name: str) -> bool:
        f = self.schema.field(name)
        return f is not None and f.type in ("BIGINT", "DOUBLE")

    def _s_inlist(self, e: InList) -> str:
        col = self._col(e.field.name)
        parts = [f"lower(CAST({col} AS VARCHAR)) LIKE {lit(_like(v).lower())} ESCAPE '\\'" for v in e.values]
        return "(" + " OR ".join(parts or ["FALSE"]) + ")"

    def _s_boolop(self, e: BoolOp) -> str:
        return "(" + f" {e.op} ".join(self.search_sql(i) for i in e.items) + ")"

    def _s_not(self, e: Not) -> str:
        inner = e.item
        if isinstance(inner, Compare) and inner.op == "=" and inner.field.name not in ("earliest", "latest"):
            return f"({self._col(inner.field.name)} IS NULL OR NOT {self.search_sql(inner)})"  # NOT f=v keeps f-less events
        return f"(NOT COALESCE({self.search_sql(inner)}, FALSE))"

    def _s_subsearch(self, e: Subsearch) -> str:
        raise Unsupported("a subsearch", e.start, e.end)

    # ---- eval expressions

    def expr(self, e: Expr) -> str:
        return getattr(self, f"_e_{type(e).__name__.lower()}")(e)

    def _e_literal(self, e: Literal) -> str:
        return lit(e.value)

    def _e_fieldref(self, e: FieldRef) -> str:
        return self._col(e.name)

    def _e_unaryop(self, e: UnaryOp) -> str:
        return f"(NOT {self.expr(e.operand)})" if e.op == "NOT" else f"(-{self.expr(e.operand)})"

    def _e_inexpr(self, e: InExpr) -> str:
        inner = f"{self.expr(e.operand)} IN ({', '.join(self.expr(v) for v in e.values)})"
        return f"(NOT {inner})" if e.negated else f"({inner})"

    def _e_binop(self, e: BinOp) -> str:
        left, right = self.expr(e.left), self.expr(e.right)
        if e.op == ".":
            return f"(CAST({left} AS VARCHAR) || CAST({right} AS VARCHAR))"
        if e.op == "==":
            return f"({left} = {right})"
        if e.op == "LIKE":
            return f"(CAST({left} AS VARCHAR) LIKE {right})"
        return f"({left} {e.op} {right})"

    def _e_call(self, e: Call) -> str:
        name = e.name.lower()
        args = [self.expr(a) for a in e.args]
        fn = _FUNCTIONS.get(name)
        if fn is None:
            raise Unsupported(f"the function {e.name}()", e.start, e.end)
        try:
            return fn(self, args, e)
        except IndexError:
            raise Nl2qError(f"{e.name}() is missing an argument", "see Splunk's eval function reference") from None

    # ---- commands

    def _cmd_search(self, c: Command) -> None:
        if c.search is None:
            return
        self._add(f"SELECT * FROM {self.prev} WHERE {self.search_sql(c.search)}", c, self.fields)

    def _cmd_where(self, c: Command) -> None:
        if c.where is None:
            raise Unsupported("`where` without an expression", c.start, c.end)
        self._add(f"SELECT * FROM {self.prev} WHERE COALESCE({self.expr(c.where)}, FALSE)", c, self.fields)

    def _cmd_eval(self, c: Command) -> None:
        for a in c.assignments:
            name = a.target.name
            value = self.expr(a.expr)
            rest = self._rest({name})
            self._add(f"SELECT {rest}, {value} AS {q(name)} FROM {self.prev}", c,
                      self.fields + [name])

    def _keep(self, c: Command, names: list[str]) -> None:
        self._add(f"SELECT {', '.join([q(n) for n in names] + [SEQ])} FROM {self.prev}", c, names)

    def _matching(self, uses: list) -> list[str]:
        return [f for f in self.fields if any(u.matches(f) for u in uses)]

    def _cmd_table(self, c: Command) -> None:
        self._keep(c, [f for u in (c.keeps or []) for f in self.fields if u.matches(f)])

    def _cmd_fields(self, c: Command) -> None:
        if c.keeps is not None:
            kept = self._matching(c.keeps)
            self._keep(c, kept + [f for f in ("_raw", "_time") if f in self.fields and f not in kept])
        else:
            dropped = set(self._matching(c.fields_dropped))
            self._keep(c, [f for f in self.fields if f not in dropped])

    def _cmd_rename(self, c: Command) -> None:
        mapping: dict[str, str] = {}
        for r in c.renames:
            for f in self.fields:
                if r.source.matches(f):
                    mapping[f] = _renamed(r.source.name, r.target.name, f)
        cols = [f"{q(f)} AS {q(mapping.get(f, f))}" for f in self.fields]
        self._add(f"SELECT {', '.join(cols + [SEQ])} FROM {self.prev}", c, [mapping.get(f, f) for f in self.fields])

    def _cmd_head(self, c: Command) -> None:
        n = c.count if c.count is not None else HEAD_DEFAULT
        self._add(f"SELECT * FROM {self.prev} ORDER BY {SEQ} LIMIT {int(n)}", c, self.fields)

    def _cmd_tail(self, c: Command) -> None:
        n = c.count if c.count is not None else HEAD_DEFAULT
        self._add(f"SELECT * EXCLUDE ({SEQ}), row_number() OVER (ORDER BY {SEQ} DESC) AS {SEQ} FROM "
                  f"(SELECT * FROM {self.prev} ORDER BY {SEQ} DESC LIMIT {int(n)})", c, self.fields)

    def _cmd_sort(self, c: Command) -> None:
        keys = []
        for k in c.sort:
            col = self._col(k.field.name)
            if k.fn == "num" or k.fn is None:
                col = f"COALESCE(TRY_CAST({col} AS DOUBLE), NULL)" if k.fn == "num" else col
            elif k.fn == "str":
                col = f"CAST({col} AS VARCHAR)"
            keys.append(f"{col} {'DESC' if k.descending else 'ASC'} NULLS LAST")
        n = SORT_DEFAULT if c.count is None else c.count
        limit = f" LIMIT {int(n)}" if n else ""
        order = ", ".join(keys + [SEQ])
        self._add(f"SELECT * EXCLUDE ({SEQ}), row_number() OVER (ORDER BY {order}) AS {SEQ} FROM {self.prev} "
                  f"ORDER BY {order}{limit}", c, self.fields)

    def _cmd_dedup(self, c: Command) -> None:
        names = [u.name for u in c.fields_read]
        n = c.count or 1
        part = ", ".join(self._col(x) for x in names)
        not_null = " AND ".join(f"{self._col(x)} IS NOT NULL" for x in names) or "TRUE"
        self._add(f"SELECT * FROM {self.prev} WHERE {not_null} QUALIFY row_number() OVER (PARTITION BY {part} "
                  f"ORDER BY {SEQ}) <= {int(n)}", c, self.fields)

    def _cmd_fillnull(self, c: Command) -> None:
        value = c.option("value")
        value = "0" if value is None else value
        targets = {u.name for u in c.fields_read} or set(self.fields) - {"_time", "_raw"}
        v = lit(_number(value) if _number(value) is not None else value)
        cols = [f"COALESCE({q(f)}, {v}) AS {q(f)}" if f in targets else q(f) for f in self.fields]
        self._add(f"SELECT {', '.join(cols + [SEQ])} FROM {self.prev}", c, self.fields)

    def _aggregate(self, a: Aggregation, window: str = "") -> str:
        func = a.func.lower()
        arg = self.expr(a.expr) if a.expr is not None else (self._col(a.field.name) if a.field else None)
        m = re.fullmatch(r"(?:p|perc|exactperc|upperperc)(\d+(?:\.\d+)?)", func)
        if m:
            return f"quantile_cont(TRY_CAST({arg} AS DOUBLE), {float(m.group(1)) / 100}){window}"
        if func == "count":
            return f"count({arg if arg else '*'}){window}"
        make = _AGGREGATES.get(func)
        if make is None or arg is None:
            raise Unsupported(f"the aggregation {a.func}()", a.start, a.end)
        return make(arg) + window

    def _cmd_stats(self, c: Command) -> None:
        by = [u.name for u in c.by]
        aggs = [f"{self._aggregate(a)} AS {q(a.output)}" for a in c.aggregations]
        keys = [self._col(b) for b in by]
        where = " AND ".join(f"{k} IS NOT NULL" for k in keys) or "TRUE"
        group = f" GROUP BY {', '.join(keys)}" if keys else ""
        order = ", ".join(keys) if keys else "1"
        select = [f"{k} AS {q(b)}" for k, b in zip(keys, by)] + aggs
        self._add(f"SELECT {', '.join(select)}, row_number() OVER (ORDER BY {order}) AS {SEQ} FROM {self.prev} "
                  f"WHERE {where}{group}", c, by + [a.output for a in c.aggregations])

    def _cmd_eventstats(self, c: Command) -> None:
        by = [self._col(u.name) for u in c.by]
        window = f" OVER ({'PARTITION BY ' + ', '.join(by) if by else ''})"
        aggs = [f"{self._aggregate(a, window)} AS {q(a.output)}" for a in c.aggregations]
        outs = [a.output for a in c.aggregations]
        rest = self._rest(set(outs))
        self._add(f"SELECT {rest}, {', '.join(aggs)} FROM {self.prev}", c,
                  [f for f in self.fields if f not in outs] + outs)

    def _cmd_top(self, c: Command, ascending: bool = False) -> None:
        names = [u.name for u in c.fields_read if u.name not in {b.name for b in c.by}]
        by = [u.name for u in c.by]
        cols = [self._col(n) for n in names + by]
        n = c.count if c.count is not None else 10
        part = f"PARTITION BY {', '.join(self._col(b) for b in by)} " if by else ""
        direction = "ASC" if ascending else "DESC"
        not_null = " AND ".join(f"{x} IS NOT NULL" for x in cols) or "TRUE"
        inner = (f"SELECT {', '.join(f'{x} AS {q(k)}' for x, k in zip(cols, names + by))}, count(*) AS count, "
                 f"100.0 * count(*) / sum(count(*)) OVER ({part.strip()}) AS percent FROM {self.prev} "
                 f"WHERE {not_null} GROUP BY {', '.join(cols)}")
        ranked = f"row_number() OVER ({part}ORDER BY count {direction}, {', '.join(q(k) for k in names)})"
        self._add(f"SELECT *, row_number() OVER (ORDER BY {', '.join(q(b) for b in by) + ', ' if by else ''}count "
                  f"{direction}) AS {SEQ} FROM ({inner}) QUALIFY {ranked} <= {int(n)}", c,
                  by + names + ["count", "percent"])

    def _cmd_rare(self, c: Command) -> None:
        self._cmd_top(c, ascending=True)

    def _cmd_rex(self, c: Command) -> None:
        if c.option("mode") == "sed" or not c.pattern:
            raise Unsupported("`rex mode=sed`", c.start, c.end)
        source = c.option("field") or "_raw"
        pattern = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", c.pattern)
        try:
            groups = re.compile(pattern).groupindex
        except re.error as exc:
            raise Nl2qError(f"rex: the regular expression does not compile: {exc}", "fix the pattern") from None
        names = list(groups)
        outs = [f"NULLIF(regexp_extract(CAST({self._col(source)} AS VARCHAR), {lit(pattern)}, {groups[n]}), '') "
                f"AS {q(n)}" for n in names]
        rest = self._rest(set(names))
        self._add(f"SELECT {rest}, {', '.join(outs)} FROM {self.prev}", c,
                  [f for f in self.fields if f not in names] + names)

    def _cmd_bin(self, c: Command) -> None:
        span = c.option("span")
        target = c.fields_read[0].name if c.fields_read else "_time"
        if not span or target != "_time":
            raise Unsupported("`bin` without span= over _time", c.start, c.end)
        seconds = _span_seconds(span, c)
        rest = self._rest({"_time"})
        self._add(f"SELECT {rest}, floor({q('_time')} / {seconds}) * {seconds} AS {q('_time')} "
                  f"FROM {self.prev}", c, self.fields)

    _cmd_bucket = _cmd_bin

    def _cmd_timechart(self, c: Command) -> None:
        seconds = _span_seconds(c.option("span") or "1h", c)
        bucket = f"floor({q('_time')} / {seconds}) * {seconds}"
        if c.by:
            return self._timechart_by(c, bucket)
        aggs = [f"{self._aggregate(a)} AS {q(a.output)}" for a in c.aggregations]
        self._add(f"SELECT {bucket} AS {q('_time')}, {', '.join(aggs)}, row_number() OVER (ORDER BY {bucket}) AS "
                  f"{SEQ} FROM {self.prev} GROUP BY {bucket}", c, ["_time"] + [a.output for a in c.aggregations])


    def _timechart_by(self, c: Command, bucket: str) -> None:
        """A column per value of the split field, as Splunk draws it: the ``limit`` (default 10) series with the
        largest totals, the rest summed up as ``OTHER`` (``useother``), events without the field as ``NULL``
        (``usenull``); a bucket without events of a series is 0 for count and dc, empty otherwise."""
        if len(c.by) != 1 or len(c.aggregations) != 1 or self.values is None:
            raise Unsupported("`timechart ... by` with several splits or functions, or without an engine to ask "
                              "for the split's values", c.start, c.end)
        agg, split = c.aggregations[0], self._col(c.by[0].name)
        value = self._aggregate(agg)
        limit = int(_number(c.option("limit") or "10") or 0)
        totals = (f"SELECT {split} AS v, sum(n) AS total FROM (SELECT {split}, {value} AS n FROM {self.prev} "
                  f"GROUP BY {bucket}, {split}) GROUP BY v ORDER BY total DESC, v")
        ctes = ",\n".join(f"{step.name} AS ({step.sql})" for step in self.steps)
        found = [r[0] for r in self.values(f"WITH {ctes}\n{totals}")]
        ranked = [str(v) for v in found if v is not None]
        top = ranked[:limit] if limit > 0 else ranked
        other = len(ranked) > len(top) and _truthy_text(c.option("useother"), True)
        null = None in found and _truthy_text(c.option("usenull"), True)
        listed = ", ".join(map(lit, top)) or "NULL"
        series = (f"CASE WHEN {split} IS NULL THEN NULL WHEN CAST({split} AS VARCHAR) IN ({listed}) "
                  f"THEN CAST({split} AS VARCHAR) ELSE {lit(_OTHER)} END")
        names = top + ([_OTHER] if other else []) + (["NULL"] if null else [])
        zero = "0" if agg.func.lower() in ("count", "dc", "distinct_count") else "NULL"
        cols = [f"COALESCE(max(v) FILTER (WHERE s {'IS NULL' if n == 'NULL' and null else '= ' + lit(n)}), {zero}) "
                f"AS {q(n)}" for n in names]
        long = f"SELECT {bucket} AS b, {series} AS s, {value} AS v FROM {self.prev} GROUP BY 1, 2"
        self._add(f"SELECT b AS {q('_time')}, {', '.join(cols)}, row_number() OVER (ORDER BY b) AS {SEQ} "
                  f"FROM ({long}) GROUP BY b", c, ["_time"] + names)


_OTHER = "OTHER"


def _truthy_text(text: str | None, default: bool) -> bool:
    return default if text is None else text.lower() in ("t", "true", "1", "yes")


def _epoch(when: datetime) -> float:
    return (when - datetime(1970, 1, 1)).total_seconds()


def _span_seconds(span: str, c: Command) -> int:
    m = re.fullmatch(r"(\d+)([a-z]+)", span.strip())
    if not m or m.group(2) not in _UNITS:
        raise Unsupported(f"span={span}", c.start, c.end)
    return int(m.group(1)) * _UNITS[m.group(2)]


def _like(value: str) -> str:
    """A Splunk wildcard value as a LIKE pattern (``*`` any run; ``%`` and ``_`` literal)."""
    out = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return out.replace("*", "%")


def _number(value: str) -> float | int | None:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return None


def _renamed(source: str, target: str, name: str) -> str:
    """``rename Processes.* as *``: the part ``*`` matched in ``name`` goes where ``*`` is in ``target``."""
    if "*" not in source:
        return target
    head, _, tail = source.partition("*")
    middle = name[len(head): len(name) - len(tail) if tail else None]
    return target.replace("*", middle, 1)


def _if(c: Compiler, a: list[str], e: Call) -> str:
    return f"(CASE WHEN {a[0]} THEN {a[1]} ELSE {a[2]} END)"


def _case(c: Compiler, a: list[str], e: Call) -> str:
    pairs = " ".join(f"WHEN {a[i]} THEN {a[i + 1]}" for i in range(0, len(a) - 1, 2))
    return f"(CASE {pairs} END)"


_FUNCTIONS: dict[str, Callable[[Compiler, list[str], Call], str]] = {
    "if": _if,
    "case": _case,
    "coalesce": lambda c, a, e: f"coalesce({', '.join(a)})",
    "round": lambda c, a, e: f"round(TRY_CAST({a[0]} AS DOUBLE), {a[1] if len(a) > 1 else 0})",
    "abs": lambda c, a, e: f"abs({a[0]})",
    "floor": lambda c, a, e: f"floor({a[0]})",
    "ceil": lambda c, a, e: f"ceil({a[0]})",
    "ceiling": lambda c, a, e: f"ceil({a[0]})",
    "sqrt": lambda c, a, e: f"sqrt({a[0]})",
    "pow": lambda c, a, e: f"pow({a[0]}, {a[1]})",
    "lower": lambda c, a, e: f"lower(CAST({a[0]} AS VARCHAR))",
    "upper": lambda c, a, e: f"upper(CAST({a[0]} AS VARCHAR))",
    "len": lambda c, a, e: f"length(CAST({a[0]} AS VARCHAR))",
    "trim": lambda c, a, e: f"trim(CAST({a[0]} AS VARCHAR))",
    "ltrim": lambda c, a, e: f"ltrim(CAST({a[0]} AS VARCHAR))",
    "rtrim": lambda c, a, e: f"rtrim(CAST({a[0]} AS VARCHAR))",
    "substr": lambda c, a, e: (f"substr(CAST({a[0]} AS VARCHAR), {a[1]}" + (f", {a[2]})" if len(a) > 2 else ")")),
    "replace": lambda c, a, e: f"regexp_replace(CAST({a[0]} AS VARCHAR), {a[1]}, {a[2]}, 'g')",
    "match": lambda c, a, e: f"regexp_matches(CAST({a[0]} AS VARCHAR), {a[1]})",
    "like": lambda c, a, e: f"(CAST({a[0]} AS VARCHAR) LIKE {a[1]})",
    "isnull": lambda c, a, e: f"({a[0]} IS NULL)",
    "isnotnull": lambda c, a, e: f"({a[0]} IS NOT NULL)",
    "isnum": lambda c, a, e: f"(TRY_CAST({a[0]} AS DOUBLE) IS NOT NULL)",
    "tostring": lambda c, a, e: f"CAST({a[0]} AS VARCHAR)",
    "tonumber": lambda c, a, e: f"TRY_CAST({a[0]} AS DOUBLE)",
    "null": lambda c, a, e: "NULL",
    "nullif": lambda c, a, e: f"nullif({a[0]}, {a[1]})",
    "now": lambda c, a, e: lit(_epoch(c.now)),
    "time": lambda c, a, e: lit(_epoch(c.now)),
    "strftime": lambda c, a, e: f"strftime(to_timestamp(TRY_CAST({a[0]} AS DOUBLE)), {a[1]})",
    "strptime": lambda c, a, e: f"epoch(try_strptime(CAST({a[0]} AS VARCHAR), {a[1]}))",
    "split": lambda c, a, e: f"string_split(CAST({a[0]} AS VARCHAR), {a[1]})",
    "mvcount": lambda c, a, e: f"(CASE WHEN {a[0]} IS NULL THEN NULL ELSE 1 END)",
    "md5": lambda c, a, e: f"md5(CAST({a[0]} AS VARCHAR))",
    "sha256": lambda c, a, e: f"sha256(CAST({a[0]} AS VARCHAR))",
    "min": lambda c, a, e: f"least({', '.join(a)})",
    "max": lambda c, a, e: f"greatest({', '.join(a)})",
}

_AGGREGATES: dict[str, Callable[[str], str]] = {
    "dc": lambda a: f"count(DISTINCT {a})",
    "distinct_count": lambda a: f"count(DISTINCT {a})",
    "sum": lambda a: f"sum(TRY_CAST({a} AS DOUBLE))",
    "avg": lambda a: f"avg(TRY_CAST({a} AS DOUBLE))",
    "mean": lambda a: f"avg(TRY_CAST({a} AS DOUBLE))",
    "min": lambda a: f"min({a})",
    "max": lambda a: f"max({a})",
    "median": lambda a: f"median(TRY_CAST({a} AS DOUBLE))",
    "stdev": lambda a: f"stddev_samp(TRY_CAST({a} AS DOUBLE))",
    "stdevp": lambda a: f"stddev_pop(TRY_CAST({a} AS DOUBLE))",
    "var": lambda a: f"var_samp(TRY_CAST({a} AS DOUBLE))",
    "range": lambda a: f"(max(TRY_CAST({a} AS DOUBLE)) - min(TRY_CAST({a} AS DOUBLE)))",
    "mode": lambda a: f"mode({a})",
    "values": lambda a: f"list_sort(list_distinct(list(CAST({a} AS VARCHAR))))",
    "list": lambda a: f"list(CAST({a} AS VARCHAR) ORDER BY {SEQ})",
    "latest": lambda a: f"arg_max({a}, {q('_time')})",
    "earliest": lambda a: f"arg_min({a}, {q('_time')})",
    "first": lambda a: f"arg_min({a}, {SEQ})",
    "last": lambda a: f"arg_max({a}, {SEQ})",
}


def indexes_named(search: Search) -> list[str]:
    """The index values the first command's search names (``index=hdfs OR index=bgl``), wildcards kept."""
    from .tree import search_nodes

    first = search.commands[0] if search.commands else None
    if first is None or first.search is None:
        return []
    out = []
    for n in search_nodes(first.search, under_not=False):
        if isinstance(n, Compare) and n.field.name == "index" and n.op == "=":
            out.append(n.value)
        elif isinstance(n, InList) and n.field.name == "index":
            out += n.values
    return out
