"""The shell dry run: effects on a copy of the work tree, reported by kind, with the original and the host untouched."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from nl2q.errors import Nl2qError
from nl2q.targets.shell import sandbox
from nl2q.targets.shell.sandbox import Limits, diff, run_sandboxed, sandbox_available, snapshot
from nl2q.types import Effect

needs_sandbox = pytest.mark.skipif(sandbox_available() is None, reason="no bubblewrap or unshare sandbox here")
needs_bwrap = pytest.mark.skipif(sandbox_available() != "bubblewrap", reason="bubblewrap is not usable here")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A small project: logs in a tree, a symlink, an executable, a non-executable script, non-ASCII names."""
    w = tmp_path / "proj"
    (w / "logs" / "sub").mkdir(parents=True)
    (w / "src").mkdir()
    (w / "données").mkdir()
    (w / "app.log").write_text("x" * 119 + "\n")
    (w / "old.log").write_text("old line\n" * 50)
    (w / "logs" / "a.log").write_text("a\n")
    (w / "logs" / "b.log").write_text("b\n")
    (w / "logs" / "sub" / "c.log").write_text("c\n")
    (w / "src" / "main.py").write_text("print('hi')\n")
    (w / "données" / "été.txt").write_text("chaud\n")
    (w / "x.sh").write_text("#!/bin/sh\necho x\n")
    os.chmod(w / "x.sh", 0o644)
    (w / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(w / "run.sh", 0o755)
    (w / "current").symlink_to("logs/a.log")
    return w


def kinds(effects: list[Effect]) -> set[tuple[str, str]]:
    return {(e.kind, e.target) for e in effects}


# ------------------------------------------------------------------ snapshots and diffs, no sandbox needed

def test_diff_reports_each_kind_of_change(work: Path) -> None:
    before = snapshot(work, 100, 10**7)
    assert before["current"].kind == "symlink" and before["current"].link == "logs/a.log"
    assert before["run.sh"].mode == 0o755 and before["app.log"].size == 120 and before["app.log"].hashed
    (work / "app.log").write_text("")
    os.chmod(work / "x.sh", 0o755)
    shutil.rmtree(work / "logs" / "sub")
    (work / "new").mkdir()
    (work / "current").unlink()
    (work / "current").symlink_to("logs/b.log")
    os.utime(work / "old.log", ns=(0, 10**18))
    effects = diff(before, snapshot(work, 100, 10**7))
    assert Effect("file.changed", "app.log", "size 120 -> 0") in effects
    assert Effect("file.mode", "x.sh", "mode 644 -> 755") in effects
    assert Effect("symlink.changed", "current", "target logs/a.log -> logs/b.log") in effects
    assert Effect("file.touched", "old.log", "mtime changed, content the same") in effects
    assert kinds(effects) == {("file.changed", "app.log"), ("file.mode", "x.sh"), ("dir.deleted", "logs/sub"),
                              ("file.deleted", "logs/sub/c.log"), ("dir.created", "new"),
                              ("symlink.changed", "current"), ("file.touched", "old.log")}


def test_large_files_are_compared_by_size_and_mtime(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"\0" * (sandbox.HASH_LIMIT + 1))
    before = snapshot(tmp_path, 10, 10**8)
    assert not before["big"].hashed
    with open(tmp_path / "big", "ab") as f:
        f.write(b"1")
    (effect,) = diff(before, snapshot(tmp_path, 10, 10**8))
    assert effect.kind == "file.changed" and "compared by size and mtime" in effect.detail


def test_a_tree_over_max_files_is_refused(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"f{i}").write_text("x")
    with pytest.raises(Nl2qError) as exc:
        snapshot(tmp_path, 10, 10**6)
    assert "31 files and directories" in exc.value.message and "max_files=10" in exc.value.message


def test_no_sandbox_says_what_to_install(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_find", lambda name: None)
    assert sandbox_available() is None
    with pytest.raises(Nl2qError, match="no sandbox is available") as exc:
        run_sandboxed("echo hi", work)
    assert "apt-get install bubblewrap" in exc.value.hint


# ------------------------------------------------------------------ effects

@needs_bwrap
def test_rm_rf_reports_exactly_what_went_and_leaves_the_original(work: Path) -> None:
    original = snapshot(work, 1000, 10**8)
    r = run_sandboxed("rm -rf logs", work)
    assert r.ok and r.engine == "bubblewrap" and r.mode == "run" and r.exit_status == 0
    assert kinds(r.effects) == {("dir.deleted", "logs"), ("dir.deleted", "logs/sub"), ("file.deleted", "logs/a.log"),
                                ("file.deleted", "logs/b.log"), ("file.deleted", "logs/sub/c.log")}
    assert snapshot(work, 1000, 10**8) == original
    assert (work / "logs" / "sub" / "c.log").read_text() == "c\n"


@needs_bwrap
def test_absolute_paths_inside_the_work_tree_reach_the_copy(work: Path) -> None:
    r = run_sandboxed(f"rm '{work}/app.log' && pwd", work)
    assert r.ok and r.output.strip() == str(work)
    assert kinds(r.effects) == {("file.deleted", "app.log")}
    assert (work / "app.log").exists()


@needs_bwrap
@pytest.mark.parametrize("script, expected", [
    (": > app.log", [Effect("file.changed", "app.log", "size 120 -> 0")]),
    ("chmod +x x.sh", [Effect("file.mode", "x.sh", "mode 644 -> 755")]),
    ("ln -sfn logs/b.log current", [Effect("symlink.changed", "current", "target logs/a.log -> logs/b.log")]),
])
def test_single_effects(work: Path, script: str, expected: list[Effect]) -> None:
    r = run_sandboxed(script, work)
    assert r.ok, r.error
    assert r.effects == expected


@needs_bwrap
def test_gzip_creates_and_deletes(work: Path) -> None:
    r = run_sandboxed("gzip old.log", work)
    assert r.ok, r.error
    assert kinds(r.effects) == {("file.created", "old.log.gz"), ("file.deleted", "old.log")}
    assert (work / "old.log").exists() and not (work / "old.log.gz").exists()


@needs_bwrap
def test_echo_has_output_and_no_effects(work: Path) -> None:
    r = run_sandboxed("echo hi; readlink current; test -x run.sh && echo exec", work)
    assert r.ok and r.error is None and not r.capped
    assert r.output == "hi\nlogs/a.log\nexec\n" and r.effects == []


@needs_bwrap
def test_non_ascii_names(work: Path) -> None:
    r = run_sandboxed("mv données/été.txt 'données/hiver ❄.txt'; touch $'bad\\xff'", work)
    assert r.ok, r.error
    assert kinds(r.effects) == {("file.deleted", "données/été.txt"), ("file.created", "données/hiver ❄.txt"),
                                ("file.created", "bad\\xff")}


@needs_bwrap
def test_failure_is_not_ok_and_quotes_stderr(work: Path) -> None:
    r = run_sandboxed("echo partial; echo boom >&2; exit 3", work)
    assert not r.ok and r.exit_status == 3
    assert "boom" in r.error and r.output == "partial\n--- stderr ---\nboom\n"


# ------------------------------------------------------------------ containment

@needs_bwrap
@pytest.mark.parametrize("script", [
    "curl -sS -m 3 http://example.com",
    "cat < /dev/tcp/1.1.1.1/80",
    "getent hosts example.com",
])
def test_no_network(work: Path, script: str) -> None:
    if script.startswith("curl") and not shutil.which("curl"):
        pytest.skip("curl is not installed")
    r = run_sandboxed(script, work, Limits(timeout_s=4))
    assert not r.ok and r.exit_status not in (0, None), r.output


@needs_bwrap
def test_system_directories_are_read_only(work: Path) -> None:
    doc = sorted(os.listdir("/usr/share/doc")) if os.path.isdir("/usr/share/doc") else None
    r = run_sandboxed("touch /etc/x", work)
    assert not r.ok and "Read-only file system" in r.error
    assert not os.path.exists("/etc/x")
    r = run_sandboxed("rm -rf /usr/share/doc; echo 1 > /proc/sys/vm/swappiness", work)
    assert not r.ok and r.effects == []
    assert doc is None or sorted(os.listdir("/usr/share/doc")) == doc


@needs_bwrap
def test_the_root_shows_only_the_sandbox(work: Path) -> None:
    r = run_sandboxed("cd / && ls && ls -a /tmp", work)
    assert r.ok, r.error
    top, _, tmp = r.output.partition(".\n..\n")
    system = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"}
    assert set(top.split()) <= system | {work.parts[1]} and "usr" in top.split()
    assert not {"root", "home", "var", "work"} & (set(top.split()) - {work.parts[1]})
    assert set(tmp.split()) <= {work.parts[2]} if work.parts[1] == "tmp" else tmp.split() == []


@needs_bwrap
def test_kill_all_reaches_only_the_sandbox(work: Path) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        r = run_sandboxed("kill -9 -1; echo done", work)
        assert r.ok and bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


@needs_bwrap
def test_timeout_stops_the_whole_tree(work: Path) -> None:
    started = time.monotonic()
    r = run_sandboxed("(exec -a nl2q-sandbox-marker sleep 30) & sleep 30", work, Limits(timeout_s=1))
    assert time.monotonic() - started < 4
    assert not r.ok and r.exit_status is None and r.error == "timed out after 1s"
    found = subprocess.run(["pgrep", "-f", "nl2q-sandbox-marker"], capture_output=True, text=True)
    assert found.stdout == ""


@needs_bwrap
def test_output_is_capped_and_says_so(work: Path) -> None:
    r = run_sandboxed("yes | head -c 10000000", work, Limits(max_output=10_000))
    assert r.ok and r.capped and "output cut at 10,000 bytes" in r.error
    assert len(r.output.encode()) < 10_200 and "more bytes]" in r.output


@needs_bwrap
def test_big_writes_fit_or_are_bounded(work: Path) -> None:
    r = run_sandboxed("head -c 100000000 /dev/zero > big.bin", work)
    assert r.ok, r.error
    assert r.effects == [Effect("file.created", "big.bin", "size 100000000, mode 644")]
    r = run_sandboxed("head -c 100000000 /dev/zero > big.bin", work, Limits(max_bytes=5_000_000))
    assert not r.ok and "max_bytes=5,000,000" in r.error
    assert [e.kind for e in r.effects] == ["file.created"] and int(r.effects[0].detail.split()[1].rstrip(",")) <= 5_000_000


@needs_bwrap
def test_a_tree_over_the_bounds_is_refused_before_running(work: Path) -> None:
    with pytest.raises(Nl2qError, match=r"holds \d+ files and directories, over the sandbox limit max_files=5"):
        run_sandboxed("rm -rf .", work, Limits(max_files=5))
    with pytest.raises(Nl2qError, match="max_bytes=100"):
        run_sandboxed("rm -rf .", work, Limits(max_bytes=100))
    assert (work / "app.log").exists()


@needs_sandbox
def test_unshare_fallback(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_find", lambda name: None if name == "bwrap" else shutil.which(name))
    if sandbox_available() != "unshare":
        pytest.skip("unshare cannot sandbox here")
    original = snapshot(work, 1000, 10**8)
    r = run_sandboxed(f"rm -rf logs; rm '{work}/app.log'; echo hi", work)
    assert r.ok and r.engine == "unshare" and r.output == "hi\n"
    assert kinds(r.effects) == {("dir.deleted", "logs"), ("dir.deleted", "logs/sub"), ("file.deleted", "logs/a.log"),
                                ("file.deleted", "logs/b.log"), ("file.deleted", "logs/sub/c.log"),
                                ("file.deleted", "app.log")}
    assert snapshot(work, 1000, 10**8) == original
    r = run_sandboxed("touch /etc/x || touch /var/tmp/nl2q-x || cat < /dev/tcp/1.1.1.1/80", work)
    assert not r.ok and not os.path.exists("/etc/x") and not os.path.exists("/var/tmp/nl2q-x")
