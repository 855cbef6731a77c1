"""The Cypher profile: what one graph engine supports of the shared grammar, as facts."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...profile import Profile


@dataclass(frozen=True)
class CypherProfile(Profile):
    constructs: tuple[str, ...] = ()  # optional rules of grammars/cypher.lark this engine has
    call_subquery: bool = False  # CALL { } subqueries
    multi_label_nodes: bool = True  # (n:A:B) means both labels (elsewhere: A or B, or refused)
    one_based_substring: bool = False  # substring() counts from 1
    replacements: dict[str, str] = field(default_factory=dict, compare=False, hash=False)  # name -> what to use
