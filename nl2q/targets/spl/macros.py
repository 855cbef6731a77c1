"""Search macros: `name` and `name(a, b)` replaced by their definitions before a search is parsed.

Definitions come from Splunk Security Content YAML files (``name``, ``definition``, optional
``arguments``) or a mapping. Splunk keys a macro that takes arguments as ``name(N)``, N the number
of arguments, so ``ctime`` and ``ctime(1)`` are different macros; :class:`Macros` does the same.
Comments (```` ```...``` ````) are removed first, as Splunk does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from ...errors import Nl2qError

# A macro call: `name` or `name(args)`. Backticks around anything else (a lone "`" in a string) are text.
_CALL = re.compile(r"`([A-Za-z0-9_.:-]+)(?:\((.*?)\))?`", re.S)
_COMMENT = re.compile(r"```.*?```", re.S)
_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\$")

# Macros an app the detections rely on defines (Splunk_SA_CIM), absent from the content's macro
# directory: ``Macros.from_dir(d, extra=CIM_MACROS)``.
CIM_MACROS: dict[str, str] = {
    "drop_dm_object_name(1)": "rename $object$.* AS *",
}


class MacroError(Nl2qError):
    """A macro that cannot be expanded: unknown, called with the wrong number of arguments, or recursive."""

    def __init__(self, message: str, *, name: str, offset: int, hint: str = "") -> None:
        super().__init__(message, hint)
        self.name = name
        self.offset = offset


@dataclass(frozen=True)
class Macro:
    """One definition; ``arguments`` name the ``$placeholders$`` its call fills, in order."""

    name: str
    definition: str
    arguments: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Splunk's key: ``name``, or ``name(N)`` when it takes N arguments."""
        return f"{self.name}({len(self.arguments)})" if self.arguments else self.name


def _key(name: str, arity: int) -> str:
    return f"{name}({arity})" if arity else name


def _from_mapping(key: str, definition: str | Macro) -> Macro:
    """A mapping entry as a macro: a ``name(N)`` key without argument names takes them from the
    definition's placeholders, in order of first appearance."""
    if isinstance(definition, Macro):
        return definition
    m = re.fullmatch(r"(.+)\((\d+)\)", key)
    if not m:
        return Macro(key, definition)
    arity = int(m.group(2))
    names = tuple(dict.fromkeys(_PLACEHOLDER.findall(definition)))[:arity]
    if len(names) != arity:
        raise MacroError(f"macro {key} takes {arity} arguments but its definition names {len(names)} $placeholders$",
                         name=key, offset=0, hint="pass a Macro with explicit arguments")
    return Macro(m.group(1), definition, names)


def split_outside(text: str, sep: str, opening: str = "([", closing: str = ")]") -> list[str]:
    """``text`` split on ``sep`` where it is outside double quotes and brackets."""
    parts, depth, quoted, escaped, start = [], 0, False, False, 0
    for i, ch in enumerate(text):
        if quoted:
            quoted = escaped or ch != '"'
            escaped = not escaped and ch == "\\"
        elif ch == '"':
            quoted = True
        elif ch in opening:
            depth += 1
        elif ch in closing:
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def split_arguments(text: str) -> list[str]:
    """A call's arguments: split on commas outside quotes and brackets, spaces around each removed."""
    return [a.strip() for a in split_outside(text, ",")]


class Macros:
    """A set of macro definitions and the expansion of searches that call them.

    ``empty_filters`` treats an unknown macro whose name ends in ``_filter`` as empty: detections
    end with a per-detection filter macro that customers define (shipped as ``search *``); an
    emptied ``| `x_filter``` segment is removed with its pipe.
    """

    def __init__(self, macros: Iterable[Macro] | Mapping[str, str | Macro] = (), *, empty_filters: bool = False,
                 max_depth: int = 20) -> None:
        items = [_from_mapping(k, v) for k, v in macros.items()] if isinstance(macros, Mapping) else list(macros)
        self._macros: dict[str, Macro] = {m.key: m for m in items}
        self.empty_filters = empty_filters
        self.max_depth = max_depth

    @classmethod
    def from_dir(cls, directory: str | Path, *, extra: Mapping[str, str | Macro] | None = None,
                 empty_filters: bool = False, max_depth: int = 20) -> Macros:
        """Every ``*.yml``/``*.yaml`` definition in ``directory`` (Splunk Security Content format), then ``extra``."""
        import yaml

        items: list[Macro] = []
        for path in sorted(Path(directory).glob("*.y*ml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if "name" not in doc or "definition" not in doc:
                raise MacroError(f"{path.name} is not a macro definition (needs name and definition)",
                                 name=path.stem, offset=0)
            items.append(Macro(str(doc["name"]), str(doc["definition"]), tuple(doc.get("arguments") or ())))
        items += [_from_mapping(k, v) for k, v in (extra or {}).items()]
        return cls(items, empty_filters=empty_filters, max_depth=max_depth)

    def add(self, macro: Macro) -> None:
        self._macros[macro.key] = macro

    def __contains__(self, key: str) -> bool:
        return key in self._macros

    def __len__(self) -> int:
        return len(self._macros)

    def __iter__(self) -> Iterator[Macro]:
        return iter(self._macros.values())

    def get(self, key: str) -> Macro | None:
        return self._macros.get(key)

    def expand(self, text: str) -> str:
        """``text`` with comments removed and every macro call replaced, recursively."""
        return self._expand(strip_comments(text), 0, ())

    def _expand(self, text: str, depth: int, chain: tuple[str, ...]) -> str:
        out: list[str] = []
        last = 0
        for m in _CALL.finditer(text):
            out.append(text[last:m.start()])
            last = m.end()
            replacement = self._replacement(m, depth, chain)
            if replacement is None:  # an emptied filter
                _drop_empty_segment(out, text[last:])
                continue
            out.append(replacement)
        out.append(text[last:])
        return "".join(out)

    def _replacement(self, m: re.Match[str], depth: int, chain: tuple[str, ...]) -> str | None:
        name, raw_args = m.group(1), m.group(2)
        args = split_arguments(raw_args) if raw_args is not None else []
        key = _key(name, len(args))
        macro = self._macros.get(key)
        if macro is None:
            if self.empty_filters and name.endswith("_filter"):
                return None
            raise self._unknown(name, key, m.start())
        if depth >= self.max_depth:
            path = " -> ".join(chain + (key,))
            raise MacroError(f"macro expansion deeper than {self.max_depth} levels ({path}): is a macro recursive?",
                             name=key, offset=m.start())
        body = macro.definition
        for placeholder, value in zip(macro.arguments, args):
            body = body.replace(f"${placeholder}$", value)
        return self._expand(strip_comments(body), depth + 1, chain + (key,))

    def _unknown(self, name: str, key: str, offset: int) -> MacroError:
        others = sorted(k for k in self._macros if k == name or k.startswith(name + "("))
        if others:
            return MacroError(f"macro `{key}` is not defined; there is {', '.join(others)}", name=key, offset=offset,
                              hint="call it with that many arguments")
        return MacroError(f"unknown macro `{key}` (not among the {len(self._macros)} macro definitions)",
                          name=key, offset=offset, hint="define it, or write its search in place")


def strip_comments(text: str) -> str:
    """``text`` without ```` ```comments``` ````."""
    return _COMMENT.sub("", text)


def _drop_empty_segment(out: list[str], rest: str) -> None:
    """After an emptied macro: if it was a whole ``| segment``, drop the pipe before it too."""
    before = "".join(out)
    m = re.search(r"\s*\|\s*$", before)
    if m and re.match(r"\s*(?:\||\]|$)", rest):
        out[:] = [before[:m.start()]]
