"""Prompts, and recovering a query from what a model wrote."""

from __future__ import annotations

import re
from typing import Sequence

from .decode import Messages


def fence(language: str) -> str:
    """The assistant turn starts inside a code fence: the model writes the query at once."""
    return f"```{language}\n"


def generation_messages(question: str, *, language: str, title: str, schema_text: str, notes: str = "",
                        examples: Sequence[tuple[str, str]] = ()) -> Messages:
    """System prompt with the schema; ``examples`` (question, query) become earlier turns of the chat."""
    system = (
        f"You translate questions into {title} queries.\n"
        f"Use only the names in this schema.\n\n{schema_text}\n"
        + (f"\n{notes}\n" if notes else "")
        + f"\nAnswer with one read-only {title} query and nothing else."
    )
    shots: Messages = []
    for q, query in examples:
        shots += [{"role": "user", "content": q}, {"role": "assistant", "content": f"{fence(language)}{query.strip()}\n```"}]
    return [{"role": "system", "content": system}, *shots, {"role": "user", "content": question}]


_FENCE = re.compile(r"```[A-Za-z0-9_-]*\n(.*?)(?:```|$)", re.S)
_LABEL = re.compile(r"^\s*(?:SQL\s*Query|SQL|Query|Cypher|Answer)\s*:\s*", re.I)


def extract_query(output: str, *, prefixed: bool) -> str:
    """The query in a model's output.

    ``prefixed`` means the prompt already opened a code fence, so the output is the
    fence's body up to its closing backticks. Otherwise take the first fenced block,
    or the text after a "SQLQuery:"-style label, as users of plain LLMs do.
    """
    if prefixed:
        body = output.split("```", 1)[0]
    else:
        m = _FENCE.search(output)
        body = m.group(1) if m else _LABEL.sub("", output)
    return body.strip()
