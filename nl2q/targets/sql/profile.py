"""The SQL profile: what one SQL engine adds over the shared grammar."""

from __future__ import annotations

from dataclasses import dataclass

from ...profile import Profile


@dataclass(frozen=True)
class SqlProfile(Profile):
    """``functions`` are the scalar functions the decoder may emit and the policy allows."""

    sqlglot: str = ""  # sqlglot's dialect name: parsing, keywords, quoting
    nullary_functions: tuple[str, ...] = ()
    types: tuple[str, ...] = ()  # CAST target types
    atoms: str = ""  # extra atoms, as Lark alternatives over the base grammar's terminals

    @property
    def allowed_functions(self) -> frozenset[str]:
        return frozenset(f.upper() for f in self.functions + self.nullary_functions)
