"""The pipeline: prompt -> constrained decode -> checks -> dry run -> repair, bounded."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .decode import Constraint, Generation, Model, Sampling, load_model
from .errors import GrammarRejected
from .policy import Policy
from .prompt import extract_query, fence, generation_messages
from .repair import normalise, repair_messages
from .result import CompileResult, Diagnostic, DryRun, Round
from .target import Bound, get_target


@dataclass(frozen=True)
class Stages:
    """Each stage can be switched off, so the harness can measure what it buys."""

    constrained: bool = True
    check: bool = True
    dry_run: bool = True
    repair: bool = True
    repair_on_empty: bool = True

    @classmethod
    def named(cls, name: str) -> "Stages":
        presets = {
            "raw": cls(constrained=False, repair=False),
            "constrained": cls(repair=False),
            "repair": cls(),
            "raw+repair": cls(constrained=False),
        }
        if name not in presets:
            from .errors import Nl2qError

            raise Nl2qError(f"unknown configuration {name!r}", f"choose from {', '.join(presets)}")
        return presets[name]


@dataclass
class _Attempt:
    generation: Generation
    query: str
    diagnostics: list[Diagnostic] = field(default_factory=list)


class Compiler:
    """Keeps the model, bound schemas and compiled grammars across calls."""

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

    def bind(self, schema: Any, target: str = "sql", dialect: str | None = None) -> Bound:
        key = (target, _source_key(schema), dialect)
        if key not in self._bound:
            self._bound[key] = get_target(target).bind(schema, dialect)
        return self._bound[key]

    def close(self) -> None:
        for b in self._bound.values():
            b.close()
        self._bound.clear()

    def compile(self, question: str, *, schema: Any, target: str = "sql", dialect: str | None = None,
                max_repairs: int | None = None, stages: Stages | None = None,
                examples: Sequence[tuple[str, str]] = ()) -> CompileResult:
        """``examples``: (question, query) pairs shown to the model before the question (few-shot)."""
        stages = stages or self.stages
        max_repairs = self.max_repairs if max_repairs is None else max_repairs
        t_start = time.perf_counter()
        bound = self.bind(schema, target, dialect)
        notes: list[Diagnostic] = []
        constraint = self._constraint(bound, stages, notes)
        bind_ms = (time.perf_counter() - t_start) * 1000

        base = generation_messages(question, language=bound.language, title=bound.dialect.title,
                                   schema_text=bound.schema_text(question), examples=examples)
        messages = base
        rounds: list[Round] = []
        failing: list[str] = []
        empty_retry_used = False
        for index in range(max_repairs + 1 if stages.repair else 1):
            attempt = self._decode(messages, bound, constraint, failing, seed=index)
            round_ = self._finish_round(index, messages, attempt, bound, stages, constraint is not None)
            rounds.append(round_)
            if round_.valid:
                empty = any(d.code == "execute.empty_result" for d in round_.diagnostics)
                if not (empty and stages.repair and stages.repair_on_empty and not empty_retry_used):
                    break
                empty_retry_used = True
            else:
                failing.append(normalise(round_.query))
                if empty_retry_used or any(d.code == "repair.repeated" for d in round_.diagnostics):
                    break  # a valid (empty) answer is already in hand, or the model is stuck
            messages = repair_messages(base, language=bound.language, query=round_.query,
                                       diagnostics=round_.diagnostics, earlier=[r.query for r in rounds[:-1]])

        final = _choose(rounds)
        total_ms = (time.perf_counter() - t_start) * 1000
        return CompileResult(
            question=question,
            target=bound.target,
            dialect=bound.dialect.name,
            query=final.query if not _truncated(final) else "",
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
            config={"stages": stages.__dict__, "max_repairs": max_repairs, "max_new_tokens": self.max_new_tokens,
                    "policy": self.policy.__dict__, "examples": len(examples)},
        )

    # ------------------------------------------------------------------ steps

    def _constraint(self, bound: Bound, stages: Stages, notes: list[Diagnostic]) -> Constraint | None:
        if not stages.constrained:
            return None
        if not self.model.supports_grammar:
            notes.append(Diagnostic("decode.unconstrained", f"{self.model.name} cannot take a grammar; output is only checked",
                                    severity="warning", stage="decode"))
            return None
        try:
            return self.model.constrain(bound.grammar)
        except GrammarRejected as e:
            notes.append(Diagnostic("decode.grammar_rejected", e.message, severity="warning", hint=e.hint, stage="decode"))
            return None

    def _decode(self, messages: list[dict[str, str]], bound: Bound, constraint: Constraint | None,
                failing: list[str], seed: int) -> _Attempt:
        prefix = fence(bound.language)
        gen = self.model.generate(messages, prefix=prefix, constraint=constraint, max_new_tokens=self.max_new_tokens)
        query = extract_query(gen.text, prefixed=True)
        if normalise(query) in failing:
            # The same failing query again: sample instead of resubmitting it.
            d = self.model.defaults
            gen = self.model.generate(messages, prefix=prefix, constraint=constraint, max_new_tokens=self.max_new_tokens,
                                      sampling=Sampling(temperature=0.8, top_p=0.95, seed=seed + 1,
                                                        repetition_penalty=d.repetition_penalty))
            query = extract_query(gen.text, prefixed=True)
            if normalise(query) in failing:
                return _Attempt(gen, query, [Diagnostic(
                    "repair.repeated", "the model produced the same failing query again; stopping",
                    hint="a stronger model, or a clearer question, may get further", stage="repair")])
        return _Attempt(gen, query, _decode_diagnostics(gen, self.max_new_tokens))

    def _finish_round(self, index: int, messages: list[dict[str, str]], attempt: _Attempt, bound: Bound,
                      stages: Stages, constrained: bool) -> Round:
        gen, query, diags = attempt.generation, attempt.query, list(attempt.diagnostics)
        t0 = time.perf_counter()
        dry: DryRun | None = None
        writes = False
        if not any(d.is_error for d in diags):
            if stages.check:
                checked = bound.check(query, self.policy)
                diags += checked.diagnostics
                writes = checked.writes
                if checked.rewritten and not any(d.is_error for d in diags):
                    query = checked.rewritten
            check_ms = (time.perf_counter() - t0) * 1000
            if stages.dry_run and not any(d.is_error for d in diags):
                dry = bound.dry_run(query, self.policy, writes)
                if dry is not None:
                    diags += _dry_run_diagnostics(dry, bound.has_data)
        else:
            check_ms = (time.perf_counter() - t0) * 1000
        return Round(index=index, kind="generate" if index == 0 else "repair", prompt=messages, raw_output=gen.text,
                     query=query, diagnostics=diags, finish=gen.finish, constrained=constrained,
                     prompt_tokens=gen.prompt_tokens, output_tokens=gen.output_tokens,
                     decode_ms=round(gen.elapsed_ms, 1), check_ms=round(check_ms, 3), dry_run=dry)


def _decode_diagnostics(gen: Generation, limit: int) -> list[Diagnostic]:
    if gen.finish == "error":
        return [Diagnostic("decode.error", f"decoding failed: {gen.error}", stage="decode")]
    if gen.truncated:
        return [Diagnostic("decode.truncated", f"the output was cut off at {limit} tokens before the query was complete",
                           hint="raise max_new_tokens, or ask a narrower question", stage="decode")]
    if gen.finish == "length":
        return [Diagnostic("decode.length", f"the output reached the {limit}-token limit; the query may be incomplete",
                           severity="warning", hint="raise max_new_tokens", stage="decode")]
    return []


def _dry_run_diagnostics(dry: DryRun, has_data: bool) -> list[Diagnostic]:
    if not dry.ok:
        return [Diagnostic("execute.error", f"{dry.engine} rejected the query: {dry.error}",
                           hint="fix the part of the query the engine names", stage="execute")]
    if dry.mode == "run" and has_data and dry.row_count == 0:
        return [Diagnostic("execute.empty_result", "the query ran but returned no rows",
                           severity="warning", hint="check literal values (spelling, case) and filters", stage="execute")]
    return []


def _truncated(r: Round) -> bool:
    return any(d.code == "decode.truncated" for d in r.diagnostics)


def _choose(rounds: list[Round]) -> Round:
    """The last valid round with rows, else the first valid one, else the last round."""
    valid = [r for r in rounds if r.valid]
    with_rows = [r for r in valid if not any(d.code == "execute.empty_result" for d in r.diagnostics)]
    if with_rows:
        return with_rows[-1]
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


def compile(question: str, target: str = "sql", *, schema: Any, dialect: str | None = None,
            model: str | Model | None = None, max_repairs: int = 3, policy: Policy | None = None,
            stages: Stages | None = None, examples: Sequence[tuple[str, str]] = ()) -> CompileResult:
    """Compile a question into a checked query. Reuses one Compiler per (model, policy) across calls."""
    policy = policy or Policy()
    key = (model if isinstance(model, (str, type(None))) else id(model), policy)
    if key not in _COMPILERS:
        _COMPILERS[key] = Compiler(model, policy=policy)
    return _COMPILERS[key].compile(question, schema=schema, target=target, dialect=dialect,
                                   max_repairs=max_repairs, stages=stages, examples=examples)
