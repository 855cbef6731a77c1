"""The shell target's flag tables: parsing real --help, accepting everyday ops one-liners, rejecting typos.

A false positive here would make a correct generated script look wrong, so the accept list is the larger one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from nl2q.resources import data_dir
from nl2q.targets.shell import flags
from nl2q.targets.shell.flags import FlagTable, check_flags, flag_table, from_help, platform_tables, wrong_platform

Words = list[tuple[str, int, int]]


def words(line: str) -> Words:
    """Shell words with quotes removed and their offsets in ``line`` (enough for these one-liners)."""
    out = []
    for m in re.finditer(r"(?:'[^']*'|\"[^\"]*\"|\\.|[^\s'\"\\])+", line):
        value = re.sub(r"'([^']*)'|\"([^\"]*)\"|\\(.)", lambda k: k.group(1) or k.group(2) or k.group(3) or "",
                       m.group(0))
        out.append((value, m.start(), m.end()))
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shell-flags")


def table_for(command: str, cache: Path) -> FlagTable:
    table = flag_table(command, cache_dir=cache) or platform_tables("gnu").get(command)
    assert table is not None, command
    return table


def problems(line: str, cache: Path) -> list[flags.FlagProblem]:
    ws = words(line)
    return check_flags(table_for(ws[0][0], cache), ws[1:])


def real_help(command: str, *args: str) -> str:
    path = shutil.which(command)
    if path is None:
        pytest.skip(f"{command} is not installed")
    done = subprocess.run([path, *(args or ("--help",))], capture_output=True, text=True, timeout=5,
                          env={**os.environ, "LANG": "C", "LC_ALL": "C"}, stdin=subprocess.DEVNULL)
    return done.stdout + done.stderr


# ------------------------------------------------------------------------------------------ from_help

@pytest.mark.parametrize("command, args, short, short_arg, long, long_arg", [
    ("ls", (), "laAhrtSR1d", "ITw", ["--all", "--human-readable", "--recursive", "--color"],
     ["--block-size", "--sort", "--color"]),
    ("grep", (), "rRinvEFlcoqwx", "efmABC", ["--recursive", "--ignore-case", "--color"], ["--regexp", "--include"]),
    ("du", (), "ahscxLk", "dBt", ["--summarize", "--human-readable"], ["--max-depth", "--exclude"]),
    ("sort", (), "nrubfghMVsz", "kto", ["--reverse", "--numeric-sort", "--unique"], ["--key", "--field-separator"]),
    ("tail", (), "Fqvz", "ncs", ["--follow", "--retry"], ["--lines", "--bytes", "--follow"]),
    ("tar", (), "cxtvzjJ", "fCT", ["--create", "--extract", "--gzip", "--list"], ["--file", "--directory"]),
    ("curl", ("--help", "all"), "sSfLIvkO", "oHdXuwAm", ["--silent", "--location", "--fail"],
     ["--output", "--header", "--max-time"]),
])
def test_from_help_reads_real_help(command: str, args: tuple[str, ...], short: str, short_arg: str, long: list[str],
                                   long_arg: list[str]) -> None:
    table = from_help(command, real_help(command, *args))
    assert table is not None and table.source == "help" and table.platform == "gnu"
    assert set(short) <= table.short, set(short) - table.short
    assert set(short_arg) <= table.short_with_arg, set(short_arg) - table.short_with_arg
    assert set(long) <= table.long, set(long) - table.long
    assert set(long_arg) <= table.long_with_arg, set(long_arg) - table.long_with_arg


def test_from_help_optional_and_mandatory_arguments() -> None:
    text = """Usage: demo [OPTION]... [FILE]...
Mandatory arguments to long options are mandatory for short options too.
  -n, --lines=[-]NUM       print NUM lines
  -F, --classify[=WHEN]    append indicator
      --color[=WHEN]       colorize
  -C DIR                   change to DIR
  -p, --indicator-style=slash
                           append / to directories
  -x                       plain flag
"""
    table = from_help("demo", text)
    assert table is not None
    assert "n" in table.short_with_arg and "n" not in table.short
    assert {"F"} <= table.short & table.short_with_arg
    assert "--color" in table.long and "--color" in table.long_with_arg
    assert "C" in table.short_with_arg and "x" in table.short
    assert "p" in table.short and "p" not in table.short_with_arg


def test_from_help_busybox_and_usage_lines() -> None:
    text = "BusyBox v1.36.1 multi-call binary.\n\nUsage: du [-aHLdclsxhmk] [FILE]...\n\n\t-a\tShow file sizes too\n" \
           "\t-d N\tLimit output to directories\n\t-h\tSizes in human readable format\n"
    table = from_help("du", text)
    assert table is not None and table.platform == "busybox"
    assert "d" in table.short_with_arg and "d" not in table.short and {"a", "H", "k"} <= table.short
    bsd = from_help("ssh", "usage: ssh [-46AaCf] [-B bind_interface]\n           [-p port] destination [command]\n")
    assert bsd is not None and {"4", "A", "f"} <= bsd.short and {"B", "p"} <= bsd.short_with_arg


def test_from_help_is_none_for_text_without_options() -> None:
    assert from_help("awk", "awk: not an option: --help\n") is None
    assert from_help("x", "") is None
    assert from_help("x", "Hello world.\nThis is not help.\n") is None


# ------------------------------------------------------------------------------------------ accepting

ACCEPTED = [
    "ls -lah", "du -sh *", "sort -rn", "head -n 10", "tail -f app.log", "head -20", "head -5", "tail -n -3 f",
    r"find . -name '*.log' -mtime +7 -exec gzip {} \;", "find /var/log -name '*.gz' -mtime -30 -exec rm -f {} +",
    r"find . \( -name a -o -name b \) -prune -o -type f -print0", "find -L . -maxdepth 2 -newermt 2024-01-01 ! -empty",
    "grep -rniE pat .", "grep --recursiv pat .", "grep -A3 -B2 --color=auto x f", "grep -e -x f", "grep -- -x f",
    "ps aux", "ps -ef", "ps axo pid,ppid,cmd", "ps -eo pid,%cpu --sort=-%cpu",
    "tar -czf a.tgz dir", "tar xzf a.tgz", "tar -zxvf a.tgz -C /opt", "tar cf - .", "tar --exclude='*.o' -cvf a.tar d",
    "kill -9 1", "kill -TERM 1", "kill -s HUP 1", "kill -l", "kill -- -1", "df -h", "df -hT", "ss -tlnp",
    "xargs -0 -n1", "xargs -0 rm -f --no-such-rm-flag", "xargs -I{} cp {} /tmp", "sort -k2,2nr", "sort -t, -k3 -n",
    "cut -d: -f1", "du -h --max-depth=1", "du --max-dept=1", "journalctl -u nginx --since today", "journalctl -fu x",
    "nice -n -5 cmd", "timeout 5 cmd --weird", "ls -- -Q9", "ls --al", "dd if=/dev/zero of=x bs=1M count=1",
    "sed -i.bak s/a/b/ f", "sed -n 1,5p f", "awk -F: '{print $1}' /etc/passwd", "test -f x", "[ -z x ]",
    "[ 1 -eq 2 ]", '[ "$x" = -n ]', "[ -f a -a -r a ]", "chmod -x f", "chmod -R go-w d", "curl -fsSL https://x",
    "systemctl status nginx --no-pager", "git -C /tmp log --oneline -5", "docker ps -a", "ssh -p 22 host ls -la",
    "date +%s", "date -Iseconds", "stat -c %s f", "lsof -nP -iTCP -sTCP:LISTEN", "less -R f", "tail -5f x",
    "printf '%s\\n' -x", "wget -qO- url", "top -bn1", "free -m", "uniq -c", "wc -l", "paste -sd+ f", "ls -1",
]


@pytest.mark.parametrize("line", ACCEPTED)
def test_common_one_liners_are_accepted(line: str, cache: Path) -> None:
    assert problems(line, cache) == []


# ------------------------------------------------------------------------------------------ rejecting

@pytest.mark.parametrize("line, flag, hint", [
    ("ls --colour-me", "--colour-me", "--color"),
    ("ls -lyq", "-y", "ls accepts"),
    ("grep --recursivex pat .", "--recursivex", "did you mean --recursive"),
    ("sort --revese", "--revese", "did you mean --reverse?"),
    ("du --max-detph=1", "--max-detph", "did you mean --max-depth?"),
    ("find . -nmae x", "-nmae", "-name"),
    ("dd iff=x", "iff", "did you mean if?"),
    ("tar qzf x", "q", "tar accepts"),
    ("[ -q x ]", "-q", "accepts"),
    ("[ 1 -eqq 2 ]", "-eqq", "-eq"),
])
def test_unknown_flags_are_reported_with_a_hint(line: str, flag: str, hint: str, cache: Path) -> None:
    found = problems(line, cache)
    assert [p.flag for p in found] == [flag]
    assert hint in found[0].hint


def test_problem_offsets_point_at_the_letter_or_option() -> None:
    table = platform_tables("gnu")["ls"]
    line = "ls -lyq --colr"
    found = check_flags(table, words(line)[1:])
    assert [line[p.start:p.end] for p in found] == ["y", "--colr"]
    quoted = "ls '-ly'"
    (only,) = check_flags(table, words(quoted)[1:])
    assert quoted[only.start:only.end] == "'-ly'"


def test_busybox_rejects_gnu_only_options() -> None:
    busybox = platform_tables("busybox")
    for line, flag in [("du --max-depth=1", "--max-depth"), ("grep --include=*.py x .", "--include"),
                       ("find . -printf %p", "-printf"), ("sort --reverse", "--reverse")]:
        ws = words(line)
        (found,) = check_flags(busybox[ws[0][0]], ws[1:])
        assert found.flag == flag
        assert f"BusyBox {ws[0][0]} has no {flag}; GNU {ws[0][0]} has it" in found.hint
    for line in ["du -d 1 -h", "ls --color=auto -la", "tar xzf a.tgz", "ps aux", "grep -rn x .", "sort -h"]:
        ws = words(line)
        assert check_flags(busybox[ws[0][0]], ws[1:]) == [], line


def test_wrong_platform_phrase() -> None:
    gnu, busybox = platform_tables("gnu")["du"], platform_tables("busybox")["du"]
    assert wrong_platform("du", "--max-depth", busybox, gnu) == "BusyBox du has no --max-depth; GNU du has it"
    assert wrong_platform("du", "-h", busybox, gnu) is None
    assert wrong_platform("du", "--no-such", busybox, gnu) is None


# ------------------------------------------------------------------------------------------ data and finding

def test_shipped_files_are_data_not_dialect_profiles() -> None:
    for name in ("gnu", "busybox"):
        raw = tomllib.loads((data_dir("dialects") / f"{name}_flags.toml").read_text())
        assert "target" not in raw and "name" not in raw
        assert (data_dir("dialects") / f"{name}_flags.toml").read_text().startswith("#")
        tables = platform_tables(name)
        assert {"ls", "find", "dd", "tar", "ps", "grep", "du"} <= set(tables)
        assert all(t.source == "shipped" and t.platform == name for t in tables.values())


class _Runs:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.real = subprocess.run

    def __call__(self, argv: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        self.calls.append(list(argv))
        return self.real(argv, **kw)  # type: ignore[call-overload, no-any-return]


def test_help_is_run_once_then_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("ls") is None:
        pytest.skip("ls is not installed")
    runs = _Runs()
    monkeypatch.setattr(flags.subprocess, "run", runs)
    first = flag_table("ls", cache_dir=tmp_path)
    assert first is not None and first.source == "help" and len(runs.calls) == 1
    (cached,) = tmp_path.glob("ls-*.json")
    assert json.loads(cached.read_text())["table"]["command"] == "ls"
    assert not list(tmp_path.glob(".flags-*"))
    assert flag_table("ls", cache_dir=tmp_path) == first and len(runs.calls) == 1
    flags._MEMO.clear()
    assert flag_table("ls", cache_dir=tmp_path) == first and len(runs.calls) == 1


def test_default_cache_dir_follows_nl2q_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("sort") is None:
        pytest.skip("sort is not installed")
    monkeypatch.setenv("NL2Q_CACHE", str(tmp_path))
    assert flag_table("sort") is not None
    assert list((tmp_path / "shell-flags").glob("sort-*.json"))


def test_only_allowlisted_programs_are_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("mytool", "notls"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\ntouch {marker}\necho '  -a, --all  everything'\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    runs = _Runs()
    monkeypatch.setattr(flags.subprocess, "run", runs)
    assert flag_table("mytool", cache_dir=tmp_path) is None
    assert flag_table("ls", path=str(bin_dir / "notls"), cache_dir=tmp_path) is None
    assert runs.calls == [] and not marker.exists()


def test_shipped_tables_for_builtins_and_unparseable_help(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = _Runs()
    monkeypatch.setattr(flags.subprocess, "run", runs)
    for command in ("find", "dd", "tar", "ps", "awk", "kill", "test", "["):
        table = flag_table(command, cache_dir=tmp_path)
        assert table is not None and table.source == "shipped", command
    assert flag_table("echo", cache_dir=tmp_path) is None
    assert flag_table("no-such-command-here", cache_dir=tmp_path) is None
    assert runs.calls == []
