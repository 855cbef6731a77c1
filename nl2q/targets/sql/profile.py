"""The SQL profile: what one SQL engine adds over the shared grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...errors import DialectError
from ...profile import Profile


@dataclass(frozen=True)
class SqlProfile(Profile):
    """``functions`` are the scalar functions the decoder may emit and the policy allows."""

    sqlglot: str = ""  # sqlglot's dialect name: parsing, keywords, quoting
    nullary_functions: tuple[str, ...] = ()
    types: tuple[str, ...] = ()  # CAST target types
    atoms: str = ""  # extra atoms, as Lark alternatives over the base grammar's terminals
    lateral_aliases: bool = False  # a select item may name an earlier item's alias (DuckDB: SELECT 1 AS x, x + 1)
    arity: dict[str, str] = field(default_factory=dict, hash=False)  # "1", "1-2", "2+"; unlisted: one or more

    def __post_init__(self) -> None:
        unknown = sorted(set(self.arity) - {f.upper() for f in self.functions})
        if unknown:
            raise DialectError(f"dialect {self.name}: arity given for {', '.join(unknown)}, not in its functions",
                               "list the function under functions, or drop its arity")
        for f in self.arity:
            self.arguments(f)

    def arguments(self, function: str) -> tuple[int, int | None]:
        """How many arguments ``function`` takes: (least, most), most None for no limit."""
        spec = self.arity.get(function.upper(), "1+")
        m = re.fullmatch(r"(\d+)(?:-(\d+)|(\+))?", spec.strip())
        if m is None:
            raise DialectError(f"dialect {self.name}: arity {spec!r} of {function} is not N, N-M or N+",
                               'write e.g. "1", "1-2" or "2+"')
        least = int(m.group(1))
        return least, None if m.group(3) else int(m.group(2) or least)

    @property
    def allowed_functions(self) -> frozenset[str]:
        return frozenset(f.upper() for f in self.functions + self.nullary_functions)
