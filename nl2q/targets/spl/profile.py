"""The SPL profile: what a Splunk deployment's search language allows and what the policy refuses."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...profile import Profile


@dataclass(frozen=True)
class SplProfile(Profile):
    # commands that write, send or run something (Splunk's own risky-command list): always refused
    refused_commands: tuple[str, ...] = ()
    # commands that reach beyond the events (REST endpoints): refused unless the policy allows writes
    guarded_commands: tuple[str, ...] = ()
    # commands that start a search instead of filtering one (| tstats, | inputlookup, | makeresults)
    generating_commands: tuple[str, ...] = ()
    stats_functions: tuple[str, ...] = ()  # aggregations (pNN/percNN/exactpercNN are patterns, not listed)
    convert_functions: tuple[str, ...] = ()  # convert's conversions: ctime(field), dur2sec(field) ...
    require_time_range: bool = True  # a search without earliest= is refused unless the policy waives it
    sort_default_limit: int = 10_000  # rows `sort` keeps without a count (sort 0: all)
    aggregating_commands: tuple[str, ...] = ()  # need at least one aggregation
    # command -> the option keys it takes; a modelled command not listed is not checked
    command_options: dict[str, list] = field(default_factory=dict, compare=False, hash=False)
    # eval function -> [fewest, most] arguments (-1: any); a function not listed is unknown to this deployment
    eval_arity: dict[str, list] = field(default_factory=dict, compare=False, hash=False)
