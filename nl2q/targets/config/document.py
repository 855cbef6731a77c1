"""Config documents (JSON or YAML) with the position of every key and value, so a schema error can point
at the text a person wrote; and block YAML for people that reads back to exactly the same value."""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal

import yaml

from ...types import Diagnostic

Path = tuple[str | int, ...]
Format = Literal["json", "yaml"]


@dataclass(frozen=True)
class Span:
    """Characters [start, end) of the text; line and col (1-based) of ``start``."""

    start: int
    end: int
    line: int
    col: int


@dataclass(frozen=True)
class Document:
    """One parsed document. ``keys[path]`` is where the key of that member is written, ``values[path]``
    where its value is; offsets index ``text``, the whole text the document came from."""

    data: Any
    format: Format
    text: str
    keys: dict[Path, Span]
    values: dict[Path, Span]

    def span(self, path: Path, *, key: bool = False) -> Span:
        """The span at ``path`` (its key when ``key`` and it has one), else the nearest ancestor's value:
        aliased YAML nodes record spans only where they are first written."""
        if key and path in self.keys:
            return self.keys[path]
        while path not in self.values:
            path = path[:-1]
        return self.values[path]


class DocumentError(ValueError):
    """The text does not parse as a config document, or holds something a JSON value cannot (a duplicate
    key, a YAML tag); ``line``/``col``/``start`` are where the parser stopped."""

    def __init__(self, message: str, line: int, col: int, start: int, *, end: int | None = None,
                 code: str = "syntax.document") -> None:
        super().__init__(f"line {line}, col {col}: {message}")
        self.message, self.line, self.col, self.start = message, line, col, start
        self.end = start + 1 if end is None else end
        self.code = code

    def diagnostic(self) -> Diagnostic:
        return Diagnostic(self.code, self.message, line=self.line, col=self.col, start=self.start, end=self.end)


class _Lines:
    """Offset to (line, col) in O(log n), for the thousands of spans a manifest has."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def span(self, start: int, end: int) -> Span:
        row = bisect.bisect_right(self.starts, start) - 1
        return Span(start, end, row + 1, start - self.starts[row] + 1)

    def error(self, message: str, start: int, end: int | None = None, code: str = "syntax.document") -> DocumentError:
        at = self.span(start, start)
        return DocumentError(message, at.line, at.col, start, end=end, code=code)


def load_documents(text: str) -> list[Document]:
    """The documents of ``text``: one JSON value when it starts with ``{`` or ``[``, else YAML (``---``
    separates documents; empty ones are skipped). Raises DocumentError."""
    if text.lstrip()[:1] in ("{", "["):
        return [_load_json(text)]
    return list(_load_yaml(text))


def _dup_message(key: str, first: Span, again: Span) -> str:
    return (f"duplicate key `{key}` on line {again.line} (first on line {first.line}): the parser would keep "
            "only the last one; remove one of them or rename it")


# --- JSON -----------------------------------------------------------------------------------------------

_TOO_DEEP = "nested too deeply to check: flatten the document"
_WS = re.compile(r"[ \t\n\r]*")
_LITERALS = {"t": 4, "f": 5, "n": 4}


def _load_json(text: str) -> Document:
    lines = _Lines(text)
    walk = _JsonSpans(text, lines)
    try:
        data = json.loads(text)
        walk.value(0, ())
    except json.JSONDecodeError as e:
        raise DocumentError(_json_message(e), e.lineno, e.colno, e.pos) from None
    except RecursionError:
        raise lines.error(_TOO_DEEP, 0) from None
    return Document(data, "json", text, walk.keys, walk.values)


class _JsonSpans:
    """Where each key and value of JSON text is. It runs on text json.loads accepted, so it only has to
    find boundaries (with json's own string scanner and number pattern), duplicates and NaN."""

    def __init__(self, text: str, lines: _Lines) -> None:
        self.text, self.lines = text, lines
        self.keys: dict[Path, Span] = {}
        self.values: dict[Path, Span] = {}

    def value(self, i: int, path: Path) -> int:
        i = _WS.match(self.text, i).end()
        end = self._scan(self.text[i])(i, path)
        self.values[path] = self.lines.span(i, end)
        return end

    def _scan(self, ch: str) -> Callable[[int, Path], int]:
        table = {"{": self._object, "[": self._array, '"': self._string}
        return table.get(ch) or (self._literal if ch in _LITERALS else self._number)

    def _object(self, i: int, path: Path) -> int:
        i = _WS.match(self.text, i + 1).end()
        if self.text[i] == "}":
            return i + 1
        while True:
            key, key_end = json.decoder.scanstring(self.text, i + 1)
            here = self.lines.span(i, key_end)
            if path + (key,) in self.keys:
                first = self.keys[path + (key,)]
                raise self.lines.error(_dup_message(key, first, here), i, key_end, "schema.duplicate_key")
            self.keys[path + (key,)] = here
            colon = _WS.match(self.text, key_end).end()
            i = _WS.match(self.text, self.value(colon + 1, path + (key,))).end()
            if self.text[i] == "}":
                return i + 1
            i = _WS.match(self.text, i + 1).end()

    def _array(self, i: int, path: Path) -> int:
        i = _WS.match(self.text, i + 1).end()
        if self.text[i] == "]":
            return i + 1
        n = 0
        while True:
            i = _WS.match(self.text, self.value(i, path + (n,))).end()
            if self.text[i] == "]":
                return i + 1
            i, n = i + 1, n + 1

    def _string(self, i: int, path: Path) -> int:
        return json.decoder.scanstring(self.text, i + 1)[1]

    def _literal(self, i: int, path: Path) -> int:
        return i + _LITERALS[self.text[i]]

    def _number(self, i: int, path: Path) -> int:
        m = json.scanner.NUMBER_RE.match(self.text, i)
        if m is None:
            word = re.match(r"-?\w+", self.text[i:]).group()
            raise self.lines.error(f"`{word}` is not JSON (Python accepts it, other parsers do not): write null "
                                   "or a string", i, i + len(word))
        return m.end()


def _json_message(e: json.JSONDecodeError) -> str:
    """json's message reworded into what to do, from the character where the parser stopped."""
    text, pos = e.doc, e.pos
    found = text[pos] if pos < len(text) else ""
    before = text[:pos].rstrip()
    for prefix, explain in _JSON_ERRORS:
        if e.msg.startswith(prefix):
            said = explain(found, before, e)
            if said:
                return said
    return e.msg


def _after_comma(found: str, before: str, e: json.JSONDecodeError) -> str:
    if found and found in "}]" and before.endswith(","):
        line = before.count("\n") + 1
        col = len(before) - before.rfind("\n") - 1
        return (f"trailing comma (line {line}, col {col}) before `{found}`: JSON allows no comma after the last "
                "item; remove it")
    return ""


def _expecting_value(found: str, before: str, e: json.JSONDecodeError) -> str:
    if not found:
        return "the JSON ends where a value should be: a value is missing or a bracket is never closed"
    if found == "'":
        return "JSON strings are written in double quotes, not single quotes"
    word = re.match(r"\w*", e.doc[e.pos:]).group()
    fix = {"True": "true", "False": "false", "None": "null", "undefined": "null"}.get(word)
    if fix:
        return f"`{word}` is not JSON: write `{fix}`"
    return f"expected a JSON value (string, number, object, array, true, false or null), found `{found}`"


def _expecting_key(found: str, before: str, e: json.JSONDecodeError) -> str:
    if found == "'":
        return "JSON keys are written in double quotes, not single quotes"
    return f"expected a key in double quotes, found `{found or 'the end of the text'}`"


def _missing_comma(found: str, before: str, e: json.JSONDecodeError) -> str:
    if not found:
        return "the JSON ends before every `{` and `[` is closed"
    return f"expected `,` or a closing bracket before `{found}`: a comma is missing between items, or a bracket is unclosed"


_JSON_ERRORS: tuple[tuple[str, Callable[[str, str, json.JSONDecodeError], str]], ...] = (
    ("Expecting value", _after_comma),
    ("Expecting property name", _after_comma),
    ("Expecting value", _expecting_value),
    ("Expecting property name", _expecting_key),
    ("Expecting ',' delimiter", _missing_comma),
    ("Expecting ':' delimiter", lambda f, b, e: f"expected `:` after the key, found `{f or 'the end of the text'}`"),
    ("Extra data", lambda f, b, e: "text after the end of the JSON value: a document holds one value (remove the "
                                   "extra text or an extra closing bracket)"),
    ("Unterminated string", lambda f, b, e: "a string is never closed: add the closing `\"`"),
    ("Invalid control character", lambda f, b, e: "a raw control character (a newline or tab) inside a string: "
                                                  "write it as \\n or \\t"),
    ("Invalid \\", lambda f, b, e: "an invalid escape in a string: write a backslash as \\\\"),
)


# --- YAML -----------------------------------------------------------------------------------------------

_T = "tag:yaml.org,2002:"
# JSON scalars come from PyYAML's own constructors; YAML scalars with no JSON equivalent stay as written.
_CONSTRUCTED = {_T + "null", _T + "bool", _T + "int", _T + "float"}
_AS_WRITTEN = {_T + "str", _T + "timestamp", _T + "value"}

_YAML_ERRORS = (
    ("found character '\\t'", "a tab character: YAML indents with spaces only"),
    ("mapping values are not allowed", "unexpected `:`: quote a value that contains `: `, or fix this key's indentation"),
    ("could not find expected ':'", "expected `key: value`: a line is missing its `:`, or is indented wrong"),
    ("did not find expected key", "this line does not line up with the keys of its mapping: check its indentation"),
    ("did not find expected '-' indicator", "this line does not line up with the items of its list: check its indentation"),
    ("expected <block end>", "this line does not fit the block above it: check its indentation (a key among "
                             "list items, or a list item among keys)"),
    ("expected ',' or ']'", "a `[` list is never closed, or a comma is missing between its items"),
    ("expected ',' or '}'", "a `{` mapping is never closed, or a comma is missing between its items"),
    ("found unexpected end of stream", "the text ends inside a quoted string or a `[`/`{` collection: close it"),
)


def _load_yaml(text: str) -> Iterator[Document]:
    lines = _Lines(text)
    loader = yaml.SafeLoader(text)
    try:
        while _yaml_call(loader.check_node, lines):
            node = _yaml_call(loader.get_node, lines)
            if isinstance(node, yaml.ScalarNode) and node.tag == _T + "null" and node.value == "":
                continue
            build = _YamlBuild(loader, lines)
            data = _yaml_call(lambda: build.value(node, ()), lines)
            yield Document(data, "yaml", text, build.keys, build.values)
    finally:
        loader.dispose()


def _yaml_call(fn: Callable[[], Any], lines: _Lines) -> Any:
    try:
        return fn()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise lines.error(_yaml_message(e), mark.index if mark else 0) from None
    except RecursionError:
        raise lines.error(_TOO_DEEP, 0) from None
    except yaml.reader.ReaderError as e:
        raise lines.error(f"character {e.character!r} is not allowed in YAML: remove it or write it escaped in a "
                          "double-quoted string", e.position) from None


def _yaml_message(e: yaml.MarkedYAMLError) -> str:
    problem = e.problem or e.context or "invalid YAML"
    friendly = next((said for prefix, said in _YAML_ERRORS if problem.startswith(prefix)), "")
    return f"{friendly} (YAML: {problem})" if friendly else f"invalid YAML: {problem}"


class _YamlBuild:
    """A JSON value from a composed YAML node, recording each node's marks. Keys are the text written
    (JSON keys are strings: GitHub's ``on:`` stays ``"on"``); an alias reuses the value built at its anchor."""

    def __init__(self, loader: yaml.SafeLoader, lines: _Lines) -> None:
        self.loader, self.lines = loader, lines
        self.keys: dict[Path, Span] = {}
        self.values: dict[Path, Span] = {}
        self.built: dict[int, Any] = {}
        self.active: set[int] = set()

    def span(self, node: yaml.Node) -> Span:
        return self.lines.span(node.start_mark.index, node.end_mark.index)

    def value(self, node: yaml.Node, path: Path) -> Any:
        self.values[path] = self.span(node)
        if id(node) in self.active:
            raise self.error(node, "an alias refers to the node that contains it: a JSON value cannot be recursive")
        if id(node) not in self.built:
            self.active.add(id(node))
            kind = {yaml.ScalarNode: self._scalar, yaml.SequenceNode: self._sequence, yaml.MappingNode: self._mapping}
            self.built[id(node)] = kind[type(node)](node, path)
            self.active.discard(id(node))
        return self.built[id(node)]

    def error(self, node: yaml.Node, message: str, code: str = "syntax.document") -> DocumentError:
        return self.lines.error(message, node.start_mark.index, node.end_mark.index, code)

    def _unsupported(self, node: yaml.Node) -> DocumentError:
        tag = node.tag.replace(_T, "!!")
        return self.error(node, f"YAML tag `{tag}` has no JSON equivalent: remove the tag, or quote the value")

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        if node.tag in _AS_WRITTEN:
            return node.value
        if node.tag in _CONSTRUCTED:
            return self.loader.construct_object(node)
        raise self._unsupported(node)

    def _sequence(self, node: yaml.SequenceNode, path: Path) -> list[Any]:
        if node.tag != _T + "seq":
            raise self._unsupported(node)
        return [self.value(item, path + (n,)) for n, item in enumerate(node.value)]

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        if node.tag != _T + "map":
            raise self._unsupported(node)
        out: dict[str, Any] = {}
        merges = [v for k, v in node.value if k.tag == _T + "merge"]
        for source in reversed(merges):
            for merged in reversed(source.value if isinstance(source, yaml.SequenceNode) else [source]):
                self._merge(merged, path, out)
        written: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _T + "merge":
                continue
            key = self._key(key_node, path, written)
            out[key] = self.value(value_node, path + (key,))
        return out

    def _key(self, node: yaml.Node, path: Path, written: set[str]) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, "a mapping key must be a scalar (text or a number), not a list or a mapping")
        key, here = node.value, self.span(node)
        if key in written:
            raise self.error(node, _dup_message(key, self.keys[path + (key,)], here), "schema.duplicate_key")
        written.add(key)
        self.keys[path + (key,)] = here
        return key

    def _merge(self, source: yaml.Node, path: Path, out: dict[str, Any]) -> None:
        if not isinstance(source, yaml.MappingNode):
            raise self.error(source, "`<<` merges mappings only: give it a mapping or a list of mappings")
        own = self.values[path]
        out.update(self.value(source, path))
        self.values[path] = own
        for key_node, value_node in source.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _T + "merge":
                self.keys[path + (key_node.value,)] = self.span(key_node)
                self.values[path + (key_node.value,)] = self.span(value_node)


# --- paths and YAML for people --------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_$@/-]+")


def path_text(path: Path) -> str:
    """``spec.template.spec.containers[0].image``; keys that are not plain words in ``["..."]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _BARE_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


# Strings any common YAML reader (1.1 or 1.2: PyYAML, go-yaml, ruamel) could take for a number, a boolean,
# null or a date: quoted even where PyYAML itself would read them back as text ("08", "1e3", "y").
_LOOKALIKE = re.compile(
    r"[-+]?(\.?[0-9][0-9_.:eE+-]*|0[xXoObB][0-9a-fA-F_]+|\.(inf|Inf|INF))|\.(nan|NaN|NAN)"
    r"|y|Y|n|N|yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|null|Null|NULL|~|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*|=|<<"
)
# Line breaks a YAML reader folds into "\n" inside block and single-quoted scalars: escaped in double quotes.
_ODD_BREAKS = frozenset("\r\x85\u2028\u2029")


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, s: str) -> yaml.ScalarNode:
    style = None
    if _LOOKALIKE.fullmatch(s):
        style = "'"
    elif _ODD_BREAKS.intersection(s):
        style = '"'
    elif "\n" in s and s[0] not in " \n":
        style = "|"
    return dumper.represent_scalar(_T + "str", s, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(data: Any) -> str:
    """Block-style YAML for people: key order kept, multi-line strings as ``|`` blocks, and
    ``yaml.safe_load(to_yaml(x)) == x`` for every JSON value (PyYAML falls back to quotes wherever a
    plain or block scalar would not read back the same)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
