"""SGLang: ``ebnf`` (GBNF, its xgrammar and llguidance backends), ``regex``, and JSON Schema in
``response_format``. Only one constraint field per request."""

from __future__ import annotations

from typing import Any

from ...gbnf import lark_to_gbnf
from ...types import Constraint, ConstraintKind
from . import ChatServer


class SglangServer(ChatServer):
    provider = "sglang"
    default_base_url = "http://127.0.0.1:30000/v1"
    continues_prefix = True
    repetition_penalty_field = "repetition_penalty"
    constraint_kinds: frozenset[ConstraintKind] = frozenset({"lark", "json_schema", "regex"})

    def constraint_fields(self, constraint: Constraint) -> dict[str, Any]:
        if constraint.kind == "lark":
            return {"ebnf": lark_to_gbnf(constraint.text)}
        if constraint.kind == "regex":
            return {"regex": constraint.text}
        return super().constraint_fields(constraint)
