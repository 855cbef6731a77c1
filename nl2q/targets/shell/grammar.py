"""Bash's grammar, one file used two ways: the decode variant (the bound environment's commands,
exact whitespace, visible strings) and the check variant (any command, free whitespace, comments,
more here-doc delimiters) that the checker parses with.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Callable, Iterable

from ...grammar import _LOWER, VISIBLE_CHARS, alternatives, base_grammar, lark_literal, redefine, words_excluding

KEYWORDS = frozenset("if then else elif fi case esac for select while until do done in function time coproc".split())
# A wrapper's first word after its options is a command again; xargs, env and exec also run alone.
WRAPPERS = ("sudo", "xargs", "env", "nice", "nohup", "timeout", "exec", "command", "time")
_ALONE = ("xargs", "env", "exec")
_COMMAND = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_DECODE_DELIMITERS = ("EOF", "END")
_CHECK_DELIMITERS = ("EOF", "END", "EOT", "EOL", "SQL", "HEREDOC")
# Characters a word may hold unquoted when decoding, and when written back as a bound word.
_SAFE_WORD = re.compile(r"[A-Za-z0-9_./+,:=@%-]+")
_NAME_CHARS = _LOWER + _LOWER.upper() + "_"


# ----------------------------------------------------------------------------- character classes

_CLASS_ITEM = re.compile(r"(\\u[0-9A-Fa-f]{4}|\\.|[^\\])(?:-(\\u[0-9A-Fa-f]{4}|\\.|[^\\]))?")


def _code(token: str) -> int:
    return int(token[2:], 16) if token.startswith("\\u") else ord(token[-1])


def _charset(body: str) -> frozenset[int]:
    """The code points of a regex class body such as VISIBLE_CHARS."""
    return frozenset(c for m in _CLASS_ITEM.finditer(body) for c in range(_code(m[1]), _code(m[2] or m[1]) + 1))


def _char(c: int) -> str:
    """One class member, escaped so Python's re, Rust's regex and Lark's /.../ all read it alike."""
    ch = chr(c)
    if c > 0x7F:
        return f"\\u{c:04X}"
    if ch in "\\[]^-&~/":
        return "\\" + ch
    return ch if ch.isprintable() else f"\\x{c:02X}"


def _class(codes: Iterable[int]) -> str:
    runs: list[list[int]] = []
    for c in sorted(set(codes)):
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return "[" + "".join(_char(a) if a == b else f"{_char(a)}-{_char(b)}" for a, b in runs) + "]"


_VISIBLE = _charset(VISIBLE_CHARS) - {ord("`")}  # a backquote is the old $(...) and can close the fence
_SQ = _VISIBLE | {ord('"'), ord("\\")}
_TEST_SQ = _SQ - set(map(ord, ")]}\\"))  # tree-sitter-bash ends a [[ ]] string at these
_ANSI = _VISIBLE | {ord('"')}
_DQ = (_VISIBLE | {ord("'")}) - {ord("$")}
_ESCAPED = r"\\[ -_a-~]"
_DECODE_STRINGS = {
    "SQ_STRING": f"/'{_class(_SQ)}*'/",
    "TEST_SQ_STRING": f"/'{_class(_TEST_SQ)}*'/",
    # Not $'\\' then a quote: tree-sitter-bash reads the quote as the string's.
    "ANSI_STRING": f"/\\$'(?:{_class(_ANSI)}|\\\\[ -\\[\\]-_a-~])*'/",
    "DQ_TEXT": f"/(?:{_class(_DQ)}|{_ESCAPED})+/",
    "ESCAPE": r"/\\[!-_a-~]/",  # not an escaped space, which tree-sitter-bash refuses at the end
}


# ----------------------------------------------------------------------------- names that are not keywords

def _not_keyword(excluded: Iterable[str], first_other: str, rest_other: str, rest: str) -> str:
    """Words of the given classes that are none of ``excluded`` (lower-case words of at most 8 letters).

    No lookarounds: a word holding a character other than a lower-case letter, an all-letter
    word longer than any keyword, or a short all-letter word spelt out over a trie. The longest
    alternatives come first, since Python's re takes the first that matches.
    """
    excluded = [w for w in excluded if w.isalpha() and w.islower()]
    assert max(map(len, excluded)) <= 8
    short = words_excluding(excluded, 8, first=_LOWER, rest=_LOWER)
    return f"(?:{first_other}|[a-z]+{rest_other}){rest}*|[a-z]{{9,}}|{short}"


def _name_terminal() -> str:
    """Function and loop-variable names: identifiers that are not keywords."""
    return f"NAME: /{words_excluding(KEYWORDS, 40, first=_NAME_CHARS, rest=_NAME_CHARS + '0123456789')}/"


def _pattern_terminal(first_other: str, rest_other: str, rest: str) -> str:
    """A case pattern's leading bare run: never the word esac, which would close the case."""
    return f"PAT_BARE: /{_not_keyword(['esac'], first_other, rest_other, rest)}/"


# ----------------------------------------------------------------------------- here-documents

def _body(delimiter: str, unit: Callable[[str], str], tabs: bool, strict: bool) -> str:
    """A here-doc's body: a newline, lines that are not the delimiter, then the delimiter.

    ``unit(chars)`` is a regex for one character (or expansion) of a line other than ``chars``.
    With ``tabs`` (``<<-``) lines and the closing delimiter may start with tabs. ``strict`` also
    refuses lines that merely start with the delimiter, which tree-sitter-bash takes for its end.
    """
    anything = unit("")

    def rest(i: int, first: str) -> str | None:
        """The rest of a line whose first ``i`` characters are the delimiter's."""
        if i == len(delimiter):
            return None if strict else f"(?:{anything})+"
        longer = rest(i + 1, "")
        alternatives = [f"(?:{unit(delimiter[i] + first)})(?:{anything})*"] + ([delimiter[i] + longer] if longer else [])
        return f"(?:{'|'.join(alternatives)})?"

    lead = "\\t*" if tabs else ""
    return f"\\n(?:{lead}{rest(0, chr(9) if tabs else '')}\\n)*{lead}{delimiter}"


def _decode_unit(quoted: bool) -> Callable[[str], str]:
    """Visible characters and no backslash; an unquoted body expands $NAME, so it holds no other $.

    Not ${NAME}: tree-sitter-bash ends a body early at ``${X}E$Y`` (part of EOF after a brace),
    and it reads a backslash ending a line as a continuation even in a quoted body.
    """
    chars = _VISIBLE | {ord("'"), ord('"')}
    chars = chars if quoted else chars - {ord("$")}
    expansions = "" if quoted else r"|\$[A-Za-z_]"
    return lambda excluded: f"{_class(chars - set(map(ord, excluded)))}{expansions}"


def _check_unit(excluded: str) -> str:
    return "[^\\n" + "".join("\\t" if c == "\t" else c for c in excluded) + "]"


_Kind = tuple[str, str, str]  # (name, delimiter as written after the operator, body)


def _heredoc_rules(operators: dict[str, tuple[str, list[_Kind]]]) -> list[str]:
    """``heredoc_rest``: an operator, then one production per delimiter, since its body must close with it.

    The delimiters come after a shared operator, so a parser predicts none of them until it reads one.
    """
    rules = ["heredoc_rest: " + alternatives(f"{op} ({alternatives(f'heredoc_{k}' for k, _, _ in kinds)})"
                                             for op, (_, kinds) in operators.items())]
    for op, (pattern, kinds) in operators.items():
        rules.append(f"{op}: {pattern}")
        for k, delimiter, body in kinds:
            K = k.upper()
            rules += [f"heredoc_{k}: HD_DELIM_{K} hd_after? HD_BODY_{K}", f"HD_DELIM_{K}: {delimiter}", f"HD_BODY_{K}: /{body}/"]
    return rules


@cache
def _decode_heredocs() -> tuple[str, ...]:
    """EOF and END, bare (the body expands $NAME) or single-quoted (the body is literal); <<- strips no tabs here."""
    kinds = []
    for d in _DECODE_DELIMITERS:
        kinds.append((d.lower(), lark_literal(d), _body(d, _decode_unit(False), False, True)))
        kinds.append((d.lower() + "_q", lark_literal(f"'{d}'"), _body(d, _decode_unit(True), False, True)))
    return tuple(_heredoc_rules({"HD_OP": ('"<<" | "<<-"', kinds)}))


# ----------------------------------------------------------------------------- the two variants

def shell_word(word: str) -> str | None:
    """``word`` as one shell word (bare, or single-quoted), or None if decoding could not emit it."""
    if not word or any(ord(c) not in _VISIBLE and c not in "'\"\\" for c in word):
        return None
    return word if _SAFE_WORD.fullmatch(word) else "'" + word.replace("'", "'\\''") + "'"


def _command_rules(wrappers: list[str], alone: list[str]) -> list[str]:
    """An invocation is a command name or a wrapper; some wrappers also run alone."""
    return [
        "invocation: " + alternatives(["command_name"] + [f"{w}_wrapper" for w in wrappers]),
        "command_head: invocation arguments?" + (" | bare_wrapper bare_redirects?" if alone else ""),
        *(["bare_wrapper: " + alternatives(f"{w}_bare" for w in alone)] if alone else []),
    ]


def specialise_shell(commands: Iterable[str], *, words: Iterable[str] = ()) -> str:
    """``grammars/shell.lark`` bound to an environment's commands (the decode variant).

    ``commands`` that are not plain names or are keywords are skipped; wrappers among them
    (sudo, xargs, ...) take a bound command after their options. ``words`` (such as the working
    directory's paths) are offered wherever a word may go, beside free words.
    """
    names = [c for c in dict.fromkeys(commands) if _COMMAND.fullmatch(c) and (c not in KEYWORDS or c in WRAPPERS)]
    plain = [c for c in names if c not in WRAPPERS]
    wrappers = [w for w in WRAPPERS if w in names]
    if not plain:
        raise ValueError("no command to bind: give at least one plain command name (such as ls)")
    known = [q for q in dict.fromkeys(map(shell_word, words)) if q]
    rules = [
        "command_name: COMMAND",
        # One lexeme, not a rule of thousands of alternatives; longest first, as Python's re takes the first match.
        "COMMAND: " + alternatives(lark_literal(c) for c in sorted(plain, key=len, reverse=True)),
        *_command_rules(wrappers, [w for w in _ALONE if w in wrappers]),
        "word: plain_word" + (" | known_word" if known else ""),
        *(["known_word: KNOWN_WORD\nKNOWN_WORD: " + alternatives(lark_literal(q) for q in sorted(known, key=len, reverse=True))]
          if known else []),
        _name_terminal(),
        _pattern_terminal(r"[A-Z0-9_.\/+*?,:@%^~-]", r"[A-Z0-9_.\/+*?,:@%^~-]", r"[A-Za-z0-9_.\/+*?,:@%^~-]"),
        *_decode_heredocs(),
    ]
    text = redefine(base_grammar("shell"), _DECODE_STRINGS)
    return text + "\n// specialised for one environment\n" + "\n".join(rules) + "\n"


# What separates words and commands when checking: spaces, tabs, line continuations; newlines with
# comments. A comment starts a line or follows a space, as in bash.
_SP = r"(?:[ \t]|\\\n)"
_NLS = r"(?:[ \t]+#[^\n]*|[ \t]*)\n(?:[ \t]*(?:#[^\n]*)?\n)*[ \t]*"
_OPT = rf"(?:{_NLS}|[ \t]*)"
_RELAXED = {
    "_WS": rf"/{_SP}+/",
    "_OS": rf"/{_SP}+/",
    "_NL": f"/{_NLS}/",
    "_SEMI": rf"/[ \t]*;{_OPT}/",
    "_DSEMI": rf"/{_OPT};(?:;&?|&){_OPT}/",
    "_EMPTY_DSEMI": rf"/{_OPT};(?:;&?|&){_OPT}/",
    "_PAT_OR": r"/[ \t]*\|[ \t]*/",
    "_PAT_CLOSE": r"/[ \t]*\)/",
    "_LP": r"/\([ \t\n]*/",
    "_RP": r"/[ \t\n]*\)/",
    "_CS_OPEN": r"/\$\([ \t\n]*/",
    "_ASOPEN": r"/\$\(\([ \t]*/",
    "_AOPEN": r"/\(\([ \t]*/",
    "_ACLOSE": r"/[ \t]*\)\)/",
    "_ASEMI": r"/[ \t]*;[ \t]*/",
    "_FPARENS": r"/[ \t]*\([ \t]*\)/",
    "ARITH_BINOP": r"/[ \t]*(?:\*\*|<<|>>|<=|>=|==|!=|&&|\|\||[-+*\/%<>&|^])[ \t]*/",
    "ARITH_ASSIGN": r"/[ \t]*(?:\+=|-=|\*=|\/=|%=|=)[ \t]*/",
    "REDIR_OP": r"/[0-9]*(?:>>|>\||>|<>|<)|&>>|&>/",
    "REDIR_DUP": r"/[0-9]*[<>]&(?:[0-9]+-?|-)/",
    # Any character a word can hold unquoted (a '#' only after its first).
    "BARE": r"""/[^\s"'\\$`|&;()<>#][^\s"'\\$`|&;()<>]*/""",
    "COND_BARE": r"""/[^\s"'\\$`|&;()<>#=!-][^\s"'\\$`|&;()<>]*/""",
    "COND_PATTERN": r"""/[^\s"'\\$`|&;()<>#][^\s"'\\$`|&;()<>]*/""",
    "COND_BINARY": r"/==|!=|=|<|>|-(?:eq|ne|lt|le|gt|ge|nt|ot|ef)/",
    "TEST_BARE": r"""/[^\s"'\\$`|&;()<>#=!-][^\s"'\\$`|&;()<>]*/""",
}
# The check variant parses the exact text bash will run: blank and comment lines (a shebang) before,
# a ';', spaces and comments after; `function f`, `[ a -a b ]` and '!' before any command, which the
# decode variant leaves out only because tree-sitter-bash misreads some of them.
_CHECK_RULES = {
    "test_expr": 'test_expr: test_term (_WS /-[ao]/ _WS test_term)*',
    "negatable": "negatable: command_np | subshell redirections? | arith_command redirections?",
    "start": "start: _LEAD? script _TAIL?",
    "function_def": "function_def: NAME _FPARENS (_WS | _NL) brace_group"
                    ' | "function" _WS NAME _FPARENS? (_WS | _NL) brace_group',
}
_CHECK_TERMINALS = "\n".join([
    r"_LEAD: /(?:[ \t]*(?:#[^\n]*)?\n)+[ \t]*|[ \t]+/",
    r"_TAIL: /[ \t]*;?(?:[ \t]+#[^\n]*)?(?:\n[ \t]*(?:#[^\n]*)?)+|[ \t]*;(?:[ \t]+#[^\n]*)?|[ \t]+(?:#[^\n]*)?/",
])


@cache
def _check_heredocs() -> tuple[str, ...]:
    """More delimiters, any quoting, and <<- bodies whose lines (and closing line) may start with tabs."""
    plain, dash = [], []
    for d in _CHECK_DELIMITERS:
        spelt = rf"/{d}|'{d}'|\"{d}\"|\\{d}/"
        plain.append((d.lower(), spelt, _body(d, _check_unit, False, False)))
        dash.append((d.lower() + "_dash", spelt, _body(d, _check_unit, True, False)))
    return tuple(_heredoc_rules({"HD_OP": (r"/<<[ \t]*/", plain), "HD_OP_DASH": (r"/<<-[ \t]*/", dash)}))


@cache
def shell_check_grammar() -> str:
    """The check variant: the decode rules with any command name, free whitespace, comments."""
    text = redefine(base_grammar("shell"), _RELAXED)
    for name, rule in _CHECK_RULES.items():
        text = re.sub(rf"^{name}: .*$", lambda _m, r=rule: r, text, count=1, flags=re.M)
    text = re.sub(r"\b_OS\b(?!:)", "_OS?", text)
    command = _not_keyword(KEYWORDS | set(WRAPPERS), r"[A-Z0-9_.\/~:+@%]", r"[A-Z0-9_.\/~:+@%-]", r"[A-Za-z0-9_.\/~:+@%-]")
    rules = [
        f"CMD_NAME: /{command}/",
        "command_name: CMD_NAME (part BARE?)* | (part BARE?)+",
        *_command_rules(list(WRAPPERS), list(WRAPPERS)),
        "word: plain_word",
        _name_terminal(),
        _pattern_terminal(r"""[^\sa-z"'\\$`|&;()<>#]""", r"""[^\sa-z"'\\$`|&;()<>]""", r"""[^\s"'\\$`|&;()<>]"""),
        *_check_heredocs(),
        _CHECK_TERMINALS,
    ]
    return text + "\n// check variant\n" + "\n".join(rules) + "\n"
