"""The decode variant of ``grammars/spl.lark``, specialised with the bound schema's names."""

from __future__ import annotations

import re

from ...grammar import alternatives, base_grammar, lark_literal, words_excluding
from .profile import SplProfile
from .schema import SplSchema

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_KEYWORDS = ["AND", "OR", "NOT", "IN", "TERM", "CASE", "by", "as", "where", "from", "over", "span"]
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def specialise_spl(schema: SplSchema, profile: SplProfile, max_fields: int = 400) -> str:
    """Fields, functions and aggregations as alternatives of the bound names; new fields a small lowercase
    form, so what a command creates cannot shadow what the events hold by a typo."""
    def lits(xs: list[str]) -> str:
        return alternatives(lark_literal(x) for x in xs)

    names = sorted(schema.fields)[:max_fields]
    quoted = [n if _PLAIN.fullmatch(n) else f"'{n}'" for n in names]
    listed = [n for n in names if _PLAIN.fullmatch(n)]
    aggs = list(profile.stats_functions) + ["p50", "p90", "p95", "p99", "perc95"]
    return base_grammar("spl") + "\n" + "\n".join([
        "field: " + lits(listed or ["_time"]),
        "eval_field: " + lits(quoted or ["_time"]),
        "new_field: /[a-z][a-z0-9_]{0,30}/",
        "function_name: " + lits(list(profile.eval_functions)),
        "agg_name: " + lits(aggs),
        "command_name: " + lits(["makeresults"]),
        "lookup_name: " + lits(["none_bound"]),
        "datamodel_name: " + lits(["none_bound"]),
        "WORD: /" + words_excluding(_KEYWORDS, 30, first=_LETTERS + _LETTERS.upper() + "*",
                                    rest=_LETTERS + _LETTERS.upper() + "0123456789_*.:-") + "/",
    ]) + "\n"
