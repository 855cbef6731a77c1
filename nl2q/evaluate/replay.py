"""A model wrapper that decodes an identical generation request within one item only once."""

from __future__ import annotations

import json

from ..models import Compiled, Generation, Guide, Model, Sampling
from ..types import Constraint, Messages


class ReplayModel(Model):
    """Configurations share work: ``repair``'s first round is exactly ``constrained``'s request (same
    messages, prefix, grammar, sampling, token limit). Decoding is deterministic for a given request,
    so replaying the stored Generation gives the same result as decoding again. ``saved_ms`` is the
    decode time replayed since the last ``reset``; the harness adds it back to the row's latency.
    """

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.inner = model
        self.name, self.constraint_kinds, self.defaults = model.name, model.constraint_kinds, model.defaults
        self.steers = model.steers
        self.memo: dict[str, Generation] = {}
        self.saved_ms = 0.0
        self.replayed = 0

    def reset(self) -> None:
        self.memo.clear()
        self.saved_ms = 0.0
        self.replayed = 0

    def constrain(self, constraint: Constraint) -> Compiled:
        return self.inner.constrain(constraint)

    def _compile(self, constraint: Constraint) -> Compiled:  # pragma: no cover - constrain delegates
        return self.inner.constrain(constraint)

    def generate(self, messages: Messages, *, prefix: str = "", constraint: Compiled | None = None,
                 max_new_tokens: int = 256, sampling: Sampling | None = None, guide: Guide | None = None) -> Generation:
        s = sampling or self.defaults
        key = json.dumps([messages, prefix, constraint.constraint.key if constraint is not None else None, max_new_tokens,
                          [s.temperature, s.top_p, s.seed, s.repetition_penalty], guide.key if guide else None],
                         sort_keys=True)
        if key in self.memo:
            gen = self.memo[key]
            self.saved_ms += gen.elapsed_ms
            self.replayed += 1
            return gen
        gen = self.memo[key] = self.inner.generate(messages, prefix=prefix, constraint=constraint,
                                                   max_new_tokens=max_new_tokens, sampling=sampling, guide=guide)
        return gen
