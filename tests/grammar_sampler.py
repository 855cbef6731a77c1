"""Random sentences of a Lark grammar, as a hypothesis strategy.

Walks the grammar's BNF rules with depth-bounded random choices; terminals are
drawn with ``st.from_regex``. Used to prove every sentence the decoder could emit
is one the checker parses.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache

from hypothesis import strategies as st
from lark import Lark
from lark.grammar import NonTerminal, Terminal
from lark.lexer import PatternStr


class GrammarSampler:
    def __init__(self, grammar: str, start: str = "start", max_depth: int = 7) -> None:
        self.parser = Lark(grammar, start=start, parser="earley", keep_all_tokens=True)
        self.start = start
        self.max_depth = max_depth
        self.rules: dict[str, list[list]] = {}
        for rule in self.parser.rules:
            self.rules.setdefault(rule.origin.name, []).append(list(rule.expansion))
        self.terminals = {t.name: t.pattern for t in self.parser.terminals}
        self.regexes = {
            name: st.from_regex(p.value, fullmatch=True) for name, p in self.terminals.items() if not isinstance(p, PatternStr)
        }

    @cached_property
    def height(self) -> dict[str, int]:
        """Minimum derivation depth of each nonterminal (fixpoint)."""
        h: dict[str, float] = {n: float("inf") for n in self.rules}
        changed = True
        while changed:
            changed = False
            for name, alts in self.rules.items():
                for alt in alts:
                    d = 1 + max((h[s.name] if isinstance(s, NonTerminal) else 0 for s in alt), default=0)
                    if d < h[name]:
                        h[name], changed = d, True
        return {k: int(v) for k, v in h.items()}

    def _alt_height(self, alt: list) -> int:
        return max((self.height[s.name] if isinstance(s, NonTerminal) else 0 for s in alt), default=0)

    def sentences(self) -> st.SearchStrategy[str]:
        @st.composite
        def draw(draw_fn):  # type: ignore[no-untyped-def]
            out: list[str] = []
            self._expand(draw_fn, self.start, 0, out)
            return "".join(out)

        return draw()

    def _expand(self, draw, name: str, depth: int, out: list[str]) -> None:  # type: ignore[no-untyped-def]
        alts = self.rules[name]
        if depth >= self.max_depth:
            best = min(self._alt_height(a) for a in alts)
            alts = [a for a in alts if self._alt_height(a) == best]
        alt = alts[draw(st.integers(0, len(alts) - 1))]
        for sym in alt:
            if isinstance(sym, Terminal):
                pattern = self.terminals[sym.name]
                if isinstance(pattern, PatternStr):
                    value = pattern.value
                    if "i" in pattern.flags:  # a case-insensitive literal: any casing is in the language
                        value = draw(st.sampled_from([value, value.lower(), value.upper()]))
                    out.append(value)
                else:
                    out.append(draw(self.regexes[sym.name]))
            else:
                self._expand(draw, sym.name, depth + 1, out)


_CACHE: dict[str, GrammarSampler] = {}


def sampler_for(grammar: str, max_depth: int = 6) -> GrammarSampler:
    """The sampler of ``grammar``, kept while consecutive examples share it (building one takes a while)."""
    if grammar not in _CACHE:
        _CACHE.clear()
        _CACHE[grammar] = GrammarSampler(grammar, max_depth=max_depth)
    return _CACHE[grammar]


class _Bytes:
    """A tokenizer of one token per byte, and an end token, for llguidance."""

    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([b]) for b in range(256)] + [b"<eos>"]
    special_token_ids = [256]

    def __call__(self, text: str | bytes) -> list[int]:
        return list(text.encode() if isinstance(text, str) else text)


_CLOSERS = (ord('"'), ord("}"), ord("]"), ord("\n"), ord("`"), 256)


@lru_cache(maxsize=16)
def byte_matcher(grammar: str):  # type: ignore[no-untyped-def]
    """llguidance's matcher of a Lark grammar over a one-token-per-byte tokenizer (copy it before use)."""
    import llguidance

    tokenizer = llguidance.LLTokenizer(llguidance.TokenizerWrapper(_Bytes()))
    matcher = llguidance.LLMatcher(tokenizer, llguidance.grammar_from("lark", grammar), log_level=0)
    assert not matcher.is_error(), matcher.get_error()
    return matcher


def llguidance_accepts(grammar: str, text: str) -> bool:
    """Whether decoding under ``grammar`` can emit ``text`` (its lexer is greedy, unlike Lark's)."""
    matcher = byte_matcher(grammar).deep_copy()  # an error state outlives reset()
    matcher.consume_tokens(list(text.encode()))
    return not matcher.is_error() and matcher.is_accepting()


def walk(grammar: str, seed: int, budget: int = 1500) -> str | None:
    """A random sentence llguidance lets a decoder emit under ``grammar``: bytes drawn from its mask one at a
    time, closing characters preferred once ``budget`` is spent; None when no end was reached."""
    import random

    rng = random.Random(seed)
    matcher = byte_matcher(grammar).deep_copy()
    out = bytearray()
    while len(out) < 4 * budget and not matcher.is_stopped():
        mask = matcher.compute_bitmask()
        allowed = [t for t in range(257) if mask[t // 8] >> (t % 8) & 1]
        if not allowed:
            return None
        late = [t for t in allowed if t in _CLOSERS] if len(out) > budget else []
        choice = rng.choice(late or allowed)
        if choice == 256:
            break
        assert matcher.consume_token(choice), matcher.get_error()
        out.append(choice)
    return out.decode(errors="replace") if matcher.is_accepting() else None


_JSON_RULE = re.compile(r"%json \{")


def sentences(constraint: str, max_depth: int = 6) -> st.SearchStrategy[str]:
    """Sentences of a decode constraint: a Lark grammar through :class:`GrammarSampler`; one with an inline
    ``%json`` schema (which Lark cannot read) through :func:`walk`, llguidance's own mask."""
    if _JSON_RULE.search(constraint) is None:
        return sampler_for(constraint, max_depth).sentences()
    return st.integers(0, 2**32 - 1).map(lambda seed: walk(constraint, seed)).filter(lambda s: s is not None)
