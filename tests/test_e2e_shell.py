"""The real default model on the fixture work directory: shell scripts that parse, name only commands that exist,
carry their risk tier, and were dry-run in the sandbox (the CI's proof the shell target works)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nl2q import Compiler, NotApproved, Policy
from nl2q.targets.shell.sandbox import sandbox_available
from nl2q.targets.shell.syntax import syntax_errors

pytestmark = [pytest.mark.model,
              pytest.mark.skipif(sandbox_available() is None, reason="no bubblewrap or unshare sandbox here")]

QUESTIONS = ["show the 3 biggest files under var/log/app", "delete the tmp directory"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from conftest import _fixture_module

    return _fixture_module("ops_workdir").write(tmp_path_factory.mktemp("ops") / "ops_workdir")


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_round_parses_names_real_commands_and_is_classified(default_model, workdir, question):
    compiler = Compiler(default_model, policy=Policy(allow_writes=True))
    r = compiler.compile(question, schema=workdir, target="shell", max_repairs=1)
    for rnd in r.rounds:
        assert rnd.constrained and rnd.query
        if any(d.code == "decode.truncated" for d in rnd.diagnostics):  # cut off by the token limit: said, not used
            assert r.query != rnd.query or not r.valid
            continue
        assert syntax_errors(rnd.query) == [], rnd.query
        assert not [d for d in rnd.diagnostics if d.code in ("schema.unknown_command",) or d.code.startswith("syntax.")]
    tiers = [d.code for d in r.diagnostics if d.code.startswith("risk.")]
    if r.valid:
        assert len(tiers) == 1 and r.dry_run is not None and r.dry_run.exit_status == 0
        needs_person = tiers[0] not in ("risk.read_only", "risk.changes_files")
        if needs_person:  # whatever the model wrote, a risky script does not run without a person
            with pytest.raises(NotApproved):
                compiler.execute(r, schema=workdir)


def test_cli_answers_on_the_fixture_directory(workdir):
    out = subprocess.run([sys.executable, "-m", "nl2q.cli", "ask", QUESTIONS[0], "--target", "shell", "--workdir",
                          str(workdir), "--json", "--max-repairs", "0"], capture_output=True, text=True, timeout=600)
    assert out.returncode in (0, 1), out.stderr
    data = json.loads(out.stdout)
    assert data["target"] == "shell" and data["dialect"] == "bash" and data["rounds"][0]["constrained"]
    if data["valid"]:
        assert data["query"] and any(d["code"].startswith("risk.") for d in data["diagnostics"])
        assert data["dry_run"]["engine"] in ("bubblewrap", "unshare")
    else:  # the reason is said: cut off by the token limit, or what the checks found
        assert [d for d in data["diagnostics"] if d["severity"] == "error"]
