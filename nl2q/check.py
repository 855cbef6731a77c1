"""What every target's checker shares: did-you-mean, hidden characters. Targets check on their parse trees, never with regexes over text."""

from __future__ import annotations

import difflib
import re
import unicodedata
from typing import Iterable

from .types import Diagnostic, position


def did_you_mean(name: str, options: Iterable[str], n: int = 3) -> list[str]:
    options = list(dict.fromkeys(options))
    lowered = {o.lower(): o for o in options}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[h] for h in hits]


def suggestion(name: str, options: Iterable[str], noun: str) -> str:
    options = list(options)
    close = did_you_mean(name, options)
    if close:
        return "Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    if options and len(options) <= 12:
        return f"Known {noun}s: " + ", ".join(options) + "."
    return ""


# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) and blanks that render as nothing:
# characters a reader cannot see, so a checked text could differ from what a person reviewed.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x2800, 0x2800),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)


def _invisible(ch: str) -> bool:
    code = ord(ch)
    if ch in " \t\n":
        return False
    cat = unicodedata.category(ch)
    if cat in ("Cf", "Cc", "Zs", "Zl", "Zp", "Co", "Cn", "Cs"):
        return ch != "\r"  # a carriage return is judged by line_endings
    return any(lo <= code <= hi for lo, hi in _INVISIBLE_RANGES)


# The non-ASCII characters Python's case-insensitive regexes match to an ASCII letter (all of Unicode
# checked; a test keeps it so): a keyword spelt with one is a keyword to the checker, maybe not to an engine.
FOLDS_TO_ASCII = frozenset("\u0130\u0131\u017f\u212a")  # İ ı ſ K (Kelvin)


def lookalike_characters(text: str, tokens: re.Pattern[str], literals: tuple[str, ...]) -> list[Diagnostic]:
    """The first character that reads as an ASCII letter in case-insensitive matching, outside literals and
    comments (the ``tokens`` that start with one of ``literals``, where such a character is only text)."""
    for m in tokens.finditer(text):
        if m.group().startswith(literals):
            continue
        for j, ch in enumerate(m.group()):
            if ch in FOLDS_TO_ASCII:
                i = m.start() + j
                line, col = position(text, i)
                return [Diagnostic("policy.lookalike_character",
                                   f"U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')}) reads as an ASCII letter "
                                   "in case-insensitive matching", line=line, col=col, start=i, end=i + 1,
                                   hint="write plain ASCII letters (or quote a value)", stage="policy")]
    return []


def hidden_characters(text: str) -> list[Diagnostic]:
    """Invisible, control, unusual-space and unassigned characters: ways to smuggle text past a reader.

    Only the plain space, tab and line feed are whitespace in generated text; everything a
    reader cannot see is refused wherever it appears, in names and literals alike.
    """
    out = []
    suspects = (i for i, ch in enumerate(text) if ch < " " or ch >= "\x7f") if text.isascii() else range(len(text))
    for i in suspects:
        ch = text[i]
        if _invisible(ch):
            line, col = position(text, i)
            out.append(Diagnostic(
                "policy.hidden_character",
                f"invisible or unusual character U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')}) in the text",
                line=line, col=col, start=i, end=i + 1, hint="remove it; use plain spaces and line feeds only",
                stage="policy"))
            if len(out) == 3:
                break
    return out + line_endings(text)


def line_endings(text: str) -> list[Diagnostic]:
    """A carriage return not followed by a line feed ends a line for some engines and not for others.

    Refused, so a comment cannot end where the checker thinks it goes on (or the reverse).
    """
    for i, ch in enumerate(text):
        if ch == "\r" and not text.startswith("\n", i + 1):
            line, col = position(text, i)
            return [Diagnostic("policy.line_ending", "a carriage return without a line feed: engines disagree on "
                               "whether it ends a line", line=line, col=col, start=i, end=i + 1,
                               hint="end lines with \\n only", stage="policy")]
    return []


MAX_CHARS = 20_000
MAX_DEPTH = 64


def input_bounds(text: str, max_chars: int = MAX_CHARS, max_depth: int = MAX_DEPTH) -> list[Diagnostic]:
    """Refuse text too long or too deeply nested to check quickly and safely (before any parser recurses)."""
    if len(text) > max_chars:
        return [Diagnostic("policy.input_too_large", f"the text is {len(text):,} characters; the limit is {max_chars:,}",
                           hint="ask for something smaller", stage="policy")]
    depth = deepest = 0
    quote: str | None = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if depth > max_depth:
                    line, col = position(text, i)
                    return [Diagnostic("policy.input_too_deep", f"brackets nest more than {max_depth} deep",
                                       line=line, col=col, start=i, end=i + 1,
                                       hint="flatten the expression or split it with WITH/CTEs", stage="policy")]
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return []
