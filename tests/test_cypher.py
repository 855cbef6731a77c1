"""Cypher: the decode grammar's sentences parse under the check grammar; the checker's findings."""

from __future__ import annotations

import pytest

from nl2q.targets.cypher.check import check_cypher
from nl2q.targets import get_dialect, get_target
from nl2q import Constraint
from nl2q.grammar import validate
from nl2q.targets.cypher.grammar import specialise_cypher
from nl2q.policy import Policy
from nl2q.targets.cypher.schema import from_dict

OPS = from_dict({
    "nodes": {
        "Host": {"id": "STRING", "hostname": "STRING", "cpu_count": "INTEGER"},
        "Service": {"id": "STRING", "name": "STRING", "tier": "INTEGER"},
        "Incident": {"id": "STRING", "title": "STRING", "severity": "STRING"},
        "Deployment": {"id": "STRING", "version": "STRING"},
        "My Label": {"weird key": "STRING"},
    },
    "relationships": {
        "RUNS_ON": {"endpoints": [["Service", "Host"]], "properties": {}},
        "DEPENDS_ON": {"endpoints": [["Service", "Service"]], "properties": {"weight": "INTEGER"}},
        "CAUSED_BY": {"endpoints": [["Incident", "Deployment"], ["Incident", "Incident"]], "properties": {}},
    },
})
CYPHER_DIALECTS = get_target("cypher").dialects()
NEO4J, LADYBUG = get_dialect("neo4j"), get_dialect("ladybug")

@pytest.mark.parametrize("dialect", CYPHER_DIALECTS)
def test_cypher_grammars_are_accepted_by_llguidance(dialect):
    validate(Constraint("lark", specialise_cypher(OPS, get_dialect(dialect))))


def codes(q: str, dialect=NEO4J, **kw) -> list[str]:
    return [d.code for d in check_cypher(q, OPS, dialect, **kw).diagnostics if d.is_error]


@pytest.mark.parametrize("query", [
    "MATCH (s:Service)-[:RUNS_ON]->(h:Host) WHERE h.cpu_count > 8 RETURN s.name, h.hostname",
    "match (s:Service)\n  -[:DEPENDS_ON*1..3]->(t:Service {name: 'db'}) // deps\nreturn distinct s.name as name order by name",
    "MATCH (i:Incident)-[:CAUSED_BY]->(d:Deployment) WITH i, collect(d.version) AS versions RETURN i.title, size(versions)",
    "MATCH (h:Host) WHERE EXISTS { MATCH (s:Service)-[:RUNS_ON]->(h) } RETURN h.hostname",
    "MATCH (n:`My Label`) RETURN n.`weird key`",
    "UNWIND [1, 2, 3] AS x RETURN x * 2 AS y",
    "MATCH (s:Service) RETURN s.name UNION MATCH (h:Host) RETURN h.hostname AS name",
    "MATCH (a:Incident)-[:CAUSED_BY]->(b:Incident) RETURN a.title, b.title",
])
def test_valid_cypher_passes(query):
    assert codes(query) == []


@pytest.mark.parametrize("query, code, fragment, hint", [
    ("MATCH (h:Hots) RETURN h", "schema.unknown_label", "Hots", "Host"),
    ("MATCH (s:Service)-[:RUNS_ONN]->(h:Host) RETURN s", "schema.unknown_relationship", "RUNS_ONN", "RUNS_ON"),
    ("MATCH (h:Host) RETURN h.hostnme", "schema.unknown_property", "hostnme", "hostname"),
    ("MATCH (h:Host {name: 'x'}) RETURN h", "schema.unknown_property", "name", "hostname"),
    ("MATCH (h:Host)<-[:CAUSED_BY]-(s:Service) RETURN s", "schema.relationship_endpoints", None, "(:Incident)-[:CAUSED_BY]->(:Deployment)"),
    ("MATCH (s:Service) WITH s.name AS n RETURN s.tier", "schema.unknown_variable", "s", "in scope: n"),
    ("MATCH (s:Service)-[:DEPENDS_ON*]->(t:Service) RETURN t", "policy.unbounded_path", "*", "*1..5"),
    ("MATCH (h:Host {hostname: $name}) RETURN h", "schema.unbound_parameter", "$name", "value"),
])
def test_cypher_diagnostics(query, code, fragment, hint):
    diags = [d for d in check_cypher(query, OPS, NEO4J).diagnostics if d.code == code]
    assert diags, check_cypher(query, OPS, NEO4J).diagnostics
    d = diags[0]
    if fragment is not None:
        assert query[d.start:d.end] == fragment
    assert hint in d.hint and d.line == 1


def test_reversed_arrow_is_corrected_and_reported():
    q = "MATCH (h:Host)-[:RUNS_ON]->(s:Service) RETURN s.name"
    r = check_cypher(q, OPS, NEO4J)
    assert r.ok
    [d] = r.diagnostics
    assert d.code == "schema.direction_reversed" and d.severity == "warning"
    assert r.corrected == "MATCH (h:Host)<-[:RUNS_ON]-(s:Service) RETURN s.name"
    assert check_cypher(r.corrected, OPS, NEO4J).diagnostics == []
    q = "MATCH (s:Service)<-[:RUNS_ON]-(h:Host) RETURN s.name"
    assert check_cypher(q, OPS, NEO4J).corrected == "MATCH (s:Service)-[:RUNS_ON]->(h:Host) RETURN s.name"


def test_undirected_and_untyped_hops_are_not_corrected():
    assert check_cypher("MATCH (h:Host)-[:RUNS_ON]-(s:Service) RETURN s", OPS, NEO4J).diagnostics == []
    assert check_cypher("MATCH (h:Host)-->(s:Service) RETURN s", OPS, NEO4J).corrected is None


WRITES = [
    "CREATE (n:Host {hostname: 'x'}) RETURN n",
    "MATCH (n:Host) DETACH DELETE n",
    "match (n:Host) delete n",
    "MATCH (n:Host) SET n.cpu_count = 0 RETURN n",
    "MERGE (n:Host {hostname: 'x'}) RETURN n",
    "MATCH (n:Host) REMOVE n.hostname RETURN n",
    "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row",
    "CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'DETACH DELETE n', {}) YIELD batches RETURN batches",
    "CALL { MATCH (n:Host) DETACH DELETE n } RETURN 1",
    "MATCH (n:Host) FOREACH (x IN [1] | SET n.cpu_count = x) RETURN n",
    "MATCH (n:Host) /* c */ DELETE n",
    "MATCH (n:Host) WITH n // c\nDELETE n",
]


@pytest.mark.parametrize("query", WRITES)
def test_writes_are_refused(query):
    errors = codes(query)
    assert any(c.startswith(("policy.", "syntax.")) for c in errors), errors


def test_writes_allowed_by_policy_but_load_csv_never():
    assert codes("CREATE (n:Host {hostname: 'x'}) RETURN n", policy=Policy(allow_writes=True)) == []
    assert "policy.statement" in codes("LOAD CSV FROM 'x' AS r RETURN r", policy=Policy(allow_writes=True))


def test_read_procedures_are_allowed():
    assert codes("CALL db.labels() YIELD label RETURN label") == []


@pytest.mark.parametrize("query, code, hint", [
    ("MATCH (s:Service)-[r:RUNS_ON]->(h:Host) RETURN type(r)", "dialect.function", "label(r)"),
    ("MATCH (h:Host) RETURN labels(h)", "dialect.function", "label(n)"),
    ("MATCH p = shortestPath((a:Service)-[:DEPENDS_ON*1..5]-(b:Service)) RETURN p", "dialect.unsupported", "SHORTEST"),
    ("MATCH (h:Host) RETURN COUNT { (s:Service)-[:RUNS_ON]->(h) }", "dialect.unsupported", ""),
    ("MATCH (h:Host:Service) RETURN h", "dialect.unsupported", "single label"),
])
def test_ladybug_dialect_refuses_what_fails_or_misbehaves_there(query, code, hint):
    diags = [d for d in check_cypher(query, OPS, LADYBUG).diagnostics if d.code == code]
    assert diags and hint in diags[0].hint
    assert not [d for d in check_cypher(query, OPS, NEO4J).diagnostics if d.code.startswith("dialect.")]


def test_ladybug_substring_is_flagged_as_one_based():
    [d] = check_cypher("MATCH (h:Host) RETURN substring(h.hostname, 1, 3)", OPS, LADYBUG).diagnostics
    assert d.severity == "warning" and "1" in d.message


def test_large_schema_prompt_shows_a_relevant_subset():
    from nl2q.targets.cypher import CypherBound

    nodes = {f"Thing{i}": {"name": "STRING"} for i in range(40)}
    nodes.update({"Host": {"hostname": "STRING"}, "Service": {"name": "STRING"}})
    rels = {"RUNS_ON": {"endpoints": [["Service", "Host"]], "properties": {}},
            **{f"LINK{i}": {"endpoints": [[f"Thing{i}", f"Thing{i + 1}"]], "properties": {}} for i in range(39)}}
    bound = CypherBound(from_dict({"nodes": nodes, "relationships": rels}), NEO4J, None)
    text = bound.schema_text("Which services run on which host?")
    assert "(:Service)-[:RUNS_ON]->(:Host)" in text
    assert "Thing30" not in text and "most relevant" in text


def test_a_relationship_variable_reused_as_a_node_is_judged_not_a_crash():
    r = check_cypher("MATCH (a)-[d:DEPENDS_ON]->(b) MATCH (d) RETURN d.nope", OPS, NEO4J)
    assert [x.code for x in r.diagnostics if x.is_error] == ["schema.unknown_property"]
