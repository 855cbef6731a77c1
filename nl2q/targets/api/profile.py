"""The API profile: one per kind of source (an OpenAPI document, plain function definitions)."""

from __future__ import annotations

from dataclasses import dataclass

from ...profile import Profile


@dataclass(frozen=True)
class ApiProfile(Profile):
    # a source with more operations than this is cut, per question, to the ones most like it (and the result says so)
    max_operations: int = 24
    max_calls: int = 8  # calls one answer may hold (a question asking for several things)
    # what the decoder is held to beyond the parameter schemas (a small model loops in open strings and lists)
    max_string_length: int = 120
    max_items: int = 16
    # a free string argument: visible characters without JSON's brackets, braces, quotes and backslash, which an
    # argument's text rarely holds and a small model writes when it loses track of where the string ends
    text_pattern: str = "^[ !#-Z^-z|~\u00C0-\u024F]*$"
    # HTTP methods that only read; every other method changes state and needs allow_writes
    safe_methods: tuple[str, ...] = ("GET", "HEAD", "OPTIONS")
    # methods that destroy state: a call with one needs a person's approval even under allow_writes
    destructive_methods: tuple[str, ...] = ("DELETE",)
    # a question sharing no word with any operation (its name, path, descriptions, parameters and their values)
    # gets no call; off for sources whose descriptions are in another language than the questions
    no_call_without_overlap: bool = True
    description_chars: int = 160  # how much of an operation's or parameter's description the prompt shows
