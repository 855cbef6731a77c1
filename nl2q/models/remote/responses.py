"""OpenAI's Responses API: the output is the input of a custom tool whose format is a Lark grammar.

GPT-5-class models take a ``custom`` tool with ``format: {type: grammar, syntax: lark|regex}``;
the grammar is the target's own llguidance Lark, sent as it is. The tool is forced, so the
model's answer is the tool call's ``input``. A JSON Schema goes in ``text.format``.
"""

from __future__ import annotations

import json
from typing import Any

from ...types import Constraint, ConstraintKind, Messages
from .. import Compiled, Finish, Sampling
from . import ChatServer, Reply

TOOL = "emit_output"


class ResponsesServer(ChatServer):
    provider = "openai-responses"
    constraint_kinds: frozenset[ConstraintKind] = frozenset({"lark", "regex", "json_schema"})
    stream = False

    def constraint_fields(self, constraint: Constraint) -> dict[str, Any]:
        if constraint.kind == "json_schema":
            return {"text": {"format": {"type": "json_schema", "name": "output", "schema": json.loads(constraint.text),
                                        "strict": True}}}
        grammar = {"type": "grammar", "syntax": constraint.kind, "definition": constraint.text}
        return {"tools": [{"type": "custom", "name": TOOL, "format": grammar,
                           "description": "Write the answer: its whole text is the tool's input."}],
                "tool_choice": {"type": "custom", "name": TOOL}, "parallel_tool_calls": False}

    def request(self, messages: Messages, prefix: str, constraint: Compiled | None, max_new_tokens: int,
                sampling: Sampling) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": self.endpoint.model, "input": [dict(m) for m in messages],
                                "max_output_tokens": max_new_tokens, "store": False}
        if sampling.temperature > 0:
            body |= {"temperature": sampling.temperature, "top_p": sampling.top_p}
        if constraint is not None:
            body |= constraint.handle
        return "responses", body

    def parse(self, data: dict[str, Any], reply: Reply) -> None:
        calls = [item.get("input", "") for item in data.get("output") or () if item.get("type") == "custom_tool_call"]
        texts = [part.get("text", "") for item in data.get("output") or () if item.get("type") == "message"
                 for part in item.get("content") or () if part.get("type") == "output_text"]
        reply.text = calls[0] if calls else "".join(texts)
        incomplete = (data.get("incomplete_details") or {}).get("reason")
        reply.finish = incomplete if data.get("status") == "incomplete" else "stop"
        usage = data.get("usage") or {}
        reply.prompt_tokens = usage.get("input_tokens", 0)
        reply.output_tokens = usage.get("output_tokens", 0)

    def finish(self, reply: Reply) -> Finish:
        return "length" if reply.finish == "max_output_tokens" else "eos"
