"""The GBNF translation (nl2q/gbnf.py) accepts exactly the sentences of its Lark grammar.

xgrammar, a GBNF engine independent of nl2q, reads the translation. Sentences go both ways:
sampled from the Lark grammar they must pass the GBNF; sampled from the GBNF (a random walk
over xgrammar's matcher, one character per token) they must be in the Lark grammar's language.
Near misses (a sentence with one character changed) must get the same verdict from both.
llguidance, the decoder, agrees but for its greedy lexing (see the test that pins it down).
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark
from lark.exceptions import LarkError

from grammar_sampler import GrammarSampler, llguidance_accepts
from nl2q.errors import GrammarRejected
from nl2q.gbnf import lark_to_gbnf
from nl2q.targets import get_target

xgr = pytest.importorskip("xgrammar")
regex = pytest.importorskip("regex")
from xgrammar.testing import _is_grammar_accept_string  # noqa: E402

BUILTIN = [(t, d) for t in ("sql", "cypher") for d in get_target(t).dialects()]
CASES = [(t, d, seed) for seed, (t, d) in enumerate(BUILTIN)]  # one schema each, all different
SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                      HealthCheck.filter_too_much])


@lru_cache(maxsize=None)
def specialised(target: str, dialect: str, seed: int) -> str:
    t = get_target(target)
    bound = t.bind(t.conformance().random_source(random.Random(seed)), dialect)
    try:
        assert bound.constraint.kind == "lark"
        return bound.constraint.text
    finally:
        bound.close()


def case_id(case: tuple[str, str, int]) -> str:
    return "-".join(map(str, case))


@lru_cache(maxsize=None)
def sampler(lark_text: str) -> GrammarSampler:
    """Random sentences of the Lark grammar (``sampler_for`` keeps one grammar; these tests take turns)."""
    return GrammarSampler(lark_text, max_depth=6)


# ----------------------------------------------------------------------------- the three deciders


@lru_cache(maxsize=64)
def gbnf_grammar(lark_text: str):
    return xgr.Grammar.from_ebnf(lark_to_gbnf(lark_text))


def gbnf_accepts(lark_text: str, sentence: str) -> bool:
    return _is_grammar_accept_string(gbnf_grammar(lark_text), sentence)


@lru_cache(maxsize=16)
def lark_parser(lark_text: str) -> Lark:
    """Lark deciding the grammar's language: every match of a terminal, not only the one ``re.match`` finds.

    Lark's default dynamic lexer tries a single match per terminal, Python's first alternative:
    ``/[a-z]{1,3}|[a-z]{1,3}[0-9]/`` then never yields ``d3``, though the regex (and llguidance,
    and GBNF) accept it. Leftmost-longest matching plus every prefix of it is every match.
    """
    return Lark(lark_text, parser="earley", start="start", lexer="dynamic_complete", regex=True,
                g_regex_flags=regex.POSIX)


def lark_accepts(lark_text: str, sentence: str) -> bool:
    try:
        lark_parser(lark_text).parse(sentence)
    except LarkError:
        return False
    return True


# ----------------------------------------------------------------------------- sampling the GBNF

VOCAB = ["\t", "\n", "\r", *map(chr, range(0x20, 0x7F)), *"éſ\u212aЖあ中😀\u00a0"]
EOS = len(VOCAB)


def _weight(ch: str) -> float:
    """Late in a walk: close what is open, take spaces (which lead to keywords), open nothing new."""
    if ch in ")]}":
        return 50.0
    if ch in " \n":
        return 5.0
    if ch in "([{'\"`":
        return 0.01
    return 1.0 if ch.isalnum() or ch == "_" else 0.3


WEIGHTS = [_weight(ch) for ch in VOCAB]


@lru_cache(maxsize=1)
def _compiler():
    info = xgr.TokenizerInfo([*VOCAB, "<eos>"], xgr.VocabType.RAW, vocab_size=EOS + 1, stop_token_ids=[EOS])
    return xgr.GrammarCompiler(info, max_threads=1)


@lru_cache(maxsize=16)
def compiled(lark_text: str):
    return _compiler().compile_grammar(gbnf_grammar(lark_text))


def walk(lark_text: str, rng: random.Random, soft: int = 30, cap: int = 400) -> str | None:
    """A random sentence of the GBNF, one character at a time as xgrammar allows; None past ``cap``."""
    matcher = xgr.GrammarMatcher(compiled(lark_text))
    mask = xgr.allocate_token_bitmask(1, EOS + 1)
    out: list[str] = []
    while len(out) < cap:
        matcher.fill_next_token_bitmask(mask)
        words = mask[0].tolist()
        allowed = [i for i in range(EOS + 1) if words[i >> 5] >> (i & 31) & 1]
        late = len(out) > soft
        if EOS in allowed and (len(allowed) == 1 or rng.random() < (0.9 if late else 0.05)):
            return "".join(out)
        choices = [i for i in allowed if i != EOS]
        token = rng.choices(choices, [WEIGHTS[i] for i in choices])[0] if late else rng.choice(choices)
        assert matcher.accept_token(token)
        out.append(VOCAB[token])
    return None


# ----------------------------------------------------------------------------- the built-in grammars

GBNF_RULE = re.compile(r"([A-Za-z0-9-]+) ::= (.*)")


@pytest.mark.parametrize("target,dialect", BUILTIN)
@settings(SLOW, max_examples=2)
@given(seed=st.integers(0, 2**32 - 1))
def test_builtin_grammars_translate_to_gbnf_xgrammar_reads(target, dialect, seed):
    text = specialised.__wrapped__(target, dialect, seed)
    gbnf = lark_to_gbnf(text)
    xgr.Grammar.from_ebnf(gbnf)
    lines = gbnf.splitlines()
    names = [GBNF_RULE.fullmatch(line).group(1) for line in lines]  # one rule a line, valid names
    assert names[0] == "root" and len(set(names)) == len(names)
    assert gbnf.isascii()
    assert not any(GBNF_RULE.fullmatch(line).group(2).startswith(name + " ") for name, line in zip(names, lines))
    assert lark_to_gbnf.__wrapped__(text) == gbnf


@pytest.mark.parametrize("case", CASES, ids=case_id)
@settings(SLOW, max_examples=25)
@given(data=st.data())
def test_lark_sentences_are_gbnf_sentences(case, data):
    text = specialised(*case)
    sentence = data.draw(sampler(text).sentences())
    assert gbnf_accepts(text, sentence), sentence


@pytest.mark.parametrize("case", CASES, ids=case_id)
@settings(SLOW, max_examples=8)
@given(seed=st.integers(0, 2**32 - 1))
def test_gbnf_sentences_are_lark_sentences(case, seed):
    text = specialised(*case)
    rng = random.Random(seed)
    sentences: list[str] = []
    for _ in range(40):
        if len(sentences) == 3:
            break
        if (found := walk(text, rng)) is not None:
            sentences.append(found)
    assert sentences, "no random walk of the GBNF finished"
    for sentence in sentences:
        assert lark_accepts(text, sentence), sentence


MUTATIONS = " \n\t\r()[]{},.;:*'\"`-+=<>!|%$_aAzZkK\u212asS\u017f09é"


@pytest.mark.parametrize("case", CASES, ids=case_id)
@settings(SLOW, max_examples=30)
@given(data=st.data())
def test_near_misses_get_the_same_verdict(case, data):
    """A sentence with one character inserted, replaced or deleted: mostly wrong, sometimes still right."""
    text = specialised(*case)
    sentence = data.draw(sampler(text).sentences())
    at = data.draw(st.integers(0, len(sentence)))
    edit = data.draw(st.sampled_from(["insert", "replace", "delete"]))
    ch = data.draw(st.sampled_from(MUTATIONS))
    mutant = sentence[:at] + ("" if edit == "delete" else ch) + sentence[at + (edit != "insert"):]
    verdict = gbnf_accepts(text, mutant)
    if verdict != llguidance_accepts(text, mutant) or len(mutant) <= 150:  # Lark, the judge, is slow
        assert verdict == lark_accepts(text, mutant), mutant


def test_llguidance_lexes_greedily_where_gbnf_and_lark_do_not():
    """The one difference the tests above allow: llguidance's lexer, having read ``1.``, holds on to a FLOAT
    and will not go back to INT ``1`` then ``.``. Decoding never emits ``1.x``, which the language has."""
    text = 'start: INT "." NAME | FLOAT\nINT: /[0-9]+/\nFLOAT: /[0-9]+\\.[0-9]+/\nNAME: /[a-z]+/\n'
    assert gbnf_accepts(text, "1.x") and lark_accepts(text, "1.x")
    assert not llguidance_accepts(text, "1.x")
    assert all(llguidance_accepts(text, s) and gbnf_accepts(text, s) for s in ["1.5", "12.34"])


def test_the_default_lark_lexer_is_not_the_languages_judge():
    """Why the deciders above lex exhaustively: Lark's default lexer takes Python's first match only."""
    text = 'start: ALIAS "."\nALIAS: /[a-z]{1,3}|[a-z]{1,3}[0-9]/\n'
    with pytest.raises(LarkError):
        Lark(text, parser="earley").parse("d3.")
    assert lark_accepts(text, "d3.") and llguidance_accepts(text, "d3.") and gbnf_accepts(text, "d3.")


# ----------------------------------------------------------------------------- the translator, small


def one_terminal(pattern: str) -> str:
    return f"start: T\nT: {pattern}\n"


REGEXES = [
    r"[a-c]x{2,4}", r"[^a-c\n]+", r"\d{1,3}(\.\d+)?", r"\w+", r"\s\S", r"[\W_]", r"[^\d\s]",
    r"(?i)k[a-z]s", r"(?i:[^k])", r"(?i)[^a-z]x", r"(ab|a)(bc|c)?", r"x*?y+?z??", r"(?s).", r".",
    r"[\]\[\-^\\\"]+", r'"(\\.|[^"\\\n])*"', r"é|ñ+|[\u3040-\u30ff]{2}", r"\U0001F600|a{0}b",
    r"(?a)\w\d", r"(a|)+b", r"[-a]|[a-]|a-b", r"(a?b?)?c", r"'([^'\n\\]|'')*'", r"(?i)é\u212a",
    r"(a?)?b", r"(a?){2}b|(b+)*", r"(a+)?b|(c*)?d", r"a.b|(?s:a.c)",
]
ALPHABET = "abckKsSſ\u212axyzéÉñ_-^[]\\\"'.\n \t0129١あ😀"


@settings(deadline=None, max_examples=300)
@given(data=st.data())
def test_regexes_mean_what_python_says(data):
    pattern = data.draw(st.sampled_from(REGEXES))
    text = one_terminal(f"/{pattern}/")
    sentence = data.draw(st.one_of(st.from_regex(pattern, fullmatch=True), st.text(ALPHABET, max_size=6)))
    assert gbnf_accepts(text, sentence) == bool(re.fullmatch(pattern, sentence)), (pattern, sentence)


PROBES = ["", "\n", "a", "aa", "aab", "ab", "b", "bb", "c", "ccd", "a\nb", "a\nc", "kKs", "\u212aas", "\u017f", "é",
          "x", "-", "^", "]", "\\", '"', "''", "١", "11", "😀", " \t"]


@pytest.mark.parametrize("pattern", REGEXES)
def test_regexes_on_edge_cases(pattern):
    text = one_terminal(f"/{pattern}/")
    for probe in PROBES:
        assert gbnf_accepts(text, probe) == bool(re.fullmatch(pattern, probe)), probe


def test_case_insensitive_literals_fold_like_lark():
    text = 'start: "select"i _WS NAME\n_WS: " "\nNAME: "Kit"i\n'
    gbnf = lark_to_gbnf(text)
    assert "[Ss" in gbnf and "[Ee]" in gbnf
    for sentence in ["select kit", "SELECT KIT", "SeLeCt kIt", "\u017felect \u212ait", "select  kit", "selec kit",
                     "select kitt", "selectkit"]:
        assert gbnf_accepts(text, sentence) == lark_accepts(text, sentence), sentence
    assert gbnf_accepts(text, "sElEcT KiT") and not gbnf_accepts(text, "select kat")


def test_escapes_survive():
    text = r'start: "say \"hi\"" "\\" "\n" "\t" "é" "😀" /[\u4e00-\u9fff]/' + "\n"
    gbnf = lark_to_gbnf(text)
    assert gbnf.isascii()
    good = 'say "hi"\\\n\té😀中'
    assert gbnf_accepts(text, good)
    for bad in ['say "hi"\\\n\te😀中', 'say "hi"\\ \té😀中', "say 'hi'\\\n\té😀中", 'say "hi"\\\n\té😀a']:
        assert not gbnf_accepts(text, bad), bad


def test_names_with_underscores_stay_distinct():
    text = 'start: select_core _WS WS _select_core\nselect_core: "a"\n_WS: " "\nWS: "w"\n_select_core: "b"\n'
    gbnf = lark_to_gbnf(text)
    names = [GBNF_RULE.fullmatch(line).group(1) for line in gbnf.splitlines()]
    assert names[0] == "root" and len(set(names)) == len(names) == 5
    assert gbnf_accepts(text, "a wb")
    assert not gbnf_accepts(text, "a  b") and not gbnf_accepts(text, "awwb")


def test_ebnf_operators_and_left_recursion():
    text = 'start: sum\nsum: sum "+" n | n\nn: DIGIT~1..3 ["." DIGIT+] ("e" "-"?)*\nDIGIT: /[0-9]/\n'
    gbnf = lark_to_gbnf(text)
    assert not any(line.split(" ::= ")[1].startswith(line.split(" ::= ")[0] + " ") for line in gbnf.splitlines())
    for sentence in ["1", "12+3.45", "123e-e", "1234", "1+", "+1", "1.+2", "1.2e--"]:
        assert gbnf_accepts(text, sentence) == lark_accepts(text, sentence), sentence


def test_options_that_start_alike_share_their_start():
    """llama.cpp copies its parse stack for each option: nested, ``x | x "=" x`` grows exponentially;
    ``x ("=" x)?`` does not."""
    text = 'start: item | item "=" item | item " IS" " NULL" | "z"\nitem: "i" | "(" start ")"\n'
    root = lark_to_gbnf(text).splitlines()[0]
    assert len(re.findall(r"\bitem\b", root)) == 2  # the shared start and the one after "=", not four
    for sentence in ["i", "i=i", "i IS NULL", "z", "((i=i))=(z)", "(i IS NULL)", "i=", "=i", "i IS", "iz", "(i"]:
        assert gbnf_accepts(text, sentence) == lark_accepts(text, sentence), sentence


def test_big_repeated_groups_get_their_own_rules():
    """llama.cpp refuses to repeat a group it expands into more than 2000 rules."""
    words = "|".join(f"{a}{b}[a-z]{{0,40}}" for a in "abcdefgh" for b in "ijklmnop")
    text = one_terminal(f"/({words})?x/")
    gbnf = lark_to_gbnf(text)
    assert len(gbnf.splitlines()) == 3
    for sentence in ["x", "aiqx", "hp" + "z" * 40 + "x", "hp" + "z" * 41 + "x", "qqx"]:
        assert gbnf_accepts(text, sentence) == bool(re.fullmatch(f"({words})?x", sentence)), sentence


@pytest.mark.parametrize("grammar,construct", [
    (one_terminal("/(?=a)b/"), "lookahead"),
    (one_terminal("/(?<!a)b/"), "lookbehind"),
    (one_terminal(r"/a\b/"), "anchor"),
    (one_terminal("/^a/"), "anchor"),
    (one_terminal(r"/(a)\1/"), "backreference"),
    (one_terminal("/a{1,5000}/"), "2000"),
    ('start: "a" "b"\n%ignore " "\n', "%ignore"),
    ('start: A\n%declare A\n', "%declare"),
    ('start: x{"a"}\nx{p}: p p\n', "template"),
    ('start: item "x" | "y"\nitem: start "z"\n', "left recursion"),
    ('start: ("a"? "b"?)* "c"\n', "empty"),
    ('%llguidance {"no_forcing": true}\nstart: "a"\n', "%llguidance"),
    ('start: "a" obj\nobj: %json {"type": "object"}\n', "%json"),
])
def test_untranslatable_constructs_are_refused_by_name(grammar, construct):
    with pytest.raises(GrammarRejected) as refused:
        lark_to_gbnf(grammar)
    assert construct in refused.value.message


def test_empty_llguidance_options_are_no_obstacle():
    assert gbnf_accepts('%llguidance {}\nstart: "a"\n', "a")
