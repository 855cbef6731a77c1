"""Checks on parsed queries: syntax, safety policy, schema. Never regexes over text."""

from __future__ import annotations

import difflib
import unicodedata
from typing import Iterable

from ..result import Diagnostic, position


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


def hidden_characters(text: str) -> list[Diagnostic]:
    """Invisible or control characters: a way to smuggle text past a reader."""
    out = []
    for i, ch in enumerate(text):
        cat = unicodedata.category(ch)
        if (cat == "Cf" or (cat == "Cc" and ch not in "\t\n\r")) and len(out) < 3:
            line, col = position(text, i)
            out.append(
                Diagnostic(
                    "policy.hidden_character",
                    f"invisible character U+{ord(ch):04X} ({unicodedata.name(ch, 'control')}) in the query",
                    line=line, col=col, start=i, end=i + 1, hint="remove it; queries are plain text", stage="policy",
                )
            )
    return out
