"""The config profile: one per family of documents (Prometheus rules, Kubernetes, compose, any JSON Schema)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...profile import Profile

if TYPE_CHECKING:
    from .schema import Limits


@dataclass(frozen=True)
class ConfigProfile(Profile):
    # words that, in a question, say this family is meant (a Kubernetes kind's name counts for kubernetes)
    question_words: tuple[str, ...] = ()
    # property names the decoder never writes: status, fields the server sets
    never_generated: tuple[str, ...] = ()
    outline_lines: int = 60  # how many lines of the schema's outline the prompt shows
    # keys the decoder always writes though the schema leaves them optional (Owner.name: that definition's only);
    # a Deployment without a pod template spec is refused by the apiserver
    required_keys: tuple[str, ...] = ()
    non_empty: tuple[str, ...] = ()  # lists and maps (Owner.name) the decoder writes with at least one entry
    skeleton_keys: tuple[str, ...] = ()
    # keys the decoder may always write; with any given, others only when required or named by the question
    core_keys: tuple[str, ...] = ()  # optional keys the prompt's example document shows beside the required ones
    kubernetes_version: str = ""  # the version whose schemas apply when no cluster says otherwise ("" the newest)
    # short names people use for Kubernetes kinds (kubectl's): deploy -> Deployment
    aliases: dict[str, str] | None = None
    # what the decoder is held to beyond the schema (see schema.Limits)
    max_string_length: int = 0
    max_map_entries: int = 0
    map_key_pattern: str = ""
    strings: dict[str, dict] | None = None  # property name -> JSON Schema keywords for its string value
    maps: dict[str, dict] | None = None  # map property (Owner.name) -> JSON Schema keywords for its values

    def limits(self) -> "Limits":
        from .schema import Limits

        return Limits(self.max_string_length or None, self.strings, self.map_key_pattern or None,
                      self.max_map_entries or None, self.maps, frozenset(self.required_keys), frozenset(self.non_empty))
