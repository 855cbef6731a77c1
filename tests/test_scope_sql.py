"""The SQL scope checker for decoding (nl2q/targets/sql/scope.py): sound, early, in agreement with the checker.

Sound: no prefix of a query that ``check_sql`` accepts gets a veto (grammar sentences over random
schemas, Spider's gold queries). Early: wrong names are vetoed at the first prefix that makes them
definite, with the span of the name. Agreement: a veto is an error the checker reports too.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import threading
import time

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from grammar_sampler import GrammarSampler
from nl2q.prompt import extract_output, fence
from nl2q.targets import get_dialect, get_target
from nl2q.targets.sql.check import check_sql
from nl2q.targets.sql.scope import CODES, SqlScope
from nl2q.types import Veto

SCHEMA = {
    "singer": {"singer_id": "INTEGER", "name": "TEXT", "age": "INTEGER", "country": "TEXT"},
    "concert": {"concert_id": "INTEGER", "singer_id": "INTEGER", "year": "INTEGER", "venue": "TEXT"},
    "stadium": {"stadium_id": "INTEGER", "name": "TEXT", "capacity": "INTEGER"},
    "Site Info": {"Site Name": "TEXT", "order": "INTEGER", "singer_id": "INTEGER"},
}


@pytest.fixture(scope="module", params=["sqlite", "duckdb"])
def bound(request):
    b = get_target("sql").bind(SCHEMA, request.param)
    yield b
    b.close()


@pytest.fixture(scope="module")
def scope(bound):
    return bound.scope()


def errors(bound, text):
    return [d for d in check_sql(text, bound.schema, bound.dialect).diagnostics if d.is_error]


def first_veto(scope, text: str) -> tuple[int | None, Veto | None]:
    """The shortest vetoed prefix's length and its veto (None, final verdict) when no prefix is vetoed."""
    for k in range(1, len(text) + 1):
        v = scope.check(text[:k])
        if v is not None:
            return k, v
    return None, scope.check(text, final=True)


def assert_sound(bound, scope, text):
    assert not errors(bound, text), errors(bound, text)
    k, v = first_veto(scope, text)
    assert v is None, (text[:k], v)


# ------------------------------------------------------------------ the interface


def test_bound_builds_one_scope_and_shares_it(bound):
    s = bound.scope()
    assert s is bound.scope() and isinstance(s, SqlScope) and callable(getattr(s, "check", None))
    assert get_target("sql").bind(SCHEMA, "sqlite").scope() is not s


def test_threads_sharing_a_scope_get_the_answers_one_thread_gets(bound):
    texts = ["SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id WHERE T2.yeer > 2",
             "SELECT T3.name FROM singer AS T1 WHERE T1.age > 3 ORDER BY T1.age",
             "SELECT name FROM singer WHERE age > (SELECT avg(s2.age) FROM singer AS s2 WHERE s2.country = singer.country)"]
    prefixes = [t[:k] for t in texts for k in range(1, len(t) + 1)]
    expected = [SqlScope(bound.schema, bound.dialect).check(p) for p in prefixes]
    shared = SqlScope(bound.schema, bound.dialect)
    results: dict[int, list] = {}

    def run(seed: int) -> None:
        order = list(range(len(prefixes)))
        random.Random(seed).shuffle(order)
        got = [None] * len(prefixes)
        for i in order:
            got[i] = shared.check(prefixes[i])
        results[seed] = got

    threads = [threading.Thread(target=run, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results.values())


# ------------------------------------------------------------------ early, with the name's span


def test_wrong_column_after_known_alias_is_vetoed_while_it_is_written(scope):
    q = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id WHERE T2.yeer > 2000"
    k, v = first_veto(scope, q)
    at = q.index("yeer")
    assert q[:k] == q[:at + 3]  # "T2.yee": no column of concert starts so
    assert (v.start, v.end, v.code) == (at, at + 3, "schema.unknown_column")


def test_wrong_column_in_on_is_vetoed_once_the_name_ends(scope):
    q = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_idx WHERE T2.year > 2000"
    k, v = first_veto(scope, q)
    at = q.index("singer_idx")
    # FROM is still open, so T2.singer_idx could yet turn into T2.singer_idx.<col> (a later alias): the next token decides
    assert q[:k] == q[:at + len("singer_idx") + 2]
    assert (v.start, v.end, v.code) == (at, at + len("singer_idx"), "schema.unknown_column")


def test_unknown_qualifier_in_select_list_is_vetoed_when_from_closes(scope):
    q = "SELECT T3.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id WHERE T2.year > 2000"
    k, v = first_veto(scope, q)
    assert q[:k] == q[:q.index("WHERE") + len("WHERE ")]
    assert (v.start, v.end, v.code) == (7, 9, "schema.unknown_alias")


def test_select_list_is_judged_when_its_subquery_closes(scope):
    q = "SELECT name FROM singer WHERE singer_id IN (SELECT T2.venue_id FROM concert AS T2) AND age > 3"
    k, v = first_veto(scope, q)
    at = q.index("venue_id")
    assert q[:k] == q[:q.index(")") + 1]
    assert (v.start, v.end, v.code) == (at, at + len("venue_id"), "schema.unknown_column")


def test_column_of_a_table_not_in_from_is_vetoed_in_where(scope):
    q = "SELECT name FROM singer WHERE capacity > 30000"
    k, v = first_veto(scope, q)
    at = q.index("capacity")
    assert k < len(q) and q[:k] == q[:at + len("capacity >")]
    assert (v.start, v.end, v.code) == (at, at + len("capacity"), "schema.unknown_column")


def test_ambiguous_column_is_vetoed(scope):
    q = "SELECT T1.age FROM singer AS T1 JOIN stadium AS T2 ON T1.singer_id = T2.stadium_id WHERE name = 'x'"
    k, v = first_veto(scope, q)
    at = q.index("name =")
    assert k < len(q) and (v.start, v.end, v.code) == (at, at + 4, "schema.ambiguous_column")
    q2 = "SELECT name FROM singer AS T1 JOIN stadium AS T2 ON T1.singer_id = T2.stadium_id"
    assert first_veto(scope, q2) == (None, Veto(7, 11, first_veto(scope, q2)[1].message, "schema.ambiguous_column"))


def test_unknown_table_is_vetoed_as_soon_as_no_table_starts_so(scope):
    q = "SELECT name FROM singr WHERE age > 3"
    k, v = first_veto(scope, q)
    assert q[:k] == "SELECT name FROM singr" and (v.start, v.end, v.code) == (17, 22, "schema.unknown_table")
    q = "SELECT T1.name FROM singer AS T1 JOIN cte AS c ON T1.singer_id = c.singer_id"
    k, v = first_veto(scope, q)
    assert q[:k] == q[:q.index("cte") + 2] and v.code == "schema.unknown_table"  # "ct": no table, no CTE


# ------------------------------------------------------------------ never over-constrain


@pytest.mark.parametrize("q", [
    # correlated subqueries: the outer alias is known (WHERE) or written later (select list)
    "SELECT name FROM singer WHERE age > (SELECT avg(s2.age) FROM singer AS s2 WHERE s2.country = singer.country)",
    "SELECT T1.name, (SELECT max(T2.year) FROM concert AS T2 WHERE T2.singer_id = T1.singer_id) FROM singer AS T1",
    "SELECT (SELECT count(*) FROM concert WHERE concert.singer_id = s.singer_id AND year > age) AS n FROM singer AS s",
    "SELECT name FROM singer AS s WHERE EXISTS (SELECT 1 FROM concert AS c WHERE c.singer_id = s.singer_id AND venue = country)",
    # select aliases in ORDER BY, HAVING, WHERE
    "SELECT country, count(*) AS cnt FROM singer GROUP BY country HAVING cnt > 1 ORDER BY cnt DESC",
    "SELECT age * 2 AS twice FROM singer WHERE twice > 10 ORDER BY twice",
    "SELECT count(*) AS 'n of singers', country FROM singer GROUP BY country ORDER BY \"n of singers\"",
    # CTEs, their columns and derived tables
    "WITH cte AS (SELECT country, count(*) AS n FROM singer GROUP BY country) SELECT c.country, n FROM cte AS c WHERE c.n > 1",
    "WITH cte AS (SELECT singer_id AS sid FROM concert), x_cte AS (SELECT sid FROM cte) SELECT sid FROM x_cte ORDER BY sid",
    "SELECT d.total FROM (SELECT singer_id, count(*) AS total FROM concert GROUP BY singer_id) AS d JOIN singer AS s ON s.singer_id = d.singer_id",
    "SELECT d.anything FROM (SELECT * FROM concert) AS d",
    # quoted identifiers and case
    'SELECT h."Site Name", "order" FROM "Site Info" AS h WHERE h."order" > 1 ORDER BY "Site Name"',
    "select t1.NAME from SINGER as T1 where T1.AGE > 1 and t1.Country = 'x' order by T1.name",
    # set operations: ORDER BY names the output columns
    "SELECT name FROM singer UNION SELECT venue FROM concert ORDER BY name",
    "SELECT name FROM singer WHERE age > 30 INTERSECT SELECT name FROM stadium WHERE capacity > 10",
    # the checker's odd corners: a dotted call, a three-part name, a column on either side of a join
    "SELECT T1.name FROM singer AS T1 WHERE T1.lower(T1.name) = 'x'",
    "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.T2.year = 1",
    "SELECT name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id WHERE venue = 'x' AND T2.year = year",
    "SELECT * FROM singer AS T1 JOIN concert ON concert.singer_id = T1.singer_id LEFT JOIN stadium AS st ON st.capacity > concert.year",
])
def test_valid_queries_get_no_veto_at_any_prefix(bound, scope, q):
    assert_sound(bound, scope, q)


def test_calls_that_read_a_bare_word_as_a_keyword_are_left_to_the_checker():
    """DuckDB's DATE_TRUNC(month, d): sqlglot makes ``month`` a unit, which the checker never resolves."""
    b = get_target("sql").bind(SCHEMA, "duckdb")
    assert_sound(b, b.scope(), "SELECT name FROM singer WHERE DATE_TRUNC(month, age) = 1 AND DATE_DIFF(day, age, age) > 2")
    q = "SELECT name FROM singer WHERE lower(venue) = 'x'"
    k, v = first_veto(b.scope(), q)
    assert k is not None and (v.start, v.code) == (q.index("venue"), "schema.unknown_column")


def test_derived_tables_and_later_set_branches_see_no_outer_alias(bound, scope):
    """As sqlglot scopes them: a derived table or a set operation's later branch is judged on its own sources."""
    for q, name in [
        ("SELECT s.name FROM singer AS s JOIN (SELECT c.year FROM concert AS c WHERE c.singer_id = s.singer_id) AS d ON 1 = 1", "s"),
        ("SELECT name FROM singer AS s WHERE singer_id IN (SELECT singer_id FROM concert UNION SELECT stadium_id FROM stadium WHERE capacity > s.age)", "s"),
    ]:
        k, v = first_veto(scope, q)
        at = q.index(f"{name}.", q.index("(SELECT"))
        assert k is not None and (v.start, v.end, v.code) == (at, at + len(name), "schema.unknown_alias"), (q[:k], v)
        assert any((d.start, d.end, d.code) == (v.start, v.end, v.code) for d in errors(bound, q))


def test_a_shrinking_prefix_is_judged_like_a_fresh_one(bound, scope):
    q = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id WHERE T2.yeer > 2000"
    fresh = SqlScope(bound.schema, bound.dialect)
    forward = [scope.check(q[:k]) for k in range(1, len(q) + 1)]
    assert [fresh.check(q[:k]) for k in range(len(q), 0, -1)] == forward[::-1]
    assert [scope.check(q[:k]) for k in range(len(q), 0, -1)] == forward[::-1]


# ------------------------------------------------------------------ agreement with the checker

WRONG = [
    "SELECT T1.nam FROM singer AS T1",
    "SELECT T9.name FROM singer AS T1",
    "SELECT singer.name FROM singer AS T1",
    "SELECT name FROM singer WHERE capacity > 1",
    "SELECT name FROM singer AS T1 JOIN stadium AS T2 ON T1.age = T2.capacity",
    "SELECT T1.name FROM singer AS T1 WHERE T1.age > (SELECT max(x.age) FROM singer AS s2)",
    "SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM concert UNION SELECT singer_id FROM stadium)",
    "WITH cte AS (SELECT country FROM singer) SELECT c.name FROM cte AS c",
    'SELECT h."Site Nmae" FROM "Site Info" AS h',
    "SELECT count(*) FROM singers",
    "SELECT venue FROM concert ORDER BY capacity",
    "SELECT year FROM concert GROUP BY yaer",
]


@pytest.mark.parametrize("q", WRONG)
def test_vetoes_are_errors_the_checker_reports(bound, scope, q):
    errs = errors(bound, q)
    assert errs
    final = scope.check(q, final=True)
    assert final is not None
    assert any((d.start, d.end, d.code) == (final.start, final.end, final.code) for d in errs)
    k, v = first_veto(scope, q)
    assert v is not None
    # a veto on a prefix is an error of the whole query at the same place (a part-written name: its start)
    assert any(d.start == v.start and d.code == v.code and (d.end == v.end or k is not None and v.end == k) for d in errs), \
        (q[:k], v, errs)


# ------------------------------------------------------------------ every sentence the decode grammar derives

_SAMPLERS: dict[tuple[int, str], tuple] = {}


def _sampler(seed: int, dialect: str):
    key = (seed, dialect)
    if key not in _SAMPLERS:
        kit = get_target("sql").conformance()
        source = kit.source if seed == 0 else kit.random_source(random.Random(seed))
        b = get_target("sql").bind(source, dialect)
        _SAMPLERS[key] = (b, GrammarSampler(b.constraint.text, max_depth=6))
    return _SAMPLERS[key]


def repair(text: str, bound, rnd: random.Random, rounds: int = 15) -> str | None:
    """A query the checker accepts, from a sentence with wrong names: each name error in turn is replaced by
    a name the schema or the query offers (a column, an alias, a qualified column) until none is left."""
    schema = bound.schema
    columns = sorted({bound.spell(c) for t in schema.tables.values() for c in t.columns})
    tables = sorted(bound.spell(t) for t in schema.tables)
    for _ in range(rounds):
        errs = [d for d in check_sql(text, schema, bound.dialect).diagnostics if d.is_error]
        if not errs:
            return text
        d = errs[0]
        if d.code not in CODES or d.start is None:
            return None
        ctes = set(re.findall(r"\b(cte[0-9]?|[a-z][a-z0-9_]*_cte)\b", text))
        aliases = sorted(set(re.findall(r" AS ([A-Za-z_][A-Za-z0-9_]*)", text)) | set(tables) | ctes)
        options = {"schema.unknown_column": columns + sorted(set(re.findall(r" AS ([a-z_][a-z0-9_]*)", text))),
                   "schema.unknown_alias": aliases,
                   "schema.ambiguous_column": [f"{a}.{text[d.start:d.end]}" for a in aliases],
                   "schema.unknown_table": tables + sorted(ctes)}[d.code]
        rnd.shuffle(options)
        for option in options[:12]:
            new = text[:d.start] + option + text[d.end:]
            left = [e for e in check_sql(new, schema, bound.dialect).diagnostics if e.is_error]
            if len(left) < len(errs) and not any(e.code.startswith(("syntax.", "policy.")) for e in left):
                text = new
                break
        else:
            return None
    return None


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 3), dialect=st.sampled_from(["sqlite", "duckdb"]), data=st.data())
def test_grammar_sentences_are_vetoed_only_where_the_checker_errs(seed, dialect, data):
    """Decodable sentences over random schemas. As sampled (names mostly wrong): a veto is an error the checker
    reports at the same place, and answers do not depend on the order of calls. Repaired into a query the
    checker accepts: no prefix is vetoed."""
    bound, sampler = _sampler(seed, dialect)
    sentence = data.draw(sampler.sentences())
    text = extract_output(sentence, prefix=fence("sql"))
    result = check_sql(text, bound.schema, bound.dialect)
    skipped = any(d.code == "check.skipped" for d in result.diagnostics)  # sqlglot could not scope it: no name checked
    errs = [d for d in result.diagnostics if d.is_error]
    scope = SqlScope(bound.schema, bound.dialect)
    forward = [scope.check(sentence[:k]) for k in range(1, len(sentence) + 1)]
    final = scope.check(text, final=True)
    first = next((v for v in forward if v is not None), None)
    if not errs and not skipped:
        assert first is None and final is None, (sentence, first, final)
    if final is not None:
        assert any((d.start, d.end, d.code) == (final.start, final.end, final.code) for d in errs), (text, final, errs)
    if first is not None and not skipped and not any(d.code.startswith(("syntax.", "policy.")) for d in errs):
        assert any(d.start == first.start and d.code.startswith("schema.") for d in errs), (sentence, first, errs)
    # the same answers without the incremental lexer's help (prefixes shrinking, as after a backtrack)
    assert [scope.check(sentence[:k]) for k in range(len(sentence), 0, -1)] == forward[::-1]

    fixed = repair(text, bound, data.draw(st.randoms(use_true_random=False)))
    if fixed is None or any(d.code == "check.skipped" for d in check_sql(fixed, bound.schema, bound.dialect).diagnostics):
        event("not repaired")
        return
    event("repaired into a query the checker accepts")
    for k in range(1, len(fixed) + 1):
        v = scope.check(fixed[:k])
        assert v is None, (fixed[:k], v, fixed)
    assert scope.check(fixed, final=True) is None, fixed


# ------------------------------------------------------------------ Spider's gold queries

GOLD_LIMIT = 300


@pytest.fixture(scope="module")
def spider_gold():
    from nl2q.evaluate.benchmarks import available, benchmarks_dir
    from nl2q.targets.sql.schema import load_schema

    if not available("spider"):
        pytest.skip("Spider is not under the benchmark directory ($NL2Q_BENCHMARKS or ../shared/benchmarks)")
    root = benchmarks_dir("spider")
    dialect = get_dialect("sqlite")
    schemas: dict[str, tuple] = {}
    gold = []
    for e in json.loads((root / "dev.json").read_text(encoding="utf-8")):
        db = e["db_id"]
        if db not in schemas:
            schema = load_schema(root / "database" / db / f"{db}.sqlite")[0]
            schemas[db] = (schema, SqlScope(schema, dialect))
        schema, scope = schemas[db]
        result = check_sql(e["query"], schema, dialect)
        if result.ok and not any(d.code == "check.skipped" for d in result.diagnostics):
            gold.append((e["query"], scope))
        if len(gold) >= GOLD_LIMIT:
            break
    return gold


def test_spider_gold_queries_are_never_vetoed(spider_gold):
    times = []
    for query, scope in spider_gold:
        for k in range(1, len(query) + 1):
            t0 = time.perf_counter()
            v = scope.check(query[:k])
            times.append(time.perf_counter() - t0)
            assert v is None, (query[:k], v)
        assert scope.check(query, final=True) is None, query
    times.sort()
    print(f"\nscope: {len(spider_gold)} Spider gold queries, {len(times)} prefixes, median "
          f"{statistics.median(times) * 1e6:.0f} us, p95 {times[int(0.95 * len(times))] * 1e6:.0f} us per call")
    assert len(spider_gold) >= 100


def test_spider_gold_with_a_name_swapped_is_vetoed_where_the_checker_errs(spider_gold):
    """Mutants of gold queries: every veto, early or final, is an error of the checker at the same place."""
    rng = random.Random(7)
    caught = early = 0
    for query, scope in spider_gold[:120]:
        schema, dialect = scope.schema, scope.dialect
        words = [w for w in {t for t in query.replace(",", " ").replace("(", " ").replace(")", " ").split()}
                 if w.replace("_", "").replace(".", "").isalnum() and not w.isdigit() and w.upper() not in KEYWORDS]
        if not words:
            continue
        old = rng.choice(sorted(words))
        names = sorted({c for t in schema.tables.values() for c in t.columns} | set(schema.tables) | {"T1", "T2", "T3"})
        new = old.split(".")[0] + "." + rng.choice(names) if "." in old else rng.choice(names)
        mutant = query.replace(old, new, 1)
        result = check_sql(mutant, schema, dialect)
        if result.tree is None or any(d.code.startswith(("syntax.", "policy.", "check.")) for d in result.diagnostics):
            continue
        errs = [d for d in result.diagnostics if d.is_error]
        k, v = first_veto(scope, mutant)
        if not errs:
            assert v is None, (mutant, v)
            continue
        if v is not None:
            caught += 1
            early += k is not None
            assert any(d.start == v.start and (d.end == v.end or v.end == k) for d in errs), (mutant, v, errs)
    assert caught and early


KEYWORDS = {"SELECT", "FROM", "WHERE", "JOIN", "ON", "AS", "AND", "OR", "GROUP", "BY", "ORDER", "HAVING", "LIMIT", "COUNT",
            "AVG", "MAX", "MIN", "SUM", "DESC", "ASC", "NOT", "IN", "LIKE", "UNION", "INTERSECT", "EXCEPT", "DISTINCT",
            "BETWEEN", "=", "!=", ">", "<", ">=", "<="}
