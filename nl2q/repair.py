"""Self-repair: diagnostics become the next prompt; the same failing query is never resubmitted."""

from __future__ import annotations

import re

from .decode import Messages
from .result import Diagnostic


def repair_messages(base: Messages, *, language: str, query: str, diagnostics: list[Diagnostic],
                    earlier: list[str]) -> Messages:
    """The original conversation, the failing query as the model's answer, and what is wrong with it."""
    problems = "\n".join("- " + d.render(query or None) for d in diagnostics if d.severity != "info")
    ask = f"That query is not right:\n{problems}\n"
    others = [q for q in earlier if q and q != query]
    if others:
        ask += "These earlier attempts failed too:\n" + "\n".join(f"- {q}" for q in others[-3:]) + "\n"
    ask += f"Write the corrected {language} query."
    shown = query or "(no complete query)"
    return base + [
        {"role": "assistant", "content": f"```{language}\n{shown}\n```"},
        {"role": "user", "content": ask},
    ]


def normalise(query: str) -> str:
    """A key under which trivially different spellings of one query are equal."""
    return re.sub(r"\s+", " ", query.strip().rstrip(";").strip()).lower()
