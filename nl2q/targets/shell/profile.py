"""The shell profile: one platform's commands, flags and the risk rules the classifier reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...profile import Profile


@dataclass(frozen=True)
class ShellProfile(Profile):
    flags: str = "gnu"  # whose option tables apply when a command's own help cannot be read: gnu | busybox
    builtins: tuple[str, ...] = ()  # commands the shell itself provides (always bound)
    commands: tuple[str, ...] = ()  # a fixed command list (a container image's); empty: the commands on PATH
    risk: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # read by risk.RiskRules
