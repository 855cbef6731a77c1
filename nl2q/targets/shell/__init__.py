"""Shell scripts over a working directory: the commands that exist, checked, classified by risk, and
dry-run in a sandbox on a copy of the directory so a person sees their effects before anything runs."""

from __future__ import annotations

import random
from typing import Any

from ...errors import Nl2qError
from ...policy import Policy
from ...types import Approval, Constraint, DryRun
from ..base import Bound, Checked, Conformance, Target, TargetSpec
from .environment import ShellEnvironment, bind_environment
from .profile import ShellProfile

SHELL = TargetSpec(name="shell", noun="script", fence="bash", has_rows=False, source_flag="workdir", source_default=".",
                   source_help="shell: a working directory (commands from PATH), or {workdir, commands}",
                   default_dialect="bash", extenders=("&&", "||", "|"))
GRAMMAR_WORDS = 200  # the work directory's top entries offered to the decoder as words


class ShellBound(Bound):
    spec = SHELL

    def __init__(self, env: ShellEnvironment, dialect: ShellProfile) -> None:
        from .grammar import specialise_shell

        self.env = env
        self.dialect = dialect
        words = [e.path for e in env.entries if "/" not in e.path][:GRAMMAR_WORDS]
        self.constraint = Constraint("lark", specialise_shell(env.commands, words=words))
        self.has_data = env.workdir is not None

    def schema_text(self, question: str) -> str:
        return self.env.render(question)

    def check(self, text: str, policy: Policy) -> Checked:
        from .check import check_shell

        result = check_shell(text, self.env, self.dialect, policy)
        return Checked(result.diagnostics, result.writes)

    def dry_run(self, text: str, policy: Policy, writes: bool) -> DryRun | None:
        """On a copy of the work directory in a sandbox without network; the original is never touched."""
        if self.env.workdir is None:
            return None
        from .sandbox import Limits, run_sandboxed

        return run_sandboxed(text, self.env.workdir, Limits(timeout_s=policy.timeout_s), mount_at=self.env.shown_as)

    def approval(self, text: str, policy: Policy) -> Approval | None:
        from .check import risk_diagnostics, ShellCheck

        out = ShellCheck()
        risk_diagnostics(text, self.env, self.dialect, policy, out)
        return Approval("shell", text, out.tier, tuple(out.reasons), out.needs_approval,
                        where=str(self.env.workdir or ""))

    def execute(self, text: str, policy: Policy) -> DryRun:
        """bash in the bound work directory itself, for real, with the caller's environment, a deadline and the
        files it created, changed and deleted listed (as the dry run lists them on its copy)."""
        if self.env.workdir is None or self.env.shown_as is not None:
            raise Nl2qError("a script runs for real only in a work directory bound at its own path",
                            "bind the directory the script is for (--workdir DIR)")
        from .sandbox import Limits, run_here

        return run_here(text, self.env.workdir, Limits(timeout_s=policy.run_timeout_s))

    def normalise(self, text: str) -> str:
        return text.strip().rstrip(";").strip()

    def describe(self) -> dict[str, Any]:
        return {"target": "shell", "system": self.env.system, "workdir": str(self.env.seen or ""),
                "commands": sorted(self.env.commands), "entries": [e.__dict__ for e in self.env.entries[:500]],
                "truncated": self.env.truncated}


class ShellTarget(Target):
    """bash on this machine (commands on PATH) or a profile's command list, over a working directory."""

    spec = SHELL
    profile_type = ShellProfile

    def bind(self, source: Any, dialect: str | None = None) -> Bound:
        profile = self.profile(dialect)
        assert isinstance(profile, ShellProfile)
        env = bind_environment(source, builtins=profile.builtins, listed=profile.commands)
        return ShellBound(env, profile)

    def conformance(self) -> Conformance:
        return Conformance(
            source={"commands": ["ls", "grep", "find", "head", "wc", "sort", "du", "cat", "rm", "echo", "gzip"]},
            random_source=_random_environment,
            valid=("ls -la", "grep -r error . | head -n 5", "du -sh * | sort -rh | head -n 3"),
            writes=("rm -rf logs", "echo done > status.txt", "find . -name '*.tmp' -delete", "gzip old.log"),
            different=(("grep -r Error .", "grep -r error ."), ("ls -la", "ls -l")),
            same=(("ls -la", "ls -la;"),),
            never=("syntax.", "schema.unknown_command", "dialect."),
            decode_writes=True,
        )


def _random_environment(rng: random.Random) -> dict[str, Any]:
    pool = ["ls", "grep", "find", "head", "tail", "wc", "sort", "uniq", "du", "df", "cat", "cut", "awk", "sed",
            "date", "stat", "echo", "printf", "ps", "gzip", "tar", "rm", "mv", "cp", "xargs", "tr", "test"]
    return {"commands": rng.sample(pool, rng.randint(2, 8))}

