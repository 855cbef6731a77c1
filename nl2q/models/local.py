"""The local backend: a causal LM through transformers, masked each step by llguidance.

The compiled grammar (an ``LLMatcher`` never advanced) is shared; each request decodes
with its own copy, so concurrent requests on one schema never touch each other's state.

Decoding is one loop (:class:`Decoding`) that can go back: a name the target's scope
vetoes is masked as it is written, a finished output that fails a check with a span is cut
back to that span and resumed from the kept prefix's keys and values, and a repetition loop
is cut off. Tokens the grammar forces are appended several to one forward pass.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any, Literal

from ..errors import GrammarRejected, ModelError
from ..grammar import llguidance_grammar, validate
from ..types import Constraint, Messages, Veto
from ..watch import checkpoint
from . import Compiled, Finish, Generation, Guide, Model, Sampling
from .kv import PrefixStore, chunks, growing_cache, truncate

Weights = Literal["exact", "int8"]


class TransformersModel(Model):
    """A local causal LM through transformers; grammar masks from llguidance each step.

    ``weights="int8"`` quantises the linear layers to int8 after loading (dynamic activation
    scales): on CPU decoding is bound by reading the weights, so this is the largest speed-up,
    at the cost of slightly different greedy outputs; ``"exact"`` keeps the checkpoint's floats.
    ``fast_forward`` appends grammar-forced tokens without asking the model; ``prefix_cache``
    keeps that many recent prompts' keys and values (0: prefill every prompt in full); ``fast``
    uses :mod:`nl2q.models.fast`'s lean forward pass for the architectures it covers.
    """

    steers = True

    def __init__(self, path: str | Path, *, name: str | None = None, defaults: Sampling | None = None,
                 model: Any = None, tokenizer: Any = None, weights: Weights = "exact", fast_forward: bool = True,
                 prefix_cache: int = 4, fast: bool = True) -> None:
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
        if weights not in ("exact", "int8"):
            raise ModelError(f"unknown weights {weights!r}", "use exact or int8")
        self.fast = None
        if fast and _fast_supports(self.model):
            from .fast import FastLlama

            self.fast = FastLlama(self.model, weights)
            self.model.model.layers = type(self.model.model.layers)()  # their weights live fused in ``fast`` now
        elif weights == "int8":
            self.model = _int8(self.model)
        self.weights = weights
        self.fast_forward = fast_forward
        self.prefixes = PrefixStore(prefix_cache)
        self.load_ms = (time.perf_counter() - t0) * 1000
        self._lltok = None
        self._tokenizer_lock = threading.Lock()
        self.eos_ids = self.eos_of(self.tokenizer)
        self._shapes: dict[int, int] = {}
        self._closing: dict[tuple[Any, ...], Any] = {}

    def shapes(self, ids: list[int]) -> list[int]:
        """Each token's text with digits made alike, as a small integer: what loop detection compares."""
        out = []
        for i in ids:
            shape = self._shapes.get(i)
            if shape is None:
                piece = self.tokenizer.convert_ids_to_tokens(i) or ""
                shape = self._shapes[i] = hash(re.sub(r"[0-9]", "0", piece))
            out.append(shape)
        return out

    def closing_bias(self, vocab: int, closers: tuple[str, ...] = (), quote: str = "",
                     extenders: tuple[str, ...] = ()) -> Any:
        """Scores that steer an output to its end when the budget runs low: closing brackets and the
        target's closing words (``Guide.closers``: SQL's FROM, Cypher's RETURN) first; tokens that open a
        bracket or continue a list, an expression or a path, and the target's ``extenders`` (AND, OR, CASE,
        EXISTS) last. Inside a string literal left open (``quote``) only its closing quote is preferred:
        anything else there only lengthens the string."""
        import torch

        with self._tokenizer_lock:
            key = (vocab, closers, quote, extenders)
            if key not in self._closing:
                pieces = self.tokenizer.convert_ids_to_tokens(list(range(min(vocab, len(self.tokenizer)))))
                bias = torch.zeros(vocab)
                for i, piece in enumerate(pieces):
                    text = (piece or "").replace("Ġ", " ").replace("Ċ", "\n").replace("ĉ", "\t")
                    word = text.strip()
                    if quote:
                        if quote in text:
                            bias[i] = 10.0
                    elif text[:1].isspace() and len(word) >= 3 and any(w.startswith(word) for w in closers):
                        bias[i] = 10.0  # a closing word, or its first piece, at the start of a word
                    elif word and all(c in ")]}" for c in word):
                        bias[i] = 10.0
                    elif any(c in text for c in "([{,.+-*/%|&=<>") or (
                            word and text[:1].isspace() and any(w.startswith(word) for w in extenders)):
                        bias[i] = -1000.0  # only where the grammar allows nothing else (an extender's pieces too)
                    elif text and not text.strip():
                        bias[i] = -5.0  # whitespace alone only spends the budget
                self._closing[key] = bias
            return self._closing[key]

    @staticmethod
    def eos_of(tokenizer: Any) -> set[int]:
        """The tokens that end a turn: the tokenizer's EOS and a chat template's end marker."""
        ids = {tokenizer.eos_token_id}
        im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
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
                 max_new_tokens: int = 256, sampling: Sampling | None = None, guide: Guide | None = None) -> Generation:
        matcher = constraint.handle.deep_copy() if constraint is not None else None
        run = Decoding(self, self.encode_prompt(messages, prefix), matcher, sampling or self.defaults, max_new_tokens,
                       guide if matcher is not None else None)
        return run.run()


def _fast_supports(model: Any) -> bool:
    from .fast import supports

    return supports(model)


def _int8(model: Any) -> Any:
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


_NEG = float("-inf")
_MAX_TRIES = 64  # candidates judged at one position before it counts as a dead end (each costs a scope check)
_MAX_LOOPS = 8  # loop cuts per request; after that the output stops at its next complete point


class Decoding:
    """One request's decode: tokens, the scores each position was chosen from, bans, and the way back.

    Invariants: ``scores[i]`` are the model's logits for output position ``i`` (so there is one
    more than there are tokens once fed); the matcher has consumed exactly ``tokens``; the cache
    holds the prompt and the first ``fed`` tokens.
    """

    def __init__(self, lm: TransformersModel, prompt: list[int], matcher: Any, sampling: Sampling, limit: int,
                 guide: Guide | None) -> None:
        import torch

        self.lm, self.prompt, self.matcher, self.s, self.limit, self.guide = lm, prompt, matcher, sampling, limit, guide
        self.tokens: list[int] = []
        self.scores: list[Any] = []
        self.ends: list[int] = []  # decoded length of the output after each token
        self.margins: list[float] = []  # how far the chosen token led the runner-up; inf where forced
        self.bans: dict[int, set[int]] = {}
        self.complete: list[int] = []  # output lengths at which the grammar accepted
        self.rescues = 0
        self.fed = 0
        self.cache = growing_cache(lm.model.config)
        self.rng = torch.Generator().manual_seed(sampling.seed)
        self.g = Generation(text="", finish="length", prompt_tokens=len(prompt), output_tokens=0, elapsed_ms=0.0,
                            constrained=matcher is not None)
        self.reserve = max(4, limit // 4)  # with a guide: once this few tokens remain, steer to the end and stop there
        self._pending_margin = float("inf")
        self._written = ""

    # ------------------------------------------------------------------ the loop

    def run(self) -> Generation:
        import torch

        t0 = time.perf_counter()
        g = self.g
        with torch.no_grad():
            g.reused_prompt_tokens = self.lm.prefixes.restore(self.prompt, self.cache)
            for a, b in chunks(g.reused_prompt_tokens, len(self.prompt)):
                self._feed(self.prompt[a:b], prompt=True)
            self.lm.prefixes.save(self.prompt, self.cache)
            g.prefill_ms = (time.perf_counter() - t0) * 1000
            while True:
                checkpoint()
                if len(self.tokens) >= self.limit:
                    if self._cut_to_complete():
                        g.finish, g.closed_early = "grammar_end", True
                        break
                    if self._reopen():
                        continue
                    g.finish = "length"
                    break
                choice = self._choose(len(self.tokens))
                if self._matcher_failed():
                    break
                if isinstance(choice, Veto):
                    if self._back_to_veto(choice):
                        continue
                    choice = self._choose(len(self.tokens), judge=False)
                if choice is None:
                    if self._dead_end():
                        continue
                    g.finish, g.error = "error", "no token is allowed here"
                    break
                if choice in self.lm.eos_ids:
                    if self._finished():
                        g.finish = "eos"
                        break
                    continue
                if self.matcher is not None and not self.matcher.consume_token(choice):
                    g.finish, g.error = "error", self.matcher.get_error() or "token rejected by the grammar"
                    break
                self._append([choice])
                if self._matcher_failed():
                    break
                if self.matcher is not None and self.matcher.is_stopped():
                    if self._finished():
                        g.finish = "grammar_end"
                        break
                    continue
                forced = self._forced()
                if forced:
                    self._append(forced, margin=float("inf"))
                    g.forced_tokens += len(forced)
                if self.guide is not None:
                    loop = _loop_start(self.lm.shapes(self.tokens))
                    if loop is not None and g.loops < _MAX_LOOPS:
                        g.loops += 1
                        g.steering.append(f"loop: back to token {loop}")
                        self._back_to(loop)
                        continue
                    if forced and self.guide.scope is not None and self._budget():
                        body, closed = self.guide.body(self._text())
                        veto = self.guide.scope.check(body, final=closed)
                        if veto is not None and self._back_to_veto(veto):
                            continue
                self._feed(self.tokens[self.fed:])
        g.text = self._text()
        g.output_tokens = len(self.tokens)
        g.accepting = self.matcher.is_accepting() if self.matcher is not None else True
        g.elapsed_ms = (time.perf_counter() - t0) * 1000
        return g

    # ------------------------------------------------------------------ steps

    def _feed(self, ids: list[int], *, prompt: bool = False) -> None:
        """Run the model on ``ids``; only the last position's scores are kept (the others were forced or chosen)."""
        import torch

        if not ids:
            return
        if self.lm.fast is not None:
            last = self.lm.fast(ids, self.cache, self.cache.layers[0].get_seq_length())
        else:
            last = self.lm.model(torch.tensor([ids]), cache=self.cache, use_cache=True, logits_to_keep=1).logits[0, -1]
        self.g.forward_passes += 1
        if prompt:
            self.scores = [last.float()]
            self.vocab = last.numel()
            return
        self.fed += len(ids)
        del self.scores[self.fed - len(ids) + 1:]
        self.scores.extend([None] * (len(ids) - 1) + [last.float()])

    def _choose(self, pos: int, judge: bool = True) -> int | Veto | None:
        """The best allowed token at ``pos`` the scope does not veto; a veto of earlier text; None at a dead end."""
        import torch

        s = self.s
        # positions fed together with the next one have no scores of their own: the grammar forced their token
        scores = self.scores[pos].clone() if self.scores[pos] is not None else torch.zeros(self.vocab)
        if s.repetition_penalty != 1.0 and self.tokens:
            seen = torch.tensor(sorted(set(self.tokens[:pos])))
            if len(seen):
                v = scores[seen]
                scores[seen] = torch.where(v > 0, v / s.repetition_penalty, v * s.repetition_penalty)
        if self.matcher is not None:
            t1 = time.perf_counter()
            scores = scores.masked_fill(~_allowed(self.matcher, scores.numel()), _NEG)
            self.g.mask_ms.append((time.perf_counter() - t1) * 1000)
            closing = self.guide is not None and (self.limit - pos <= self.reserve or self.g.loops >= _MAX_LOOPS
                                                  or self.rescues > 0)
            if closing and not self.matcher.is_accepting():
                g = self.guide
                scores = scores + self.lm.closing_bias(scores.numel(), g.closers, _unclosed(self._text())[1], g.extenders)
            if closing and self.matcher.is_accepting():
                eos = next(iter(sorted(self.lm.eos_ids)))
                self.g.closed_early = True
                return eos
        for t in self.bans.get(pos, ()):
            scores[t] = _NEG
        scope = self.guide.scope if self.guide is not None and judge else None
        if scope is None:
            if not bool(torch.isfinite(scores).any()):
                return None
            return self._chosen(_pick(scores, s, self.rng), scores)
        can_go_back = self._budget()
        unjudged = scores.clone()
        before = len(self.guide.body(self._text())[0])
        for _ in range(_MAX_TRIES):
            if not bool(torch.isfinite(scores).any()):
                break
            token = _pick(scores, s, self.rng)
            if token in self.lm.eos_ids:
                return self._chosen(token, scores)
            body, closed = self.guide.body(self.lm._decode(self.tokens + [token]))
            veto = scope.check(body, final=closed)
            if veto is None:
                return self._chosen(token, scores)
            if veto.start >= 0 and veto.end <= before:
                # the error is in text already written: go back to it, or, out of backtracks, let it stand
                return veto if can_go_back else self._chosen(token, scores)
            scores[token] = _NEG
            self.g.vetoed += 1
        if can_go_back or not bool(torch.isfinite(unjudged).any()):
            return None  # a dead end: the caller goes back a choice
        return self._chosen(_pick(unjudged, s, self.rng), unjudged)  # out of backtracks: what the grammar allows

    def _chosen(self, token: int, scores: Any) -> int:
        import torch

        top = torch.topk(scores, 2).values
        self._pending_margin = float(top[0] - top[1]) if bool(torch.isfinite(top[1])) else float("inf")
        return token

    def _append(self, ids: list[int], margin: float | None = None) -> None:
        for t in ids:
            self.tokens.append(t)
            self.margins.append(margin if margin is not None else self._pending_margin)
        text = self._written = self.lm._decode(self.tokens)
        self.ends.extend([len(text)] * len(ids))
        if self.guide is not None and self.matcher is not None and self.matcher.is_accepting():
            self.complete.append(len(self.tokens))

    def _forced(self) -> list[int] | None:
        if not self.lm.fast_forward or self.matcher is None or self.matcher.is_stopped():
            return None
        forced = self.matcher.compute_ff_tokens()
        forced = forced[: max(0, self.limit - len(self.tokens))]
        if not forced or not self.matcher.consume_tokens(forced):
            return None
        return forced

    def _matcher_failed(self) -> bool:
        """Whether the matcher stopped on an error of its own (e.g. the Earley parser's item limit): the output
        ends there as a decode error, not as a finished output."""
        if self.matcher is None or not self.matcher.is_error():
            return False
        self.g.finish, self.g.error = "error", self.matcher.get_error() or "the grammar matcher stopped"
        return True

    def _finished(self) -> bool:
        """Whether the output may stop here: the scope and the finish check find nothing to go back to."""
        guide = self.guide
        if guide is None or not self._budget():
            return True
        body, _ = guide.body(self._text())
        veto = guide.scope.check(body, final=True) if guide.scope is not None else None
        if veto is None and guide.finish is not None:
            veto = guide.finish(body)
        return veto is None or not self._back_to_veto(veto)

    # ------------------------------------------------------------------ going back

    def _budget(self) -> bool:
        return self.guide is not None and self.g.backtracks < self.guide.max_backtracks

    def _back_to_veto(self, veto: Veto) -> bool:
        """Cut the output back to the token holding the veto's start (or the least certain choice) and ban it there."""
        if not self._budget() or not self.tokens:
            return False
        if veto.start < 0:
            free = self._free_choices()
            if not free:
                return False
            pos = min(free, key=lambda i: self.margins[i])
        else:
            pos = next((i for i, end in enumerate(self.ends) if end > veto.start), len(self.tokens) - 1)
        self.g.backtracks += 1
        self.g.steering.append(f"{veto.code or 'veto'} at {veto.start}: back to token {pos}")
        self._back_to(pos)
        return True

    def _free_choices(self) -> list[int]:
        """Positions whose token the model chose (not the grammar's fast-forward): where going back can change something."""
        return [i for i, m in enumerate(self.margins) if m != float("inf")]

    def _dead_end(self) -> bool:
        """Every token at this position is banned or vetoed: go back one free choice."""
        free = self._free_choices()
        if not free or not self._budget():
            return False
        self.g.backtracks += 1
        self.g.steering.append(f"dead end at token {len(self.tokens)}: back to token {free[-1]}")
        self._back_to(free[-1])
        return True

    def _cut_to_complete(self) -> bool:
        """Out of tokens before the grammar accepts: keep the longest prefix it accepted, if any (with a guide)."""
        if self.guide is None or self.matcher is None or self.matcher.is_accepting():
            return False
        points = [i for i in self.complete if i <= len(self.tokens)]
        if not points:
            return False
        pos = points[-1]
        self.matcher.rollback(len(self.tokens) - pos)
        del self.tokens[pos:], self.margins[pos:], self.ends[pos:]
        self._written = self.lm._decode(self.tokens)
        self.g.steering.append(f"token limit: cut back to the complete output at token {pos}")
        return True

    def _reopen(self) -> bool:
        """Out of tokens inside a construct that never closed: go back to its opening bracket, ban it there,
        and from then on steer to the end (with a guide; twice at most)."""
        if self.guide is None or self.matcher is None or self.rescues >= 2:
            return False
        opened, _ = _unclosed(self._text())
        # the outermost bracket the model chose (a bracket the grammar forced, a document's first "{", has no
        # alternative to ban)
        starts = [next((i for i, end in enumerate(self.ends) if end > offset), None) for offset in opened]
        pos = next((i for i in starts if i is not None and self.margins[i] != float("inf")), None)
        if pos is None:
            return False
        self.rescues += 1
        self.g.steering.append(f"token limit: back to the bracket left open at token {pos}")
        self._back_to(pos)
        return True

    def _back_to(self, pos: int) -> None:
        """Keep ``tokens[:pos]``, ban ``tokens[pos]`` at ``pos``, and rewind the matcher and the cache to match."""
        if pos > self.fed:
            self._feed(self.tokens[self.fed:pos])  # the scores at ``pos`` come from feeding what precedes it
        banned = self.tokens[pos]
        if self.matcher is not None:
            self.matcher.rollback(len(self.tokens) - pos)
        del self.tokens[pos:], self.margins[pos:], self.ends[pos:]
        self._written = self.lm._decode(self.tokens)
        self.complete = [i for i in self.complete if i <= pos]
        self.fed = min(self.fed, pos)
        truncate(self.cache, len(self.prompt) + self.fed)
        del self.scores[pos + 1:]
        self.bans = {p: b for p, b in self.bans.items() if p <= pos}
        self.bans.setdefault(pos, set()).add(banned)

    def _text(self) -> str:
        """The output so far, decoded once per change of ``tokens`` rather than once per look."""
        return self._written


def _loop_start(shapes: list[int]) -> int | None:
    """Where a degenerate repetition began, or None.

    ``shapes`` are the output's tokens with digits made alike, so "1, 2, 3, ..." and
    "age1, age2, ..." repeat too. A loop is a block repeated back to back: at least 16 tokens
    in all, and three times unless the block is 8 tokens or longer. Returns where the first
    repeat begins (the decoder cuts there and bans that token).
    """
    n = len(shapes)
    for k in range(2, min(64, n // 2) + 1):
        reps = max(2 if k >= 8 else 3, -(-16 // k))
        if reps * k > n:
            continue
        block = shapes[n - k:]
        if all(shapes[n - (r + 1) * k: n - r * k] == block for r in range(1, reps)):
            return n - (reps - 1) * k
    return None


def _unclosed(text: str) -> tuple[list[int], str]:
    """Offsets of the brackets left open in ``text`` (outermost first; those inside quotes do not count),
    and the quote character of a string literal left open at its end ("" if none)."""
    stack: list[int] = []
    quote = ""
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c in "([{":
            stack.append(i)
        elif c in ")]}" and stack:
            stack.pop()
    return stack, quote


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
