"""Which options each command accepts on this platform, so a generated script's unknown flag is a diagnostic.

Tables come from the installed binary's own ``--help`` (only for an allowlist of common ops commands, cached
per binary) or from shipped data (``dialects/gnu_flags.toml``, ``dialects/busybox_flags.toml``) for commands
whose help cannot be parsed, that are shell builtins, or that are missing here. The checker reports only what
is certainly wrong: an option the table does not know, never an unusual but valid form.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...resources import data_dir

PLATFORMS = ("gnu", "busybox")
_PLATFORM_NAMES = {"gnu": "GNU", "busybox": "BusyBox", "bsd": "BSD"}
_META_KEYS = ("help_capable", "help_args", "operand_stops", "unchecked", "builtins")
_CACHE_VERSION = 1
_MEMO: dict[tuple[str, str], FlagTable | None] = {}
_EXEC_PRIMARIES = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_FIND_OPERATORS = frozenset({"!", "(", ")", ",", "-a", "-and", "-o", "-or", "-not"})
_TEST_BINARY = frozenset({"=", "==", "!=", "<", ">"})
_SIGNAL_WORD = re.compile(r"(?:SIG)?[A-Za-z][A-Za-z0-9]*(?:[+-]\d+)?")
_BUNDLE_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class FlagTable:
    """The options one command accepts.

    A letter in both ``short`` and ``short_with_arg`` takes an optional value that must be attached (``-i.bak``);
    a name in both ``long`` and ``long_with_arg`` an optional ``=value``. ``short`` may hold two pseudo-letters:
    ``#`` (``-NUM`` is accepted, ``head -20``) and ``@`` (``-SIGNAL`` is accepted, ``kill -TERM``). With
    ``single_dash_long`` the long names are words like find's ``-name`` (or dd's dashless ``if``, given as
    ``if=FILE``). ``stops_at``: ``"--"`` ends options, ``"operand"`` so does the first operand (wrappers such as
    xargs, nice, ssh and subcommand tools such as git), ``None`` means ``--`` is an ordinary word. ``bundle``
    holds the letters of an old-style dashless first word (``tar xzf``, ``ps aux``), ``bundle_with_arg`` those
    of them taking the next words as values. ``platform`` ("gnu", "busybox", or "" when unknown) words the hint
    for an option that only another platform's command has.
    """

    command: str
    short: frozenset[str]
    short_with_arg: frozenset[str]
    long: frozenset[str]
    long_with_arg: frozenset[str]
    source: str
    single_dash_long: bool = False
    stops_at: str | None = "--"
    platform: str = ""
    bundle: frozenset[str] = frozenset()
    bundle_with_arg: frozenset[str] = frozenset()

    def knows_short(self, letter: str) -> bool:
        return letter in self.short or letter in self.short_with_arg

    def knows_long(self, name: str) -> bool:
        return name in self.long or name in self.long_with_arg

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command, "short": sorted(self.short), "short_with_arg": sorted(self.short_with_arg),
            "long": sorted(self.long), "long_with_arg": sorted(self.long_with_arg), "source": self.source,
            "single_dash_long": self.single_dash_long, "stops_at": self.stops_at, "platform": self.platform,
            "bundle": sorted(self.bundle), "bundle_with_arg": sorted(self.bundle_with_arg),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FlagTable:
        sets = ("short", "short_with_arg", "long", "long_with_arg", "bundle", "bundle_with_arg")
        return cls(**{k: frozenset(v) if k in sets else v for k, v in data.items()})


@dataclass(frozen=True)
class FlagProblem:
    """One option in a command line that the command does not accept."""

    start: int
    end: int
    flag: str
    message: str
    hint: str


# --------------------------------------------------------------------------------------------- parsing --help

_LONG = re.compile(r"--([A-Za-z0-9][\w.-]*)")
_SHORT = re.compile(r"-([A-Za-z0-9?])([A-Za-z0-9][\w-]*)?")
_PSEUDO = re.compile(r"-(<[^>]*>|NUM\b|SIG[A-Z]*\b)")
_SPACED_ARG = re.compile(r" (?:-[A-Z]+\[\S*|(?!-)(?:=\S+|<[^>]*>\S*|\[[^\]\s]*\]\S+|[A-Z][A-Z0-9_:.=/-]*(?:[,.]\.\.\.?)?"
                         r"|\S+(?=,)|\S+(?=\s{2,}|\t|$)))")
_SPACED_OPT = re.compile(r" (\[=[^\]]*\]|\[(?!-)[^\]]*\](?=\s{2,}|$|[,\]]))")
_SEP = re.compile(r"\s*,\s*(?:[A-Za-z],\s*)*|\s*\|\s*|\s+\.{3,}\s+(?=-)|[ \t](?=-)|[ \t]{2}(?=--|-[A-Za-z?]\s{2})")
_USAGE_GROUP = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]")


def _arg_after(spec: str, pos: int, usage: bool) -> tuple[str, int]:
    """The argument written after an option name at ``pos``: (``""`` | ``"req"`` | ``"opt"``, new position)."""
    if spec.startswith("[=", pos) or (spec.startswith("[", pos) and not spec.startswith("[,", pos)):
        end = spec.find("]", pos)
        return "opt", (end + 1 if end > 0 else len(spec))
    if spec.startswith("=", pos):
        val = re.match(r"=(\[[^\]]*\])?([^\s,\]]*)", spec[pos:])
        if val and re.fullmatch(r"[a-z]+", val.group(2)) and not val.group(1):
            return "literal", pos + val.end()
        return ("opt" if val and val.group(1) and not val.group(2) else "req"), pos + (val.end() if val else 1)
    if a := _SPACED_OPT.match(spec, pos):
        return ("opt" if usage or a.group(1).startswith("[=") else "req"), a.end()
    if a := _SPACED_ARG.match(spec, pos):
        return "req", a.end()
    return "", pos


def _scan_items(spec: str, usage: bool) -> list[tuple[str, str]]:
    """Option items at the start of ``spec``: (name, ``""`` | ``"req"`` | ``"opt"`` | ``"word"`` | ``"wordreq"``)."""
    items: list[tuple[str, str]] = []
    pos = 0
    while pos < len(spec):
        if m := _PSEUDO.match(spec, pos):
            items.extend([("-@", ""), ("-#", "")] if "sig" in m.group(1).lower() else [("-#", "")])
            pos = _arg_after(spec, m.end(), usage)[1]
        elif m := _LONG.match(spec, pos):
            kind, pos = _arg_after(spec, m.end(), usage)
            items.append(("--" + m.group(1), kind))
        elif m := _SHORT.match(spec, pos):
            letter, rest = m.group(1), m.group(2)
            if rest and not usage:
                kind, pos = _arg_after(spec, m.end(), usage)
                items.append(("-" + letter + rest, "wordreq" if kind == "req" else "word"))
            else:
                letters = letter + (rest or "")
                items.extend(("-" + c, "") for c in letters[:-1])
                kind, pos = _arg_after(spec, m.end(), usage)
                items.append(("-" + letters[-1], kind))
        else:
            break
        sep = _SEP.match(spec, pos)
        if not sep or sep.end() == pos:
            break
        pos = sep.end()
    return items


def _inherit_arg(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """GNU: a long option's argument, mandatory or optional, is one for the short options on its line too."""
    kind = next((k for n, k in items if n.startswith("--") and k in ("req", "opt")), "")
    return [(n, kind if not k and not n.startswith("--") and n[1:] not in "#@" else k) for n, k in items]


def _usage_items(text: str) -> list[tuple[str, str]]:
    """Options named in ``[-abc] [-w WIDTH] [--color[=WHEN]]`` groups of the usage block."""
    items: list[tuple[str, str]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not re.match(r"\s*usage:", line, re.I):
            continue
        block = [line]
        for follow in lines[i + 1:]:
            if not follow.strip() or not follow[:1].isspace():
                break
            block.append(follow)
        for group in _USAGE_GROUP.finditer(" ".join(block)):
            for alt in group.group(1).split("|"):
                alt = alt.strip()
                if alt.startswith("-") and not alt.startswith("-]"):
                    items.extend(_scan_items(alt, usage=True))
    return items


def from_help(command: str, text: str) -> FlagTable | None:
    """The table a GNU-, util-linux-, BusyBox- or BSD-style ``--help`` text describes; None if it names no options."""
    items: list[tuple[str, str]] = []
    for line in text.splitlines():
        if re.match(r"\s+-", line):
            items.extend(_inherit_arg(_scan_items(line.lstrip(), usage=False)))
    described = {name for name, _ in items}
    items.extend(item for item in _usage_items(text) if item[0] not in described)
    short: set[str] = set()
    short_arg: set[str] = set()
    long: set[str] = set()
    long_arg: set[str] = set()
    words: list[tuple[str, str]] = []
    for name, kind in items:
        if kind.startswith("word"):
            words.append((name, kind))
            continue
        is_long = name.startswith("--")
        flat, with_arg = (long, long_arg) if is_long else (short, short_arg)
        key = name if is_long else name[1:]
        if kind in ("", "opt"):
            flat.add(key)
        if kind in ("req", "opt", "literal"):
            with_arg.add(key)
    real_words = [(w, k) for w, k in words if not all(c in short or c in short_arg for c in w[1:])]
    single_dash = len(real_words) > len(short | short_arg)
    for word, kind in real_words:
        if single_dash:
            (long_arg if kind == "wordreq" else long).add(word)
        else:
            short_arg.add(word[1])
    if len(short | short_arg | long | long_arg) < 2:
        return None
    platform = "busybox" if "BusyBox" in text else ("gnu" if long or long_arg else "")
    if platform:
        long.add("--help")
    return FlagTable(command, frozenset(short), frozenset(short_arg), frozenset(long), frozenset(long_arg),
                     "help", single_dash, "--", platform)


# --------------------------------------------------------------------------------------------- shipped data

@lru_cache(maxsize=None)
def _load(name: str) -> dict[str, Any]:
    import tomllib

    if name not in PLATFORMS:
        raise ValueError(f"unknown flag platform {name!r}: choose one of {', '.join(PLATFORMS)}")
    return tomllib.loads((data_dir("dialects") / f"{name}_flags.toml").read_text())


def _meta(key: str) -> Any:
    return _load("gnu").get(key, [])


def _letters(value: Any) -> frozenset[str]:
    return frozenset(value) if isinstance(value, str) else frozenset()


def _table(command: str, raw: dict[str, Any], platform: str) -> FlagTable:
    short = _letters(raw.get("short", ""))
    short_arg = _letters(raw.get("short_with_arg", ""))
    bundle = raw.get("bundle", False)
    bundle_letters = (short | short_arg) if bundle is True else _letters(bundle)
    bundle_arg = short_arg - short if bundle is True else _letters(raw.get("bundle_with_arg", ""))
    stops = raw.get("stops_at", "--")
    return FlagTable(command, short, short_arg, frozenset(raw.get("long", [])), frozenset(raw.get("long_with_arg", [])),
                     "shipped", bool(raw.get("single_dash_long", False)), stops or None, platform,
                     bundle_letters, bundle_arg)


@lru_cache(maxsize=None)
def platform_tables(name: str) -> dict[str, FlagTable]:
    """The shipped tables of one platform (``"gnu"`` or ``"busybox"``), by command name."""
    return {cmd: _table(cmd, raw, name) for cmd, raw in _load(name).items()
            if isinstance(raw, dict) and cmd not in _META_KEYS}


def _help_parse_trusted(command: str) -> bool:
    raw = _load("gnu").get(command)
    return not (isinstance(raw, dict) and raw.get("parse_help") is False)


# --------------------------------------------------------------------------------------------- finding a table

def _cache_root(cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    base = os.environ.get("NL2Q_CACHE") or str(Path.home() / ".cache" / "nl2q")
    return Path(base) / "shell-flags"


def _is_busybox(path: str) -> bool:
    return os.path.basename(os.path.realpath(path)) == "busybox"


def _run_help(command: str, path: str) -> str | None:
    """The binary's ``--help`` text (stdout and stderr), or None when it cannot run in 2 s."""
    args = next((a[1:] for a in _meta("help_args") if a and a[0] == command), ["--help"])
    env = {"LANG": "C", "LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "dumb",
           "PAGER": "cat", "SYSTEMD_PAGER": "cat", "GIT_PAGER": "cat", "HOME": os.environ.get("HOME", "/")}
    try:
        done = subprocess.run([path, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=2, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout + b"\n" + done.stderr).decode("utf-8", "replace")


def _write_atomic(target: Path, data: dict[str, Any]) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".flags-", suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        os.replace(tmp, target)
    except OSError:
        pass


def _from_binary(command: str, path: str, cache_dir: Path | None) -> FlagTable | None:
    """Parse the binary's help, through the per-binary cache (key: command, resolved path, size, mtime)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return None
    key = f"{_CACHE_VERSION}\0{command}\0{real}\0{st.st_size}\0{st.st_mtime_ns}"
    target = _cache_root(cache_dir) / f"{command}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"
    if (str(target), key) in _MEMO:
        return _MEMO[str(target), key]
    hit, table = _read_cache(target, key)
    if not hit:
        table = _parse_binary(command, path, target, key)
    _MEMO[str(target), key] = table
    return table


def _read_cache(target: Path, key: str) -> tuple[bool, FlagTable | None]:
    """(whether there is a valid entry, its table: None when the help was not parseable)."""
    try:
        cached = json.loads(target.read_text())
        if cached.get("key") == key:
            return True, (FlagTable.from_json(cached["table"]) if cached.get("table") else None)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return False, None


def _parse_binary(command: str, path: str, target: Path, key: str) -> FlagTable | None:
    """Run the binary's help and cache what it says, unparseable included, so it is asked once."""
    text = _run_help(command, path)
    table = from_help(command, text) if text is not None else None
    if table is not None and command in _meta("operand_stops"):
        table = replace(table, stops_at="operand")
    if text is not None:
        _write_atomic(target, {"key": key, "table": table.to_json() if table else None})
    return table


def flag_table(command: str, path: str | None = None, cache_dir: Path | None = None) -> FlagTable | None:
    """The options ``command`` accepts here, or None when they cannot be known (then nothing is checked).

    Builtins (bash's, or BusyBox ash's when that is the shell) and commands whose help cannot be parsed use
    shipped data for the platform; others ask the binary found on PATH (or at ``path``) for ``--help``, only if
    the command is on the shipped allowlist; a missing command falls back to the shipped GNU table. ``cache_dir``
    is used as given; by default ``$NL2Q_CACHE`` (else ``~/.cache/nl2q``) + ``shell-flags``.
    """
    if command in _meta("unchecked"):
        return None
    gnu = platform_tables("gnu").get(command)
    busybox = platform_tables("busybox").get(command)
    if command in _meta("builtins"):
        shell = shutil.which("bash") or shutil.which("sh")
        return busybox if shell and _is_busybox(shell) else gnu
    found = path or shutil.which(command)
    if not found or not os.path.exists(found):
        return gnu
    if _is_busybox(found):
        return busybox
    if gnu is not None and not _help_parse_trusted(command):
        return gnu
    if command not in _meta("help_capable") or os.path.basename(found) != command:
        return None
    table = _from_binary(command, found, cache_dir)
    if table is not None and table.platform == "busybox" and busybox is not None:
        return busybox
    return table


# --------------------------------------------------------------------------------------------- checking

def _platform_name(table: FlagTable) -> str:
    return _PLATFORM_NAMES.get(table.platform, "this")


def _other_table(table: FlagTable) -> FlagTable | None:
    other = "gnu" if table.platform == "busybox" else "busybox"
    return platform_tables(other).get(table.command)


def _knows(table: FlagTable, flag: str) -> bool:
    return table.knows_long(flag) or (len(flag) == 2 and flag[0] == "-" and table.knows_short(flag[1]))


def wrong_platform(command: str, flag: str, here: FlagTable, other: FlagTable | None) -> str | None:
    """A hint when ``flag`` is unknown here but known to the other platform's ``command``."""
    if other is None or _knows(here, flag) or not _knows(other, flag):
        return None
    return f"{_platform_name(here)} {command} has no {flag}; {_platform_name(other)} {command} has it"


def _did_you_mean(flag: str, candidates: set[str] | frozenset[str]) -> str:
    close = difflib.get_close_matches(flag, sorted(candidates), n=3, cutoff=0.6)
    return f"did you mean {' or '.join(close)}?" if close else ""


def _hint(table: FlagTable, flag: str, candidates: set[str] | frozenset[str]) -> str:
    platform = wrong_platform(table.command, flag, table, _other_table(table)) or ""
    near = _did_you_mean(flag, candidates)
    letter = flag.lstrip("-") if len(flag.lstrip("-")) == 1 else ""
    if not near and letter.isalpha() and "-" + letter.swapcase() in candidates | {"-" + c for c in candidates}:
        near = f"did you mean {'-' if flag.startswith('-') else ''}{letter.swapcase()}?"
    if not platform and not near and letter:
        known = sorted(c.lstrip("-") for c in candidates if len(c.lstrip("-")) == 1 and c.lstrip("-").isalnum())
        near = f"{table.command} accepts -{''.join(known)}" if known else f"{table.command} takes no such letters"
    elif not platform and not near and candidates:
        shown = sorted(candidates)
        near = f"{table.command} accepts {' '.join(shown[:30])}" + (" ..." if len(shown) > 30 else "")
    return "; ".join(p for p in (platform, near) if p)


def _span(start: int, end: int, word: str, lo: int, hi: int) -> tuple[int, int]:
    """The offsets of ``word[lo:hi]`` when the word is written as-is, else the whole word's."""
    return (start + lo, start + hi) if end - start == len(word) else (start, end)


def _dynamic(word: str) -> bool:
    return not word or "$" in word or "`" in word


def _problem(table: FlagTable, word: str, start: int, end: int, lo: int, hi: int, message: str,
             candidates: set[str] | frozenset[str], flag: str | None = None) -> FlagProblem:
    flag = flag or word[lo:hi]
    s, e = _span(start, end, word, lo, hi)
    return FlagProblem(s, e, flag, message, _hint(table, flag, candidates))


def _check_long(table: FlagTable, word: str, start: int, end: int) -> tuple[FlagProblem | None, bool]:
    """(problem, whether the next word is this option's value)."""
    name, eq, _ = word.partition("=")
    known = table.long | table.long_with_arg
    if name in known:
        resolved = [name]
    else:
        resolved = [n for n in known if n.startswith(name) and n.startswith("--")]
    if not resolved:
        message = f"{table.command}: unknown option {name}"
        return _problem(table, word, start, end, 0, len(name), message, {n for n in known if n.startswith("--")}), False
    takes_value = all(n in table.long_with_arg and n not in table.long for n in resolved)
    return None, takes_value and not eq


def _check_short(table: FlagTable, word: str, start: int, end: int) -> tuple[FlagProblem | None, bool]:
    """(problem with the first unknown letter, whether the next word is the last letter's value)."""
    letters = word[1:]
    if letters[0].isdigit() and not table.knows_short(letters[0]):
        return None, False
    if ("@" in table.short and _SIGNAL_WORD.fullmatch(letters)
            and not all(table.knows_short(c) for c in letters)):
        return None, False
    for j, c in enumerate(letters):
        if c in table.short_with_arg:
            return None, c not in table.short and j == len(letters) - 1
        if c in table.short:
            continue
        candidates = {"-" + x for x in table.short | table.short_with_arg if x.isalnum()}
        message = f"{table.command}: unknown option -{c}" + (f" (in {word})" if len(letters) > 1 else "")
        return _problem(table, word, start, end, 1 + j, 2 + j, message, candidates, "-" + c), False
    return None, False


def _check_bundle(table: FlagTable, word: str, start: int, end: int) -> tuple[FlagProblem | None, int]:
    """An old-style dashless first word: (problem, how many following words are its values)."""
    for j, c in enumerate(word):
        if c not in table.bundle:
            message = f"{table.command}: unknown option {c!r} in {word}"
            return _problem(table, word, start, end, j, j + 1, message, {"-" + x for x in table.bundle}), 0
    return None, sum(1 for c in word if c in table.bundle_with_arg)


def _check_find(table: FlagTable, args: list[tuple[str, int, int]]) -> list[FlagProblem]:
    known = table.long | table.long_with_arg
    i = 0
    while i < len(args):
        word, start, end = args[i]
        i += 1
        if _dynamic(word) or word in _FIND_OPERATORS:
            continue
        if word in _EXEC_PRIMARIES:
            while i < len(args):
                w, prev = args[i][0], args[i - 1][0]
                i += 1
                if w == ";" or (w == "+" and prev == "{}"):
                    break
            continue
        if word in table.long_with_arg and word not in table.long:
            i += 1
        elif word in known or word.startswith("--") and _check_long(table, word, start, end)[0] is None:
            continue
        elif word.startswith("-") and len(word) > 1 and not word[1:2].isdigit():
            message = f"{table.command}: unknown primary {word}"
            return [_problem(table, word, start, end, 0, len(word), message, known)]
    return []


def _check_operands(table: FlagTable, args: list[tuple[str, int, int]]) -> list[FlagProblem]:
    """dd-style ``key=value`` operands."""
    problems = []
    for word, start, end in args:
        if _dynamic(word):
            continue
        if word.startswith("--"):
            problem, _ = _check_long(table, word, start, end)
        elif "=" in word:
            key = word.split("=", 1)[0]
            problem = None if key in table.long_with_arg else _problem(
                table, word, start, end, 0, len(key), f"{table.command}: unknown operand {key}=",
                table.long_with_arg)
        else:
            problem = None
        if problem:
            problems.append(problem)
    return problems


def _check_test(table: FlagTable, args: list[tuple[str, int, int]]) -> list[FlagProblem]:
    """``test``/``[``: only a word in an operator's place, in groups of two or three words between -a/-o."""
    words = args[:-1] if table.command == "[" and args and args[-1][0] == "]" else args
    if any(w in ("(", ")") for w, _, _ in words):
        return []
    groups: list[list[tuple[str, int, int]]] = [[]]
    for arg in words:
        if arg[0] in ("-a", "-o") and groups[-1] and len(groups[-1]) != 1:
            groups.append([])
        else:
            groups[-1].append(arg)
    problems = []
    binary = table.long_with_arg | _TEST_BINARY
    for group in groups:
        while group and group[0][0] == "!" and len(group) > 1:
            group = group[1:]
        if len(group) == 2:
            word, start, end = group[0]
            bad = word.startswith("-") and not _dynamic(word) and word not in table.long
            kind, candidates = "unary", table.long
        elif len(group) == 3:
            word, start, end = group[1]
            bad = word.startswith("-") and not _dynamic(word) and word not in binary
            kind, candidates = "binary", table.long_with_arg
        else:
            continue
        if bad:
            problems.append(_problem(table, word, start, end, 0, len(word),
                                     f"{table.command}: unknown {kind} operator {word}", candidates))
    return problems


def check_flags(table: FlagTable, args: list[tuple[str, int, int]]) -> list[FlagProblem]:
    """The options in ``args`` (each word after the command: static value, start, end) that ``table`` rejects."""
    if table.command in ("test", "["):
        return _check_test(table, args)
    if table.single_dash_long and any(n.startswith("-") and not n.startswith("--") for n in table.long):
        return _check_find(table, args)
    if table.single_dash_long:
        return _check_operands(table, args)
    problems: list[FlagProblem] = []
    i = 0
    while i < len(args):
        word, start, end = args[i]
        i += 1
        if i == 1 and table.bundle and _BUNDLE_WORD.fullmatch(word) and not word[0].isdigit():
            problem, values = _check_bundle(table, word, start, end)
            if problem:
                return [problem]
            i += values
            continue
        if _dynamic(word):
            continue
        if word == "--" and table.stops_at:
            break
        if word == "-" or not word.startswith("-"):
            if table.stops_at == "operand":
                break
            continue
        check = _check_long if word.startswith("--") else _check_short
        problem, takes_value = check(table, word, start, end)
        if problem:
            problems.append(problem)
        if takes_value:
            i += 1
    return problems


__all__ = ["FlagProblem", "FlagTable", "PLATFORMS", "check_flags", "flag_table", "from_help", "platform_tables",
           "wrong_platform"]
