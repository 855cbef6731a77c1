"""The local decode loop: the lean forward pass, cutting back and resuming, loops, budgets, prefix reuse.

Plumbing tests on random-weight models with the real tokenizer; what steering buys with the
real model is measured by the harness (``constrained+scope``, ``+backtrack``).
"""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from nl2q.models import Guide, Sampling
from nl2q.models.kv import CHUNK, chunks, growing_cache
from nl2q.models.local import Decoding, TransformersModel, _loop_start
from nl2q.types import Constraint, Veto

GRAMMAR = Constraint("lark", 'start: "SELECT " COL (", " COL)* " FROM t"\nCOL: /[a-z]{1,6}/\n')
MESSAGES = [{"role": "user", "content": "columns please"}]


def _llama(vocab: int, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def tokenizer(default_model):
    return default_model.tokenizer


def _model(tokenizer, **kw) -> TransformersModel:
    return TransformersModel("tiny", name="tiny", model=_llama(len(tokenizer)), tokenizer=tokenizer, **kw)


def test_lean_forward_matches_transformers_in_chunks_and_steps():
    from nl2q.models.fast import FastLlama

    model = _llama(300, seed=1)
    ids = torch.randint(0, 300, (150,)).tolist()
    with torch.no_grad():
        ref_cache = growing_cache(model.config)
        ref = model(torch.tensor([ids]), cache=ref_cache, use_cache=True).logits[0, -1]
        fast = FastLlama(model, "exact")
        cache = growing_cache(model.config)
        for a, b in chunks(0, len(ids)):
            out = fast(ids[a:b], cache, a)
        assert torch.allclose(out, ref, atol=1e-4)
        for t in (3, 7, 11):
            ref = model(torch.tensor([[t]]), cache=ref_cache, use_cache=True).logits[0, -1]
            out = fast([t], cache, cache.layers[0].get_seq_length())
            assert torch.allclose(out, ref, atol=1e-4)


def test_chunks_are_aligned_so_a_restored_prefix_is_what_a_fresh_prefill_computes():
    assert chunks(0, 150) == [(0, CHUNK), (CHUNK, 2 * CHUNK), (2 * CHUNK, 150)]
    assert chunks(CHUNK, CHUNK + 3) == [(CHUNK, CHUNK + 3)]
    assert chunks(10, 10) == []


@pytest.mark.parametrize("weights", ["exact", "int8"])
def test_prefix_reuse_never_changes_an_output(tokenizer, weights):
    lm = _model(tokenizer, weights=weights)
    compiled = lm.constrain(GRAMMAR)
    system = {"role": "system", "content": "You write queries. " * 40}
    first = [system, {"role": "user", "content": "the first question"}]
    second = [system, {"role": "user", "content": "another question entirely"}]
    cold = _model(tokenizer, weights=weights, prefix_cache=0)
    lm.generate(first, constraint=compiled, max_new_tokens=24)
    warm = lm.generate(second, constraint=compiled, max_new_tokens=24)
    fresh = cold.generate(second, constraint=cold.constrain(GRAMMAR), max_new_tokens=24)
    assert warm.reused_prompt_tokens >= CHUNK and fresh.reused_prompt_tokens == 0
    assert warm.text == fresh.text


def _decode(lm: TransformersModel, compiled, guide=None, bans=None, limit=40) -> Decoding:
    d = Decoding(lm, lm.encode_prompt(MESSAGES, ""), compiled.handle.deep_copy(), Sampling(), limit, guide)
    d.bans = dict(bans or {})
    d.run()
    return d


def test_backtracking_to_a_span_resumes_as_if_the_token_had_been_banned_there(tokenizer):
    lm = _model(tokenizer)
    compiled = lm.constrain(GRAMMAR)
    plain = _decode(lm, compiled)
    assert len(plain.tokens) > 4
    pos = 3
    start = plain.ends[pos - 1]
    calls = []

    def finish(body: str) -> Veto | None:
        calls.append(body)
        return Veto(start, start + 1, "wrong here", "test.veto") if len(calls) == 1 else None

    steered = _decode(lm, compiled, Guide(finish=finish, fenced=False))
    banned = _decode(lm, compiled, bans={pos: {plain.tokens[pos]}})
    assert steered.g.backtracks == 1 and steered.g.steering == [f"test.veto at {start}: back to token {pos}"]
    assert steered.tokens[:pos] == plain.tokens[:pos] and steered.tokens[pos] != plain.tokens[pos]
    assert steered.tokens == banned.tokens  # the kept prefix's keys and values were reused, not corrupted
    assert steered.matcher.is_accepting()


def test_a_scope_veto_masks_the_token_that_wrote_the_name(tokenizer):
    lm = _model(tokenizer)
    compiled = lm.constrain(GRAMMAR)
    plain = lm.generate(MESSAGES, constraint=compiled, max_new_tokens=40)
    first = plain.text.split("SELECT ", 1)[1].split(",")[0].split(" ")[0]

    class NoFirst:
        def check(self, text: str, final: bool = False) -> Veto | None:
            at = text.find(first, len("SELECT "))
            if at == len("SELECT ") and (final or len(text) > at + len(first)):
                return Veto(at, len(text) if not final else at + len(first), "not in scope", "test.scope")
            return None

    steered = lm.generate(MESSAGES, constraint=compiled, max_new_tokens=40, guide=Guide(scope=NoFirst(), fenced=False))
    assert steered.vetoed + steered.backtracks >= 1
    assert not steered.text.startswith(f"SELECT {first},") and not steered.text.startswith(f"SELECT {first} ")
    assert steered.finish != "error"


def _never_stops(tokenizer, dislikes: str = "") -> TransformersModel:
    """A random model that never ends its turn (and, given ``dislikes``, avoids tokens holding it)."""
    model = _llama(len(tokenizer))
    head = torch.nn.Linear(64, len(tokenizer), bias=True)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        head.bias[list(TransformersModel.eos_of(tokenizer))] = -1e4  # the model never chooses to stop
        if dislikes:
            pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
            head.bias[[i for i, p in enumerate(pieces) if p and dislikes in p]] = -5.0
    model.lm_head = head
    return TransformersModel("tiny", name="tiny", model=model, tokenizer=tokenizer)


def test_guided_output_is_never_cut_off_by_the_token_limit(tokenizer):
    looping = Constraint("lark", 'start: "SELECT " COL (", " COL)*\nCOL: /[a-z]{1,6}/\n')
    lm = _never_stops(tokenizer)
    compiled = lm.constrain(looping)
    cut = lm.generate(MESSAGES, constraint=compiled, max_new_tokens=20)
    assert cut.truncated or cut.finish == "length"
    guided = lm.generate(MESSAGES, constraint=compiled, max_new_tokens=20, guide=Guide(fenced=False))
    assert guided.accepting and guided.closed_early and guided.output_tokens <= 20


def test_a_string_left_open_is_closed_before_the_token_limit(tokenizer):
    """Steering to the end inside an open literal prefers its quote, not the closing words it would swallow."""
    quoting = Constraint("lark", 'start: "SELECT \'" TEXT "\' FROM t"\nTEXT: /[a-zA-Z ]{0,400}/\n')
    lm = _never_stops(tokenizer, dislikes="'")
    compiled = lm.constrain(quoting)
    for limit in (24, 40):
        g = lm.generate(MESSAGES, constraint=compiled, max_new_tokens=limit, guide=Guide(fenced=False, closers=("FROM",)))
        assert g.accepting and g.text.endswith("' FROM t") and g.output_tokens <= limit, g.text
    bias = lm.closing_bias(len(tokenizer), ("FROM",), "'")
    assert bias[tokenizer.convert_tokens_to_ids("'")] > 0 and bias[tokenizer.convert_tokens_to_ids("ĠFROM")] == 0


def test_outside_strings_the_end_is_closing_brackets_and_words(tokenizer):
    lm = _model(tokenizer)
    bias = lm.closing_bias(len(tokenizer), ("FROM", "END"), extenders=("AND", "CASE"))
    ids = tokenizer.convert_tokens_to_ids
    assert bias[ids("ĠAND")] < 0 and bias[ids("ĠCASE")] < 0 and bias[ids("ĠOR")] == 0
    assert bias[ids(")")] > 0 and bias[ids("}")] > 0 and bias[ids("ĠEND")] > 0 and bias[ids("ĠFROM")] > 0
    assert bias[ids("(")] < 0 and bias[ids(",")] < 0 and bias[ids("'")] == 0


@pytest.mark.parametrize("tokens,start", [
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 4, 5, 6, 7, 8, 9, 4, 5, 6, 7, 8, 9], 9),  # 6 tokens three times: cut at the second
    ([9] + list(range(10, 19)) * 2, 10),  # a 9-token block twice
    ([5] * 17, 3),  # one token over and over
    ([1, 2, 1, 3, 1, 2, 1, 4, 1, 2, 1, 5, 1, 2, 1, 6], None),
    ([7, 8, 9, 7, 8, 9, 7, 8, 9], None),  # a short block three times but under 16 tokens: "a, b, a, b" stays
])
def test_loop_start(tokens, start):
    assert _loop_start(tokens) == start


def test_loops_are_seen_through_numbers(tokenizer):
    lm = _model(tokenizer)
    counting = tokenizer(", ".join(f"age{i}.Age" for i in range(1, 9)), add_special_tokens=False).input_ids
    assert _loop_start(counting) is None
    assert _loop_start(lm.shapes(counting)) is not None


def test_unsteered_backends_take_a_guide_and_ignore_it():
    from nl2q.models.scripted import ScriptedModel

    model = ScriptedModel(["SELECT 1"])
    assert not model.steers
    assert model.generate(MESSAGES, guide=Guide()).text == "SELECT 1"
