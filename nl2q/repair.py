"""Self-repair: diagnostics become the next prompt."""

from __future__ import annotations

from .prompt import wrap
from .targets.base import TargetSpec
from .types import Diagnostic, Messages


def repair_messages(base: Messages, *, spec: TargetSpec, title: str, output: str, diagnostics: list[Diagnostic],
                    earlier: list[str]) -> Messages:
    """The original conversation, the failing output as the model's answer, and what is wrong with it."""
    problems = "\n".join("- " + d.render(output or None) for d in diagnostics if d.severity != "info")
    ask = f"That {spec.noun} is not right:\n{problems}\n"
    others = [q for q in earlier if q and q != output]
    if others:
        ask += "These earlier attempts failed too:\n" + "\n".join(f"- {q}" for q in others[-3:]) + "\n"
    ask += f"Write the corrected {spec.fence or title} {spec.noun}."
    shown = output or f"(no complete {spec.noun})"
    return base + [{"role": "assistant", "content": wrap(shown, spec.fence)}, {"role": "user", "content": ask}]
