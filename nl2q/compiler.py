"""The pipeline: prompt -> constrained decode -> checks -> dry run -> repair, bounded.

Target-neutral: everything about a language comes from its :class:`~nl2q.targets.Bound`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from .decode import Attempt, decode
from .errors import GrammarRejected, Nl2qError, NotApproved
from .models import Compiled, Guide, Model, load_model
from .policy import Policy
from .prompt import fence, generation_messages
from .repair import repair_messages
from .targets import Bound, get_target
from .types import Approval, Codes, CompileResult, Diagnostic, DryRun, Executed, Round, Veto
from .watch import Watch, checkpoint, emit, watching


@dataclass(frozen=True)
class Stages:
    """Each stage can be switched off, so the harness can measure what it buys.

    ``scope``: the target's scope checker vetoes names out of scope while decoding, loops are cut
    and the output closes before the token limit. ``backtrack``: a finished output that fails a
    check with a span is cut back there and decoded again from the kept prefix. Both need a
    constrained decode on a backend that steers.
    """

    constrained: bool = True
    check: bool = True
    dry_run: bool = True
    repair: bool = True
    repair_on_empty: bool = True
    scope: bool = True
    backtrack: bool = True

    @classmethod
    def named(cls, name: str) -> "Stages":
        presets = {
            "raw": cls(constrained=False, repair=False, scope=False, backtrack=False),
            "constrained": cls(repair=False, scope=False, backtrack=False),
            "constrained+scope": cls(repair=False, backtrack=False),
            "constrained+scope+backtrack": cls(repair=False),
            "repair": cls(),
            "raw+repair": cls(constrained=False, scope=False, backtrack=False),
        }
        if name not in presets:
            raise Nl2qError(f"unknown configuration {name!r}", f"choose from {', '.join(presets)}")
        return presets[name]


class Compiler:
    """Keeps the model, bound sources and compiled constraints across calls. Safe to share between threads."""

    def __init__(self, model: str | Model | None = None, *, policy: Policy = Policy(), stages: Stages = Stages(),
                 max_repairs: int = 3, max_new_tokens: int = 256) -> None:
        t0 = time.perf_counter()
        self.model = load_model(model)
        self.model_load_ms = (time.perf_counter() - t0) * 1000
        self.policy = policy
        self.stages = stages
        self.max_repairs = max_repairs
        self.max_new_tokens = max_new_tokens
        self._bound: dict[tuple[Any, ...], Bound] = {}
        self._binding: dict[tuple[Any, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def bind(self, schema: Any, target: str = "sql", dialect: str | None = None) -> Bound:
        """The target bound to ``schema``: done once per source, even when threads ask at the same time."""
        key = (target.lower(), _source_key(schema), dialect)
        with self._lock:
            if key in self._bound:
                return self._bound[key]
            lock = self._binding.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._bound:
                    return self._bound[key]
            bound = get_target(target).bind(schema, dialect)
            with self._lock:
                self._bound[key] = bound
                self._binding.pop(key, None)
            return bound

    def close(self) -> None:
        with self._lock:
            bound, self._bound = list(self._bound.values()), {}
        for b in bound:
            b.close()

    def compile(self, question: str, *, schema: Any, target: str = "sql", dialect: str | None = None,
                max_repairs: int | None = None, stages: Stages | None = None,
                examples: Sequence[tuple[str, str]] = (), watch: Watch | None = None) -> CompileResult:
        """``examples``: (question, query) pairs shown to the model before the question (few-shot).

        ``watch`` receives the stages as they happen and can cancel the request (see :mod:`nl2q.watch`).
        """
        with watching(watch):
            return self._compile(question, schema, target, dialect, max_repairs, stages, examples)

    def run(self, query: str, *, schema: Any, target: str = "sql", dialect: str | None = None, question: str = "",
            watch: Watch | None = None) -> CompileResult:
        """Check and dry-run a query a person wrote or edited: the same checks, policy and dry run as a
        generated one, and no model. The result has one round, of kind ``edit``."""
        with watching(watch):
            t_start = time.perf_counter()
            bound = self.bind(schema, target, dialect)
            verdict = _Judge(bound, self.policy, Stages(), 1)(query.strip())
            round_ = Round(index=0, kind="edit", prompt=[], raw_output=query, query=verdict.query,
                           diagnostics=verdict.diagnostics, finish="edit", constrained=False, prompt_tokens=0,
                           output_tokens=0, decode_ms=0.0, check_ms=round(verdict.check_ms, 3), dry_run=verdict.dry)
            emit("round", round=round_.to_dict())
            total_ms = (time.perf_counter() - t_start) * 1000
            return CompileResult(
                question=question, target=bound.target, dialect=bound.dialect.name, query=verdict.query,
                valid=round_.valid, diagnostics=verdict.diagnostics, rounds=[round_], dry_run=verdict.dry,
                timings={"check_ms": round(verdict.check_ms, 1),
                         "dry_run_ms": round(verdict.dry.elapsed_ms, 1) if verdict.dry else 0.0,
                         "total_ms": round(total_ms, 1)},
                tokens={"prompt": 0, "output": 0}, model="", config={"edited": True, "policy": self.policy.__dict__},
                renderings=bound.renderings(verdict.query) if verdict.query else {})

    def execute(self, result: CompileResult, *, schema: Any, approve: Callable[[Approval], bool] | None = None,
                dialect: str | None = None) -> Executed:
        """Run a compiled output for real, recorded on ``result.executed``.

        The output is checked and dry-run again first (the directory may have changed since), under this
        compiler's policy, so a write still needs ``allow_writes``. A tier that needs a person (destructive,
        network, privilege, unknown) runs only if ``approve`` (shown the exact text, its tier, reasons and
        dry-run effects) returns True; without a callback it raises :class:`NotApproved`. Nothing is
        approved on anyone's behalf.
        """
        if not result.valid or not result.query:
            raise Nl2qError("only a valid output runs for real", "fix what result.explain() lists first")
        bound = self.bind(schema, result.target, dialect or result.dialect)
        verdict = _Judge(bound, self.policy, Stages(), 1)(result.query)
        errors = [d for d in verdict.diagnostics if d.is_error]
        if errors:
            raise Nl2qError(f"the {bound.spec.noun} no longer passes its checks: [{errors[0].code}] "
                            f"{errors[0].message}", errors[0].hint)
        request = bound.approval(verdict.query, self.policy)
        if request is None:
            raise Nl2qError(f"nl2q only dry-runs {bound.spec.plural}", f"run the {bound.spec.noun} yourself")
        request = replace(request, dry_run=verdict.dry)
        approved_by = "policy"
        if request.required:
            tier = request.tier.replace("_", " ")
            if approve is None:
                raise NotApproved(f"the {bound.spec.noun} is in risk tier '{tier}' ({'; '.join(request.reasons)}) and needs a "
                                  "person's approval", "pass approve=callback, or confirm it in `nl2q ask --run`")
            if approve(request) is not True:
                raise NotApproved(f"the {tier} {bound.spec.noun} was not approved: nothing ran")
            approved_by = "person"
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        outcome = bound.execute(verdict.query, self.policy)
        result.executed = Executed(verdict.query, request.tier, approved_by, outcome, started)
        return result.executed

    def _compile(self, question: str, schema: Any, target: str, dialect: str | None, max_repairs: int | None,
                 stages: Stages | None, examples: Sequence[tuple[str, str]]) -> CompileResult:
        stages = stages or self.stages
        max_repairs = self.max_repairs if max_repairs is None else max_repairs
        t_start = time.perf_counter()
        bound = self.bind(schema, target, dialect).for_question(question)
        notes: list[Diagnostic] = list(bound.notes)
        constraint = self._constraint(bound, stages, notes)
        bind_ms = (time.perf_counter() - t_start) * 1000

        spec = bound.spec
        title = bound.dialect.title
        max_new_tokens = max(self.max_new_tokens, spec.min_new_tokens)
        base = generation_messages(question, spec=spec, title=title, schema_text=bound.schema_text(question),
                                   read_only=not self.policy.allow_writes, examples=examples)
        messages = base
        rounds: list[Round] = []
        failing: set[str] = set()
        second_look_used = False
        judge = _Judge(bound, self.policy, stages, 1)
        steer = constraint is not None and (stages.scope or stages.backtrack)
        if steer and not self.model.steers:
            notes.append(Diagnostic(Codes.DECODE_UNSTEERED, f"{self.model.name} does not steer its decoding: scope "
                                    "vetoes and backtracking are off, outputs are only checked afterwards",
                                    severity="info", stage="decode"))
            steer = False
        for index in range(max_repairs + 1 if stages.repair else 1):
            checkpoint()
            judge.round = index + 1
            emit("decode" if index == 0 else "repair", round=index + 1)
            guide = self._guide(bound, stages, failing, judge) if steer else None
            try:
                attempt = decode(self.model, messages, prefix=fence(spec.fence), constraint=constraint,
                                 max_new_tokens=max_new_tokens, failing=failing, normalise=bound.normalise,
                                 seed=index, guide=guide)
            except GrammarRejected as e:  # a server refused the grammar at request time: say so, decode without it
                notes.append(Diagnostic(Codes.DECODE_GRAMMAR_REJECTED, e.message, severity="warning", hint=e.hint,
                                        stage="decode"))
                constraint = guide = None
                attempt = decode(self.model, messages, prefix=fence(spec.fence), constraint=None,
                                 max_new_tokens=max_new_tokens, failing=failing, normalise=bound.normalise,
                                 seed=index)
            round_ = self._finish_round(index, messages, attempt, judge, constraint is not None)
            rounds.append(round_)
            emit("round", round=round_.to_dict())
            if round_.valid:
                if not (_doubtful(round_) and stages.repair and stages.repair_on_empty and not second_look_used):
                    break
                second_look_used = True
            else:
                failing.add(bound.normalise(round_.query))
                if second_look_used or any(d.code == Codes.REPAIR_REPEATED for d in round_.diagnostics):
                    break  # a valid (doubtful) answer is already in hand, or the model is stuck
            messages = repair_messages(base, spec=spec, title=title, output=round_.query,
                                       diagnostics=round_.diagnostics, earlier=[r.query for r in rounds[:-1]])

        final = _choose(rounds)
        query = final.query if not _truncated(final) else ""
        total_ms = (time.perf_counter() - t_start) * 1000
        return CompileResult(
            question=question,
            target=bound.target,
            dialect=bound.dialect.name,
            query=query,
            valid=final.valid,
            diagnostics=notes + final.diagnostics,
            rounds=rounds,
            dry_run=final.dry_run,
            timings={
                "model_load_ms": round(self.model_load_ms, 1),
                "bind_ms": round(bind_ms, 1),
                "decode_ms": round(sum(r.decode_ms for r in rounds), 1),
                "check_ms": round(sum(r.check_ms for r in rounds), 1),
                "dry_run_ms": round(sum(r.dry_run.elapsed_ms for r in rounds if r.dry_run), 1),
                "total_ms": round(total_ms, 1),
            },
            tokens={
                "prompt": sum(r.prompt_tokens for r in rounds),
                "output": sum(r.output_tokens for r in rounds),
            },
            model=self.model.name,
            config={"stages": stages.__dict__, "max_repairs": max_repairs, "max_new_tokens": max_new_tokens,
                    "policy": self.policy.__dict__, "examples": len(examples)},
            renderings=bound.renderings(query) if query else {},
        )

    # ------------------------------------------------------------------ steps

    def _constraint(self, bound: Bound, stages: Stages, notes: list[Diagnostic]) -> Compiled | None:
        if not stages.constrained:
            return None
        constraint = bound.constraint
        if not self.model.accepts(constraint):
            notes.append(Diagnostic(Codes.DECODE_UNCONSTRAINED,
                                    f"{self.model.name} cannot take a {constraint.kind} constraint; "
                                    "the output was not constrained, only checked",
                                    severity="warning", stage="decode"))
            return None
        try:
            return self.model.constrain(constraint)
        except GrammarRejected as e:
            notes.append(Diagnostic(Codes.DECODE_GRAMMAR_REJECTED, e.message, severity="warning", hint=e.hint,
                                    stage="decode"))
            return None

    def _guide(self, bound: Bound, stages: Stages, failing: set[str], judge: "_Judge") -> Guide:
        """Steering for one round: the target's scope, and a finish check that runs the round's own checks
        and dry run (shared with the round through ``judge``) and turns the first error into a veto."""
        finish = None
        if stages.backtrack:

            def finish(body: str) -> Veto | None:
                query = body.strip()
                if not query:
                    return None
                offset = len(body) - len(body.lstrip())
                verdict = judge(query)
                errors = [d for d in verdict.diagnostics if d.is_error]
                for d in errors:
                    span = verdict.span(d)
                    if span is not None:
                        return Veto(offset + span[0], offset + span[1], d.message, d.code)
                if errors:
                    return Veto(-1, -1, errors[0].message, errors[0].code)
                if bound.normalise(query) in failing:
                    return Veto(-1, -1, "the same output already failed", Codes.REPAIR_REPEATED)
                return None

        label = hashlib.blake2b("\0".join(sorted(failing)).encode(), digest_size=8).hexdigest() if failing else ""
        return Guide(scope=bound.scope() if stages.scope else None, finish=finish, fenced=bound.spec.fence is not None,
                     closers=bound.spec.closers, extenders=bound.spec.extenders, label=label)

    def _finish_round(self, index: int, messages: list[dict[str, str]], attempt: Attempt, judge: "_Judge",
                      constrained: bool) -> Round:
        gen, query, diags = attempt.generation, attempt.text, list(attempt.diagnostics)
        dry: DryRun | None = None
        check_ms = 0.0
        if not any(d.is_error for d in diags):
            verdict = judge(query)
            query, dry, check_ms = verdict.query, verdict.dry, verdict.check_ms
            diags += verdict.diagnostics
        return Round(index=index, kind="generate" if index == 0 else "repair", prompt=messages, raw_output=gen.text,
                     query=query, diagnostics=diags, finish=gen.finish, constrained=constrained,
                     prompt_tokens=gen.prompt_tokens, output_tokens=gen.output_tokens,
                     decode_ms=round(gen.elapsed_ms, 1), check_ms=round(check_ms, 3), dry_run=dry,
                     decoding=_decoding(gen))


@dataclass
class _Verdict:
    output: str  # the text as decoded
    query: str  # what runs: the checker's rewrite when it made one
    diagnostics: list[Diagnostic]
    dry: DryRun | None
    check_ms: float

    def span(self, d: Diagnostic) -> tuple[int, int] | None:
        """``d``'s (start, end) in the decoded output: its span on ``query``, where both texts agree there."""
        if d.start is None:
            return None
        end = d.end if d.end is not None else d.start + 1
        return (d.start, end) if self.output[d.start:end] == self.query[d.start:end] != "" else None


class _Judge:
    """The checks and dry run of one output text, done once: the decoder's finish check and the round share them."""

    def __init__(self, bound: Bound, policy: Policy, stages: Stages, round_: int) -> None:
        self.bound, self.policy, self.stages = bound, policy, stages
        self.round = round_  # 1-based, for progress reports
        self.memo: dict[str, _Verdict] = {}

    def __call__(self, output: str) -> _Verdict:
        if output not in self.memo:
            self.memo[output] = self._judge(output)
        return self.memo[output]

    def _judge(self, output: str) -> _Verdict:
        bound, policy, stages = self.bound, self.policy, self.stages
        t0 = time.perf_counter()
        query, diags, writes = output, [], False
        if stages.check:
            emit("check", round=self.round)
            checked = bound.check(query, policy)
            diags += checked.diagnostics
            writes = checked.writes
            if checked.rewritten and not any(d.is_error for d in diags):
                query = checked.rewritten  # what runs is checked again: only checked text ever runs
                again = bound.check(query, policy)
                diags += [d for d in again.diagnostics if d.is_error]
                writes = again.writes
        check_ms = (time.perf_counter() - t0) * 1000
        dry = None
        if stages.dry_run and not any(d.is_error for d in diags):
            checkpoint()
            emit("dry_run", round=self.round)
            dry = bound.dry_run(query, policy, writes)
            if dry is not None:
                diags += bound.outcome_diagnostics(dry, query)
        return _Verdict(output, query, diags, dry, check_ms)


def _decoding(gen: Any) -> dict[str, Any]:
    fields = ("forced_tokens", "forward_passes", "reused_prompt_tokens", "vetoed", "backtracks", "loops", "closed_early",
              "steering", "prefill_ms")
    return {f: getattr(gen, f) for f in fields if getattr(gen, f, None)}


def _truncated(r: Round) -> bool:
    return any(d.code == Codes.DECODE_TRUNCATED for d in r.diagnostics)


def _doubtful(r: Round) -> bool:
    """Valid, but the dry run raised a warning (e.g. no rows): worth one more round."""
    return any(d.stage == "execute" and d.severity == "warning" for d in r.diagnostics)


def _choose(rounds: list[Round]) -> Round:
    """The last valid round the dry run did not doubt, else the first valid one, else the last round."""
    valid = [r for r in rounds if r.valid]
    sure = [r for r in valid if not _doubtful(r)]
    if sure:
        return sure[-1]
    return valid[0] if valid else rounds[-1]


def _source_key(source: Any) -> Any:
    if isinstance(source, (str, Path)):
        p = Path(source).resolve()
        return ("path", str(p), p.stat().st_mtime_ns if p.exists() else None)
    if isinstance(source, dict):
        import json

        return ("data", json.dumps(source, sort_keys=True, default=str))
    return ("object", id(source))


_COMPILERS: dict[tuple[Any, Policy], Compiler] = {}
_COMPILERS_LOCK = threading.Lock()


def compile(question: str, target: str = "sql", *, schema: Any, dialect: str | None = None,
            model: str | Model | None = None, max_repairs: int = 3, policy: Policy | None = None,
            stages: Stages | None = None, examples: Sequence[tuple[str, str]] = ()) -> CompileResult:
    """Compile a question into checked output for ``target``. Reuses one Compiler per (model, policy)."""
    policy = policy or Policy()
    key = (model if isinstance(model, (str, type(None))) else id(model), policy)
    with _COMPILERS_LOCK:
        if key not in _COMPILERS:
            _COMPILERS[key] = Compiler(model, policy=policy)
        compiler = _COMPILERS[key]
    return compiler.compile(question, schema=schema, target=target, dialect=dialect,
                                   max_repairs=max_repairs, stages=stages, examples=examples)
