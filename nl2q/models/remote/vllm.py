"""vLLM (>= 0.12): ``structured_outputs`` with ``grammar``, ``json`` or ``regex``.

Its default grammar backend, xgrammar, takes GBNF; ``grammar_syntax="lark"`` sends the Lark
text as it is, for a server started with ``--structured-outputs-config.backend guidance``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from ...gbnf import lark_to_gbnf
from ...types import Constraint, ConstraintKind
from . import ChatServer, Endpoint


class VllmServer(ChatServer):
    provider = "vllm"
    default_base_url = "http://127.0.0.1:8000/v1"
    continues_prefix = True
    repetition_penalty_field = "repetition_penalty"
    constraint_kinds: frozenset[ConstraintKind] = frozenset({"lark", "json_schema", "regex"})

    def __init__(self, endpoint: Endpoint, *, grammar_syntax: Literal["gbnf", "lark"] = "gbnf", **options: Any) -> None:
        super().__init__(endpoint, **options)
        self.grammar_syntax = grammar_syntax

    def constraint_fields(self, constraint: Constraint) -> dict[str, Any]:
        if constraint.kind == "lark":
            grammar = constraint.text if self.grammar_syntax == "lark" else lark_to_gbnf(constraint.text)
            return {"structured_outputs": {"grammar": grammar}}
        if constraint.kind == "regex":
            return {"structured_outputs": {"regex": constraint.text}}
        return {"structured_outputs": {"json": json.loads(constraint.text)}}
