"""llama.cpp's ``llama-server``: GBNF in ``grammar``, JSON Schema in ``json_schema``.

A build without llguidance takes no Lark, so the target's grammar is translated to GBNF
(:mod:`nl2q.gbnf`). The server continues a final assistant message, so the output starts
inside the prompt's code fence as it does locally.
"""

from __future__ import annotations

import json
from typing import Any

from ...gbnf import lark_to_gbnf
from ...types import Constraint, ConstraintKind
from . import ChatServer


class LlamaCppServer(ChatServer):
    provider = "llamacpp"
    default_base_url = "http://127.0.0.1:8080/v1"
    key_envs = ("NL2Q_API_KEY", "LLAMA_API_KEY")
    continues_prefix = True
    repetition_penalty_field = "repeat_penalty"
    constraint_kinds: frozenset[ConstraintKind] = frozenset({"lark", "json_schema"})

    def constraint_fields(self, constraint: Constraint) -> dict[str, Any]:
        if constraint.kind == "lark":
            return {"grammar": lark_to_gbnf(constraint.text)}
        return {"json_schema": json.loads(constraint.text)}
