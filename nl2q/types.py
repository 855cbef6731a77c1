"""Types every stage shares: messages, constraints, diagnostics, outcomes, rounds, results.

This module imports nothing else from nl2q, so any module can import it without a cycle.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

Severity = Literal["error", "warning", "info"]
Messages = list[dict[str, str]]
ConstraintKind = Literal["lark", "json_schema", "regex"]


@dataclass(frozen=True)
class Constraint:
    """What the decoder may emit, in one of the forms backends take.

    ``lark`` text may embed a JSON Schema through llguidance's ``%json`` rule. A backend
    declares the kinds it accepts; one that cannot take this kind says so in the result.
    """

    kind: ConstraintKind
    text: str

    def __post_init__(self) -> None:
        if self.kind not in ("lark", "json_schema", "regex"):
            raise ValueError(f"unknown constraint kind {self.kind!r}: use lark, json_schema or regex")

    @property
    def key(self) -> str:
        """A content fingerprint: equal constraints compile once."""
        return hashlib.blake2b(f"{self.kind}\0{self.text}".encode(), digest_size=12).hexdigest()


class Codes:
    """Diagnostic codes the target-neutral pipeline emits. Targets add their own (``schema.*``, ``policy.*``)."""

    DECODE_ERROR = "decode.error"
    DECODE_TRUNCATED = "decode.truncated"
    DECODE_LENGTH = "decode.length"
    DECODE_UNCONSTRAINED = "decode.unconstrained"
    DECODE_GRAMMAR_REJECTED = "decode.grammar_rejected"
    DECODE_UNSTEERED = "decode.unsteered"
    REPAIR_REPEATED = "repair.repeated"
    EXECUTE_ERROR = "execute.error"
    EXECUTE_EMPTY = "execute.empty_result"
    INPUT_TOO_LARGE = "policy.input_too_large"
    HIDDEN_CHARACTER = "policy.hidden_character"
    LINE_ENDING = "policy.line_ending"


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a query, written for a model and a person alike."""

    code: str
    message: str
    severity: Severity = "error"
    line: int | None = None
    col: int | None = None
    start: int | None = None
    end: int | None = None
    hint: str = ""
    stage: str = "check"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def render(self, query: str | None = None) -> str:
        """``line 1, col 8: message. hint`` plus the query line with the span underlined."""
        where = f"line {self.line}, col {self.col}: " if self.line is not None else ""
        text = f"{self.severity} [{self.code}] {where}{self.message}"
        if self.hint:
            text += f" Hint: {self.hint}"
        if query is not None and self.start is not None:
            text += "\n" + underline(query, self.start, self.end if self.end is not None else self.start + 1)
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def underline(query: str, start: int, end: int) -> str:
    """The line of ``query`` holding ``start`` with ``^`` under [start, end)."""
    line_start = query.rfind("\n", 0, start) + 1
    line_end = query.find("\n", start)
    line_end = len(query) if line_end < 0 else line_end
    end = max(start + 1, min(end, line_end))
    return "  " + query[line_start:line_end] + "\n  " + " " * (start - line_start) + "^" * (end - start)


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


@dataclass(frozen=True)
class Veto:
    """A definite error in a prefix of an output being written: no continuation can make it valid.

    ``[start, end)`` is the offending name in the prefix. The decoder masks the token that
    made it (when the span reaches into that token) or backtracks to the token holding ``start``.
    """

    start: int
    end: int
    message: str
    code: str = ""


class Scope(Protocol):
    """The names in scope at each point of an output, from a target's incremental checker.

    ``check(text)`` gets any prefix of the output (the body, without the prompt's fence) and
    returns the first :class:`Veto` in it, or None. It must be sound: a prefix of an output
    the target's checker accepts never gets a veto. ``final`` says the output is complete,
    so a name running to the end of ``text`` is finished. Called once per decoded token.
    """

    def check(self, text: str, final: bool = False) -> Veto | None: ...


@dataclass(frozen=True)
class Effect:
    """Something a run did or would do: a file changed, a request that would be sent."""

    kind: str  # e.g. "file.created", "file.deleted", "http.request"
    target: str
    detail: str = ""
    digest: str = field(default="", compare=False)  # the content's hash afterwards (files created or changed)


@dataclass
class DryRun:
    """What the engine or sandbox reported for one bounded run.

    Queries fill ``columns``/``rows``; scripts and calls fill ``output``, ``exit_status``
    and ``effects``. ``mode`` is ``run``, ``explain`` (planned, not run), ``record``, ``skipped`` (the
    engine cannot run it faithfully; ``plan`` says why) or ``real`` (run for real by ``Compiler.execute``).
    """

    ok: bool
    engine: str
    mode: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    row_count: int | None = None
    capped: bool = False
    plan: str | None = None
    elapsed_ms: float = 0.0
    error: str | None = None
    output: str | None = None
    exit_status: int | None = None
    effects: list[Effect] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the run found that is not an error (a rule never fires)

    @property
    def has_rows(self) -> bool:
        return self.mode == "run" and bool(self.columns)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rows"] = [[jsonable(v) for v in row] for row in self.rows]
        return d


def jsonable(value: Any) -> Any:
    """A JSON-safe form of an engine value: scalars as they are, sequences and maps element-wise, the rest as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):  # a node, relationship or map
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


@dataclass
class Round:
    """One model call and what the checks said of its output."""

    index: int
    kind: Literal["generate", "repair", "edit"]  # edit: a person's query, checked and run
    prompt: list[dict[str, str]]
    raw_output: str
    query: str
    diagnostics: list[Diagnostic]
    finish: str
    constrained: bool
    prompt_tokens: int
    output_tokens: int
    decode_ms: float
    check_ms: float
    dry_run: DryRun | None = None
    decoding: dict[str, Any] = field(default_factory=dict)  # forced tokens, vetoes, backtracks, loops cut

    @property
    def valid(self) -> bool:
        return bool(self.query) and not any(d.is_error for d in self.diagnostics)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["valid"] = self.valid
        d["diagnostics"] = [x.to_dict() for x in self.diagnostics]
        d["dry_run"] = self.dry_run.to_dict() if self.dry_run else None
        return d


@dataclass(frozen=True)
class Approval:
    """What a person is asked before an output runs for real: the exact text, its risk tier and why, and what
    the dry run showed it would do. ``required`` is False when the tier needs no one (then no one is asked)."""

    target: str
    text: str
    tier: str  # read_only, changes_files, destructive, network, privilege, unknown
    reasons: tuple[str, ...]
    required: bool
    dry_run: DryRun | None = None
    where: str = ""  # the directory or host it runs against

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dry_run"] = self.dry_run.to_dict() if self.dry_run else None
        return d


@dataclass
class Executed:
    """What ran for real and how it ended: recorded on the result by :meth:`nl2q.Compiler.execute`."""

    text: str
    tier: str
    approved_by: str  # "policy" (no approval needed), "person" (the approve callback said yes)
    outcome: DryRun  # mode "real"
    started_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "tier": self.tier, "approved_by": self.approved_by,
                "outcome": self.outcome.to_dict(), "started_at": self.started_at}


@dataclass
class CompileResult:
    """The final query with everything that led to it."""

    question: str
    target: str
    dialect: str
    query: str
    valid: bool
    diagnostics: list[Diagnostic]
    rounds: list[Round]
    dry_run: DryRun | None
    timings: dict[str, float]
    tokens: dict[str, int]
    model: str
    config: dict[str, Any]
    executed: Executed | None = None  # set when the output was run for real (Compiler.execute)
    renderings: dict[str, str] = field(default_factory=dict)  # the output as people read it (a JSON config as YAML)

    @property
    def output(self) -> str:
        """The checked output (a query, script, config or call, by target); empty when none was complete."""
        return self.query

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    def explain(self) -> str:
        """Human-readable diagnostics, one per line, with the span underlined."""
        return "\n".join(d.render(self.query or None) for d in self.diagnostics)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "query": self.query,
            "target": self.target,
            "dialect": self.dialect,
            "valid": self.valid,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "rounds": [r.to_dict() for r in self.rounds],
            "dry_run": self.dry_run.to_dict() if self.dry_run else None,
            "timings": self.timings,
            "tokens": self.tokens,
            "model": self.model,
            "config": self.config,
            "executed": self.executed.to_dict() if self.executed else None,
            "renderings": self.renderings,
        }
