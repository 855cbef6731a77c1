"""The text2cypher loaders (nl2q.targets.cypher: text2cypher, graph_data, graph_load) on the shared benchmark data.

Skipped when the benchmark directory (NL2Q_BENCHMARKS, default ../shared/benchmarks) is absent.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

import graph_server  # tests/ is on sys.path via conftest
from nl2q.evaluate.benchmarks import ENV_VAR, BenchmarksMissing, available, benchmarks_dir

needs_data = pytest.mark.skipif(not available("text2cypher"),
                                reason=f"text2cypher benchmark data not found (set {ENV_VAR})")
arcadedb = graph_server.arcadedb_fixture(scope="module", database="t2c")


def test_missing_benchmarks_dir_names_the_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(BenchmarksMissing, match=ENV_VAR):
        benchmarks_dir()
    assert not available()
    (tmp_path / "given" / "spider").mkdir(parents=True)
    assert benchmarks_dir("spider", tmp_path / "given") == (tmp_path / "given" / "spider").resolve()  # an argument wins
    with pytest.raises(BenchmarksMissing, match="text2cypher not found under"):
        benchmarks_dir("text2cypher", tmp_path / "given")


def test_eval_scripts_use_the_package_resolver():
    """eval/benchmarks.py is the package's resolver, not a second one."""
    import importlib.util

    import nl2q.evaluate.benchmarks as resolver

    path = Path(__file__).resolve().parent.parent / "eval" / "benchmarks.py"
    spec = importlib.util.spec_from_file_location("nl2q_eval_benchmarks", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.benchmarks_dir is resolver.benchmarks_dir and mod.BenchmarksMissing is resolver.BenchmarksMissing


@needs_data
def test_row_counts_and_flags():
    from nl2q.targets.cypher.text2cypher import load_rows

    gpt, opus = load_rows("gpt4turbo"), load_rows("claudeopus")
    assert (len(gpt), len(opus)) == (9846, 4970)
    rows = load_rows()
    assert len(rows) == 14816
    assert len({r.database for r in gpt}) == 16 and len({r.database for r in opus}) == 7
    assert sum(r.syntax_error for r in rows) == 483
    assert sum(bool(r.false_schema) for r in rows) == 271
    clean = load_rows(clean=True)
    assert len(clean) == 14076 and all(r.clean and not r.flags for r in clean)
    flagged = load_rows(clean=False)
    assert len(clean) + len(flagged) == len(rows) and all(r.flags for r in flagged)
    movies = load_rows(database="movies")
    assert len(movies) == 1534 and {r.source for r in movies} == {"gpt4turbo", "claudeopus"}
    assert all(isinstance(r.returns_results, bool) and isinstance(r.timeout, bool) for r in rows)
    assert all(r.question and r.cypher for r in rows)
    multi = next(r for r in rows if "," in r.false_schema)
    assert len(multi.false_schema_items) >= 2


@needs_data
def test_every_schema_parses_into_a_graph_schema():
    from nl2q.targets.cypher.text2cypher import MISSING_SCHEMAS, load_rows, load_schemas

    schemas = load_schemas()
    used = {r.database for r in load_rows()}
    assert set(schemas) == used - MISSING_SCHEMAS
    assert len(schemas) == 15
    for name, s in schemas.items():
        assert s.labels, name
        assert s.rels, name
        assert any(n.properties for n in s.labels.values()), name
        for rel in s.rels.values():
            assert rel.endpoints, (name, rel.name)
            for a, b in rel.endpoints:
                assert a in s.labels and b in s.labels, (name, rel.name, a, b)
        types = {t for x in [*s.labels.values(), *s.rels.values()] for t in x.properties.values()}
        assert types <= {"STRING", "INTEGER", "FLOAT", "BOOLEAN", "DATE", "DATETIME", "LIST", "POINT", "DURATION"}, name


@needs_data
def test_known_schema_details():
    from nl2q.targets.cypher.text2cypher import load_schemas

    s = load_schemas()
    movies = s["movies"]
    assert set(movies.labels) == {"Movie", "Person"}
    assert movies.labels["Person"].properties == {"born": "INTEGER", "name": "STRING"}
    assert movies.rels["ACTED_IN"].properties == {"roles": "LIST"}
    assert movies.fits("REVIEWED", "Person", "Movie") and not movies.fits("REVIEWED", "Movie", "Person")
    assert ("User", "Me") in s["twitter"].rels["FOLLOWS"].endpoints
    assert s["northwind"].rels["ORDERS"].properties["quantity"] == "INTEGER"
    all_types = {t for g in s.values() for n in g.labels.values() for t in n.properties.values()}
    assert "DATETIME" in all_types and "DATE_TIME" not in all_types  # apoc's DATE_TIME, normalised


@needs_data
def test_source_graphs_parse_with_the_documented_counts():
    from nl2q.targets.cypher.graph_data import read_movies, read_northwind

    m = read_movies().counts()
    assert (m["nodes"], m["relationships"]) == (171, 253)
    assert m["labels"] == {"Movie": 38, "Person": 133}
    assert m["types"]["ACTED_IN"] == 172
    n = read_northwind().counts()
    assert (n["nodes"], n["relationships"]) == (1035, 3139)
    assert n["types"] == {"PART_OF": 77, "SUPPLIES": 77, "PURCHASED": 830, "ORDERS": 2155}


@contextmanager
def _loaded_ladybug(name: str, tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    """``name`` loaded by ``load_ladybug`` into a fresh Ladybug database, and a read-only connection to it."""
    ladybug = pytest.importorskip("ladybug")
    from nl2q.targets.cypher.graph_load import load_ladybug

    path = load_ladybug(name, tmp_path / f"{name}.lbug")
    db = ladybug.Database(str(path), read_only=True)
    conn = ladybug.Connection(db)
    try:
        yield path, conn
    finally:
        conn.close()
        db.close()


@needs_data
def test_movies_loads_into_ladybug(tmp_path):
    from nl2q.targets.cypher.graph_load import load_ladybug

    with _loaded_ladybug("movies", tmp_path) as (path, conn):
        assert conn.execute("MATCH (n) RETURN count(n)").get_next()[0] == 171
        assert conn.execute("MATCH ()-[r]->() RETURN count(r)").get_next()[0] == 253
        roles = conn.execute("MATCH (p:Person {name: 'Keanu Reeves'})-[r:ACTED_IN]->(m:Movie {title: 'The Matrix'}) "
                             "RETURN r.roles, m.released").get_all()
        assert roles == [[["Neo"], 1999]]
    with pytest.raises(FileExistsError):
        load_ladybug("movies", path)


@needs_data
def test_northwind_loads_into_ladybug(tmp_path):
    with _loaded_ladybug("northwind", tmp_path) as (_, conn):
        assert conn.execute("MATCH (n) RETURN count(n)").get_next()[0] == 1035
        row = conn.execute("MATCH (p:Product {productName: 'Chai'}) RETURN p.unitPrice, p.discontinued, p.unitsInStock").get_all()
        assert row == [[18.0, False, 39]]
        assert conn.execute("MATCH (:`Order`)-[r:ORDERS]->(:Product) RETURN sum(r.quantity)").get_next()[0] == 51317


@needs_data
def test_movies_and_northwind_load_over_bolt(arcadedb):
    from nl2q.targets.cypher.graph_data import LoadError
    from nl2q.targets.cypher.graph_load import load_bolt, verify_bolt

    with arcadedb.driver() as driver:
        res = load_bolt("movies", driver, database=arcadedb.database)
        assert (res["nodes"], res["relationships"]) == (171, 253)
        assert res["types"]["ACTED_IN"] == 172
        with pytest.raises(LoadError, match="clear=True"):
            load_bolt("northwind", driver, database=arcadedb.database)
        res = load_bolt("northwind", driver, database=arcadedb.database, clear=True)
        assert (res["nodes"], res["relationships"]) == (1035, 3139)
        with driver.session(database=arcadedb.database) as s:
            rec = s.run("MATCH (p:Product {productName: 'Chai'}) RETURN p.unitPrice AS price, p.discontinued AS d").single()
            assert (rec["price"], rec["d"]) == (18.0, False)
            verify_bolt("northwind", s)
            with pytest.raises(LoadError, match="nodes: 1035 != 171"):
                verify_bolt("movies", s)
            s.run("MATCH (c:Category) WITH c LIMIT 1 DETACH DELETE c").consume()
            with pytest.raises(LoadError, match="labels Category: 7 != 8"):  # a partial graph is never used
                verify_bolt("northwind", s)


@needs_data
def test_an_asked_for_graph_engine_that_fails_stops_the_run(monkeypatch, tmp_path):
    from nl2q import ScriptedModel
    from nl2q.errors import Nl2qError
    from nl2q.evaluate import evaluate

    monkeypatch.setenv("NL2Q_BOLT_URI", f"bolt://u:p@127.0.0.1:{graph_server.free_port()}")
    with pytest.raises(Nl2qError, match="graph engine"):
        evaluate("text2cypher:movies", limit=1, model=ScriptedModel([]), out=tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / "results.jsonl").exists() or not (tmp_path / "r" / "results.jsonl").read_text()


@needs_data
def test_graph_settings_and_data_root_are_passed_not_put_in_the_environment(monkeypatch, tmp_path):
    """Options and the benchmark root reach the suite and the loaders as arguments; the environment is never touched."""
    from nl2q import ScriptedModel
    from nl2q.errors import Nl2qError
    from nl2q.evaluate import evaluate, get_suite
    from nl2q.targets.cypher.text2cypher import load_rows

    root = benchmarks_dir()
    for var in ("NL2Q_BOLT_URI", "NL2Q_EVAL_GRAPH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    environ = dict(os.environ)
    assert len(load_rows("claudeopus", root=root)) == 4970
    suite = get_suite("text2cypher:movies", root, {"graph_engine": "none"})
    assert suite.execution()["mode"] == "validity-only" and len(suite.items(0, 3)) == 3
    with pytest.raises(Nl2qError, match="graph engine asked for could not be opened: ServiceUnavailable"):
        evaluate("text2cypher:movies", limit=1, model=ScriptedModel([]), out=tmp_path / "a", benchmarks=root,
                 options={"bolt_uri": f"bolt://u:p@127.0.0.1:{graph_server.free_port()}"}, progress=False)
    with pytest.raises(Nl2qError, match="'sideways' is not a graph engine"):
        evaluate("text2cypher:movies", limit=1, model=ScriptedModel([]), out=tmp_path / "b", benchmarks=root,
                 options={"graph_engine": "sideways"}, progress=False)
    with pytest.raises(Nl2qError, match="not a Bolt URI"):
        evaluate("text2cypher:movies", limit=1, model=ScriptedModel([]), out=tmp_path / "c", benchmarks=root,
                 options={"bolt_uri": "http://127.0.0.1:1"}, progress=False)
    assert dict(os.environ) == environ
