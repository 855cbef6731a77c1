"""The decode step: one model call under the bound constraint, judged before any check.

Output cut off before the constraint accepts is a decoder failure, never passed on. The
same failing output twice is not resubmitted: one sampled retry, then ``repair.repeated``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .models import Compiled, Generation, Guide, Model, Sampling
from .prompt import extract_output
from .types import Codes, Diagnostic, Messages


@dataclass
class Attempt:
    generation: Generation
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)


def decode(model: Model, messages: Messages, *, prefix: str, constraint: Compiled | None, max_new_tokens: int,
           failing: set[str], normalise: Callable[[str], str], seed: int, guide: Guide | None = None) -> Attempt:
    """Generate, extract the output, and sample once more if it repeats a failing one.

    With a ``guide`` a steering backend already turns away from failing outputs while decoding;
    the sampled retry is for what it could not steer away from.
    """
    gen = model.generate(messages, prefix=prefix, constraint=constraint, max_new_tokens=max_new_tokens, guide=guide)
    text = extract_output(gen.text, prefix=prefix)
    if normalise(text) in failing:
        d = model.defaults
        gen = model.generate(messages, prefix=prefix, constraint=constraint, max_new_tokens=max_new_tokens,
                             sampling=Sampling(temperature=0.8, top_p=0.95, seed=seed + 1,
                                               repetition_penalty=d.repetition_penalty), guide=guide)
        text = extract_output(gen.text, prefix=prefix)
        if normalise(text) in failing:
            return Attempt(gen, text, [Diagnostic(
                Codes.REPAIR_REPEATED, "the model produced the same failing output again; stopping",
                hint="a stronger model, or a clearer question, may get further", stage="repair")])
    return Attempt(gen, text, generation_diagnostics(gen, max_new_tokens))


def generation_diagnostics(gen: Generation, limit: int) -> list[Diagnostic]:
    if gen.finish == "error":
        return [Diagnostic(Codes.DECODE_ERROR, f"decoding failed: {gen.error}", stage="decode")]
    if gen.truncated:
        return [Diagnostic(Codes.DECODE_TRUNCATED, f"the output was cut off at {limit} tokens before it was complete",
                           hint="raise max_new_tokens, or ask a narrower question", stage="decode")]
    if gen.finish == "length":
        return [Diagnostic(Codes.DECODE_LENGTH, f"the output reached the {limit}-token limit; it may be incomplete",
                           severity="warning", hint="raise max_new_tokens", stage="decode")]
    return []
