"""Real graph engines: the ops knowledge-graph fixture in Ladybug and in an ArcadeDB server over Bolt."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from graph_server import arcadedb_fixture, free_port
from nl2q.errors import SchemaError
from nl2q.targets.cypher.execute import BoltExecutor
from nl2q.targets.cypher.ladybug import LadybugExecutor
from nl2q.policy import Policy
from nl2q.targets.cypher.schema import from_dict
from nl2q.targets.cypher.introspect import from_bolt, from_ladybug, ladybug_type

ROOT = Path(__file__).resolve().parent.parent
arcadedb = arcadedb_fixture(scope="module")

# Expensive on purpose: ~4e8 string concatenations at scale 1 (seconds of work, never finished).
SLOW_LADYBUG = ("MATCH (a:Alert), (b:Alert), (c:Alert), (d:Alert), (h:Host) "
                "WHERE a.name + b.name + c.name + d.name + h.id <> 'x' RETURN count(*)")
SLOW_BOLT = "UNWIND range(1, 4000) AS x UNWIND range(1, 4000) AS y WITH x, y WHERE (x * y) % 7 = 0 RETURN count(*)"


@pytest.fixture(scope="module")
def lbdb(tmp_path_factory, kg) -> Path:
    return kg.write_ladybug(tmp_path_factory.mktemp("kg") / "ops.lbdb")


@pytest.fixture(scope="module")
def bolt(arcadedb, kg):
    driver = arcadedb.driver()
    counts = kg.load_bolt(driver, database=arcadedb.database)
    assert counts["nodes"] > 200 and counts["relationships"] > 300
    yield driver
    driver.close()


def _count(driver, database: str, query: str) -> int:
    with driver.session(database=database) as s:
        return s.run(query).single()[0]


def _pairs(schema) -> dict[str, set[tuple[str, str]]]:
    return {name: {tuple(p) for p in r.endpoints} for name, r in schema.rels.items()}


# --- the fixture generator ---------------------------------------------------------------

def test_generator_is_deterministic_and_matches_its_schema(kg):
    a, b = list(kg.generate(1, seed=7)), list(kg.generate(1, seed=7))
    assert a == b
    assert a != list(kg.generate(1, seed=8))
    schema = from_dict(kg.SCHEMA)
    assert len(schema.labels) == 12 and len(schema.rels) == 13
    seen: set[str] = set()
    for item in a:
        if isinstance(item, kg.Node):
            assert set(item.props) == set(schema.labels[item.label].properties)
            assert item.props["id"] not in seen
            seen.add(item.props["id"])
        else:
            assert schema.fits(item.type, item.start_label, item.end_label)
            assert item.start_id in seen and item.end_id in seen, "a relationship before its endpoints"
    assert 200 <= len(seen) <= 600


def test_generator_scales_linearly_and_has_answers(kg):
    def edges(scale: int) -> int:
        return sum(1 for x in kg.generate(scale) if isinstance(x, kg.Rel))

    one, four = edges(1), edges(4)
    assert 3.5 * one < four < 4.5 * one
    items = list(kg.generate(1))
    rels = Counter((x.type, x.end_label) for x in items if isinstance(x, kg.Rel))
    assert rels[("CAUSED_BY", "Deployment")] and rels[("CAUSED_BY", "Incident")]
    assert any(isinstance(x, kg.Rel) and x.type == "DEPENDS_ON" and x.end_id.endswith("-db") for x in items)
    severities = {x.props["severity"] for x in items if isinstance(x, kg.Node) and x.label == "Incident"}
    assert severities == {"critical", "warning", "info"}


def test_write_ladybug_is_atomic(tmp_path, kg):
    path = kg.write_ladybug(tmp_path / "g.lbdb")
    before = path.read_bytes()
    with pytest.raises(ValueError):
        kg.write_ladybug(path, scale=0)  # fails inside the build
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["g.lbdb"]


# --- Ladybug -----------------------------------------------------------------------------

def test_from_ladybug_matches_the_fixture_schema(lbdb, kg):
    schema = from_ladybug(lbdb)
    expected = from_dict(kg.SCHEMA)
    assert schema.to_dict()["nodes"] == expected.to_dict()["nodes"]
    assert _pairs(schema) == _pairs(expected)
    assert list(schema.labels) == list(expected.labels)
    assert ladybug_type("INT64[]") == "LIST<INTEGER>" and ladybug_type("DECIMAL(18, 3)") == "FLOAT"


def test_from_ladybug_reports_bad_sources(tmp_path):
    with pytest.raises(SchemaError, match="not found"):
        from_ladybug(tmp_path / "missing.lbdb")
    junk = tmp_path / "junk.lbdb"
    junk.write_text("not a database")
    with pytest.raises(SchemaError, match="cannot open"):
        from_ladybug(junk)
    assert not (tmp_path / "missing.lbdb").exists()


def test_ladybug_explain_run_and_row_cap(lbdb):
    ex = LadybugExecutor(lbdb)
    try:
        plan = ex.explain("MATCH (s:Service)<-[:DEPLOYS]-(d:Deployment) WHERE d.status = 'failed' RETURN s.name, count(d)")
        assert "SCAN_NODE_TABLE" in plan and "NumOutputTuples" not in plan
        r = ex.run("MATCH (i:Incident)-[:CAUSED_BY]->(d:Deployment)-[:DEPLOYS]->(s:Service) RETURN s.name, d.version")
        assert r.ok and r.mode == "run" and r.rows and r.columns == ["s.name", "d.version"]
        r = ex.run("MATCH p = (s:Service)-[r:RUNS_ON]->(c:Container) RETURN s, r, p LIMIT 2")
        assert r.ok and r.rows[0][0]["_labels"] == ["Service"] and r.rows[0][1]["_type"] == "RUNS_ON"
        json.dumps(r.rows)
        capped = ex.run("MATCH (h:Host) RETURN h.hostname", Policy(max_rows=5, preview_rows=3))
        assert capped.ok and capped.capped and capped.row_count is None and len(capped.rows) == 3
        bad = ex.run("MATCH (h:Host) RETURN h.hostnme")
        assert not bad.ok and bad.mode == "explain" and "Cannot find property hostnme" in bad.error
    finally:
        ex.close()


def test_ladybug_is_read_only(lbdb):
    ex = LadybugExecutor(lbdb)
    try:
        before = ex.run("MATCH (h:Host) RETURN count(*)").rows
        down = ex.run("MATCH (h:Host {status: 'down'}) RETURN count(*)").rows
        r = ex.run("CREATE (h:Host {id: 'host:intruder'})")
        assert not r.ok and "read-only" in r.error
        with pytest.raises(RuntimeError, match="read-only"):
            ex._run("MATCH (h:Host) SET h.status = 'down'", Policy())
        with pytest.raises(ValueError, match="one statement"):
            ex._run("MATCH (h:Host) RETURN h.id; MATCH (h:Host) RETURN h.id", Policy())
        assert ex.run("MATCH (h:Host) RETURN count(*)").rows == before
        assert ex.run("MATCH (h:Host {status: 'down'}) RETURN count(*)").rows == down
    finally:
        ex.close()


def test_ladybug_timeout(lbdb):
    ex = LadybugExecutor(lbdb)
    try:
        t0 = time.monotonic()
        r = ex.run(SLOW_LADYBUG, Policy(timeout_s=0.5))
        assert not r.ok and r.mode == "run" and "timed out" in r.error
        assert time.monotonic() - t0 < 3.5
        assert ex.run("MATCH (h:Host) RETURN count(*)").rows == [[24]]
    finally:
        ex.close()


# --- ArcadeDB over Bolt ------------------------------------------------------------------

def test_from_bolt_finds_labels_and_endpoints(bolt, arcadedb, kg):
    schema = from_bolt(bolt, database=arcadedb.database)
    expected = from_dict(kg.SCHEMA)
    assert set(schema.labels) == set(expected.labels)
    assert _pairs(schema) == _pairs(expected)
    assert schema.labels["Host"].properties["cpu_count"] == "INTEGER"
    assert schema.labels["Alert"].properties["resolved"] == "BOOLEAN"
    assert schema.to_dict()["nodes"] == expected.to_dict()["nodes"]


def test_from_bolt_unreachable_server():
    import neo4j

    driver = neo4j.GraphDatabase.driver(f"bolt://127.0.0.1:{free_port()}", auth=("root", "x"),
                                        connection_timeout=2, max_transaction_retry_time=0)
    try:
        with pytest.raises(SchemaError, match="cannot reach"):
            from_bolt(driver)
    finally:
        driver.close()


def test_bolt_read_query_and_json_rows(bolt, arcadedb):
    ex = BoltExecutor(bolt, database=arcadedb.database)
    r = ex.run("MATCH (i:Incident)-[:CAUSED_BY]->(d:Deployment)-[:DEPLOYS]->(s:Service) "
               "RETURN s.name AS service, d.version AS version ORDER BY service")
    assert r.ok and r.mode == "run" and r.columns == ["service", "version"] and r.rows and r.plan
    r = ex.run("MATCH p = (s:Service)-[r:DEPENDS_ON]->(d:Service) WHERE d.name ENDS WITH '-db' RETURN s, r, p LIMIT 3")
    assert r.ok and r.rows[0][0]["_labels"] == ["Service"] and r.rows[0][1]["_type"] == "DEPENDS_ON"
    assert set(r.rows[0][2]) == {"nodes", "relationships"}
    json.dumps(r.rows)
    bad = ex.run("MATCH (h:Host RETURN h")
    assert not bad.ok and bad.mode == "explain" and "Neo.ClientError.Statement.SyntaxError" in bad.error


def test_bolt_explain_does_not_execute(bolt, arcadedb):
    ex = BoltExecutor(bolt, database=arcadedb.database)
    plan = ex.explain("CREATE (h:Host {id: 'host:explained'})")
    assert isinstance(plan, str) and plan
    assert _count(bolt, arcadedb.database, "MATCH (h:Host {id: 'host:explained'}) RETURN count(h)") == 0


def test_bolt_writes_are_rolled_back(bolt, arcadedb):
    ex = BoltExecutor(bolt, database=arcadedb.database)
    hosts = _count(bolt, arcadedb.database, "MATCH (h:Host) RETURN count(h)")
    edges = _count(bolt, arcadedb.database, "MATCH ()-[r]->() RETURN count(r)")
    columns, rows = ex._run("MATCH (h:Host) DETACH DELETE h RETURN count(*) AS n", Policy())
    assert columns == ["n"] and rows == [(hosts,)]
    columns, rows = ex._run("CREATE (h:Host {id: 'host:intruder'}) RETURN h.id", Policy())
    assert rows == [("host:intruder",)]
    assert _count(bolt, arcadedb.database, "MATCH (h:Host) RETURN count(h)") == hosts
    assert _count(bolt, arcadedb.database, "MATCH ()-[r]->() RETURN count(r)") == edges
    assert _count(bolt, arcadedb.database, "MATCH (h:Host {id: 'host:intruder'}) RETURN count(h)") == 0


def test_bolt_row_cap_and_timeout(bolt, arcadedb):
    ex = BoltExecutor(bolt, database=arcadedb.database)
    capped = ex.run("MATCH (h:Host) RETURN h.hostname", Policy(max_rows=5, preview_rows=2))
    assert capped.ok and capped.capped and capped.row_count is None and len(capped.rows) == 2
    t0 = time.monotonic()
    slow = ex.run(SLOW_BOLT, Policy(timeout_s=1.0))
    assert not slow.ok and slow.mode == "run" and "timed out" in slow.error
    assert time.monotonic() - t0 < 4.0
    with bolt.session(database=arcadedb.database) as s:
        running = [r["currentQuery"] for r in s.run("SHOW TRANSACTIONS")]
    assert SLOW_BOLT not in running, "the timed-out query is still running on the server"
    assert ex.run("MATCH (h:Host) RETURN count(h)").rows == [[24]]
