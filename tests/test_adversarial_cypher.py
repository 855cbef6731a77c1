"""Adversarial Cypher: generated attacks that must be refused, benign look-alikes that must pass.

Families are code, not lists: every write, file, procedure and transaction clause is put through
every hiding trick (comment endings other than \\n, block comments, backticks, case, look-alike
letters, invisible characters, a second statement) at several positions, for each dialect, and
each case must be refused by ``check_cypher``. Benign queries put through the same spacing and
comment variations must pass, so over-blocking shows too. Then the executors' own barriers,
which must hold without the checker: the EXPLAIN-plan barrier on a real ArcadeDB server, and
Ladybug's time and memory bounds.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from graph_server import arcadedb_fixture
from nl2q.policy import Policy
from nl2q.targets import get_dialect
from nl2q.targets.cypher.check import MAX_TOKENS, check_cypher
from nl2q.targets.cypher.barrier import Refused, ladybug_operators, plan_barrier, statement_gate
from nl2q.targets.cypher.execute import BoltExecutor
from nl2q.targets.cypher.ladybug import LadybugExecutor
from nl2q.targets.cypher.schema import from_dict

DIALECTS = ("neo4j", "ladybug")
SCHEMA = from_dict({
    "nodes": {
        "Host": {"id": "STRING", "hostname": "STRING", "status": "STRING", "created_at": "STRING", "set": "STRING",
                 "load": "FLOAT"},
        "Service": {"id": "STRING", "name": "STRING"},
        "Delete_Log": {"id": "INTEGER", "message": "STRING"},
        "Create_Event": {"id": "INTEGER"},
    },
    "relationships": {"RUNS_ON": {"endpoints": [["Service", "Host"]], "properties": {}}},
})

# --- attacks -------------------------------------------------------------------------------

# Clauses that write, read files, call procedures or commit on their own, after MATCH (h:Host).
PAYLOADS = [
    "SET h.status = 'x'",
    "SET h:Owned",
    "SET h += {status: 'x'}",
    "REMOVE h.status",
    "DELETE h",
    "DETACH DELETE h",
    "CREATE (:Host {hostname: 'x'})",
    "MERGE (:Host {hostname: 'x'})",
    "FOREACH (x IN [1] | SET h.status = 'x')",
    "LOAD CSV FROM 'file:///etc/passwd' AS row",
    "CALL apoc.cypher.runFile('x') YIELD result",
    "CALL { WITH h SET h.status = 'x' } IN TRANSACTIONS",
    "CALL { WITH h DETACH DELETE h }",
    "COPY (MATCH (n:Host) RETURN n.hostname) TO '/tmp/x.csv'",
    "LOAD FROM '/etc/passwd' (header=false) RETURN *",
]

_FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_CYRILLIC = {"A": "\u0410", "E": "\u0415", "O": "\u041e", "C": "\u0421", "T": "\u0422", "M": "\u041c"}


def _first_word(payload: str, change) -> str:
    word = payload.split()[0]
    return change(word) + payload[len(word):]


def _swap(word: str, table: dict[str, str]) -> str:
    for i, ch in enumerate(word):
        if ch in table:
            return word[:i] + table[ch] + word[i + 1:]
    return word


# Each trick turns a payload into (separator before it, the payload as written, separator after it).
TRICKS = {
    "cr": lambda p: (" // c\r", p, "\n"),
    "crcr": lambda p: (" // c\r\r", p, "\n"),
    "u2028": lambda p: (" // c\u2028", p, "\n"),
    "u2029": lambda p: (" // c\u2029", p, "\n"),
    "u0085": lambda p: (" // c\u0085", p, "\n"),
    "vt": lambda p: (" // c\x0b", p, "\n"),
    "ff": lambda p: (" // c\x0c", p, "\n"),
    "bare_cr": lambda p: ("\r", p, "\r"),
    "crlf_comment": lambda p: (" // c\r\n", p, "\r\n"),
    "newline": lambda p: ("\n", p, "\n"),
    "block": lambda p: (" /* c */ ", p, " /* d */ "),
    "block_starstar": lambda p: (" /* c **/ ", p, " /* */ "),
    "block_nested": lambda p: (" /* a /* b */ ", p, " /* */ "),
    "tab": lambda p: ("\t", p, "\t"),
    "lower": lambda p: (" ", p.lower(), " "),
    "title": lambda p: (" ", p.title(), " "),
    "alternating": lambda p: (" ", _first_word(p, lambda w: "".join(
        c.lower() if i % 2 else c.upper() for i, c in enumerate(w))), " "),
    "long_s": lambda p: (" ", _first_word(p, lambda w: _swap(w.lower(), {"s": "\u017f"}) if "s" in w.lower()
                                          else "\u212a" + w[1:]), " "),
    "dotless_i": lambda p: (" ", _first_word(p, lambda w: w.lower().replace("e", "\u0131", 1)), " "),
    "cyrillic": lambda p: (" ", _first_word(p, lambda w: _swap(w, _CYRILLIC)), " "),
    "fullwidth": lambda p: (" ", _first_word(p, lambda w: "".join(_FULLWIDTH.get(c, c) for c in w)), " "),
    "zero_width": lambda p: (" ", _first_word(p, lambda w: w[:1] + "\u200b" + w[1:]), " "),
    "nbsp": lambda p: ("\u00a0", p, " "),
    "backtick_alias": lambda p: (" WITH h AS `x // y` ", p, " "),
    "backtick_keyword": lambda p: (" ", _first_word(p, lambda w: f"`{w}`"), " "),
    "backtick_escape": lambda p: (" WITH h AS `x``, 1 AS y` ", p, " "),
    "split_keyword": lambda p: (" ", _first_word(p, lambda w: w[:2] + "/* */" + w[2:]), " "),
    "unicode_escape": lambda p: (" WITH h, 'a\\u0027 AS s ", p, " AS t, ' AS u "),
    "string_comment": lambda p: (" WHERE h.hostname = '// x' ", p, " "),
    "second_statement": lambda p: (" RETURN h.hostname; ", p, " "),
}


POSITIONS = ("middle", "end", "start")


def attacks(trick: str) -> list[tuple[str, str]]:
    """(position, query) for every payload under one trick; positions rotate over payloads and tricks so
    each payload meets each position and each trick every position (a clause that cannot start a query
    is still tried there: it must be refused as a syntax error then)."""
    out = []
    shift = list(TRICKS).index(trick)
    for i, payload in enumerate(PAYLOADS):
        before, written, after = TRICKS[trick](payload)
        position = POSITIONS[(i + shift) % len(POSITIONS)]
        query = {"middle": f"MATCH (h:Host){before}{written}{after}RETURN h.hostname",
                 "end": f"MATCH (h:Host) WITH h{before}{written}",
                 "start": f"{written.lstrip()}{after}MATCH (n:Host){before}RETURN n.hostname"}[position]
        out.append((position, query))
    return out


REFUSING = ("policy.", "syntax.", "dialect.")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("trick", list(TRICKS))
def test_hidden_writes_are_refused(trick, dialect):
    """Every payload x position under this trick: refused, by a policy, syntax or dialect error."""
    d = get_dialect(dialect)
    cases = attacks(trick)
    accepted = []
    for position, query in cases:
        r = check_cypher(query, SCHEMA, d)
        errors = [x.code for x in r.diagnostics if x.is_error]
        if r.ok or not any(c.startswith(REFUSING) for c in errors):
            accepted.append((position, query, errors))
    assert not accepted, accepted


@pytest.mark.parametrize("trick", ["newline", "block", "lower", "crlf_comment", "string_comment"])
def test_visible_clauses_are_refused_by_the_policy_not_by_accident(trick):
    """The generated frames are valid Cypher: where nothing hides a clause the grammar knows, the refusal
    names it (a policy code inside the clause), so the syntax errors above are the tricks' doing."""
    d = get_dialect("neo4j")
    known = [p for p in PAYLOADS if not p.startswith(("COPY", "LOAD FROM")) and "IN TRANSACTIONS" not in p]
    for payload in known:
        before, written, after = TRICKS[trick](payload)
        for query in (f"MATCH (h:Host){before}{written}{after}RETURN h.hostname",
                      f"MATCH (h:Host) WITH h{before}{written}"):
            r = check_cypher(query, SCHEMA, d)
            policy = [x for x in r.diagnostics if x.code in ("policy.write", "policy.statement", "policy.procedure")]
            assert r.tree is not None and policy, (query, r.diagnostics)
            at = query.index(written)
            assert at <= policy[0].start < policy[0].end <= at + len(written), (query, policy)


def test_the_attack_families_are_hundreds_of_cases_per_dialect():
    cases = [(t, p, q) for t in TRICKS for p, q in attacks(t)]
    assert len(cases) >= 300 and len({q for _, _, q in cases}) == len(cases)
    for position in POSITIONS:
        assert {t for t, p, _ in cases if p == position} == set(TRICKS)


@pytest.mark.parametrize("sep", ["\r", "\r\r", "\u2028", "\u2029", "\u0085", "\x0b", "\x0c"])
def test_a_comment_ends_only_at_a_line_feed(sep):
    """The grammar alone (without the hidden-character rule) never ends a // comment elsewhere."""
    from nl2q.targets.cypher.check import parser
    from lark.exceptions import UnexpectedInput

    with pytest.raises(UnexpectedInput):
        parser().parse(f"MATCH (h:Host) // c{sep}SET h.status = 'x'\nRETURN h.hostname")
    codes = [x.code for x in check_cypher(f"MATCH (h:Host) // c{sep}RETURN h.hostname\nRETURN 1", SCHEMA,
                                          get_dialect("neo4j")).diagnostics]
    assert any(c.startswith("policy.") for c in codes) and "syntax.error" in codes


def test_the_lookalike_set_is_every_letter_that_folds_to_ascii():
    from nl2q.check import FOLDS_TO_ASCII as _FOLDS_TO_ASCII

    assert _FOLDS_TO_ASCII == {ch for ch in map(chr, range(0x80, 0x10000)) if re.fullmatch("(?i:[a-z])", ch)}


# --- benign controls -----------------------------------------------------------------------

BENIGN = [
    "MATCH (h:Host) RETURN h.hostname",
    "MATCH (h:Host) WHERE h.status = 'down' RETURN h.hostname, h.created_at",
    "MATCH (s:Service)-[:RUNS_ON]->(h:Host) RETURN s.name, count(h) AS hosts",
    "MATCH (d:Delete_Log) RETURN d.message ORDER BY d.id LIMIT 5",
    "MATCH (c:Create_Event) RETURN count(c) AS created",
    "MATCH (h:Host) RETURN h.set, h.load",
    "MATCH (h:Host) WHERE h.hostname = 'a // b' OR h.hostname STARTS WITH 'http://x' RETURN h.hostname",
    "MATCH (h:Host) WHERE h.status IN ['SET h.status = 1', '/* x */', 'DETACH DELETE h'] RETURN h.hostname",
    "MATCH (h:Host) WITH h AS created, h.hostname AS settings RETURN created.hostname, settings",
    "UNWIND [1, 2, 3] AS deleted RETURN deleted * 2 AS merged",
    "MATCH (h:Host) RETURN h.hostname AS `set // x`",
    "MATCH (h:Host) WHERE h.hostname = \"it's\" AND h.status <> 'İstanbul ſ' RETURN h.hostname",
]

VARIANTS = {
    "as_is": lambda q: q,
    "leading_comment": lambda q: "// list hosts\n" + q,
    "leading_comment_crlf": lambda q: "// list hosts\r\n" + q,
    "trailing_comment": lambda q: q + " // done",
    "trailing_comment_line": lambda q: q + "\n// done\n",
    "block_comment": lambda q: q.replace(" RETURN ", " /* then */ RETURN ", 1),
    "comment_line_between": lambda q: q.replace(" RETURN ", "\n// then\nRETURN ", 1),
    "crlf": lambda q: q.replace(" RETURN ", "\r\nRETURN ", 1),
    "indented": lambda q: q.replace(" RETURN ", "\n\t  RETURN ", 1),
    "lower_keywords": lambda q: re.sub(r"\b(MATCH|RETURN|WHERE|WITH|UNWIND|ORDER BY|LIMIT|AS)\b",
                                       lambda m: m.group().lower(), q),
    "semicolon": lambda q: q + ";",
    "surrounding_space": lambda q: "\n  " + q + " ;\n",
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_benign_look_alikes_pass(variant, dialect):
    """Half the benign queries per dialect, alternating, so each query meets each variation in one dialect."""
    d = get_dialect(dialect)
    offset = (DIALECTS.index(dialect) + list(VARIANTS).index(variant)) % 2
    refused = []
    for base in BENIGN[offset::2]:
        query = VARIANTS[variant](base)
        r = check_cypher(query, SCHEMA, d)
        if not r.ok:
            refused.append((query, [(x.code, x.message) for x in r.diagnostics]))
    assert not refused, refused


def test_call_subquery_columns_are_in_scope_after_it():
    r = check_cypher("MATCH (h:Host) CALL { WITH h RETURN h.hostname AS n } RETURN n, h.status", SCHEMA,
                     get_dialect("neo4j"))
    assert r.ok, r.diagnostics
    codes = [x.code for x in check_cypher("MATCH (h:Host) CALL { WITH h RETURN h.hostname AS n } RETURN m", SCHEMA,
                                          get_dialect("neo4j")).diagnostics]
    assert codes == ["schema.unknown_variable"]


def test_positions_are_in_the_exact_text():
    """No stripping: a diagnostic points into the text as given, and a correction keeps its comments."""
    q = "\n  // hosts\nMATCH (h:Host) RETURN h.hostnme"
    [d] = check_cypher(q, SCHEMA, get_dialect("neo4j")).diagnostics
    assert q[d.start:d.end] == "hostnme" and d.line == 3
    q = "// which hosts run what\nMATCH (h:Host)-[:RUNS_ON]->(s:Service) RETURN s.name;"
    r = check_cypher(q, SCHEMA, get_dialect("neo4j"))
    assert r.ok and r.corrected == "// which hosts run what\nMATCH (h:Host)<-[:RUNS_ON]-(s:Service) RETURN s.name;"


# --- the checker's own bounds ----------------------------------------------------------------

@pytest.mark.parametrize("query, code", [
    ("RETURN " + "(" * 150 + "1" + ")" * 150, "policy.input_too_deep"),
    ("RETURN " + "[" * 150 + "1" + "]" * 150, "policy.input_too_deep"),
    ("RETURN " + " + ".join(["1"] * 1500), "policy.input_too_complex"),
    ("MATCH (h:Host) WHERE " + " OR ".join(["h.status = 'x'"] * 150) + " RETURN h", "policy.input_too_complex"),
    ("RETURN " + "NOT " * 400 + "true", "policy.input_too_complex"),
    ("RETURN " + "CASE WHEN true THEN " * 60 + "1" + " END" * 60, "policy.input_too_complex"),
    ("RETURN '" + "x" * 30_000 + "'", "policy.input_too_large"),
])
def test_huge_or_deep_input_gets_a_diagnostic_quickly(query, code):
    t0 = time.perf_counter()
    r = check_cypher(query, SCHEMA, get_dialect("neo4j"))
    assert time.perf_counter() - t0 < 0.5
    assert not r.ok and code in [x.code for x in r.diagnostics]
    d = next(x for x in r.diagnostics if x.code == code)
    assert d.hint and d.stage == "policy"


def test_the_largest_accepted_query_checks_in_bounded_time():
    query = "RETURN " + ", ".join(["1 + 2"] * ((MAX_TOKENS - 1) // 4))
    t0 = time.perf_counter()
    assert check_cypher(query, SCHEMA, get_dialect("neo4j")).ok
    assert time.perf_counter() - t0 < 5.0


# --- the Bolt executor's barrier on a real ArcadeDB server ----------------------------------------

arcadedb = arcadedb_fixture(scope="module")

BOLT_WRITES = [
    "MATCH (h:Host) // c\rSET h.status = 'pwned'\nRETURN h.hostname",
    "MATCH (h:Host) SET h.status = 'pwned' RETURN h.hostname",
    "MATCH (h:Host) CALL { WITH h SET h.status = 'pwned' } IN TRANSACTIONS RETURN count(*)",
    "UNWIND [1, 2] AS x CALL { WITH x CREATE (:Intruder {v: x}) } IN TRANSACTIONS OF 1 ROWS RETURN x",
    "CALL { CREATE (:Intruder {v: 0}) } RETURN 1",
    "MATCH (h:Host) DETACH DELETE h",
    "CREATE (:Intruder {v: 3})",
    "MERGE (h:Host {id: 'host:intruder'}) RETURN h.id",
    "MATCH (h:Host) REMOVE h.status RETURN h.id",
    "MATCH (h:Host) FOREACH (x IN [1] | SET h.status = 'pwned') RETURN h.id",
    "LOAD CSV FROM 'file:///etc/hostname' AS row RETURN row",
    "CALL dbms.security.createUser('intruder', 'x', false)",
    "CREATE INDEX pwned_idx FOR (h:Host) ON (h.status)",
    "CREATE CONSTRAINT pwned_c FOR (h:Host) REQUIRE h.hostname IS UNIQUE",
    "DROP INDEX `Host[id]`",
    "PROFILE MATCH (h:Host) SET h.status = 'pwned' RETURN h.id",
    "// c\nCREATE /* x */ INDEX pwned_idx2 FOR (h:Host) ON (h.os)",
]


@pytest.fixture(scope="module")
def bolt(arcadedb, kg):
    driver = arcadedb.driver()
    kg.load_bolt(driver, database=arcadedb.database)
    yield driver
    driver.close()


def _state(driver, database: str) -> dict:
    with driver.session(database=database) as s:
        return {
            "hosts": s.run("MATCH (h:Host) RETURN count(h)").single()[0],
            "statuses": sorted(s.run("MATCH (h:Host) RETURN collect(DISTINCT h.status)").single()[0]),
            "labels": sorted(r[0] for r in s.run("CALL db.labels() YIELD label RETURN label")),
            "indexes": sorted(r[1] for r in s.run("SHOW INDEXES")),
            "edges": s.run("MATCH ()-[r]->() RETURN count(r)").single()[0],
        }


def test_bolt_plan_barrier_refuses_writes_the_checker_would_have_refused(bolt, arcadedb):
    ex = BoltExecutor(bolt, database=arcadedb.database)
    before = _state(bolt, arcadedb.database)
    for query in BOLT_WRITES:
        assert not check_cypher(query, SCHEMA, get_dialect("neo4j")).ok, query
        r = ex.run(query, Policy(timeout_s=10))
        assert not r.ok and r.mode == "explain" and r.rows == [], (query, r)
        assert r.error.startswith("refused:") or "Neo.ClientError" in r.error, (query, r.error)
        assert _state(bolt, arcadedb.database) == before, query
    assert "Intruder" not in before["labels"] and "pwned" not in before["statuses"]


def test_bolt_plan_barrier_alone_sees_what_a_lone_cr_hid(bolt, arcadedb):
    """Without the statement gate, the plan still shows the SET the comment hid from a \\n-only reader."""
    ex = BoltExecutor(bolt, database=arcadedb.database)
    deadline = time.monotonic() + 10
    for query in ["MATCH (h:Host) // c\rSET h.status = 'pwned'\nRETURN h.hostname",
                  "MATCH (h:Host) // c\r\rDETACH DELETE h\nRETURN 1",
                  "MATCH (h:Host) // c\rCALL { WITH h SET h.status = 'pwned' } IN TRANSACTIONS\nRETURN count(*)",
                  "MATCH (h:Host) // c\rWITH h LOAD CSV FROM 'file:///etc/hostname' AS row\nRETURN row"]:
        plan, operators = ex._explain(query, deadline)
        with pytest.raises(Refused):
            plan_barrier(operators)
    plan, operators = ex._explain("MATCH (h:Host) RETURN h.hostname ORDER BY h.hostname LIMIT 3", deadline)
    plan_barrier(operators)


def test_statement_gate_refuses_commands_before_explain():
    for query in ["CREATE INDEX i FOR (h:Host) ON (h.x)", "create  constraint c FOR (h:Host) REQUIRE h.id IS UNIQUE",
                  "/* hi */ DROP INDEX i", "SHOW TRANSACTIONS", "PROFILE MATCH (n) RETURN n",
                  "EXPLAIN MATCH (n) RETURN n",
                  "USING PERIODIC COMMIT LOAD CSV FROM 'x' AS r CREATE (:X)", "/* **/ MATCH (n) RETURN n",
                  "MATCH (n) // c\u2028RETURN n", "", "  // only a comment\n",
                  "MATCH (n) WITH n LOAD FROM '/etc/passwd' RETURN *",
                  "MATCH (n) load /* c */ csv FROM 'x' AS r RETURN r",
                  "COPY Host FROM '/tmp/x.csv'", "INSTALL httpfs", "ATTACH '/tmp/x' AS y", "LOAD EXTENSION httpfs"]:
        with pytest.raises(Refused):
            statement_gate(query)
    for query in ["MATCH (n) RETURN n", "// c\n  optional match (n) return n", "CREATE (n:X) RETURN n",
                  "CALL db.labels() YIELD label RETURN label", "WITH 1 AS load RETURN load", "MATCH (n) RETURN n.copy",
                  "MATCH (copy:Host) RETURN copy", "WITH 1 AS install RETURN install", "MATCH (n {load: 1}) RETURN n"]:
        statement_gate(query)


# Texts that hold a write only for a reader who does not take \' (or \") as an escaped quote. The
# checker reads a string there, and so do both engines: they return the SET text as a value.
ESCAPES = [
    ("MATCH (h:Host) WITH h, 'a\\' AS s SET h.status = ' AS t, ' // ' AS u\nRETURN h.id, t, u LIMIT 1",
     ["a' AS s SET h.status = ", " // "]),
    ('MATCH (h:Host) WITH h, "a\\" AS s SET h.status = " AS t, " // " AS u\nRETURN h.id, t, u LIMIT 1',
     ['a" AS s SET h.status = ', " // "]),
]


def _escapes_read_as_strings(ex) -> None:
    for query, values in ESCAPES:
        assert check_cypher(query, SCHEMA, get_dialect("neo4j")).ok, query
        r = ex.run(query)
        assert r.ok and r.mode == "run" and r.rows[0][1:] == values, (query, r)


def test_bolt_reads_string_escapes_as_the_checker_does(bolt, arcadedb):
    _escapes_read_as_strings(BoltExecutor(bolt, database=arcadedb.database))


def test_bolt_barriers_let_ordinary_reads_through(bolt, arcadedb, kg):
    _barriers_let_reads_through(BoltExecutor(bolt, database=arcadedb.database), from_dict(kg.SCHEMA), "neo4j")


def test_bolt_reads_still_run(bolt, arcadedb):
    ex = BoltExecutor(bolt, database=arcadedb.database)
    for query in ["// hosts\nMATCH (h:Host) RETURN h.hostname ORDER BY h.hostname LIMIT 3",
                  "CALL db.labels() YIELD label RETURN label",
                  "MATCH (s:Service)-[:RUNS_ON]->(c:Container) RETURN s.name, count(c) AS n LIMIT 5 // done",
                  "\n  MATCH (h:Host) /* all */ RETURN count(h) ;\n"]:
        r = ex.run(query)
        assert r.ok and r.mode == "run" and r.rows, (query, r.error)


# --- Ladybug: file statements and bounds ----------------------------------------------------

@pytest.fixture(scope="module")
def lbdb(tmp_path_factory, kg) -> Path:
    return kg.write_ladybug(tmp_path_factory.mktemp("adv") / "ops.lbdb")


def test_ladybug_read_only_is_no_barrier_for_files_but_the_checker_and_executor_are(lbdb, tmp_path):
    """Read-only Ladybug writes files with COPY TO: the engine alone does it; the checker and both barriers refuse."""
    out = tmp_path / "leak.csv"
    source = tmp_path / "in.csv"
    source.write_text("secret,value\n1,2\n")
    copy = f"COPY (MATCH (h:Host) RETURN h.id) TO '{out}'"
    load = f"LOAD FROM '{source}' (header=true) RETURN *"
    ex = LadybugExecutor(lbdb)
    try:
        for query in [copy, load, f"MATCH (h:Host) WITH h LIMIT 1 {load}", "INSTALL httpfs"]:
            for dialect in DIALECTS:
                assert not check_cypher(query, SCHEMA, get_dialect(dialect)).ok, query
            r = ex.run(query)
            assert not r.ok and r.error.startswith("refused:"), (query, r.error)
        assert not out.exists()
        deadline = time.monotonic() + 10
        for query in [copy, load]:
            with pytest.raises(Refused):  # the plan barrier alone, without the gate
                plan_barrier(ex._explain(query, deadline)[1])
        ex._run(copy, Policy())  # what read-only alone allows
        assert out.exists() and "host:" in out.read_text()
    finally:
        ex.close()


def test_ladybug_reads_string_escapes_as_the_checker_does(lbdb):
    ex = LadybugExecutor(lbdb)
    try:
        _escapes_read_as_strings(ex)
    finally:
        ex.close()


def read_queries(schema, dialect: str) -> list[str]:
    """Ordinary read queries over every label and relationship of ``schema``, in the shapes models write."""
    out = []
    for label, node in schema.labels.items():
        key = next(iter(node.properties))
        out += [f"MATCH (n:{label}) RETURN n.{key} ORDER BY n.{key} LIMIT 3",
                f"// how many\nMATCH (n:{label}) WHERE n.{key} IS NOT NULL RETURN count(n) AS total",
                f"MATCH (n:{label}) WITH n.{key} AS k, count(*) AS c RETURN k, c ORDER BY c DESC LIMIT 2;"]
    for rel, r in schema.rels.items():
        for a, b in r.endpoints:
            out += [f"MATCH (a:{a})-[r:{rel}]->(b:{b}) RETURN a.id, b.id LIMIT 3",
                    f"MATCH (a:{a}) OPTIONAL MATCH (a)-[:{rel}]->(b:{b}) /* any */ RETURN a.id, collect(b.id) AS bs "
                    f"LIMIT 2",
                    f"MATCH (a:{a})-[:{rel}*1..2]-(b) RETURN count(DISTINCT b) AS reach"]
            if dialect == "neo4j":
                out += [f"MATCH (a:{a}) WHERE EXISTS {{ MATCH (a)-[:{rel}]->(:{b}) }} RETURN a.id LIMIT 2",
                        f"MATCH (a:{a}) RETURN a.id, [(a)-[:{rel}]->(b:{b}) | b.id] AS bs LIMIT 2"]
    out += ["UNWIND [1, 2, 3] AS x RETURN x, CASE WHEN x > 1 THEN 'big' ELSE 'small' END AS size"]
    if dialect == "neo4j":
        out += ["CALL db.labels() YIELD label RETURN label ORDER BY label",
                "RETURN [x IN range(1, 5) WHERE x % 2 = 0 | x * x] AS squares"]
    else:
        out += ["CALL show_tables() RETURN *"]
    return out


def _barriers_let_reads_through(executor, schema, dialect: str) -> None:
    """Each read query the checker accepts runs: neither the gate nor the plan barrier refuses it."""
    d = get_dialect(dialect)
    failed = []
    queries = read_queries(schema, dialect)
    for query in queries:
        if not query.startswith("CALL show_tables"):
            assert check_cypher(query, schema, d).ok, (query, check_cypher(query, schema, d).diagnostics)
        r = executor.run(query, Policy(timeout_s=10))
        if not r.ok:
            failed.append((query, r.error))
    assert len(queries) > 60 and not failed, failed


def test_ladybug_barriers_let_ordinary_reads_through(lbdb, kg):
    ex = LadybugExecutor(lbdb)
    try:
        _barriers_let_reads_through(ex, from_dict(kg.SCHEMA), "ladybug")
    finally:
        ex.close()


def test_ladybug_plan_operators_are_all_read():
    plan = ("RESULT_COLLECTOR[3]  Expressions: h.id\nPROJECTION[1]  Expressions: h.id\n"
            "TABLE_FUNCTION_CALL[0]  Function: READ_FTABLE")
    plan_barrier(ladybug_operators(plan))
    with pytest.raises(Refused, match="READ_CSV"):
        plan_barrier(ladybug_operators("TABLE_FUNCTION_CALL[0]  Function: READ_CSV_PARALLEL Expressions: a"))
    with pytest.raises(Refused):
        ladybug_operators("something the renderer did not expect")


def _child_memory(ex: LadybugExecutor) -> tuple[int, int]:
    """(peak resident bytes, address-space limit) of the executor's child process."""
    pid = ex._child.proc.pid  # type: ignore[union-attr]
    status = Path(f"/proc/{pid}/status").read_text()
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]
    limit = next(line.split()[4] for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
                 if line.startswith("Max address space"))
    return peak, int(limit)


def test_ladybug_dry_run_is_bounded_in_time_and_memory(lbdb):
    """30 million collected values used to take 18.8 s and 6.3 GB; now the run ends at the deadline or
    the memory limit, the process stays within its limit, and the next query works."""
    ex = LadybugExecutor(lbdb)
    try:
        ex.run("MATCH (h:Host) RETURN count(*)")
        for query, timeout in [("UNWIND range(1, 30000000) AS x RETURN collect(x)", 3.0),
                               ("UNWIND range(1, 3000000) AS x RETURN collect(x)", 1.0)]:
            t0 = time.monotonic()
            r = ex.run(query, Policy(timeout_s=timeout))
            took = time.monotonic() - t0
            assert not r.ok and ("timed out" in r.error or "memory" in r.error), r.error
            assert took < timeout + 1.5, took
            if ex._child is not None and ex._child.alive():
                peak, limit = _child_memory(ex)
                assert limit <= 4 << 30 and peak < limit
            assert ex.run("MATCH (h:Host) RETURN count(*)").rows == [[24]]
    finally:
        ex.close()


def test_ladybug_children_are_few_whatever_the_number_of_graphs(lbdb):
    from nl2q.targets.cypher.ladybug import MAX_LIVE_CHILDREN

    executors = [LadybugExecutor(lbdb) for _ in range(MAX_LIVE_CHILDREN + 2)]
    try:
        for ex in executors + executors[:1]:
            assert ex.run("MATCH (h:Host) RETURN count(*)").rows == [[24]]
        alive = [ex for ex in executors if ex._child is not None and ex._child.alive()]
        assert 1 <= len(alive) <= MAX_LIVE_CHILDREN and executors[0] in alive
    finally:
        for ex in executors:
            ex.close()
    assert all(ex._child is None for ex in executors)


def test_ladybug_explain_and_run_share_one_deadline(lbdb):
    ex = LadybugExecutor(lbdb)
    try:
        ex.run("MATCH (h:Host) RETURN count(*)")
        slow = ("MATCH (a:Alert), (b:Alert), (c:Alert), (d:Alert), (h:Host) "
                "WHERE a.name + b.name + c.name + d.name + h.id <> 'x' RETURN count(*)")
        t0 = time.monotonic()
        r = ex.run(slow, Policy(timeout_s=0.6))
        assert not r.ok and "timed out" in r.error and time.monotonic() - t0 < 0.6 + 1.5
        with pytest.raises(TimeoutError):
            ex._fetch("MATCH (h:Host) RETURN count(*)", Policy(), time.monotonic() - 0.01)
    finally:
        ex.close()
    assert ex._child is None
