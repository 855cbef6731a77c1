"""The shell profile: one platform's commands, flags and the risk rules the classifier reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ...profile import Profile


@dataclass(frozen=True)
class ShellProfile(Profile):
    flags: str = "gnu"  # whose option tables apply when a command's own help cannot be read: gnu | busybox
    builtins: tuple[str, ...] = ()  # commands the shell itself provides (always bound)
    commands: tuple[str, ...] = ()  # a fixed command list (a container image's); empty: the commands on PATH
    risk: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # read by risk.RiskRules

    @cached_property
    def risk_rules(self) -> Any:
        """The ``risk`` table read into :class:`~.risk.RiskRules`, once per profile (not once per check)."""
        from .risk import RiskRules

        return RiskRules.from_mapping(self.risk)
