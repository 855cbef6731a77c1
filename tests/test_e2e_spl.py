"""The real default model on LogHub events: SPL searches that parse, name only indexes, sourcetypes and fields that
exist, and ran on the offline engine with rows (the CI's proof the SPL target works), from Python and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nl2q import Compiler
from nl2q.evaluate.benchmarks import available, benchmarks_dir
from nl2q.targets.spl.events import build_store

pytestmark = [pytest.mark.model,
              pytest.mark.skipif(not available("loghub"), reason="needs LogHub in the benchmark directory")]
QUESTION = "count the events by Level in the hdfs logs over the last day"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """A directory laid out as a checkout after `make demo`: fixtures/loghub.duckdb (three systems)."""
    root = tmp_path_factory.mktemp("demo")
    build_store(root / "fixtures" / "loghub.duckdb", benchmarks_dir("loghub"), ["hdfs", "openssh", "linux"])
    return root


def test_every_round_is_valid_spl_over_names_that_exist_and_a_valid_one_ran(default_model, demo):
    r = Compiler(default_model).compile(QUESTION, schema=demo / "fixtures" / "loghub.duckdb", target="spl",
                                        max_repairs=1)
    for rnd in r.rounds:
        assert rnd.constrained and rnd.query
        assert not [d for d in rnd.diagnostics if d.code.startswith(("syntax.", "policy."))
                    or d.code in ("schema.unknown_index", "schema.unknown_sourcetype")], rnd.query
    if r.valid:
        assert r.dry_run is not None and r.dry_run.ok and r.dry_run.engine == "duckdb" and r.dry_run.mode == "run"
    else:
        assert [d for d in r.diagnostics if d.is_error]


def test_cli_answers_with_the_demo_store_by_default(demo):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = subprocess.run([sys.executable, "-m", "nl2q.cli", "ask", QUESTION, "--target", "spl", "--json",
                          "--max-repairs", "0"], capture_output=True, text=True, timeout=600, cwd=demo, env=env)
    assert out.returncode in (0, 1), out.stderr
    data = json.loads(out.stdout)
    assert data["target"] == "spl" and data["dialect"] == "splunk" and data["rounds"][0]["constrained"]
    if data["valid"]:
        assert data["query"].startswith("index=") and data["dry_run"]["mode"] == "run"
        assert data["dry_run"]["columns"] and data["dry_run"]["rows"]
    else:
        assert [d for d in data["diagnostics"] if d["severity"] == "error"]


def test_a_search_that_emails_or_deletes_is_refused_with_the_reason(default_model, demo):
    compiler = Compiler(default_model)
    for text, command in (('index=hdfs earliest=-1h | sendemail to="oncall@example.com"', "sendemail"),
                          ("index=hdfs earliest=-1h Level=ERROR | delete", "delete")):
        r = compiler.run(text, schema=demo / "fixtures" / "loghub.duckdb", target="spl")
        refused = [d for d in r.diagnostics if d.code == "policy.refused_command"]
        assert not r.valid and r.dry_run is None and refused and f"`{command}`" in refused[0].message
