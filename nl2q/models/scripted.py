"""A backend that returns canned outputs in order. For unit tests of the plumbing only."""

from __future__ import annotations

import threading
from typing import Sequence

from ..errors import ModelError
from ..grammar import validate
from ..types import Constraint, Messages
from . import Compiled, Generation, Guide, Model, Sampling


class ScriptedModel(Model):
    name = "scripted"

    def __init__(self, outputs: Sequence[str | Generation]) -> None:
        super().__init__()
        self.outputs = list(outputs)
        self.calls: list[Messages] = []
        self.constrained_calls: list[bool] = []
        self._lock = threading.Lock()

    def _compile(self, constraint: Constraint) -> Compiled:
        validate(constraint)
        return Compiled(constraint)

    def generate(self, messages: Messages, *, prefix: str = "", constraint: Compiled | None = None,
                 max_new_tokens: int = 256, sampling: Sampling | None = None, guide: Guide | None = None) -> Generation:
        with self._lock:
            self.calls.append(messages)
            self.constrained_calls.append(constraint is not None)
            if not self.outputs:
                raise ModelError("scripted model ran out of outputs")
            out = self.outputs.pop(0)
        if isinstance(out, Generation):
            return out
        return Generation(out, "eos", sum(len(m["content"]) for m in messages), len(out.split()), 0.0,
                          constraint is not None)
