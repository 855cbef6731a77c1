"""Prompts, and recovering the output from what a model wrote."""

from __future__ import annotations

import re
from typing import Sequence

from .targets.base import TargetSpec
from .types import Messages


def fence(language: str | None) -> str:
    """The assistant turn starts inside a code fence, so the model writes the output at once."""
    return f"```{language}\n" if language else ""


def generation_messages(question: str, *, spec: TargetSpec, title: str, schema_text: str, read_only: bool = True,
                        notes: str = "", examples: Sequence[tuple[str, str]] = ()) -> Messages:
    """System prompt with the schema; ``examples`` (question, output) become earlier turns of the chat."""
    kind = f"{'read-only ' if read_only else ''}{title} {spec.noun}"
    system = (
        f"You translate questions into {title} {spec.plural}.\n"
        f"Use only the names in this schema.\n\n{schema_text}\n"
        + (f"\n{notes}\n" if notes else "")
        + f"\nAnswer with one {kind} and nothing else."
    )
    shots: Messages = []
    for q, answer in examples:
        shots += [{"role": "user", "content": q}, {"role": "assistant", "content": wrap(answer.strip(), spec.fence)}]
    return [{"role": "system", "content": system}, *shots, {"role": "user", "content": question}]


def wrap(text: str, language: str | None) -> str:
    """An output as the model is asked to write it: inside a fence when the target has one."""
    return f"{fence(language)}{text}\n```" if language else text


_FENCE = re.compile(r"```[A-Za-z0-9_-]*\n(.*?)(?:```|$)", re.S)
_LABEL = re.compile(r"^\s*(?:SQL\s*Query|SQL|Query|Cypher|Answer)\s*:\s*", re.I)


def extract_output(output: str, *, prefix: str) -> str:
    """The output in what a model wrote after ``prefix``.

    After an opened code fence, the output is the fence's body up to its closing backticks.
    With no prefix (raw decoding), take the first fenced block, or the text after a
    "SQLQuery:"-style label, as users of plain LLMs do.
    """
    if prefix.startswith("```"):
        return output.split("```", 1)[0].strip()
    m = _FENCE.search(output)
    return (m.group(1) if m else _LABEL.sub("", output)).strip()
