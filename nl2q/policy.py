"""The safety policy a query must pass before anything runs it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """Read-only by default. Limits bound every dry run."""

    allow_writes: bool = False
    max_rows: int = 1000
    preview_rows: int = 10
    timeout_s: float = 5.0
    run_timeout_s: float = 300.0  # bound on a real run (Compiler.execute), which may do real work
    require_time_range: bool = True  # log searches must say how far back (SPL: earliest=) unless waived
    allow_privilege: bool = True  # configs that grant privilege (privileged pods, hostPath, RBAC wildcards) are
    # listed as warnings; False (a strict policy) refuses them
    # API calls: the hosts calls may go to (host or host:port); None: the bound API's own server, whatever it is
    allowed_hosts: tuple[str, ...] | None = None
    destructive_operations: tuple[str, ...] = ()  # operations that need a person's approval, beside DELETEs
    max_response_bytes: int = 1_000_000  # a real response read beyond this is cut, and said so
