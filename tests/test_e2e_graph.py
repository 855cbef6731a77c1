"""The real default model on the ops knowledge graph: embedded (Ladybug) and Bolt (ArcadeDB) paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from graph_server import arcadedb_fixture
from nl2q import Compiler
from nl2q.targets.cypher.check import check_cypher

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parent.parent
QUESTION = "List the hostname of every host."
arcadedb = arcadedb_fixture(scope="module")


@pytest.fixture(scope="module")
def ladybug_kg(kg, tmp_path_factory) -> Path:
    return kg.write_ladybug(tmp_path_factory.mktemp("kg") / "ops_kg")


@pytest.fixture(scope="module")
def bolt_uri(kg, arcadedb) -> str:
    with arcadedb.driver() as driver:
        kg.load_bolt(driver)
    user, password = arcadedb.auth
    return arcadedb.uri.replace("bolt://", f"bolt://{user}:{password}@")


@pytest.fixture(scope="module")
def compiler(default_model):
    c = Compiler(default_model, max_new_tokens=96)
    yield c
    c.close()


def assert_sound(result, dialect: str) -> None:
    """Whatever the model wrote: each round parses under the check grammar or says it was cut off."""
    assert result.dialect == dialect
    for rd in result.rounds:
        assert rd.constrained
        if any(d.code in ("decode.truncated", "repair.repeated") for d in rd.diagnostics):
            continue
        assert not any(d.code.startswith("syntax.") for d in rd.diagnostics), rd.diagnostics
    if result.valid:
        assert result.dry_run is not None and result.dry_run.ok
        assert not any(d.code.startswith("policy.") for d in result.diagnostics)
    else:
        assert result.errors


@pytest.mark.parametrize("path", ["embedded", "bolt"])
def test_answers_on_both_paths_with_rows(compiler, ladybug_kg, bolt_uri, path):
    source, dialect = (str(ladybug_kg), "ladybug") if path == "embedded" else (bolt_uri, "neo4j")
    r = compiler.compile(QUESTION, target="cypher", schema=source)
    assert_sound(r, dialect)
    assert r.valid, r.explain()
    assert r.dry_run.rows and r.dry_run.engine == ("ladybug" if path == "embedded" else "bolt")
    bound = compiler.bind(source, "cypher")
    assert check_cypher(r.query, bound.schema, bound.dialect).ok


@pytest.mark.parametrize("question", [
    "Which services depend on the service named payments-db?",
    "Which incidents were caused by a deployment?",
])
def test_rounds_are_sound_on_harder_questions(compiler, ladybug_kg, question):
    assert_sound(compiler.compile(question, target="cypher", schema=str(ladybug_kg), max_repairs=1), "ladybug")


def test_cli_graph_json(ladybug_kg):
    proc = subprocess.run([sys.executable, "-m", "nl2q.cli", "ask", QUESTION, "--graph", str(ladybug_kg), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["target"] == "cypher" and out["dialect"] == "ladybug" and out["valid"] and out["dry_run"]["rows"]
