"""The local backend: a causal LM through transformers, masked each step by llguidance.

The compiled grammar (an ``LLMatcher`` never advanced) is shared; each request decodes
with its own copy, so concurrent requests on one schema never touch each other's state.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from ..errors import GrammarRejected, ModelError
from ..grammar import llguidance_grammar, validate
from ..types import Constraint, Messages
from . import Compiled, Finish, Generation, Model, Sampling


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
        self._tokenizer_lock = threading.Lock()
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != self.tokenizer.unk_token_id:
            ids.add(im_end)
        return {i for i in ids if i is not None}

    @property
    def lltokenizer(self) -> Any:
        with self._tokenizer_lock:
            if self._lltok is None:
                import llguidance.hf

                self._lltok = llguidance.hf.from_tokenizer(self.tokenizer, eos_token=sorted(self.eos_ids)[0])
            return self._lltok

    def _compile(self, constraint: Constraint) -> Compiled:
        import llguidance

        validate(constraint, self.lltokenizer)
        template = llguidance.LLMatcher(self.lltokenizer, llguidance_grammar(constraint))
        if template.is_error():
            raise GrammarRejected(f"llguidance could not compile the {constraint.kind} constraint: {template.get_error()}")
        return Compiled(constraint, template)

    def _decode(self, ids: list[int]) -> str:
        with self._tokenizer_lock:
            return self.tokenizer.decode(ids, skip_special_tokens=True)

    def encode_prompt(self, messages: Messages, prefix: str) -> list[int]:
        with self._tokenizer_lock:  # fast tokenizers are not safe to call from two threads at once
            if self.tokenizer.chat_template:
                text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            else:
                text = "\n\n".join(m["content"] for m in messages) + "\n\n"
            return self.tokenizer(text + prefix, add_special_tokens=False).input_ids

    def generate(self, messages: Messages, *, prefix: str = "", constraint: Compiled | None = None,
                 max_new_tokens: int = 256, sampling: Sampling | None = None) -> Generation:
        import torch

        s = sampling or self.defaults
        prompt = self.encode_prompt(messages, prefix)
        matcher = constraint.handle.deep_copy() if constraint is not None else None
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
            text=self._decode(out),
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
