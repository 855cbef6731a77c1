"""The one walk of a bash script's tree (tree-sitter-bash) that the rest of the shell target reads.

Risk rules judge commands, words and redirects found here, never the raw text, so a disguise that
changes the text but not the parse (quotes, backslashes, line continuations) changes nothing.
Offsets are character offsets into the script (tree-sitter counts bytes).

tree-sitter-bash mis-reads a few valid forms; the walk repairs those it can recognise on the tree:

* a backslash-newline inside a word (``r\\<newline>m``) splits it in two: nodes that touch, or are
  separated only by a backslash-newline, are glued back into one word (this also joins ``$"..."``);
* a line that starts with a backslash (``\\rm``) and one that follows an assignment with a redirect
  are swallowed as arguments of the line before: a simple command is cut where a raw newline
  separates two of its parts;
* backticks in an unquoted here-document body are left as text: they are parsed here.

What it cannot repair (``<>``, ``{fd}>``, a here-doc followed by ``;`` on its line, command
substitutions inside a ``[[ =~ ]]`` pattern) shows up in :func:`syntax_errors`; callers that must
be sound treat any error as "this script may do anything".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Callable

from ...errors import require

_EXPANSIONS = frozenset({"simple_expansion", "expansion", "command_substitution", "arithmetic_expansion",
                         "process_substitution"})
_SPLITTING = _EXPANSIONS - {"process_substitution"}
_REDIRECTS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
_HEREDOC_PARTS = frozenset({"heredoc_start", "heredoc_body", "heredoc_end", "file_descriptor"})
_TEST_LEAVES = frozenset({"word", "string", "raw_string", "concatenation", "number", "regex", "extglob_pattern",
                          "test_operator", "variable_name", "ansi_c_string", "brace_expression"}) | _EXPANSIONS
_SUBSTITUTIONS = frozenset({"command_substitution", "process_substitution"})


@dataclass(frozen=True)
class Word:
    """One shell word as written; ``value`` is what the command receives when no expansion is involved."""

    text: str
    value: str | None
    start: int
    end: int
    dynamic: bool


@dataclass(frozen=True)
class Redirect:
    """A redirection as written (``op`` keeps its fd number); ``target`` is None for ``>&-``."""

    op: str
    target: Word | None


@dataclass(frozen=True)
class Command:
    """One simple command with everything that reaches it: enclosing redirects, its pipe, its context."""

    name: Word | None
    args: tuple[Word, ...]
    redirects: tuple[Redirect, ...]
    start: int
    end: int
    context: tuple[str, ...]
    pipe_in: Command | None
    assignments: tuple[tuple[str, Word], ...]


@dataclass(frozen=True)
class Shape:
    """How bash expands one word: whether it splits into fields, its static lead, a quoted leading variable."""

    splits: bool
    prefix: str
    quoted_variable: str | None


# --------------------------------------------------------------------------------------------- parsing

_local = threading.local()


def _parser() -> Any:
    """A parser for this thread: tree-sitter parsers must not be shared between threads."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        require("tree_sitter_bash", "shell", "the shell target")
        import tree_sitter_bash
        from tree_sitter import Language, Parser

        parser = _local.parser = Parser(Language(tree_sitter_bash.language()))
    return parser


def parse(script: str) -> Any:
    """The tree-sitter tree of ``script``."""
    return _parser().parse(script.encode("utf-8", "surrogatepass"))


class _Source:
    """The script's bytes and the byte-to-character map its offsets go through."""

    def __init__(self, text: str, base: int = 0) -> None:
        self.text = text
        self.data = text.encode("utf-8", "surrogatepass")
        self.base = base
        self._index: list[int] | None = None
        if not text.isascii():
            index: list[int] = []
            for i, ch in enumerate(text):
                index.extend([i] * len(ch.encode("utf-8", "surrogatepass")))
            index.append(len(text))
            self._index = index

    def char(self, byte: int) -> int:
        return self.base + (byte if self._index is None else self._index[byte])

    def slice(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "surrogatepass")

    def text_of(self, node: Any) -> str:
        return self.slice(node.start_byte, node.end_byte)


# ------------------------------------------------------------------------------------------ word values

def _unescape_bare(s: str) -> str:
    """Quote removal outside quotes: ``\\x`` is ``x``, a backslash-newline is nothing."""
    return _unescape_double(s, special=None)


def _unescape_double(s: str, special: str | None = '$`"\\') -> str:
    """Inside double quotes (and unquoted here-documents) a backslash only escapes a few characters;
    ``special=None``: every character (outside quotes)."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and (special is None or s[i + 1] in special or s[i + 1] == "\n"):
            if s[i + 1] != "\n":
                out.append(s[i + 1])
            i += 2
            continue
        out.append(s[i])
        i += 1
    return "".join(out)


_C_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
              "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


def _ansi_c(body: str) -> str:
    """Decode a ``$'...'`` body, so ``$'\\x72\\x6d'`` is seen as ``rm``."""
    out, i, n = [], 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        i += 2
        if e in _C_ESCAPES:
            out.append(_C_ESCAPES[e])
        elif e in "01234567":
            j = i - 1
            while j < n and j < i + 2 and body[j] in "01234567":
                j += 1
            out.append(chr(int(body[i - 1:j], 8) & 0xFF))
            i = j
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            j = i
            while j < n and j < i + width and body[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(chr(int(body[i:j], 16)) if j > i else "\\" + e)
            i = j
        elif e == "c" and i < n:
            out.append(chr(ord(body[i]) & 0x1F))
            i += 1
        else:
            out.append("\\" + e)
    return "".join(out)


def _has_expansion(node: Any, kinds: frozenset[str] = _EXPANSIONS) -> bool:
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type in kinds:
            return True
        stack.extend(n.children)
    return False


def _string_value(node: Any, src: _Source) -> str | None:
    parts = []
    for child in node.children:
        if child.type == '"':
            continue
        if child.type == "string_content":
            parts.append(_unescape_double(src.text_of(child)))
            continue
        value = _value(child, src)
        if value is None:
            return None
        parts.append(value)
    return "".join(parts)


def _concat_value(node: Any, src: _Source) -> str | None:
    parts, kids = [], node.children
    for i, child in enumerate(kids):
        if child.type == "$" and i + 1 < len(kids) and kids[i + 1].type == "string":
            continue  # $"..." is a translated string: the dollar goes
        value = _value(child, src)
        if value is None:
            return None
        parts.append(value)
    return "".join(parts)


_VALUES: dict[str, Callable[[Any, _Source], str | None]] = {
    "word": lambda n, s: _unescape_bare(s.text_of(n).lstrip("\n")),
    "raw_string": lambda n, s: s.text_of(n)[1:-1],
    "string": _string_value,
    "ansi_c_string": lambda n, s: _ansi_c(s.text_of(n)[2:-1]),
    "concatenation": _concat_value,
    "translated_string": _concat_value,
    "brace_expression": lambda n, s: s.text_of(n),
    "extglob_pattern": lambda n, s: s.text_of(n),
    "regex": lambda n, s: None if any(c in s.text_of(n) for c in "$`") else s.text_of(n),
}


def _value(node: Any, src: _Source) -> str | None:
    handler = _VALUES.get(node.type)
    if handler is not None:
        return handler(node, src)
    if node.type in _EXPANSIONS or node.type == "array":
        return None
    if not node.is_named or not node.named_child_count:
        return src.text_of(node)
    return None


# ------------------------------------------------------------------------------------------------ walk

@dataclass(frozen=True)
class _Scope:
    """What reaches the commands below a node; ``tail`` are redirects tree-sitter hung on a whole
    list or pipeline that bash gives to its last command only."""

    context: tuple[str, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    pipe_in: Command | None = None
    tail: tuple[Redirect, ...] = ()
    tail_args: tuple[Word, ...] = ()

    def inner(self, name: str | None = None) -> _Scope:
        """The scope inside a substitution: its output goes elsewhere and it reads no pipe."""
        return _Scope(self.context + ((name,) if name else ()))

    def nest(self, name: str) -> _Scope:
        """The scope inside a compound command: its redirects and pipe reach every command in it."""
        return _Scope(self.context + (name,), self.redirects + self.tail, self.pipe_in)


@dataclass
class _Sink:
    commands: list[Command] = field(default_factory=list)
    functions: dict[str, list[Command]] = field(default_factory=dict)
    errors: list[tuple[int, int, str]] = field(default_factory=list)
    assigned: dict[str, tuple[int, int]] = field(default_factory=dict)


def _assignment_name(text: str) -> str | None:
    """The NAME of a ``NAME=value``/``NAME+=value`` word, as bash decides it (an ASCII identifier before ``=``)."""
    name = text.partition("=")[0].removesuffix("+")
    return name if "=" in text and name.isascii() and name.isidentifier() else None


def _split_assignment(word: Word, name: str) -> tuple[str, Word]:
    """A plain ``NAME=value`` word in command position (tree-sitter reads ``! x=1`` as a command): bash assigns."""
    cut = word.text.index("=") + 1
    rest = word.text[cut:]
    return name, Word(rest, rest, word.start + cut, word.end, False)


class _Walker:
    """One pass over a tree; one method per node kind, everything else is walked through."""

    def __init__(self, src: _Source, sink: _Sink) -> None:
        self.src = src
        self.sink = sink
        self._handlers: dict[str, Callable[[Any, _Scope], None]] = {
            "command": self._command,
            "declaration_command": self._declaration,
            "unset_command": self._declaration,
            "test_command": self._test,
            "variable_assignment": self._assignments,
            "variable_assignments": self._assignments,
            "pipeline": self._pipeline,
            "list": self._list,
            "redirected_statement": self._redirected,
            "function_definition": self._function,
            "command_substitution": self._substitution,
            "process_substitution": self._substitution,
            "heredoc_body": self._heredoc_body,
            "subshell": self._subshell,
            "compound_statement": self._compound,
            "if_statement": lambda n, s: self._children(n, s.nest("if")),
            "case_statement": lambda n, s: self._children(n, s.nest("case")),
            "negated_command": lambda n, s: self._children(n, s.nest("negated")),
            "while_statement": self._loop,
            "for_statement": self._loop,
            "c_style_for_statement": lambda n, s: self._children(n, s.nest("for")),
            "regex": self._regex,
            "comment": lambda n, s: None,
        }

    def visit(self, node: Any, scope: _Scope) -> None:
        self._handlers.get(node.type, self._children)(node, scope)

    def _children(self, node: Any, scope: _Scope) -> None:
        kids = node.children
        for i, child in enumerate(kids):
            if not child.is_named:
                continue
            here = scope
            if i + 1 < len(kids) and kids[i + 1].type == "&":
                here = replace(scope, context=scope.context + ("background",))
            self.visit(child, here)

    def _span(self, first: Any, last: Any | None = None) -> tuple[int, int]:
        return self.src.char(first.start_byte), self.src.char((last or first).end_byte)

    # ---- words and redirects

    def word(self, nodes: list[Any]) -> Word:
        """One word from the nodes tree-sitter split it into (they touch or are joined by ``\\<newline>``)."""
        first, last = nodes[0], nodes[-1]
        start = first.start_byte
        if first.type == "word":
            raw = self.src.text_of(first)
            start += len(raw) - len(raw.lstrip("\n"))
        values: list[str] = []
        static = True
        for i, node in enumerate(nodes):
            if node.type == "word":
                self._check_word(node)
            if node.type == "$" and i + 1 < len(nodes) and nodes[i + 1].type == "string":
                continue
            value = _value(node, self.src)
            static = static and value is not None
            if value is not None:
                values.append(value)
        dynamic = any(_has_expansion(n) for n in nodes)
        return Word(self.src.slice(start, last.end_byte), "".join(values) if static and not dynamic else None,
                    self.src.char(start), self.src.char(last.end_byte), dynamic)

    def _check_word(self, node: Any) -> None:
        text = self.src.text_of(node).lstrip("\n")
        for i, c in enumerate(text):
            if c == "\n" and (i == 0 or text[i - 1] != "\\"):
                self.sink.errors.append((*self._span(node), "a word spans a line break: the parser mis-read this line"))
                return

    def _redirect(self, node: Any) -> tuple[Redirect, list[Word]]:
        """The redirect, and the words tree-sitter took as more destinations: bash gives those to the command
        (``echo > a b`` is ``echo b > a``)."""
        kids = node.children
        dests = [c for i, c in enumerate(kids) if node.field_name_for_child(i) == "destination"]
        mark = next((c for c in kids if c.type == "heredoc_start" or (dests and c.id == dests[0].id)
                     or (node.type == "herestring_redirect" and c.is_named and c.type != "file_descriptor")), None)
        op = self.src.slice(node.start_byte, mark.start_byte if mark else node.end_byte).strip()
        if node.type == "heredoc_redirect":
            return Redirect(op or "<<", self._heredoc_word(node)), []
        if not dests:
            return Redirect(op, self.word([mark]) if mark is not None else None), []
        groups: list[list[Any]] = [[dests[0]]]
        for prev, cur in zip(dests, dests[1:]):
            if self.src.data[prev.end_byte:cur.start_byte] in (b"", b"\\\n"):
                groups[-1].append(cur)
            else:
                groups.append([cur])
        return Redirect(op, self.word(groups[0])), [self.word(g) for g in groups[1:]]

    def _heredoc_word(self, node: Any) -> Word | None:
        body = next((c for c in node.children if c.type == "heredoc_body"), None)
        start = next((c for c in node.children if c.type == "heredoc_start"), None)
        if body is None:
            at = self.src.char(node.end_byte)
            return Word("", "", at, at, False)
        text = self.src.text_of(body)
        quoted = start is not None and any(q in self.src.text_of(start) for q in "'\"\\")
        dynamic = not quoted and (_has_expansion(body) or "`" in text)
        value = None if dynamic else (text if quoted else _unescape_double(text, "$`\\"))
        if value is not None and any(c.type == "<<-" for c in node.children):
            value = "".join(line.lstrip("\t") for line in value.splitlines(keepends=True))
        return Word(text, value, *self._span(body), dynamic)

    def _redirect_parts(self, node: Any) -> tuple[list[Redirect], list[Word], list[Any]]:
        """A redirect node's redirects (a here-doc may carry more), the command words hidden among its
        destinations, and the statement tree-sitter hung on it."""
        first, words = self._redirect(node)
        redirects, rest = [first], []
        if node.type == "heredoc_redirect":
            for child in node.children:
                if child.type in _REDIRECTS:
                    more, extra = self._redirect(child)
                    redirects.append(more)
                    words.extend(extra)
                elif child.is_named and child.type not in _HEREDOC_PARTS:
                    rest.append(child)
        return redirects, words, rest

    def _redirect_inner(self, node: Any, scope: _Scope, rest: list[Any]) -> None:
        for child in node.children:
            if child.is_named and child.type != "file_descriptor" and not any(child.id == r.id for r in rest):
                self.visit(child, scope.inner())

    def _continue(self, rest: list[Any], scope: _Scope, feed: Command | None) -> None:
        """Statements written after a here-doc's marker: ``cat <<EOF | sh`` pipes cat into sh."""
        for node in rest:
            piped = node.type == "pipeline" and node.children and node.children[0].type in ("|", "|&")
            self.visit(node, _Scope(scope.context, scope.redirects, feed if piped else None))

    # ---- simple commands

    def _command(self, node: Any, scope: _Scope) -> None:
        parts: list[tuple[str, Any]] = []
        kids = node.children
        for i, child in enumerate(kids):
            if child.type == "command_name":
                parts.extend(("word", c) for c in child.children)
            elif child.type == "variable_assignment":
                parts.append(("assign", child))
            elif child.type in _REDIRECTS:
                parts.append(("redirect", child))
            elif child.type != "comment" and (child.is_named or node.field_name_for_child(i) == "argument"):
                parts.append(("word", child))
        segments = self._segments(parts)
        rests: list[Any] = []
        last_emitted = None
        for n, segment in enumerate(segments):
            words: list[Word] = []
            redirects: list[Redirect] = []
            assignments: list[tuple[str, Word]] = []
            for kind, item in segment:
                if kind == "word":
                    words.append(self.word(item))
                elif kind == "assign":
                    assignments.append(self._assignment(item))
                else:
                    own, extra, rest = self._redirect_parts(item)
                    redirects.extend(own)
                    words.extend(extra)
                    rests.extend(rest)
            first = segment[0][1][0] if segment[0][0] == "word" else segment[0][1]
            final = segment[-1][1][-1] if segment[-1][0] == "word" else segment[-1][1]
            start, end = self._span(first, final)
            if words and first.type == "word" and segment[0][0] == "word":
                start = words[0].start
            while words and (name := _assignment_name(words[0].text)) and words[0].text == words[0].value:
                assignments.append(_split_assignment(words.pop(0), name))
            is_last = n == len(segments) - 1
            tail = scope.tail if is_last else ()
            if is_last:
                words.extend(scope.tail_args)
            last_emitted = Command(words[0] if words else None, tuple(words[1:]),
                                   scope.redirects + tuple(redirects) + tail, start, end, scope.context,
                                   scope.pipe_in if n == 0 else None, tuple(assignments))
            self.sink.commands.append(last_emitted)
        for kind, item in (p for segment in segments for p in segment):
            if kind == "redirect":
                self._redirect_inner(item, scope, rests)
            elif kind == "assign":
                self._children(item, scope.inner())
            else:
                for node_ in item:
                    self.visit(node_, scope.inner())
        self._continue(rests, scope, last_emitted)

    def _segments(self, parts: list[tuple[str, Any]]) -> list[list[tuple[str, Any]]]:
        """Group touching word nodes into words; cut where a raw newline separates two parts."""
        segments: list[list[tuple[str, Any]]] = [[]]
        prev: Any = None
        for kind, node in parts:
            if prev is not None:
                gap = self.src.data[prev.end_byte:node.start_byte]
                leading = node.type == "word" and self.src.text_of(node).startswith("\n")
                if leading or b"\n" in gap.replace(b"\\\n", b""):
                    segments.append([])
                elif kind == "word" and segments[-1] and segments[-1][-1][0] == "word" and gap in (b"", b"\\\n"):
                    segments[-1][-1][1].append(node)
                    prev = node
                    continue
            segments[-1].append((kind, [node] if kind == "word" else node))
            prev = node
        return [s for s in segments if s]

    def _assignment(self, node: Any) -> tuple[str, Word]:
        name_node = node.child_by_field_name("name")
        value_node = node.child_by_field_name("value")
        name = self.src.text_of(name_node) if name_node is not None else ""
        self.sink.assigned.setdefault(name.split("[")[0], self._span(node))
        if value_node is None:
            at = self.src.char(node.end_byte)
            return name, Word("", "", at, at, False)
        return name, self.word([value_node])

    def _assignment_word(self, node: Any) -> Word:
        """``NAME=value`` as the argument of ``export``/``local``/...: its value is ``NAME=`` plus the value's."""
        name, value = self._assignment(node)
        text = self.src.text_of(node)
        op = "+=" if text[len(name):].startswith("+=") else "="
        static = value.value is not None and not value.dynamic
        return Word(text, name + op + value.value if static else None, *self._span(node), value.dynamic)

    def _assignments(self, node: Any, scope: _Scope) -> None:
        nodes = [node] if node.type == "variable_assignment" else [c for c in node.children
                                                                     if c.type == "variable_assignment"]
        start, end = self._span(node)
        self.sink.commands.append(Command(None, (), scope.redirects + scope.tail, start, end, scope.context,
                                          scope.pipe_in, tuple(self._assignment(n) for n in nodes)))
        self._children(node, scope.inner())

    def _declaration(self, node: Any, scope: _Scope) -> None:
        keyword = node.children[0]
        args = []
        for child in node.children[1:]:
            if child.type == "variable_assignment":
                args.append(self._assignment_word(child))
            elif child.is_named:
                args.append(self.word([child]))
                if child.type in ("variable_name", "word") and not self.src.text_of(child).startswith("-"):
                    self.sink.assigned.setdefault(self.src.text_of(child), self._span(child))
        name = Word(self.src.text_of(keyword), self.src.text_of(keyword), *self._span(keyword), False)
        self.sink.commands.append(Command(name, tuple(args), scope.redirects + scope.tail, *self._span(node),
                                          scope.context, scope.pipe_in, ()))
        self._children(node, scope.inner())

    def _test(self, node: Any, scope: _Scope) -> None:
        """``[ ]``/``[[ ]]`` as a command named by its bracket; in ``[ ]`` an unescaped ``>`` redirects."""
        kids = node.children
        opener = kids[0]
        args: list[Word] = []
        redirects: list[Redirect] = []
        single = opener.type == "["

        def leaves(n: Any) -> None:
            kids = n.children
            cut = next((i for i, c in enumerate(kids) if single and n.type == "binary_expression"
                        and n.field_name_for_child(i) == "operator" and c.type in (">", "<", ">>")), None)
            for i, child in enumerate(kids):
                if n is node and (i == 0 or child.type == "]]"):
                    continue
                if cut is not None and i >= cut:
                    if i == cut:
                        right = n.child_by_field_name("right")
                        redirects.append(Redirect(child.type, self.word([right]) if right is not None else None))
                    continue
                if child.type in _TEST_LEAVES or not child.is_named:
                    args.append(self.word([child]))
                else:
                    leaves(child)

        leaves(node)
        name = Word(opener.type, opener.type, *self._span(opener), False)
        self.sink.commands.append(Command(name, tuple(args), scope.redirects + tuple(redirects) + scope.tail,
                                          *self._span(node), scope.context, scope.pipe_in, ()))
        self._children(node, scope.inner("test"))

    # ---- compound commands

    def _output(self, mark: int, context: tuple[str, ...]) -> Command | None:
        """The command whose stdout leaves what was emitted since ``mark`` at this level."""
        for cmd in reversed(self.sink.commands[mark:]):
            if cmd.context[:len(context)] == context and not (_SUBSTITUTIONS | {"function"}) & set(
                    cmd.context[len(context):]):
                return cmd
        return None

    def _pipeline(self, node: Any, scope: _Scope) -> None:
        elements = [c for c in node.children if c.is_named]
        context = scope.context + ("pipeline",)
        feed = scope.pipe_in
        for i, element in enumerate(elements):
            mark = len(self.sink.commands)
            last = i == len(elements) - 1
            self.visit(element, _Scope(context, scope.redirects, feed, scope.tail if last else (),
                                       scope.tail_args if last else ()))
            feed = self._output(mark, context)

    def _list(self, node: Any, scope: _Scope) -> None:
        elements = [c for c in node.children if c.is_named]
        context = scope.context + ("list",)
        for i, element in enumerate(elements):
            last = i == len(elements) - 1
            self.visit(element, _Scope(context, scope.redirects, scope.pipe_in if i == 0 else None,
                                       scope.tail if last else (), scope.tail_args if last else ()))

    def _redirected(self, node: Any, scope: _Scope) -> None:
        body = node.child_by_field_name("body")
        own: list[Redirect] = []
        words: list[Word] = []
        rests: list[Any] = []
        redirect_nodes = []
        for child in node.children:
            if body is not None and child.id == body.id:
                continue
            if child.type in _REDIRECTS:
                redirects, extra, rest = self._redirect_parts(child)
                own.extend(redirects)
                words.extend(extra)
                rests.extend(rest)
                redirect_nodes.append(child)
            elif child.is_named:
                self.visit(child, scope.inner())
        tail = tuple(own) + scope.tail
        args = tuple(words) + scope.tail_args
        mark = len(self.sink.commands)
        if body is None:
            start, end = self._span(node)
            self.sink.commands.append(Command(args[0] if args else None, args[1:], scope.redirects + tail, start,
                                              end, scope.context, scope.pipe_in, ()))
        elif body.type in ("pipeline", "list", "command"):
            self.visit(body, replace(scope, tail=tail, tail_args=args))
        else:
            self.visit(body, _Scope(scope.context, scope.redirects + tail, scope.pipe_in))
        for child in redirect_nodes:
            self._redirect_inner(child, scope, rests)
        self._continue(rests, scope, self._output(mark, scope.context))

    def _subshell(self, node: Any, scope: _Scope) -> None:
        """tree-sitter reads ``! ((x))`` as two nested subshells; bash reads arithmetic, which runs nothing."""
        named = [c for c in node.children if c.is_named]
        if (len(named) == 1 and named[0].type == "subshell" and named[0].start_byte == node.start_byte + 1
                and named[0].end_byte == node.end_byte - 1):
            inner = scope.nest("arithmetic")
            stack = [named[0]]
            while stack:
                n = stack.pop()
                if n.type in ("command_substitution", "process_substitution"):
                    self.visit(n, inner)
                else:
                    stack.extend(reversed(n.children))
            return
        self._children(node, scope.nest("subshell"))

    def _compound(self, node: Any, scope: _Scope) -> None:
        arithmetic = bool(node.children) and node.children[0].type == "(("
        self._children(node, scope.nest("arithmetic" if arithmetic else "group"))

    def _loop(self, node: Any, scope: _Scope) -> None:
        keyword = node.children[0].type if node.children else "for"
        variable = node.child_by_field_name("variable")
        if variable is not None:
            self.sink.assigned.setdefault(self.src.text_of(variable), self._span(variable))
        self._children(node, scope.nest(keyword))

    def _function(self, node: Any, scope: _Scope) -> None:
        name_node = node.child_by_field_name("name")
        body = node.child_by_field_name("body")
        redirects = tuple(r for c in node.children if c.type in _REDIRECTS for r in self._redirect_parts(c)[0])
        mark = len(self.sink.commands)
        if body is not None:
            self.visit(body, _Scope(scope.context + ("function",), redirects))
        if name_node is not None:
            name = _value(name_node, self.src) or self.src.text_of(name_node)
            self.sink.functions.setdefault(name, []).extend(self.sink.commands[mark:])

    def _substitution(self, node: Any, scope: _Scope) -> None:
        self._children(node, scope.inner(node.type))

    def _regex(self, node: Any, scope: _Scope) -> None:
        text = self.src.text_of(node)
        if "$(" in text or "`" in text:
            self.sink.errors.append((*self._span(node), "a command substitution inside a [[ =~ ]] pattern"))

    def _heredoc_body(self, node: Any, scope: _Scope) -> None:
        """Expansions in the body run in this shell; tree-sitter leaves backticks as text, so parse them."""
        self._children(node, scope)
        start = next((c for c in node.parent.children if c.type == "heredoc_start"), None) if node.parent else None
        if start is None or not any(q in self.src.text_of(start) for q in "'\"\\"):
            self._backticks(node, scope)

    def _backticks(self, node: Any, scope: _Scope) -> None:
        text = self.src.text_of(node)
        i, opened = 0, -1
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == "`":
                if opened < 0:
                    opened = i + 1
                else:
                    inner = _unescape_double(text[opened:i], "$`\\")
                    base = self.src.char(node.start_byte + len(text[:opened].encode("utf-8", "surrogatepass")))
                    _walk_into(inner, base, self.sink, scope.inner("heredoc").inner("command_substitution"))
                    opened = -1
            i += 1
        if opened >= 0:
            self.sink.errors.append((*self._span(node), "an unterminated backtick in a here-document"))


def _tree_errors(root: Any, src: _Source) -> list[tuple[int, int, str]]:
    out = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing:
            out.append((src.char(node.start_byte), src.char(node.end_byte), f"missing {node.type!r}"))
        elif node.type == "ERROR":
            snippet = src.text_of(node)
            out.append((src.char(node.start_byte), src.char(node.end_byte),
                        f"cannot parse {snippet[:40]!r}" + ("..." if len(snippet) > 40 else "")))
        if node.has_error:
            stack.extend(node.children)
    return out


def _walk_into(text: str, base: int, sink: _Sink, scope: _Scope) -> None:
    src = _Source(text, base)
    root = parse(text).root_node
    sink.errors.extend(_tree_errors(root, src))
    _Walker(src, sink).visit(root, scope)


@dataclass(frozen=True)
class _Analysis:
    commands: tuple[Command, ...]
    functions: dict[str, tuple[Command, ...]]
    errors: tuple[tuple[int, int, str], ...]
    assigned: dict[str, tuple[int, int]]


@lru_cache(maxsize=256)
def _analyse(script: str) -> _Analysis:
    sink = _Sink()
    _walk_into(script, 0, sink, _Scope())
    return _Analysis(tuple(sink.commands), {k: tuple(v) for k, v in sink.functions.items()},
                     tuple(sorted(set(sink.errors))), dict(sink.assigned))


# ------------------------------------------------------------------------------------------------- API

def syntax_errors(script: str) -> list[tuple[int, int, str]]:
    """Where the parse failed or was mis-read: (start, end, message) in characters."""
    return list(_analyse(script).errors)


def commands(script: str) -> list[Command]:
    """Every simple command anywhere in the script, in the order the walk meets them."""
    return list(_analyse(script).commands)


def functions(script: str) -> dict[str, list[Command]]:
    """Each function the script defines and the commands of its body (all definitions of a name)."""
    return {name: list(cmds) for name, cmds in _analyse(script).functions.items()}


def assigned_names(script: str) -> dict[str, tuple[int, int]]:
    """Variables the script sets (assignments, ``export``/``local``/... names, loop variables) and where
    each is first set; commands that set variables (``read x``) are the caller's to judge."""
    return dict(_analyse(script).assigned)


@lru_cache(maxsize=1024)
def word_shape(text: str) -> Shape:
    """How bash expands the word written as ``text`` (an argument's :attr:`Word.text`)."""
    root = parse(": " + text).root_node
    cmd = root.named_children[0] if root.named_child_count else None
    args = [c for i, c in enumerate(cmd.children) if cmd.field_name_for_child(i) == "argument"] if cmd else []
    if not args:
        return Shape(False, text, None)
    src = _Source(": " + text)

    def splits(node: Any) -> bool:
        if node.type in _SPLITTING:
            return True
        return node.type not in ("string", "raw_string", "ansi_c_string") and any(splits(c) for c in node.children)

    pieces = []
    for arg in args:
        pieces.extend(arg.children if arg.type == "concatenation" else [arg])
    prefix = []
    for piece in pieces:
        value = _value(piece, src) if not _has_expansion(piece) else None
        if value is None:
            if piece.type == "string":
                for child in piece.children:
                    if child.type == "string_content":
                        prefix.append(_unescape_double(src.text_of(child)))
                    elif child.type != '"':
                        break
            break
        prefix.append(value)
    quoted = None
    first = pieces[0]
    if first.type == "string":
        inner = [c for c in first.children if c.type != '"']
        if inner and inner[0].type in ("simple_expansion", "expansion"):
            names = [c for c in inner[0].children if c.type == "variable_name"]
            only_name = inner[0].type == "simple_expansion" or len(inner[0].named_children) == 1
            if names and only_name:
                quoted = src.text_of(names[0])
    return Shape(any(splits(a) for a in args), "".join(prefix), quoted)
