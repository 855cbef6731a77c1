"""How risky a bash script is: tiers for every command, redirect and nested script, from profile data.

The walk is :mod:`.syntax`'s; the rules are the ``[risk]`` table of ``dialects/bash.toml``
(:meth:`RiskRules.from_mapping`). This module only interprets them: wrappers are unwrapped, code
handed to ``eval``/``sh -c``/``source``/aliases is parsed in turn, written paths are judged by what
is at them. Anything that cannot be judged (a computed command name, text fed to a shell from a
pipe, a parse error) is UNKNOWN, the top tier, so soundness never rests on a guess.

Tier order, lowest first, by how far the harm reaches: READ_ONLY (nothing changes) < CHANGES_FILES
(new files in the work directory) < DESTRUCTIVE (data in place is lost or a process disrupted) <
NETWORK (data leaves or code arrives from outside the machine) < PRIVILEGE (crosses the user's
boundary) < UNKNOWN (could be any of these). The order is linear, so "at least as risky" is ``>=``
and a script takes the highest tier of its findings.

Known limits, each erring upward: a path known only at run time is DESTRUCTIVE (not PRIVILEGE,
though it could name /etc); a script file is read only from the work directory and only when
nothing else in the script changes files; ``tar xf`` without a dash is DESTRUCTIVE whatever it
does; a remote command (``ssh host CMD``) is NETWORK. Not caught: text read at run time (from a
file or a command) that holds ``a[$(cmd)]`` and reaches arithmetic (``$((x))``) runs ``cmd``.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import unicodedata
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Callable, Iterable, Mapping

from ...errors import DialectError
from . import syntax
from .syntax import Command, Redirect, Word


class Tier(IntEnum):
    """Risk tiers; a higher value needs more trust (see the module docstring for the order)."""

    READ_ONLY = 0
    CHANGES_FILES = 1
    DESTRUCTIVE = 2
    NETWORK = 3
    PRIVILEGE = 4
    UNKNOWN = 5

    @classmethod
    def parse(cls, name: str, where: str = "") -> Tier:
        try:
            return cls[name.upper()]
        except KeyError:
            raise DialectError(f"[risk]{where}: unknown tier {name!r}",
                               f"one of: {', '.join(t.name.lower() for t in cls)}") from None

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


def needs_approval(tier: Tier) -> bool:
    """A human must approve DESTRUCTIVE and above (UNKNOWN included); CHANGES_FILES needs allow_writes."""
    return tier >= Tier.DESTRUCTIVE


def permitted(tier: Tier, *, allow_writes: bool = False, approved: bool = False) -> bool:
    """Whether a script of ``tier`` may run without asking anyone more."""
    if needs_approval(tier):
        return approved
    return tier == Tier.READ_ONLY or allow_writes or approved


@dataclass
class Finding:
    """One escalation: its tier, the command it is about, why, and the span to underline."""

    tier: Tier
    command: str
    reason: str
    start: int
    end: int
    outside: str = ""  # a path outside the work directory the command writes or changes


@dataclass
class Risk:
    """The whole script's tier (the highest finding's) and every finding that raised it."""

    tier: Tier
    findings: list[Finding]

    @property
    def outside(self) -> list[str]:
        """Paths outside the work directory the script would write or change (it is then not run, even dry)."""
        return list(dict.fromkeys(f.outside for f in self.findings if f.outside))


# ---------------------------------------------------------------------------------------------- rules

_RULE_KEYS = frozenset({
    "tier", "why", "flags", "modes", "values", "operands", "subcommands", "subcommand_at", "subcommand_default",
    "aliases", "style", "options_first", "runs", "skip", "assigns", "default_command", "appends_input", "no_run",
    "noop_operands", "script_flags", "exec_args", "writes", "target_flags", "append_flags", "output_flags",
    "modifies", "modify_flags", "program", "program_flags", "changes_directory", "defines_alias",
    "variable_operands", "variable_flags", "chdir_flags", "arithmetic", "exec_placeholder"})
_RUNS = frozenset({"command", "script", "first_script", "file", "shell"})
_LANGUAGES = ("awk", "sed")


def _tier_of(entry: Tier | Rule) -> Tier:
    return entry if isinstance(entry, Tier) else entry.tier


def _tiers(data: Mapping[str, str], where: str) -> dict[str, Tier]:
    return {k: Tier.parse(v, f"{where}.{k}") for k, v in data.items()}


@dataclass(frozen=True)
class Rule:
    """One command's rule, as ``[risk.commands.NAME]`` writes it (the schema is documented there)."""

    tier: Tier
    why: str = ""
    flags: dict[str, Tier] = field(default_factory=dict)
    modes: dict[str, Tier | Rule] = field(default_factory=dict)
    values: frozenset[str] = frozenset()
    operands: tuple[tuple[str, Tier], ...] = ()
    subcommands: dict[str, Tier | Rule] = field(default_factory=dict)
    subcommand_at: int = 1
    subcommand_default: Tier | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    style: str = "getopt"
    options_first: bool = False
    runs: str | None = None
    skip: int = 0
    assigns: bool = False
    default_command: str | None = None
    appends_input: bool = False
    no_run: frozenset[str] = frozenset()
    noop_operands: frozenset[str] = frozenset()
    script_flags: frozenset[str] = frozenset()
    exec_args: frozenset[str] = frozenset()
    writes: str | None = None
    target_flags: frozenset[str] = frozenset()
    append_flags: frozenset[str] = frozenset()
    output_flags: frozenset[str] = frozenset()
    modifies: str | None = None
    modify_flags: frozenset[str] = frozenset()
    program: str | None = None
    program_flags: frozenset[str] = frozenset()
    changes_directory: bool = False
    defines_alias: bool = False
    variable_operands: bool = False
    variable_flags: frozenset[str] = frozenset()
    chdir_flags: frozenset[str] = frozenset()
    arithmetic: bool = False
    exec_placeholder: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str) -> Rule:
        unknown = set(data) - _RULE_KEYS
        if unknown:
            raise DialectError(f"[risk]{where}: unknown key(s) {', '.join(sorted(unknown))}",
                               f"known keys: {', '.join(sorted(_RULE_KEYS))}")
        if "tier" not in data:
            raise DialectError(f"[risk]{where}: no tier", "every command rule names its base tier")
        if data.get("runs") not in _RUNS | {None}:
            raise DialectError(f"[risk]{where}: runs = {data['runs']!r}", f"one of {', '.join(sorted(_RUNS))}")
        if data.get("program") not in (*_LANGUAGES, None):
            raise DialectError(f"[risk]{where}: program = {data['program']!r}", f"one of {', '.join(_LANGUAGES)}")
        def tier_or_rule(value: Any, key: str) -> Tier | Rule:
            return Tier.parse(value, key) if isinstance(value, str) else cls.from_mapping(value, key)

        subs = {k: tier_or_rule(v, f"{where}.subcommands.{k}") for k, v in data.get("subcommands", {}).items()}
        modes = {k: tier_or_rule(v, f"{where}.modes.{k}") for k, v in data.get("modes", {}).items()}
        sets = {k: frozenset(data.get(k, ())) for k in (
            "values", "no_run", "noop_operands", "script_flags", "exec_args", "target_flags", "append_flags",
            "output_flags", "modify_flags", "program_flags", "variable_flags", "chdir_flags")}
        default = data.get("subcommand_default")
        return cls(
            tier=Tier.parse(data["tier"], where), why=data.get("why", ""),
            flags=_tiers(data.get("flags", {}), f"{where}.flags"),
            modes=modes,
            operands=tuple(_tiers(data.get("operands", {}), f"{where}.operands").items()),
            subcommands=subs, subcommand_at=int(data.get("subcommand_at", 1)),
            subcommand_default=Tier.parse(default, where) if default else None,
            aliases=dict(data.get("aliases", {})), style=data.get("style", "getopt"),
            options_first=bool(data.get("options_first", False)), runs=data.get("runs"),
            skip=int(data.get("skip", 0)), assigns=bool(data.get("assigns", False)),
            default_command=data.get("default_command"), appends_input=bool(data.get("appends_input", False)),
            writes=data.get("writes"), modifies=data.get("modifies"), program=data.get("program"),
            changes_directory=bool(data.get("changes_directory", False)),
            defines_alias=bool(data.get("defines_alias", False)),
            variable_operands=bool(data.get("variable_operands", False)),
            arithmetic=bool(data.get("arithmetic", False)), exec_placeholder=data.get("exec_placeholder"), **sets)

    @property
    def has_subcommands(self) -> bool:
        return bool(self.subcommands) or self.subcommand_default is not None

    @property
    def takes_value(self) -> frozenset[str]:
        return (self.values | self.output_flags | self.target_flags | self.modify_flags | self.script_flags
                | self.program_flags | self.variable_flags | self.chdir_flags)

    @property
    def long_options(self) -> frozenset[str]:
        keys = set(self.flags) | set(self.modes) | self.takes_value | self.no_run | self.append_flags
        return frozenset(k for k in keys if k.startswith("--"))

    def ceiling(self, computed_write: Tier, runs_code: Tier | None) -> Tier:
        """The highest tier any option, mode, operand or subcommand can reach."""
        tiers = [self.tier, *self.flags.values(), *(_tier_of(m) for m in self.modes.values()),
                 *(t for _, t in self.operands)]
        if self.output_flags:
            tiers.append(computed_write)
        if runs_code is not None and (self.exec_args or self.script_flags or self.runs or self.program):
            tiers.append(runs_code)
        return max(tiers)


@dataclass(frozen=True)
class RiskRules:
    """The ``[risk]`` table, typed: commands, fallbacks, paths, redirects and the little languages."""

    commands: dict[str, Rule]
    globs: tuple[tuple[str, Rule], ...]
    fallback: dict[str, Tier]
    variables: dict[str, Tier]
    redirects: dict[str, str]
    writes: dict[str, Tier]
    discard: tuple[str, ...]
    opened: tuple[tuple[str, Tier], ...]
    written: tuple[tuple[str, Tier], ...]
    shell_input: dict[str, Tier]
    programs: dict[str, dict[str, Any]]
    max_depth: int = 6
    bin_dirs: frozenset[str] = frozenset()
    path_variables: frozenset[str] = frozenset()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RiskRules:
        commands: dict[str, Rule] = {}
        globs: list[tuple[str, Rule]] = []
        for name, body in data.get("commands", {}).items():
            rule = Rule.from_mapping(body, f".commands.{name}")
            if _is_glob(name):
                globs.append((name, rule))
            commands[name] = rule
        redirects = {op: effect for effect in _REDIRECT_EFFECTS for op in data.get("redirects", {}).get(effect, ())}
        paths = data.get("paths", {})
        programs = data.get("programs", {})
        fallback = _required(data, "fallback", _FALLBACKS)
        writes = _required(data, "writes", ("new", "existing", "outside", "computed", "unchecked", "append"))
        shell_input = _required(data, "shell_input", ("pipe", "terminal", "network"))
        return cls(
            commands=commands, globs=tuple(globs), fallback=fallback,
            variables=_tiers(data.get("variables", {}), ".variables"), redirects=redirects, writes=writes,
            discard=tuple(paths.get("discard", ())),
            opened=tuple(_tiers(paths.get("opened", {}), ".paths.opened").items()),
            written=tuple(_tiers(paths.get("written", {}), ".paths.written").items()),
            shell_input=shell_input,
            programs={lang: _program(programs.get(lang, {}), f".programs.{lang}") for lang in _LANGUAGES},
            max_depth=int(data.get("max_depth", 6)),
            bin_dirs=frozenset(data.get("bin_dirs", ())), path_variables=frozenset(data.get("path_variables", ())))

    def variable(self, name: str) -> Tier | None:
        """The tier of setting variable ``name`` (keys may be globs such as ``LD_*``)."""
        found = self.variables.get(name)
        if found is not None:
            return found
        return next((t for k, t in self.variables.items() if "*" in k and fnmatch.fnmatchcase(name, k)), None)

    def rule(self, name: str) -> Rule | None:
        found = self.commands.get(name)
        if found is not None:
            return found
        return next((rule for pattern, rule in self.globs if fnmatch.fnmatchcase(name, pattern)), None)


_FALLBACKS = ("unknown_command", "computed_name", "lookalike_name", "glob_name", "path_name", "hidden_code",
              "syntax_error", "too_deep", "dynamic_alias", "quoted_code")
_REDIRECT_EFFECTS = ("truncate", "append", "read", "readwrite", "close")


def _required(data: Mapping[str, Any], table: str, keys: Iterable[str]) -> dict[str, Tier]:
    """A table of tiers every key of which the code relies on: a missing one is an error, not a default."""
    tiers = _tiers(data.get(table, {}), f".{table}")
    missing = [k for k in keys if k not in tiers]
    if missing:
        raise DialectError(f"[risk.{table}] lacks {', '.join(missing)}", "every tier the classifier uses is data")
    return tiers


def _program(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A little language's table: tiers, ``"write"`` (judge the written path) or tables of those."""
    def one(value: Any, key: str) -> Any:
        if isinstance(value, Mapping):
            return {k: one(v, f"{key}.{k}") for k, v in value.items()}
        return "write" if value == "write" else Tier.parse(value, key)

    return {k: one(v, f"{where}.{k}") for k, v in data.items()}


# ------------------------------------------------------------------------------------- helpers

def _matches(path: str, pattern: str) -> bool:
    """``/etc/**`` is /etc and everything under it; other patterns are globs."""
    if pattern.endswith("/**"):
        base = pattern[:-3] or "/"
        return path == base or path.startswith(base.rstrip("/") + "/")
    return fnmatch.fnmatchcase(path, pattern)


def _encloses(path: str, pattern: str) -> bool:
    """A recursive change of ``path`` reaches ``/etc/**`` when /etc lies under it."""
    base = pattern[:-3] if pattern.endswith("/**") else None
    return bool(base) and (path == "/" or base.startswith(path.rstrip("/") + "/"))  # type: ignore[union-attr]


def _braces(text: str, limit: int = 64) -> list[str]:
    """Brace expansion of a static word (``/e{tc,x}/passwd``); the literal text is kept too."""
    out, todo = [], [text]
    while todo and len(out) < limit:
        s = todo.pop()
        open_at = -1
        depth = 0
        done = False
        for i, c in enumerate(s):
            if c == "{":
                if depth == 0:
                    open_at = i
                depth += 1
            elif c == "}" and depth:
                depth -= 1
                if depth == 0:
                    inner = s[open_at + 1:i]
                    parts = _split_top(inner)
                    if len(parts) < 2 and ".." in inner:
                        a, _, b = inner.partition("..")
                        if a.lstrip("-").isdigit() and b.lstrip("-").isdigit() and abs(int(b) - int(a)) < limit:
                            step = 1 if int(b) >= int(a) else -1
                            parts = [str(n) for n in range(int(a), int(b) + step, step)]
                        elif len(a) == 1 and len(b) == 1:
                            step = 1 if b >= a else -1
                            parts = [chr(n) for n in range(ord(a), ord(b) + step, step)]
                    if len(parts) >= 2:
                        todo.extend(s[:open_at] + p + s[i + 1:] for p in parts)
                        done = True
                        break
        if not done:
            out.append(s)
    return list(dict.fromkeys([text, *out]))


def _split_top(inner: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for c in inner:
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        depth += (c == "{") - (c == "}")
        cur.append(c)
    parts.append("".join(cur))
    return parts


def _is_glob(name: str) -> bool:
    return "*" in name or "?" in name or ("[" in name and "]" in name[name.index("[") + 1:])


def _is_braced(name: str) -> bool:
    return "{" in name and "}" in name and ("," in name or ".." in name)


def _assignment_name(value: str) -> str | None:
    name, eq, _ = value.partition("=")
    name = name.removesuffix("+").split("[")[0]
    return name if eq and name.isidentifier() and name.isascii() else None


def _found(word: Word, placeholder: str | None) -> Word:
    """In ``find -exec``, a word holding ``{}`` is a path find found: known only at run time."""
    if placeholder and word.value is not None and placeholder in word.value:
        return replace(word, value=None, dynamic=True)
    return word


def _synthetic(value: str, at: Word) -> Word:
    return Word(value, value, at.start, at.end, False)


_MAX_BASES = 16  # working directories followed through cd before giving up on relative paths
_INPUT = "$__input__"  # a word that arrives at run time (xargs input): unquoted, so it splits


# --------------------------------------------------------------------------------- argument parsing

@dataclass
class _Args:
    options: list[tuple[str, Word, Word | None]] = field(default_factory=list)
    operands: list[Word] = field(default_factory=list)
    computed: list[Word] = field(default_factory=list)
    rest: list[Word] | None = None
    execs: list[list[Word]] = field(default_factory=list)
    assignments: list[Word] = field(default_factory=list)
    raw: list[Word] = field(default_factory=list)

    @property
    def present(self) -> set[str]:
        return {k for k, _, _ in self.options}

    def values_of(self, keys: frozenset[str]) -> list[tuple[str, Word | None]]:
        return [(k, v) for k, _, v in self.options if k in keys]


def _parse_args(rule: Rule, args: list[Word]) -> _Args:
    """Options, their values and operands, the way getopt (or find/dd) reads them."""
    out = _Args(raw=list(args))
    takes = rule.takes_value
    prefixes = [k for k in takes if k.endswith("=")]
    wrapper = rule.runs == "command"
    first_only = rule.options_first or rule.runs is not None
    ended = False
    i = 0
    while i < len(args):
        w, v = args[i], args[i].value
        if first_only and not wrapper and out.operands:
            out.operands.extend(args[i:])
            break
        i += 1
        if v is None or ended or v in ("", "-") or not v.startswith("-"):
            if v is not None and rule.assigns and not out.operands and _assignment_name(v):
                out.assignments.append(w)
            elif v is not None and rule.style == "words" and any(v.startswith(k) for k in prefixes):
                key = next(k for k in prefixes if v.startswith(k))
                out.options.append((key, w, _synthetic(v[len(key):], w)))
            elif wrapper and len(out.operands) >= rule.skip:
                out.rest = args[i - 1:]
                break
            else:
                out.operands.append(w)
                if v is None:
                    out.computed.append(w)
            continue
        if v == "--" and rule.style == "getopt":
            ended = True
            continue
        if rule.style == "words":
            if v in rule.exec_args:
                j = i
                while j < len(args) and args[j].value not in (";", "+"):
                    j += 1
                out.options.append((v, w, None))
                out.execs.append(args[i:j])
                i = j + 1
                continue
            value = None
            if v in takes and i < len(args):
                value, i = args[i], i + 1
            out.options.append((v, w, value))
        elif v.startswith("--"):
            name, eq, attached = v.partition("=")
            keys = [name] if name in rule.long_options or len(name) < 4 else (
                [k for k in rule.long_options if k.startswith(name)] or [name])
            value = _synthetic(attached, w) if eq else None
            if not eq and any(k in takes for k in keys) and i < len(args):
                value, i = args[i], i + 1
            out.options.extend((k, w, value) for k in keys)
        else:
            for j, ch in enumerate(v[1:], 1):
                key = "-" + ch
                if key in takes:
                    value = _synthetic(v[j + 1:], w) if v[j + 1:] else None
                    if value is None and i < len(args):
                        value, i = args[i], i + 1
                    out.options.append((key, w, value))
                    break
                out.options.append((key, w, None))
    return out


# -------------------------------------------------------------------------------------- judging

@dataclass(frozen=True)
class _Frame:
    """Where nested code sits: its depth, how its spans map onto the script, aliases being expanded."""

    depth: int = 0
    shift: Callable[[int, int], tuple[int, int]] = lambda s, e: (s, e)
    expanding: frozenset[str] = frozenset()
    inlined: bool = False

    def into(self, word: Word | None, text: str, span: tuple[int, int]) -> _Frame:
        """The frame of ``text``, which ``word`` (or the span) holds: offsets map through when verbatim."""
        outer = self.shift
        offset = None
        if word is not None and word.value == text:
            for skip, cut in ((0, 0), (1, 1), (2, 1)):
                if word.text[skip:len(word.text) - cut] == text:
                    offset = word.start + skip
                    break
        if offset is None:
            start, end = span
            return replace(self, depth=self.depth + 1, shift=lambda s, e: outer(start, end))
        return replace(self, depth=self.depth + 1, shift=lambda s, e: outer(s + offset, e + offset))


class _Judge:
    """Judges one script (and the code it hands on) against the rules; one method per construct."""

    def __init__(self, rules: RiskRules, workdir: str | None) -> None:
        self.rules = rules
        self.workdir = os.path.realpath(workdir) if workdir else None
        self.bases: list[str | None] = [self.workdir]
        self.cwd_unknown = False
        self.findings: list[Finding] = []
        self.aliases: dict[str, str] = {}
        self.functions: set[str] = set()
        self.assigned: set[str] = set()
        self.moved = False
        self.inlined: list[tuple[Word, _Frame]] = []
        self.outer_changes = False
        self._runners: dict[str, Callable[[Rule, str, _Args, Command, _Frame], None]] = {
            "command": self._runs_command, "script": self._runs_script, "first_script": self._runs_first_script,
            "file": self._runs_file, "shell": self._runs_shell}

    def run(self, script: str) -> list[Finding]:
        for _ in range(4):
            self.findings, self.moved, self.inlined, self.outer_changes = [], False, [], False
            self.script(script, _Frame())
            if not self.moved:
                break
        if self.outer_changes:
            for word, frame in self.inlined:
                self.find(frame, self.rules.fallback["hidden_code"], word.text, f"the script changes files, so "
                          f"{word.text} may not be what runs", word.start, word.end)
        return self.findings

    def find(self, frame: _Frame, tier: Tier, command: str, reason: str, start: int, end: int,
             outside: str = "") -> None:
        if tier > Tier.READ_ONLY:
            s, e = frame.shift(start, end)
            self.findings.append(Finding(tier, command, reason, s, e, outside))
            self.outer_changes |= tier >= Tier.CHANGES_FILES and not frame.inlined

    # ---- scripts

    def script(self, text: str, frame: _Frame) -> None:
        if frame.depth > self.rules.max_depth:
            self.find(frame, self.rules.fallback["too_deep"], "", "code nested too deep to follow", 0, len(text))
            return
        fb = self.rules.fallback
        for start, end, message in syntax.syntax_errors(text):
            self.find(frame, fb["syntax_error"], "", f"bash may read this differently: {message}", start, end)
        cmds = syntax.commands(text)
        self.functions |= set(syntax.functions(text))
        for variable, (start, end) in syntax.assigned_names(text).items():
            self._set(variable, Word(variable, variable, start, end, False), frame)
        for cmd in cmds:
            self._declare(cmd, frame)
        for cmd in cmds:
            self.command(cmd, frame)

    def _declare(self, cmd: Command, frame: _Frame) -> None:
        """Alias definitions: they change how every other command reads."""
        name = cmd.name.value if cmd.name else None
        rule = self.rules.rule(name) if name else None
        if rule is None or not rule.defines_alias:
            return
        for arg in cmd.args:
            if arg.value is None:
                self.find(frame, self.rules.fallback["dynamic_alias"], name or "", "an alias defined at run time may "
                          "stand for any command", arg.start, arg.end)
            elif "=" in arg.value and not arg.value.startswith("-"):
                alias, _, body = arg.value.partition("=")
                self.aliases[alias] = body

    def command(self, cmd: Command, frame: _Frame) -> None:
        for name, word in cmd.assignments:
            self._variable(name, word, frame)
            self._quoted_code(word, name, frame)
        for redirect in cmd.redirects:
            self._redirect(redirect, frame)
        if cmd.name is not None:
            self.argv([cmd.name, *cmd.args], cmd, frame)

    def _variable(self, name: str, word: Word, frame: _Frame) -> None:
        tier = self.rules.variable(name.split("[")[0].removesuffix("+"))
        if tier is not None:
            self.find(frame, tier, name, f"setting {name} changes what later commands run", word.start, word.end)

    def _quoted_code(self, word: Word | None, command: str, frame: _Frame) -> None:
        """A quoted ``$(..)`` runs where bash evaluates the text as arithmetic or a subscript (``let``,
        ``$((x))`` on a variable holding it): nothing in the tree shows it, so it is not judged."""
        if word is not None and word.value and ("$(" in word.value or "`" in word.value):
            self.find(frame, self.rules.fallback["quoted_code"], command, f"{word.text} holds a command substitution "
                      "that bash runs if the text is ever evaluated", word.start, word.end)

    def _set(self, name: str, word: Word, frame: _Frame) -> None:
        """A variable the script sets: judged, and no longer trusted to hold a path."""
        name = name.split("[")[0].removesuffix("+")
        if name not in self.assigned:
            self.assigned.add(name)
            self.moved = True
        self._variable(name, word, frame)

    def _redirect(self, redirect: Redirect, frame: _Frame) -> None:
        op = redirect.op.lstrip("0123456789")
        effect = self.rules.redirects.get(op)
        target = redirect.target
        span = (target.start, target.end) if target else (0, 0)
        if effect is None:
            self.find(frame, self.rules.fallback["syntax_error"], "redirect", f"unknown redirection {redirect.op!r}",
                      *span)
            return
        if effect == "close" or target is None or op in ("<<", "<<-", "<<<", "<&"):
            return
        if op == ">&" and (target.value == "-" or (target.value or "").isdigit()):
            return  # duplicates a descriptor
        self.path(target, "append" if effect == "readwrite" else effect, f"redirect {op}", frame)

    # ---- paths

    def _resolve(self, path: str) -> list[str | None]:
        if path.startswith("~"):
            return ["~"]
        if path.startswith("/"):
            return [posixpath.normpath(path)]
        if self.cwd_unknown:
            return ["?"]
        return [posixpath.normpath(posixpath.join(b, path)) if b else None for b in self.bases]

    def path(self, word: Word, kind: str, command: str, frame: _Frame) -> None:
        """Judge a path a command reads, writes whole (truncate), appends to, or changes in place (modify)."""
        writes = self.rules.writes
        span = (word.start, word.end)
        if word.value is None:
            if kind in ("truncate", "append"):
                self.find(frame, writes["computed"], command, f"writes to {word.text}, a path known only at run time",
                          *span)
            return
        for candidate in _braces(word.value):
            for resolved in self._resolve(candidate):
                self._one_path(candidate, resolved, kind, command, span, frame)

    def _one_path(self, written: str, resolved: str | None, kind: str, command: str, span: tuple[int, int],
                  frame: _Frame) -> None:
        writes = self.rules.writes
        writing = kind in ("truncate", "append", "modify")
        if resolved == "~":
            if kind == "truncate":
                self.find(frame, writes["outside"], command, f"overwrites {written} in a home directory", *span)
            return
        if resolved == "?" or (resolved is None and kind != "read"):
            if kind == "truncate":
                tier = writes["computed"] if resolved == "?" else writes["unchecked"]
                self.find(frame, tier, command, f"overwrites {written}: no work directory to check it against", *span)
            elif kind == "append":
                self.find(frame, writes["append"], command, f"appends to {written}", *span)
            return
        if resolved is None:
            return
        if writing and any(_matches(resolved, p) for p in self.rules.discard):
            return
        real = os.path.realpath(resolved) if self.workdir and os.path.lexists(resolved) else resolved
        inside = self.workdir is not None and all((p + "/").startswith(self.workdir.rstrip("/") + "/")
                                                  for p in (real, resolved))
        if writing and self.workdir is not None and not inside and kind != "truncate":
            self.find(frame, writes["append"] if kind == "append" else writes["outside"], command,
                      f"changes {resolved}, outside the work directory", *span, outside=resolved)
        for pattern, tier in self.rules.opened:
            if _matches(resolved, pattern):
                self.find(frame, tier, command, f"opens {resolved}", *span)
        if writing:
            for pattern, tier in self.rules.written:
                if _matches(resolved, pattern) or _matches(real, pattern):
                    self.find(frame, tier, command, f"writes {resolved}", *span)
                elif kind == "modify" and _encloses(resolved, pattern):
                    self.find(frame, tier, command, f"changes {resolved}, which holds {pattern[:-3]}", *span)
        if kind == "append":
            self.find(frame, writes["append"], command, f"appends to {written}", *span)
        elif kind == "truncate":
            if self.workdir is None:
                self.find(frame, writes["outside"], command, f"overwrites {resolved}", *span)
            elif not inside:
                self.find(frame, writes["outside"], command, f"overwrites {resolved}, outside the work directory",
                          *span, outside=resolved)
            elif os.path.lexists(resolved) or (_is_glob(resolved) and _any_glob(resolved)):
                self.find(frame, writes["existing"], command, f"overwrites {written}, which exists", *span)
            else:
                self.find(frame, writes["new"], command, f"creates {written}", *span)

    # ---- commands

    def argv(self, words: list[Word], cmd: Command, frame: _Frame, appended: bool = False) -> None:
        """Judge one command line: its name decides the rule, wrappers hand on the rest."""
        fb = self.rules.fallback
        head = words[0]
        value = head.value
        span = (head.start, head.end)
        if head.dynamic or value is None:
            self.find(frame, fb["computed_name"], head.text, f"the command name {head.text} is computed at run time",
                      *span)
            return
        odd = [c for c in value if ord(c) > 127 or not c.isprintable()]
        if odd:
            names = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, 'control character')}" for c in dict.fromkeys(odd))
            plain = "".join(c for c in unicodedata.normalize("NFKC", value) if unicodedata.category(c) != "Cf")
            like = f"; it looks like {plain!r}" if plain != value and plain.isascii() and plain else ""
            self.find(frame, fb["lookalike_name"], value, f"the command name {value!r} contains {names}{like}", *span)
            return
        if _is_glob(value) or _is_braced(value):
            self.find(frame, fb["glob_name"], value, f"the command name {value!r} is expanded by the shell", *span)
            return
        if "/" in value:
            folder, _, base = value.rpartition("/")
            if base and posixpath.normpath(folder or "/") in self.rules.bin_dirs:
                value = base
            else:
                self.find(frame, fb["path_name"], value, f"runs the program at {value}, which no rule knows", *span)
                return
        rule = self.rules.rule(value)
        if value in self.aliases and value not in frame.expanding:
            text = " ".join([self.aliases[value], *(w.text for w in words[1:])])
            inner = frame.into(None, text, (cmd.start, cmd.end))
            self.script(text, replace(inner, expanding=frame.expanding | {value}))
            if rule is None:
                return
        if value in self.functions and rule is None:
            return
        if rule is None:
            self.find(frame, fb["unknown_command"], value, f"{value} is not a command the rules know", *span)
            return
        args = list(words[1:])
        if appended:
            args.append(Word(_INPUT, None, cmd.end, cmd.end, True))
        self.apply(rule, value, head, args, cmd, frame)

    def apply(self, rule: Rule, name: str, head: Word, args: list[Word], cmd: Command, frame: _Frame) -> None:
        """Judge a command line under its rule: modes, options, operands, files, code it runs."""
        parsed = _parse_args(rule, args)
        present = parsed.present
        modes = [rule.modes[k] for k in present if k in rule.modes]
        base = max(map(_tier_of, modes)) if modes else rule.tier
        self.find(frame, base, name, rule.why or f"{name}: {base.label}", head.start, head.end)
        for key, word, _ in parsed.options:
            if key in rule.flags:
                self.find(frame, rule.flags[key], name, f"{name} {key}", word.start, word.end)
        for word in parsed.operands:
            for pattern, tier in rule.operands:
                if word.value is not None and any(fnmatch.fnmatchcase(v, pattern) for v in _braces(word.value)):
                    self.find(frame, tier, name, f"{name} {word.value}", word.start, word.end)
        for word in parsed.assignments:
            self._set(_assignment_name(word.value or "") or "", word, frame)
        if rule.assigns:
            for word in parsed.operands:
                if word.value and _assignment_name(word.value):
                    self._set(_assignment_name(word.value) or "", word, frame)
        named = [w for _, w in parsed.values_of(rule.variable_flags)] + (
            parsed.operands if rule.variable_operands else [])
        for word in named:
            if word is not None and word.value and not word.value.startswith("-"):
                self._set(word.value, word, frame)
        if rule.arithmetic:
            for word in [*parsed.operands, *(v for _, _, v in parsed.options)]:
                self._quoted_code(word, name, frame)
        elif rule.assigns:
            for word in parsed.operands:
                if word.value and _assignment_name(word.value):
                    self._quoted_code(word, name, frame)
        raised = max([base, *(rule.flags[k] for k in present if k in rule.flags)])
        self._computed(rule, name, parsed, frame)
        self._subcommand(rule, name, args, parsed, cmd, frame)
        files = self._programs(rule, name, parsed, frame)
        for each in [rule, *(m for m in modes if isinstance(m, Rule))]:
            self._files(each, name, parsed, files, raised, frame)
        if rule.changes_directory:
            self._cd(parsed.operands, frame)
        chdirs = [w for _, w in parsed.values_of(rule.chdir_flags) if w is not None]
        if chdirs:
            self._cd(chdirs, frame)
        for sub in parsed.execs:
            if sub:
                self.argv([_found(w, rule.exec_placeholder) for w in sub], cmd, frame)
        for key, word in parsed.values_of(rule.script_flags):
            if word is not None:
                self._code(word, word.value, f"{name} {key}", frame)
        if rule.runs and not (present & rule.no_run):
            self._runners[rule.runs](rule, name, parsed, cmd, frame)

    def _computed(self, rule: Rule, name: str, parsed: _Args, frame: _Frame) -> None:
        """A computed word that may be an option counts as the command's highest option."""
        picker = parsed.operands[rule.subcommand_at - 1:rule.subcommand_at] if rule.has_subcommands else []
        for word in parsed.computed:
            if any(w is word for w in picker):
                continue  # a computed subcommand is judged by _subcommand
            kind = self._option_like(word)
            if kind is None:
                continue
            code = self.rules.fallback["hidden_code"] if kind == "split" else None
            tier = rule.ceiling(self.rules.writes["computed"], code)
            self.find(frame, tier, name, f"{name}: {word.text} is computed and may be any option", word.start,
                      word.end)

    def _option_like(self, word: Word) -> str | None:
        """None when the word cannot be an option; "single" when it may be one; "split" when several."""
        if word.text == _INPUT:
            return "split"
        shape = syntax.word_shape(word.text)
        if shape.splits:
            return "split"
        if shape.prefix and not shape.prefix.startswith("-"):
            return None
        if shape.quoted_variable in self.rules.path_variables and shape.quoted_variable not in self.assigned:
            return None
        return "single"

    def _subcommand(self, rule: Rule, name: str, args: list[Word], parsed: _Args, cmd: Command,
                    frame: _Frame) -> None:
        if not rule.has_subcommands or len(parsed.operands) < rule.subcommand_at:
            return
        word = parsed.operands[rule.subcommand_at - 1]
        default = rule.subcommand_default if rule.subcommand_default is not None else \
            self.rules.fallback["unknown_command"]
        if word.value is None:
            tiers = [default, *(e if isinstance(e, Tier) else e.ceiling(self.rules.writes["computed"], None)
                                for e in rule.subcommands.values())]
            self.find(frame, max(tiers), name, f"{name} with a computed subcommand {word.text}", word.start, word.end)
            return
        sub = rule.aliases.get(word.value, word.value)
        entry = rule.subcommands.get(sub)
        if entry is None:
            self.find(frame, default, name, f"{name} {sub} is not a subcommand the rules know", word.start, word.end)
        elif isinstance(entry, Tier):
            self.find(frame, entry, name, f"{name} {sub}", word.start, word.end)
        else:
            at = next(i for i, a in enumerate(args) if a is word)
            self.apply(entry, f"{name} {sub}", word, args[at + 1:], cmd, frame)

    def _programs(self, rule: Rule, name: str, parsed: _Args, frame: _Frame) -> list[Word]:
        """Read the command's program (awk, sed) and return the operands left: its files."""
        if not rule.program:
            return parsed.operands
        program = [w for _, w in parsed.values_of(rule.program_flags) if w is not None]
        operands = parsed.operands
        if not program:
            program, operands = operands[:1], operands[1:]
        for word in program:
            self._program(rule.program, word, name, frame)
        return operands

    def _files(self, rule: Rule, name: str, parsed: _Args, operands: list[Word], raised: Tier,
               frame: _Frame) -> None:
        """Paths the command writes, appends to or changes in place."""
        if rule.writes == "operands":
            kind = "append" if parsed.present & rule.append_flags else "truncate"
            for word in operands:
                self.path(word, kind, name, frame)
        elif rule.writes == "last_operand":
            targets = [w for _, w in parsed.values_of(rule.target_flags) if w is not None]
            if targets or len(operands) >= 2:
                target = targets[0] if targets else operands[-1]
                sources = [w for w in operands if w is not target]
                self._copy_target(target, sources, name, frame)
        for _, word in parsed.values_of(rule.output_flags):
            if word is not None:
                self.path(word, "truncate", name, frame)
        for _, word in parsed.values_of(rule.modify_flags):
            if word is not None:
                self.path(word, "modify", name, frame)
        if rule.modifies == "operands" and raised >= Tier.CHANGES_FILES:
            for word in operands:
                self.path(word, "modify", name, frame)

    def _copy_target(self, target: Word, sources: list[Word], name: str, frame: _Frame) -> None:
        """cp/mv onto a directory write each source's name inside it."""
        if target.value is not None and self.workdir and not self.cwd_unknown:
            folders = [p for p in self._resolve(target.value) if p not in (None, "~", "?") and os.path.isdir(p)]
            if folders:
                for source in sources:
                    if source.value is None:
                        self.path(source, "truncate", name, frame)
                        continue
                    leaf = posixpath.basename(source.value.rstrip("/")) or source.value
                    joined = posixpath.join(target.value, leaf)
                    self.path(Word(target.text, joined, target.start, target.end, False), "truncate", name, frame)
                return
        self.path(target, "truncate", name, frame)

    def _cd(self, targets: list[Word], frame: _Frame) -> None:
        """Where relative paths may point after ``cd``: every static target; any other cd, or too many, and
        relative paths may point anywhere."""
        plain = all(w.value and not w.value.startswith(("~", "-", "+")) for w in targets)
        found = [r for w in targets for r in self._resolve(w.value or "")] if plain and targets else []
        new = [r for r in dict.fromkeys(found) if r not in self.bases]
        if self.cwd_unknown or not found or None in found or len(self.bases) + len(new) > _MAX_BASES:
            self.moved = self.moved or not self.cwd_unknown
            self.cwd_unknown = True
            return
        if new:
            self.bases.extend(new)
            self.moved = True

    # ---- code handed on

    def _code(self, word: Word, text: str | None, command: str, frame: _Frame) -> None:
        """A string that runs as a script: parsed in turn when static, else UNKNOWN."""
        if text is None or word.dynamic:
            self.find(frame, self.rules.fallback["hidden_code"], command,
                      f"{command} runs code built at run time: {word.text}", word.start, word.end)
            return
        self.script(text, frame.into(word, text, (word.start, word.end)))

    def _file(self, word: Word, command: str, frame: _Frame) -> None:
        """A script file: read from the work directory when it is there, else UNKNOWN."""
        if word.value is not None and self.workdir and not self.cwd_unknown:
            for resolved in self._resolve(word.value):
                if resolved not in (None, "~", "?") and resolved.startswith(self.workdir + "/") and \
                        os.path.isfile(resolved) and os.path.getsize(resolved) < 256_000:
                    with open(resolved, encoding="utf-8", errors="replace") as fh:
                        text = fh.read()
                    self.inlined.append((word, frame))
                    self.script(text, replace(frame.into(None, text, (word.start, word.end)), inlined=True))
                    return
        self.find(frame, self.rules.fallback["hidden_code"], command,
                  f"{command} runs {word.text}, a file the classifier cannot see", word.start, word.end)

    def _runs_command(self, rule: Rule, name: str, parsed: _Args, cmd: Command, frame: _Frame) -> None:
        if parsed.rest:
            self.argv(parsed.rest, cmd, frame, appended=rule.appends_input)
        elif rule.default_command:
            self.argv([Word(rule.default_command, rule.default_command, cmd.start, cmd.end, False)], cmd, frame,
                      appended=rule.appends_input)

    def _runs_script(self, rule: Rule, name: str, parsed: _Args, cmd: Command, frame: _Frame) -> None:
        words = parsed.operands
        if not words:
            return
        if len(words) == 1:
            self._code(words[0], words[0].value, name, frame)
            return
        text = None if any(w.value is None for w in words) else " ".join(w.value or "" for w in words)
        joined = Word(" ".join(w.text for w in words), text, words[0].start, words[-1].end, text is None)
        self._code(joined, text, name, frame)

    def _runs_first_script(self, rule: Rule, name: str, parsed: _Args, cmd: Command, frame: _Frame) -> None:
        if parsed.operands and parsed.operands[0].value not in rule.noop_operands:
            self._code(parsed.operands[0], parsed.operands[0].value, name, frame)

    def _runs_file(self, rule: Rule, name: str, parsed: _Args, cmd: Command, frame: _Frame) -> None:
        if parsed.operands:
            self._file(parsed.operands[0], name, frame)

    def _runs_shell(self, rule: Rule, name: str, parsed: _Args, cmd: Command, frame: _Frame) -> None:
        """sh/bash: ``-c STRING``, a script file, or commands on stdin."""
        words = parsed.raw
        command_mode = reads_stdin = False
        i = 0
        while i < len(words):
            v = words[i].value
            if v is None or len(v) < 2 or v[0] not in "-+":
                break
            if v == "--":
                i += 1
                break
            if v in ("--rcfile", "--init-file"):
                self.find(frame, self.rules.fallback["hidden_code"], name, f"{name} {v} runs a file first",
                          words[i].start, words[i].end)
                i += 2
                continue
            letters = "" if v.startswith("--") else v[1:]
            command_mode |= v[0] == "-" and "c" in letters
            reads_stdin |= "s" in letters
            i += 1 + ("o" in letters or "O" in letters)
        operands = words[i:]
        if command_mode:
            if operands:
                self._code(operands[0], operands[0].value, f"{name} -c", frame)
        elif operands and not reads_stdin:
            self._file(operands[0], name, frame)
        else:
            self._stdin(name, cmd, frame)

    def _stdin(self, name: str, cmd: Command, frame: _Frame) -> None:
        """What a shell reads its commands from: a here-doc or file is read; a pipe or terminal is UNKNOWN."""
        fed = [(r.op.lstrip("0"), r.target) for r in cmd.redirects
               if r.op.lstrip("0") in ("<", "<<", "<<-", "<<<") and r.target is not None]
        if fed:
            op, source = fed[-1]
            if op == "<":
                self._file(source, f"{name} <", frame)
            else:
                self._code(source, source.value, f"{name} {op}", frame)
            return
        inputs = self.rules.shell_input
        span = (cmd.name.start, cmd.name.end) if cmd.name else (cmd.start, cmd.end)
        if cmd.pipe_in is None:
            self.find(frame, inputs["terminal"], name, f"{name} reads its commands from the script's stdin", *span)
            return
        self.find(frame, inputs["pipe"], name, f"{name} runs whatever the command before it in the pipe prints",
                  *span)
        upstream = cmd.pipe_in
        seen = 0
        while upstream is not None and seen < 32:
            if self._reaches_network(upstream, frame):
                self.find(frame, inputs["network"], name, f"{name} runs code fetched from the network", *span)
                return
            upstream, seen = upstream.pipe_in, seen + 1

    def _reaches_network(self, cmd: Command, frame: _Frame) -> bool:
        kept = self.findings, self.moved, self.outer_changes, list(self.inlined)
        self.findings = []
        try:
            self.command(replace(cmd, pipe_in=None), frame)
            return any(f.tier == Tier.NETWORK for f in self.findings)
        finally:
            self.findings, self.moved, self.outer_changes, self.inlined = kept

    # ---- little languages

    def _program(self, language: str, word: Word, name: str, frame: _Frame) -> None:
        table = self.rules.programs[language]
        if word.value is None:
            self.find(frame, table.get("computed", self.rules.fallback["hidden_code"]), name,
                      f"{name} runs a program built at run time", word.start, word.end)
            return
        for kind, detail, target in _EFFECTS[language](word.value):
            entry: Any = table.get(kind, self.rules.fallback["hidden_code"])
            if isinstance(entry, dict):
                entry = entry.get(detail)
                if entry is None:
                    continue
            if entry == "write":
                written = Word(word.text, target, word.start, word.end, target is None)
                self.path(written, "append" if detail == ">>" else "truncate", f"{name} program", frame)
            else:
                self.find(frame, entry, name, f"{name} program: {kind.replace('_', ' ')} {detail}".rstrip(),
                          word.start, word.end)
        if language == "awk":
            for path in _awk_reads(word.value):
                self.path(Word(word.text, path, word.start, word.end, False), "read", f"{name} getline", frame)


def _any_glob(pattern: str) -> bool:
    import glob

    return bool(glob.glob(pattern))


# --------------------------------------------------------------------------------- awk and sed

_AWK_REGEX_BEFORE = frozenset({None, "(", ",", "{", ";", "\n", "!", "~", "&&", "||", "}", "!~", "==", "!=", "?", ":"})


def _awk_tokens(prog: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: string, regex, name, number, op, newline."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(prog)
    while i < n:
        c = prog[i]
        if c in " \t\r" or (c == "\\" and i + 1 < n and prog[i + 1] == "\n"):
            i += 1 if c != "\\" else 2
            continue
        if c == "#":
            while i < n and prog[i] != "\n":
                i += 1
            continue
        if c in "\n;":
            out.append(("op", c))
            i += 1
            continue
        prev = out[-1][1] if out and out[-1][0] == "op" else (None if not out else "")
        if c == '"' or (c == "/" and prev in _AWK_REGEX_BEFORE):
            j, buf = i + 1, []
            while j < n and prog[j] != c:
                if prog[j] == "\\" and j + 1 < n:
                    buf.append(prog[j:j + 2] if c == "/" else {"n": "\n", "t": "\t"}.get(prog[j + 1], prog[j + 1]))
                    j += 2
                    continue
                buf.append(prog[j])
                j += 1
            out.append(("string" if c == '"' else "regex", "".join(buf)))
            i = j + 1
            continue
        if c.isalpha() or c == "_" or c == "@":
            j = i + 1
            while j < n and (prog[j].isalnum() or prog[j] == "_"):
                j += 1
            out.append(("name", prog[i:j]))
            i = j
            continue
        if c.isdigit() or c == ".":
            j = i + 1
            while j < n and (prog[j].isalnum() or prog[j] == "."):
                j += 1
            out.append(("number", prog[i:j]))
            i = j
            continue
        two = prog[i:i + 2]
        if two in (">>", "|&", "||", "&&", "==", "!=", "<=", ">=", "!~", "++", "--", "+=", "-=", "*=", "/=", "^="):
            out.append(("op", two))
            i += 2
            continue
        out.append(("op", c))
        i += 1
    return out


def _awk_effects(prog: str) -> list[tuple[str, str, str | None]]:
    """Side effects in an awk program: calls, print/printf redirections and pipes, pipes into getline."""
    toks = _awk_tokens(prog)
    effects: list[tuple[str, str, str | None]] = []
    depth = 0
    print_depth: int | None = None
    for i, (kind, text) in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else ("", "")
        if kind == "name":
            if text.startswith("@"):
                effects.append(("directives", text, None))
            elif nxt == ("op", "("):
                effects.append(("calls", text, None))
            if text in ("print", "printf"):
                print_depth = depth
            continue
        if kind != "op":
            continue
        if text in "([":
            depth += 1
        elif text in ")]":
            depth -= 1
        elif text in ("\n", ";", "{", "}"):
            print_depth = None
        elif text == "|&":
            effects.append(("coprocess", "", None))
        elif text == "|" and nxt == ("name", "getline"):
            effects.append(("getline_pipe", "", None))
        elif text == "|" and print_depth is not None and depth == print_depth:
            effects.append(("print_pipe", "", None))
        elif text in (">", ">>") and print_depth is not None and depth == print_depth:
            effects.append(("print_redirect", text, nxt[1] if nxt[0] == "string" else None))
    return effects


def _awk_reads(prog: str) -> list[str]:
    """Files an awk program reads with ``getline < "file"`` (gawk opens /inet/... sockets this way)."""
    toks = _awk_tokens(prog)
    out = []
    for i, (kind, text) in enumerate(toks):
        if (kind, text) == ("op", "<") and any(t == ("name", "getline") for t in toks[max(0, i - 2):i]):
            if i + 1 < len(toks) and toks[i + 1][0] == "string":
                out.append(toks[i + 1][1])
    return out


def _sed_effects(script: str) -> list[tuple[str, str, str | None]]:
    """Commands in a sed script that execute (``e``, ``s///e``) or write (``w``, ``s///w``)."""
    effects: list[tuple[str, str, str | None]] = []
    s, n = script, len(script)

    def line_rest(j: int) -> tuple[str, int]:
        k = j
        while k < n and s[k] != "\n":
            k += 2 if s[k] == "\\" else 1
        return s[j:k].strip(), k

    def delimited(j: int, delim: str) -> int:
        while j < n and s[j] != delim:
            if s[j] == "\n" and delim != "\n":
                raise ValueError
            j += 2 if s[j] == "\\" else 1
        if j >= n:
            raise ValueError
        return j + 1

    def address(j: int) -> int:
        if j < n and s[j].isdigit():
            while j < n and (s[j].isdigit() or s[j] == "~"):
                j += 1
        elif j < n and s[j] == "$":
            j += 1
        elif j < n and s[j] in "/\\":
            if s[j] == "\\":
                j += 1
            j = delimited(j + 1, s[j])
            while j < n and s[j] in "IM":
                j += 1
        return j

    i = 0
    try:
        while i < n:
            while i < n and s[i] in " \t\n;":
                i += 1
            if i >= n:
                break
            if s[i] == "#":
                _, i = line_rest(i)
                continue
            i = address(i)
            if i < n and s[i] == ",":
                i += 1
                i += i < n and s[i] in "+~"
                i = address(i)
            while i < n and s[i] in " \t!":
                i += 1
            if i >= n:
                raise ValueError
            c, i = s[i], i + 1
            if c in "{}=dDgGhHnNpPxzF":
                continue
            if c in "aic":
                _, i = line_rest(i)
            elif c in ":btT":
                while i < n and s[i] not in ";\n":
                    i += 1
            elif c in "rRwW":
                target, i = line_rest(i)
                effects.append(("commands", c, target))
            elif c == "e":
                _, i = line_rest(i)
                effects.append(("commands", "e", None))
            elif c in "sy":
                if i >= n or s[i] in "\n\\":
                    raise ValueError
                delim = s[i]
                i = delimited(delimited(i + 1, delim), delim)
                while c == "s" and i < n and s[i] not in ";\n}":
                    flag, i = s[i], i + 1
                    if flag == "w":
                        target, i = line_rest(i)
                        effects.append(("s_flags", "w", target))
                    elif flag == "e":
                        effects.append(("s_flags", "e", None))
                    elif flag not in "gpiImM0123456789 \t":
                        raise ValueError
            elif c in "qQlLv":
                while i < n and (s[i].isalnum() or s[i] in " .\t"):
                    i += 1
            else:
                raise ValueError
    except ValueError:
        effects.append(("unreadable", "", None))
    return effects


_EFFECTS: dict[str, Callable[[str], list[tuple[str, str, str | None]]]] = {"awk": _awk_effects, "sed": _sed_effects}


# ------------------------------------------------------------------------------------------- API

def classify(script: str, rules: RiskRules, workdir: str | None = None) -> Risk:
    """The script's tier and the findings behind it; ``workdir`` is where it will run (paths are
    checked there; without it an overwrite is taken to clobber something)."""
    findings = _Judge(rules, workdir).run(script)
    unique = list({(f.tier, f.command, f.reason, f.start, f.end): f for f in findings}.values())
    unique.sort(key=lambda f: (f.start, -f.tier, f.end))
    return Risk(max((f.tier for f in unique), default=Tier.READ_ONLY), unique)
