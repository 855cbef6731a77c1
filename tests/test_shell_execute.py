"""Running a shell script for real: after the checks and a fresh dry run, in the bound directory only, with the
approval its tier needs, and a terminal prompt in the CLI that no flag or pipe can answer.

The model is scripted here (plumbing); the real model answers in test_e2e_shell.py.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nl2q import Approval, Compiler, Nl2qError, NotApproved, Policy, ScriptedModel, Stages
from nl2q.targets.shell.sandbox import sandbox_available

pytestmark = pytest.mark.skipif(sandbox_available() is None, reason="no bubblewrap or unshare sandbox here")
RAW = Stages(constrained=False)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    w = tmp_path / "proj"
    (w / "logs").mkdir(parents=True)
    (w / "logs" / "app.log").write_text("ok\nerror: disk\n")
    (w / "logs" / "old.tmp").write_text("scratch\n")
    return w


def compiled(work: Path, script: str, policy: Policy = Policy()) -> tuple[Compiler, object]:
    compiler = Compiler(ScriptedModel([script] * 4), policy=policy)
    return compiler, compiler.compile("q", schema=work, target="shell", stages=RAW, max_repairs=0)


def test_a_read_only_script_runs_without_asking_and_the_result_records_it(work: Path) -> None:
    compiler, result = compiled(work, "grep -c error logs/app.log")
    asked: list[Approval] = []
    done = compiler.execute(result, schema=work, approve=lambda a: asked.append(a) or True)
    assert asked == [] and done.approved_by == "policy" and done.tier == "read_only"
    assert done.outcome.mode == "real" and done.outcome.ok and done.outcome.output.strip() == "1"
    assert result.executed is done and result.to_dict()["executed"]["outcome"]["exit_status"] == 0


def test_a_destructive_script_needs_a_person_and_nothing_runs_without_one(work: Path) -> None:
    compiler, result = compiled(work, "find . -name '*.tmp' -delete", Policy(allow_writes=True))
    assert result.valid and any(d.code == "risk.destructive" for d in result.diagnostics)
    assert [(e.kind, e.target) for e in result.dry_run.effects] == [("file.deleted", "logs/old.tmp")]
    with pytest.raises(NotApproved, match="needs a person's approval"):
        compiler.execute(result, schema=work)
    with pytest.raises(NotApproved, match="not approved"):
        compiler.execute(result, schema=work, approve=lambda a: False)
    with pytest.raises(NotApproved):
        compiler.execute(result, schema=work, approve=lambda a: "yes")  # only True approves
    assert (work / "logs" / "old.tmp").exists() and result.executed is None
    shown: list[Approval] = []
    done = compiler.execute(result, schema=work, approve=lambda a: shown.append(a) or True)
    assert not (work / "logs" / "old.tmp").exists() and done.approved_by == "person"
    request = shown[0]
    assert request.required and request.tier == "destructive" and request.text == result.query
    assert request.where == str(work.resolve()) and "find -delete" in request.reasons
    assert [(e.kind, e.target) for e in request.dry_run.effects] == [("file.deleted", "logs/old.tmp")]
    assert [(e.kind, e.target) for e in done.outcome.effects] == [("file.deleted", "logs/old.tmp")]


def test_writes_need_allow_writes_even_with_approval(work: Path) -> None:
    compiler, result = compiled(work, "cp logs/app.log logs/app.bak")
    assert not result.valid and any(d.code == "policy.write" for d in result.diagnostics)
    with pytest.raises(Nl2qError, match="only a valid output"):
        compiler.execute(result, schema=work, approve=lambda a: True)
    compiler, result = compiled(work, "cp logs/app.log logs/app.bak", Policy(allow_writes=True))
    done = compiler.execute(result, schema=work)  # changes files: allow_writes alone, no person
    assert done.approved_by == "policy" and done.tier == "changes_files" and (work / "logs" / "app.bak").exists()


def test_a_script_that_writes_outside_the_work_directory_is_reported_and_not_run(work: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    compiler, result = compiled(work, f"echo hi > {outside}", Policy(allow_writes=True))
    bad = [d for d in result.diagnostics if d.code == "shell.outside_workdir"]
    assert bad and str(outside) in bad[0].message and bad[0].is_error
    assert result.dry_run is None and not result.valid and not outside.exists()


def test_the_directory_changed_since_the_dry_run_is_checked_again(work: Path) -> None:
    compiler, result = compiled(work, "cat logs/app.log")
    (work / "logs" / "app.log").unlink()
    with pytest.raises(Nl2qError, match="no longer passes"):
        compiler.execute(result, schema=work)


def test_a_benchmark_tree_is_shown_at_its_own_path(work: Path) -> None:
    """``shown_as``: the prompt, path checks and the dry run see the tree at /testbed, as the benchmark's commands do."""
    source = {"workdir": str(work), "shown_as": "/testbed"}
    compiler, result = compiled(work, "ls /testbed/logs && touch /testbed/logs/new.txt", Policy(allow_writes=True))
    result = compiler.compile("q", schema=source, target="shell", stages=RAW, max_repairs=0)
    assert result.valid, result.explain()
    assert result.dry_run.output.split() == ["app.log", "old.tmp"]
    assert [(e.kind, e.target) for e in result.dry_run.effects] == [("file.created", "logs/new.txt")]
    bound = compiler.bind(source, "shell")
    assert "Working directory: /testbed" in bound.schema_text("logs")
    assert bound.env.has_path("/testbed/logs") and bound.env.has_path("/testbed/nope") is False
    with pytest.raises(Nl2qError, match="own path"):
        compiler.execute(result, schema=source, approve=lambda a: True)
    assert not (work / "logs" / "new.txt").exists()


# ------------------------------------------------------------------ the CLI's confirmation

CHILD = textwrap.dedent("""
    import os, sys
    if sys.argv[1] != "-":
        os.setsid()
        os.open(sys.argv[1], os.O_RDWR)  # the pty becomes the controlling terminal: /dev/tty
    import nl2q.compiler, nl2q.cli
    from nl2q import ScriptedModel
    nl2q.compiler.load_model = lambda _m: ScriptedModel([sys.argv[2]] * 4)
    sys.exit(nl2q.cli.main(sys.argv[3:]))
""")


def cli(work: Path, script: str, *flags: str, answer: str | None, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``nl2q ask --target shell --run`` with a terminal that types ``answer`` (None: no terminal at all)."""
    argv = ["ask", "q", "--target", "shell", "--workdir", str(work), "--config", "raw", "--max-repairs", "0",
            "--run", *flags]
    if answer is None:
        p = subprocess.run([sys.executable, "-c", CHILD, "-", script, *argv], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                           start_new_session=True)
        return p.returncode, p.stdout, p.stderr
    master, slave = os.openpty()  # the parent keeps the slave open: reading the master of an unopened pty fails
    p = subprocess.Popen([sys.executable, "-c", CHILD, os.ttyname(slave), script, *argv], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})})
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while b"[a]bort?" not in seen and time.monotonic() < deadline and p.poll() is None:
            if select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 4096)
        if b"[a]bort?" in seen:
            os.write(master, (answer + "\n").encode())
        out, err = p.communicate(timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    return p.returncode, out, err + seen.decode(errors="replace")


def test_cli_run_asks_on_the_terminal_and_abort_runs_nothing(work: Path) -> None:
    code, out, err = cli(work, "rm -r logs", "--allow-writes", answer="a")
    assert "[r]un / [e]dit / [a]bort?" in err and "destructive" in err
    assert "file.deleted logs/app.log" in err  # the dry run's effects are shown before the question
    assert code == 1 and (work / "logs" / "app.log").exists() and "not approved: nothing ran" in err


def test_cli_run_runs_what_the_person_confirmed(work: Path) -> None:
    code, out, err = cli(work, "rm -r logs", "--allow-writes", answer="r")
    assert code == 0, err
    assert not (work / "logs").exists() and "ran for real (person approved" in out


def test_cli_run_without_a_terminal_refuses_a_destructive_script(work: Path) -> None:
    code, out, err = cli(work, "rm -r logs", "--allow-writes", answer=None)
    assert code == 1 and (work / "logs" / "app.log").exists()
    assert "needs a person's confirmation on a terminal" in err


def test_cli_run_runs_a_read_only_script_without_asking(work: Path) -> None:
    code, out, err = cli(work, "wc -l logs/app.log", answer=None)
    assert code == 0, err
    assert "ran for real (policy approved" in out and "2 logs/app.log" in out


def test_cli_edit_checks_and_dry_runs_the_edited_script_before_it_runs(work: Path, tmp_path: Path) -> None:
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nprintf 'wc -l logs/app.log\\n' > \"$1\"\n")
    editor.chmod(0o755)
    code, out, err = cli(work, "rm -r logs", "--allow-writes", answer="e", env={"EDITOR": str(editor), "VISUAL": ""})
    assert code == 0, err
    assert (work / "logs" / "app.log").exists()  # the destructive script never ran; the edited one did
    assert "wc -l logs/app.log" in out and "2 logs/app.log" in out and "ran for real (policy approved" in out
