"""Model backends: what nl2q needs of a model, and how one is chosen by name.

A constraint is compiled once per backend (``Model.constrain``, cached by content) and
shared; every request gets its own matcher state, so one model serves many threads.
Backends live in their own modules and are imported only when asked for; one whose
extra is not installed fails with one line naming it.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from ..errors import GrammarRejected, ModelError, require
from ..types import Constraint, ConstraintKind, Messages, Scope, Veto

Finish = Literal["eos", "grammar_end", "length", "error"]
DEFAULT_MODEL = "smollm2-135m"


@dataclass
class Sampling:
    """Greedy unless ``temperature`` > 0; ``seed`` makes sampling repeatable."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    repetition_penalty: float = 1.0


@dataclass(frozen=True)
class Guide:
    """Steering a decode beyond the grammar, for backends that decode token by token.

    With a guide, the decoder also cuts repetition loops (back to where the loop began, its
    first token banned) and stops at the first accepting point once the token budget runs low,
    so output is not cut off by the limit.

    ``scope`` vetoes a name out of scope as it is written (the token is masked, or the decoder
    backtracks to the name); ``finish`` judges a finished output and returns its first error
    with a span (the decoder backtracks there, bans the token and resumes) or a veto with
    ``start < 0`` for a failure without a place (the decoder revisits its least certain choice).
    Outputs are bodies: the text before a closing fence when ``fenced``.
    """

    scope: Scope | None = None
    finish: Callable[[str], Veto | None] | None = None
    fenced: bool = True
    closers: tuple[str, ...] = ()  # words that lead an unfinished output to its end (SQL: FROM; Cypher: RETURN)
    extenders: tuple[str, ...] = ()  # words that only lengthen it (AND, OR, CASE, EXISTS): last when closing
    max_backtracks: int = 16
    label: str = ""  # what the steering depends on beyond the request, for caches keyed by request

    def body(self, text: str) -> tuple[str, bool]:
        """The output's body in ``text``, and whether a closing fence ended it."""
        if self.fenced and "```" in text:
            return text.split("```", 1)[0], True
        return text, False

    @property
    def key(self) -> str:
        return f"scope={self.scope is not None};finish={self.finish is not None};n={self.max_backtracks};{self.label}"


@dataclass
class Generation:
    text: str
    finish: Finish
    prompt_tokens: int
    output_tokens: int
    elapsed_ms: float
    constrained: bool
    accepting: bool = True
    error: str = ""
    prefill_ms: float = 0.0
    mask_ms: list[float] = field(default_factory=list, repr=False)
    forced_tokens: int = 0  # appended by the grammar's fast-forward, several per forward pass
    forward_passes: int = 0
    reused_prompt_tokens: int = 0  # prompt tokens whose keys and values came from an earlier request
    vetoed: int = 0  # candidate tokens masked because they wrote a name out of scope
    backtracks: int = 0  # times the decoder cut its output back to an error's span and resumed
    loops: int = 0  # repetition loops cut off
    closed_early: bool = False  # stopped at an accepting point because the token budget ran low
    steering: list[str] = field(default_factory=list)  # one line per veto or backtrack, for reports

    @property
    def ms_per_token(self) -> float | None:
        """Decode time per generated token after the prompt's prefill."""
        if self.output_tokens < 2:
            return None
        return (self.elapsed_ms - self.prefill_ms) / (self.output_tokens - 1)

    @property
    def truncated(self) -> bool:
        """Cut off by the token limit before the grammar reached an accepting state."""
        return self.finish == "length" and self.constrained and not self.accepting


@dataclass(frozen=True)
class Compiled:
    """A constraint compiled for one backend. ``handle`` is shared and never mutated by a request."""

    constraint: Constraint
    handle: Any = None


class Model(ABC):
    """What nl2q needs of a model. Replaceable: local, remote or scripted.

    ``constraint_kinds`` says which :class:`Constraint` kinds the backend can enforce;
    the compiler reports any other as unconstrained, never silently.
    """

    name: str = "model"
    steers: bool = False  # whether generate() honours a Guide (scope vetoes, backtracking)
    constraint_kinds: frozenset[ConstraintKind] = frozenset({"lark", "json_schema", "regex"})
    defaults: Sampling = Sampling()

    def __init__(self) -> None:
        self._compiled: OrderedDict[str, Compiled] = OrderedDict()
        self._compile_lock = threading.Lock()

    def accepts(self, constraint: Constraint) -> bool:
        return constraint.kind in self.constraint_kinds

    def constrain(self, constraint: Constraint) -> Compiled:
        """Compile ``constraint`` once (cached by content); raise :class:`GrammarRejected` if refused."""
        if not self.accepts(constraint):
            raise GrammarRejected(f"{self.name} cannot take a {constraint.kind} constraint",
                                  f"it takes: {', '.join(sorted(self.constraint_kinds)) or 'none'}")
        key = constraint.key
        with self._compile_lock:
            if key in self._compiled:
                self._compiled.move_to_end(key)
                return self._compiled[key]
            compiled = self._compile(constraint)
            self._compiled[key] = compiled
            while len(self._compiled) > 64:
                self._compiled.popitem(last=False)
            return compiled

    @abstractmethod
    def _compile(self, constraint: Constraint) -> Compiled: ...

    @abstractmethod
    def generate(
        self,
        messages: Messages,
        *,
        prefix: str = "",
        constraint: Compiled | None = None,
        max_new_tokens: int = 256,
        sampling: Sampling | None = None,
        guide: Guide | None = None,
    ) -> Generation:
        """Continue the chat after an assistant turn that starts with ``prefix``. Safe to call from several threads.

        A backend whose ``steers`` is False ignores ``guide``; the compiler says so in the result.
        """


# ------------------------------------------------------------------ choosing a backend by name

_LOADED: dict[str, Model] = {}
_LOAD_LOCK = threading.Lock()


WEIGHTS = ("int8", "exact")


def local_name(spec: str | None) -> str:
    """The name a local model spec loads under: ``NAME@weights``, the weights from ``$NL2Q_WEIGHTS`` when not given."""
    import os

    spec = spec or DEFAULT_MODEL
    base, _, weights = spec.rpartition("@") if spec.rpartition("@")[2] in WEIGHTS else (spec, "", "")
    return f"{base}@{weights or os.environ.get('NL2Q_WEIGHTS', 'int8')}"


def _local(spec: str) -> Model:
    """``NAME`` or ``NAME@int8`` / ``NAME@exact``: the weights, else ``$NL2Q_WEIGHTS``, else int8.

    int8 linear layers decode ~3x faster on CPU than the checkpoint's floats and change some
    greedy outputs; ``@exact`` keeps the floats.
    """
    require("torch", "local", "the local model backend")
    require("transformers", "local", "the local model backend")
    import os

    from .local import TransformersModel

    base, _, weights = spec.rpartition("@") if "@" in spec else (spec, "", "")
    weights = weights or os.environ.get("NL2Q_WEIGHTS", "int8")
    if weights not in WEIGHTS:
        raise ModelError(f"unknown weights {weights!r} in {spec!r}", f"use NAME@{' or NAME@'.join(WEIGHTS)}")
    name = f"{base}@{weights}"
    if base == DEFAULT_MODEL:
        from .gguf import default_model_dir

        # The 135M model loops under greedy decoding without a mild repetition penalty.
        return TransformersModel(default_model_dir(), name=name, defaults=Sampling(repetition_penalty=1.1),
                                 weights=weights)  # type: ignore[arg-type]
    return TransformersModel(base, name=name, weights=weights)  # type: ignore[arg-type]


def _server(module: str, cls: str) -> Callable[..., Model]:
    """A provider whose backend lives in ``remote/<module>.py``, imported only when asked for."""

    def load(spec: str, **options: Any) -> Model:
        import importlib

        package = importlib.import_module(f"{__package__}.remote" + (f".{module}" if module else ""))
        return getattr(package, cls).from_spec(spec, **options)

    return load


PROVIDERS: dict[str, Callable[..., Model]] = {
    "local": _local,
    "openai": _server("", "ChatServer"),
    "openai-responses": _server("responses", "ResponsesServer"),
    "vllm": _server("vllm", "VllmServer"),
    "sglang": _server("sglang", "SglangServer"),
    "llamacpp": _server("llamacpp", "LlamaCppServer"),
    "ollama": _server("ollama", "OllamaServer"),
}


def load_model(spec: str | Model | None = None) -> Model:
    """A model from a name: the default, a local directory, ``provider:NAME[@URL]``, or a name configured
    in ``models.toml`` (:mod:`nl2q.models.config`). Loaded once per process."""
    if isinstance(spec, Model):
        return spec
    spec = spec or DEFAULT_MODEL
    with _LOAD_LOCK:
        if spec in _LOADED:
            return _LOADED[spec]
        from .config import configured

        entry = configured().get(spec)
        target, options = (entry.spec, entry.options()) if entry else (spec, {})
        provider, _, rest = target.partition(":")
        if ":" in target and provider in PROVIDERS and provider != "local" and not Path(target).exists():
            model = PROVIDERS[provider](rest, **options)
        elif rest and provider == "local":
            model = _local(rest)
        else:
            base = spec.rpartition("@")[0] if spec.rpartition("@")[2] in WEIGHTS else spec
            if base != DEFAULT_MODEL and ("/" in base or base.startswith(".")) and not Path(base).is_dir():
                raise ModelError(f"model directory not found: {spec}",
                                 "pass a transformers model directory, or omit --model for the default")
            model = _local(spec)
        _LOADED[spec] = model
        return model


__all__ = ["Compiled", "DEFAULT_MODEL", "Finish", "Generation", "Guide", "Model", "PROVIDERS", "Sampling", "load_model"]
