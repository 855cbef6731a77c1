"""The environment a script runs in is the shell target's schema: the commands it can call, the
working directory's tree it can name, and the operating system.

Commands come from PATH (or a given list, or the profile's); the tree is read once at bind time,
bounded, and only the entries most relevant to a question are shown in the prompt, the way
Cypher's schema subset is, with a note when entries were left out.
"""

from __future__ import annotations

import os
import platform
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ...errors import SchemaError

MAX_ENTRIES = 5_000  # read at bind time
SHOWN_ENTRIES = 40  # shown in a prompt
SKIPPED_DIRS = {".git", "node_modules", "__pycache__", ".venv", ".cache"}
COMMON = ("ls", "find", "grep", "awk", "sed", "sort", "uniq", "head", "tail", "wc", "du", "df", "ps", "ss", "lsof",
          "xargs", "cut", "tr", "cat", "stat", "gzip", "tar", "date", "journalctl", "systemctl", "kill", "curl", "rm",
          "mv", "cp", "mkdir", "chmod", "touch", "tee", "echo", "printf", "test")


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the work directory, '/'-separated
    kind: str  # file | dir | link
    size: int = 0


@dataclass
class ShellEnvironment:
    commands: dict[str, str]  # name -> resolved path ("" for builtins and listed names)
    workdir: Path | None
    entries: list[Entry] = field(default_factory=list)
    truncated: bool = False  # the tree had more than MAX_ENTRIES entries
    system: str = ""
    shown_as: Path | None = None  # where scripts see the work directory, when not at its own path (a benchmark's /testbed)

    @property
    def seen(self) -> Path | None:
        """The work directory as scripts name it."""
        return self.shown_as or self.workdir

    def has_command(self, name: str) -> bool:
        return name in self.commands

    def has_path(self, path: str) -> bool | None:
        """Whether ``path`` (relative to the work directory, or absolute inside it) exists in the bound tree;
        None when that cannot be known (no work directory, outside it, or the tree was cut)."""
        if self.workdir is None:
            return None
        p = Path(path)
        if p.is_absolute():
            try:
                p = p.relative_to(self.seen)  # type: ignore[arg-type]
            except ValueError:
                return None
        rel = os.path.normpath(str(p)).replace(os.sep, "/")
        if rel in (".", ""):
            return True
        if rel.startswith(".."):
            return None
        if rel in self._paths:
            return True
        return None if self.truncated else False

    @property
    def _paths(self) -> set[str]:
        cached = self.__dict__.get("_path_set")
        if cached is None:
            cached = self.__dict__.setdefault("_path_set", {e.path for e in self.entries})
        return cached

    def render(self, question: str, shown: int = SHOWN_ENTRIES) -> str:
        """The environment for a prompt: the system, the work directory's most relevant entries, commands."""
        lines = [f"System: {self.system}" if self.system else ""]
        if self.workdir is not None:
            picked = relevant(self.entries, question, shown)
            lines.append(f"Working directory: {self.seen} (run the script there; use relative paths)")
            for e in picked:
                suffix = "/" if e.kind == "dir" else " -> (link)" if e.kind == "link" else f"  ({_size(e.size)})"
                lines.append(f"  {e.path}{suffix}")
            left = len(self.entries) - len(picked)
            if left > 0 or self.truncated:
                lines.append(f"  (Only {len(picked)} of {len(self.entries)}{'+' if self.truncated else ''} entries, "
                             "the most relevant to the question, are shown.)")
        common = [c for c in COMMON if c in self.commands]
        lines.append(f"Commands: {', '.join(common)}" + (f" and {len(self.commands) - len(common)} more"
                                                         if len(self.commands) > len(common) else ""))
        return "\n".join(line for line in lines if line)


def relevant(entries: list[Entry], question: str, limit: int) -> list[Entry]:
    """The entries whose path shares the most words with the question, then the shallowest, in tree order."""
    words = {w.lower() for w in re.findall(r"[A-Za-z0-9]+", question) if len(w) > 1}
    words |= {w.rstrip("s") for w in words}

    def score(e: Entry) -> tuple[int, int]:
        parts = {p.lower() for p in re.findall(r"[A-Za-z0-9]+", e.path)}
        return (-len(parts & words), e.path.count("/"))

    keep = set(id(e) for e in sorted(entries, key=score)[:limit])
    return [e for e in entries if id(e) in keep]


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def scan_path(path_env: str | None = None) -> dict[str, str]:
    """The executables on PATH, first one wins, as the shell would find them."""
    found: dict[str, str] = {}
    for d in (path_env if path_env is not None else os.environ.get("PATH", "")).split(os.pathsep):
        if not d or not os.path.isdir(d):
            continue
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            full = os.path.join(d, name)
            if name not in found and os.access(full, os.X_OK) and os.path.isfile(full):
                found[name] = full
    return found


def scan_tree(root: Path, limit: int = MAX_ENTRIES) -> tuple[list[Entry], bool]:
    """Every entry under ``root`` (breadth first, hidden tool directories skipped), at most ``limit``."""
    out: list[Entry] = []
    queue = [root]
    while queue:
        d = queue.pop(0)
        try:
            children = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        for c in children:
            if len(out) >= limit:
                return out, True
            rel = os.path.relpath(c.path, root).replace(os.sep, "/")
            try:
                st = c.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                out.append(Entry(rel, "link"))
            elif stat.S_ISDIR(st.st_mode):
                out.append(Entry(rel, "dir"))
                if c.name not in SKIPPED_DIRS:
                    queue.append(Path(c.path))
            else:
                out.append(Entry(rel, "file", st.st_size))
    return out, False


def describe_system() -> str:
    text = f"{platform.system()} {platform.release()}"
    try:
        info = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        text += f" ({info.get('PRETTY_NAME', '').strip(chr(34))})"
    except OSError:
        pass
    return text + ", bash"


def bind_environment(source: Any, builtins: Iterable[str] = (), listed: Iterable[str] = ()) -> ShellEnvironment:
    """``source``: a work directory path, or a mapping ``{"workdir": ..., "commands": [...], "path": "...",
    "shown_as": "/testbed"}`` (``path``: a PATH to scan; ``shown_as``: the absolute path scripts see the
    work directory at, where that is not its own, as in a benchmark's file system)."""
    if isinstance(source, (str, Path)):
        source = {"workdir": source}
    if not isinstance(source, dict):
        raise SchemaError(f"unsupported shell source of type {type(source).__name__}",
                          'pass a working directory, or {"workdir": DIR, "commands": [...]}')
    workdir = source.get("workdir")
    root = None
    entries: list[Entry] = []
    truncated = False
    if workdir is not None:
        root = Path(workdir).resolve()
        if not root.is_dir():
            raise SchemaError(f"working directory not found: {workdir}", "pass an existing directory (--workdir DIR)")
        entries, truncated = scan_tree(root)
    names = source.get("commands")
    if names is not None:
        commands = {str(n): "" for n in names}
    elif tuple(listed):
        commands = {n: "" for n in listed}
    else:
        commands = scan_path(source.get("path"))
    commands.update({b: "" for b in builtins if b not in commands})
    shown = source.get("shown_as")
    if shown is not None and not Path(shown).is_absolute():
        raise SchemaError(f"shown_as must be an absolute path, not {shown!r}", 'e.g. {"shown_as": "/testbed"}')
    return ShellEnvironment(commands, root, entries, truncated, source.get("system") or describe_system(),
                            Path(shown) if shown else None)
