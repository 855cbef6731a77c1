"""What a target is: a language bound to one source (schema, engine) and one dialect profile.

The pipeline (prompt, decode, check, dry run, repair) talks only to :class:`Bound`; a
target package supplies one :class:`Target` subclass and declares itself in a
:class:`TargetSpec`. Nothing outside ``nl2q.targets`` names a target.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
import random
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

from ..errors import DialectError, Nl2qError
from ..policy import Policy
from ..profile import Profile, load_profile
from ..resources import data_dir
from ..types import Approval, Codes, Constraint, Diagnostic, DryRun, Scope, position


@dataclass(frozen=True)
class TargetSpec:
    """What a target produces, for the prompts, the CLI and the reports."""

    name: str
    noun: str = "query"  # query, script, config, call
    nouns: str = ""  # the plural, when not noun + "s"
    fence: str | None = None  # code-fence language the answer is written in; None: bare output
    has_rows: bool = True  # whether a dry run returns rows (an empty result deserves a second look)
    source_flag: str = ""  # the CLI flag that names a source for this target, e.g. "db"
    source_help: str = ""
    source_default: str = ""  # the source when the CLI names only the target (shell: the current directory)
    # more of the source, as CLI flags (name, help): given any, the source becomes {source_flag: source, name: value}
    source_options: tuple[tuple[str, str], ...] = ()
    default_dialect: str = ""
    closers: tuple[str, ...] = ()  # words that lead an unfinished output to its end (a clause, CASE's END), preferred as the budget runs low
    extenders: tuple[str, ...] = ()  # words that only lengthen an unfinished output (AND, EXISTS), avoided then
    min_new_tokens: int = 0  # outputs are long (a config document): the token limit is raised to at least this

    @property
    def plural(self) -> str:
        return self.nouns or f"{self.noun}s"


@dataclass(frozen=True)
class Conformance:
    """What the shared conformance tests need of a target; every registered target is run through them.

    ``tests/test_conformance.py`` proves, for each target and dialect: every sentence the decode
    constraint derives passes the checker without ``never`` codes; ``writes`` are refused by the
    read-only policy; ``valid`` pass; a scripted round trip goes through check, dry run and repair;
    ``normalise`` keeps ``different`` pairs apart and ``same`` pairs together.
    """

    source: Any  # a small schema-only source that binds without an engine
    random_source: Callable[[random.Random], Any]  # a random schema-only source for the property test
    valid: tuple[str, ...]
    writes: tuple[str, ...]
    different: tuple[tuple[str, str], ...]
    same: tuple[tuple[str, str], ...] = ()
    never: tuple[str, ...] = ("syntax.", "policy.", "dialect.")  # code prefixes a decode sentence must not get
    # whether decode sentences may be writes: a shell constraint names commands but cannot rule out their
    # writing flags (find -delete) without forbidding the command, so the policy on the tree decides
    decode_writes: bool = False
    # names in an output that the bound source does not have (beyond what the checker reports); optional
    foreign_names: Callable[[Any, str], list[str]] | None = None
    # a dialect whose sources differ (a config family): its own random source for the property test
    random_sources: Mapping[str, Callable[[random.Random], Any]] = field(default_factory=dict)
    policy: Policy = Policy()  # the policy ``writes`` are refused under (configs: a strict one)


def known_keys(source: Mapping[str, Any], fields: Any, noun: str) -> None:
    """Refuse a source mapping with a key ``fields`` (a dataclass's) does not name, with the closest one."""
    from ..check import suggestion

    known = set(fields)
    unknown = sorted(set(source) - known)
    if unknown:
        raise Nl2qError(f"unknown {noun} source key {unknown[0]!r}", suggestion(unknown[0], known, "key")
                           or f"known keys: {', '.join(sorted(known))}")


@dataclass
class Checked:
    diagnostics: list[Diagnostic]
    writes: bool = False
    rewritten: str | None = None  # the checker's correction (e.g. a reversed arrow), to use instead


class Bound(ABC):
    """A target specialised for one source and profile: what a Compiler caches and shares across threads."""

    spec: TargetSpec
    dialect: Profile
    constraint: Constraint
    has_data: bool = False

    @property
    def target(self) -> str:
        return self.spec.name

    @abstractmethod
    def schema_text(self, question: str) -> str:
        """The names the model may use, rendered for the prompt (a relevant subset when large, said so)."""

    @abstractmethod
    def check(self, text: str, policy: Policy) -> Checked: ...

    @abstractmethod
    def dry_run(self, text: str, policy: Policy, writes: bool) -> DryRun | None:
        """None when there is nothing to run on (a schema file)."""

    def for_question(self, question: str) -> "Bound":
        """The bound narrowed to what ``question`` needs (a config's kind, an API's operations), with
        :attr:`notes` saying what was chosen or cut; itself when the source needs no narrowing."""
        return self

    @property
    def notes(self) -> list[Diagnostic]:
        """What binding or narrowing decided that the result should say (the kind chosen, a schema cut)."""
        return []

    def scope(self) -> Scope | None:
        """The target's incremental scope checker for decoding, when it has one (see :class:`Scope`)."""
        return None

    def renderings(self, text: str) -> dict[str, str]:
        """``text`` in the forms people read it in (a JSON config as YAML); none by default."""
        return {}

    def normalise(self, text: str) -> str:
        """A key under which two outputs are the same output. Exact text by default: case matters."""
        return text.strip()

    def outcome_diagnostics(self, dry: DryRun, text: str = "") -> list[Diagnostic]:
        """What a dry-run outcome of ``text`` deserves. Execute-stage warnings earn one more round of repair;
        an engine error gets the span of what it names in ``text`` where :meth:`locate_error` finds it."""
        if not dry.ok:
            span = self.locate_error(text, dry.error or "") if text else None
            if span:
                span["line"], span["col"] = position(text, span["start"])
            return [Diagnostic(Codes.EXECUTE_ERROR, f"{dry.engine} rejected the {self.spec.noun}: {dry.error}",
                               hint=f"fix the part of the {self.spec.noun} the engine names", stage="execute",
                               **(span or {}))]
        if dry.warnings:
            return [Diagnostic("execute.warning", w, severity="warning", stage="execute",
                               hint=f"check the {self.spec.noun} does what the question asks") for w in dry.warnings]
        if self.spec.has_rows and dry.mode == "run" and self.has_data and dry.row_count == 0:
            return [Diagnostic(Codes.EXECUTE_EMPTY, f"the {self.spec.noun} ran but returned no rows",
                               severity="warning", hint="check literal values (spelling, case) and filters",
                               stage="execute")]
        return []

    def locate_error(self, text: str, error: str) -> dict[str, int] | None:
        """``{"start", "end"}`` of what an engine's error message names in ``text``; None when unknown."""
        return None

    def approval(self, text: str, policy: Policy) -> "Approval | None":
        """What running ``text`` for real would need (its tier, whether a person must approve); None for a
        target whose outputs nl2q only dry-runs (queries: the caller runs them on their own engine)."""
        return None

    def execute(self, text: str, policy: Policy) -> DryRun:
        """Run ``text`` for real. Only :meth:`nl2q.Compiler.execute` calls this, after the checks, a fresh dry
        run and the approval the tier needs."""
        raise NotImplementedError(f"{self.target} outputs are not run for real by nl2q")

    def describe(self) -> dict[str, Any]:
        """The bound schema as data, for a person browsing it (``{"target": ..., ...}``)."""
        return {"target": self.target}

    def sample_questions(self, n: int = 6) -> list[str]:
        """Questions drawn from the bound schema's own names, for a person to start from."""
        return []

    def graph(self, dry: DryRun) -> dict[str, Any] | None:
        """The nodes and edges in a dry run's rows (``{"nodes": [...], "edges": [...]}``); None when there are none."""
        return None

    def neighbours(self, node: dict[str, Any]) -> str | None:
        """A query for the neighbours of a node of :meth:`graph`, to be checked and run; None: not a graph target."""
        return None

    def close(self) -> None:
        pass


class Target(ABC):
    """A language nl2q compiles into. Subclasses set ``spec`` and ``profile_type`` and implement ``bind``."""

    spec: ClassVar[TargetSpec]
    profile_type: ClassVar[type[Profile]] = Profile

    @property
    def name(self) -> str:
        return self.spec.name

    @abstractmethod
    def bind(self, source: Any, dialect: str | None = None) -> Bound: ...

    def conformance(self) -> Conformance:
        """Samples for the conformance tests. A target without them fails those tests, on purpose."""
        raise NotImplementedError(f"target {self.name} declares no conformance samples")

    def profile(self, name: str | None, inferred: str | None = None) -> Profile:
        """The dialect profile asked for, or the one the source implies, or the target's default."""
        if name and inferred and name.lower() != inferred:
            raise DialectError(f"the source is {inferred} but dialect {name!r} was asked for",
                               f"omit the dialect or use {inferred}")
        chosen = (name or inferred or self.spec.default_dialect).lower()
        if not re.fullmatch(r"[a-z0-9_-]+", chosen):
            raise DialectError(f"invalid dialect name {chosen!r}", "dialect names are letters, digits, - and _")
        path = data_dir("dialects") / f"{chosen}.toml"
        if not path.is_file():
            raise DialectError(f"unknown dialect {chosen!r} for {self.name}",
                               f"choose one of: {', '.join(self.dialects()) or '(none shipped)'}")
        profile = load_profile(path, self.profile_type)
        if profile.target != self.name:
            raise DialectError(f"dialect {profile.name!r} is for {profile.target}, not {self.name}")
        return profile

    def dialects(self) -> list[str]:
        """The shipped profiles for this target."""
        import tomllib

        names = []
        for path in sorted(data_dir("dialects").glob("*.toml")):
            if tomllib.loads(path.read_text()).get("target") == self.name:
                names.append(path.stem)
        return names

