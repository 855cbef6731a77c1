"""Local decoding speed, today's path against the new one, side by side in one run (medians).

    python eval/perf_decode.py [--items 6] [--tokens 64] [--benchmarks DIR]

Paths, each on the same prompts, interleaved so machine noise falls on all of them:
- ``today``: the decode loop nl2q shipped before issue 9 (kept verbatim below): transformers'
  forward in fp32 with its concatenating cache, the whole prompt prefilled per request, one
  token per forward pass.
- ``exact``: the new loop with the checkpoint's float weights: lean forward pass, in-place
  cache, aligned chunked prefill with prompt-prefix reuse, grammar fast-forward.
- ``int8``: the new loop with int8 linear layers (the default model's default).

Prompts are real: the first ``--items`` Spider dev and text2cypher (movies, northwind) items of
the harness's seed-0 sample, each with its own schema. Figures: decode ms/token after prefill
and tokens/s including prefill, constrained and not; the share of output tokens the grammar
fast-forwarded; grammar mask and scope-check time per token; backtracks per item; a repair
round's latency with and without prefix reuse; RSS. Prints each figure, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 3) if xs else None


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def today_generate(lm: Any, messages: list[dict[str, str]], prefix: str, constraint: Any, max_new_tokens: int,
                   repetition_penalty: float) -> dict[str, float]:
    """The pre-issue-9 loop, verbatim in what it computes: fp32 transformers forward, DynamicCache, no fast-forward."""
    import torch

    from nl2q.models.local import _allowed

    prompt = lm.encode_prompt(messages, prefix)
    matcher = constraint.handle.deep_copy() if constraint is not None else None
    out: list[int] = []
    t0 = time.perf_counter()
    inputs = torch.tensor([prompt])
    past = None
    prefill_ms = 0.0
    with torch.no_grad():
        for step in range(max_new_tokens):
            o = lm.model(inputs, past_key_values=past, use_cache=True)
            past = o.past_key_values
            if step == 0:
                prefill_ms = (time.perf_counter() - t0) * 1000
            logits = o.logits[0, -1, :].float()
            if repetition_penalty != 1.0 and out:
                seen = torch.tensor(sorted(set(out)))
                scores = logits[seen]
                logits[seen] = torch.where(scores > 0, scores / repetition_penalty, scores * repetition_penalty)
            if matcher is not None:
                logits = logits.masked_fill(~_allowed(matcher, logits.numel()), float("-inf"))
            token = int(torch.argmax(logits))
            if token in lm.eos_ids:
                break
            if matcher is not None and not matcher.consume_token(token):
                break
            out.append(token)
            if matcher is not None and matcher.is_stopped():
                break
            inputs = torch.tensor([[token]])
    elapsed = (time.perf_counter() - t0) * 1000
    return {"elapsed_ms": elapsed, "prefill_ms": prefill_ms, "tokens": len(out), "forced": 0, "text": lm._decode(out)}


def new_generate(lm: Any, messages: list[dict[str, str]], prefix: str, constraint: Any, max_new_tokens: int,
                 guide: Any = None) -> dict[str, Any]:
    g = lm.generate(messages, prefix=prefix, constraint=constraint, max_new_tokens=max_new_tokens, guide=guide)
    return {"elapsed_ms": g.elapsed_ms, "prefill_ms": g.prefill_ms, "tokens": g.output_tokens, "forced": g.forced_tokens,
            "text": g.text, "mask_ms": g.mask_ms, "backtracks": g.backtracks, "vetoed": g.vetoed,
            "reused": g.reused_prompt_tokens}


class TimedScope:
    def __init__(self, scope: Any) -> None:
        self.scope, self.ms = scope, []

    def check(self, text: str, final: bool = False) -> Any:
        t0 = time.perf_counter()
        try:
            return self.scope.check(text, final)
        finally:
            self.ms.append((time.perf_counter() - t0) * 1000)


def prompts(benchmarks: str | None, n: int) -> list[tuple[str, str, Any]]:
    """(suite, question, schema) for the first ``n`` sampled items of Spider dev and text2cypher."""
    from nl2q.evaluate.suites import get_suite

    out = []
    for name in ("spider-dev", "text2cypher:movies,northwind"):
        suite = get_suite(name, benchmarks)
        for item in suite.items(seed=0, limit=n):
            out.append((name.split(":")[0], item.question, suite.schema_for(item)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=6, help="items per suite")
    ap.add_argument("--tokens", type=int, default=64, help="max new tokens per request")
    ap.add_argument("--benchmarks", default=None, help="benchmark directory (default: $NL2Q_BENCHMARKS)")
    args = ap.parse_args(argv)

    from nl2q import Compiler
    from nl2q.compiler import Stages, _Judge
    from nl2q.models import Sampling
    from nl2q.models.gguf import default_model_dir
    from nl2q.models.local import TransformersModel
    from nl2q.prompt import fence, generation_messages
    from nl2q.repair import repair_messages

    figures: dict[str, Any] = {}

    def report(key: str, value: Any, unit: str = "", note: str = "") -> None:
        figures[key] = value
        print(f"{key:58s} {value!s:>10} {unit:6s} {note}", flush=True)

    path = default_model_dir()
    penalty = 1.1
    rss0 = rss_mb()
    models = {}
    for name, kw in (("today", dict(weights="exact", fast=False, prefix_cache=0, fast_forward=False)),
                     ("exact", dict(weights="exact")), ("int8", dict(weights="int8"))):
        before = rss_mb()
        models[name] = TransformersModel(path, name=name, defaults=Sampling(repetition_penalty=penalty), **kw)
        report(f"rss_model_{name}_mb", round(rss_mb() - before, 1), "MB", "resident memory this model's load added")
    report("rss_before_models_mb", rss0, "MB")

    items = prompts(args.benchmarks, args.items)
    compiler = Compiler(models["int8"])
    work = []
    for suite, question, schema in items:
        target = "sql" if suite == "spider-dev" else "cypher"
        bound = compiler.bind(schema, target)
        messages = generation_messages(question, spec=bound.spec, title=bound.dialect.title,
                                       schema_text=bound.schema_text(question))
        work.append((suite, bound, messages))

    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for index, (suite, bound, messages) in enumerate(work):
        prefix = fence(bound.spec.fence)
        order = ["today", "exact", "int8"]
        order = order[index % 3:] + order[:index % 3]
        for name in order:
            lm = models[name]
            constraint = lm.constrain(bound.constraint)
            for mode in ("constrained", "unconstrained"):
                c = constraint if mode == "constrained" else None
                if name == "today":
                    r = today_generate(lm, messages, prefix, c, args.tokens, penalty)
                else:
                    r = new_generate(lm, messages, prefix, c, args.tokens)
                r["suite"] = suite
                runs.setdefault((name, mode), []).append(r)

    def per_token(rs: list[dict[str, Any]]) -> float | None:
        return median([(r["elapsed_ms"] - r["prefill_ms"]) / (r["tokens"] - 1) for r in rs if r["tokens"] > 1])

    def end_to_end(rs: list[dict[str, Any]]) -> float | None:
        return median([r["tokens"] / r["elapsed_ms"] * 1000 for r in rs if r["tokens"]])

    for mode in ("constrained", "unconstrained"):
        base = per_token(runs[("today", mode)])
        base_e2e = end_to_end(runs[("today", mode)])
        for name in ("today", "exact", "int8"):
            ms = per_token(runs[(name, mode)])
            report(f"decode_ms_per_token_{mode}_{name}", ms, "ms", "after prefill")
            report(f"tokens_per_s_{mode}_{name}", round(1000 / ms, 2) if ms else None, "tok/s", "after prefill")
            if name != "today" and ms and base:
                report(f"speedup_{mode}_{name}_over_today", round(base / ms, 2), "x", "decode tokens/s")
            e2e = end_to_end(runs[(name, mode)])
            report(f"tokens_per_s_incl_prefill_{mode}_{name}", e2e, "tok/s", "output tokens / request wall time")
            if name != "today" and e2e and base_e2e:
                report(f"speedup_incl_prefill_{mode}_{name}_over_today", round(e2e / base_e2e, 2), "x")
    for name in ("today", "exact", "int8"):
        report(f"prefill_ms_median_{name}", median([r["prefill_ms"] for r in runs[(name, "constrained")]]), "ms")
    same = sum(a["text"] == b["text"] for a, b in zip(runs[("today", "constrained")], runs[("exact", "constrained")]))
    report("outputs_identical_exact_vs_today", f"{same}/{len(work)}", "", "constrained, greedy")
    same = sum(a["text"] == b["text"] for a, b in zip(runs[("today", "constrained")], runs[("int8", "constrained")]))
    report("outputs_identical_int8_vs_today", f"{same}/{len(work)}", "", "constrained, greedy")
    for suite in ("spider-dev", "text2cypher"):
        rs = [r for r in runs[("int8", "constrained")] if r["suite"] == suite]
        share = sum(r["forced"] for r in rs) / max(1, sum(r["tokens"] for r in rs))
        report(f"fast_forwarded_token_share_{suite}", round(share, 3), "", "of constrained output tokens")

    # -- steering: grammar mask and scope time per token, backtracks per item (int8 path)
    lm = models["int8"]
    guided: list[dict[str, Any]] = []
    scope_ms: list[float] = []
    for suite, bound, messages in work:
        stages = Stages.named("constrained+scope+backtrack")
        guide = compiler._guide(bound, stages, set(), _Judge(bound, compiler.policy, stages))
        if guide.scope is not None:
            timed = TimedScope(guide.scope)
            from dataclasses import replace

            guide = replace(guide, scope=timed)
        r = new_generate(lm, messages, fence(bound.spec.fence), lm.constrain(bound.constraint), args.tokens * 2, guide)
        r["suite"] = suite
        guided.append(r)
        if guide.scope is not None:
            scope_ms += guide.scope.ms
            r["scope_ms_per_token"] = sum(guide.scope.ms) / max(1, r["tokens"])
    plain = runs[("int8", "constrained")]
    report("grammar_mask_ms_per_token_median", median([m for r in plain for m in r["mask_ms"]]), "ms")
    report("scope_check_ms_per_call_median", median(scope_ms), "ms", f"{len(scope_ms)} calls")
    report("scope_check_ms_per_call_p95", round(sorted(scope_ms)[int(0.95 * (len(scope_ms) - 1))], 3) if scope_ms else None, "ms")
    report("mask_plus_scope_ms_per_token_median",
           median([sum(r["mask_ms"]) / max(1, r["tokens"]) + r.get("scope_ms_per_token", 0.0) for r in guided]), "ms")
    for suite in ("spider-dev", "text2cypher"):
        rs = [r for r in guided if r["suite"] == suite]
        report(f"backtracks_per_item_{suite}", round(sum(r["backtracks"] for r in rs) / max(1, len(rs)), 2))
        report(f"vetoed_per_item_{suite}", round(sum(r["vetoed"] for r in rs) / max(1, len(rs)), 2))

    # -- a repair round: the same conversation plus the failing answer and its diagnostics
    repair_with, repair_without, reused = [], [], []
    for suite, bound, messages in work:
        prefix = fence(bound.spec.fence)
        constraint = lm.constrain(bound.constraint)
        first = lm.generate(messages, prefix=prefix, constraint=constraint, max_new_tokens=args.tokens)
        output = first.text.split("```")[0].strip()
        diags = bound.check(output, compiler.policy).diagnostics or []
        follow = repair_messages(messages, spec=bound.spec, title=bound.dialect.title, output=output,
                                 diagnostics=diags, earlier=[])
        for enabled, sink in ((True, repair_with), (False, repair_without)):
            lm.prefixes.enabled = enabled
            g = lm.generate(follow, prefix=prefix, constraint=constraint, max_new_tokens=args.tokens)
            sink.append(g.elapsed_ms)
            if enabled:
                reused.append(g.reused_prompt_tokens / max(1, g.prompt_tokens))
            lm.prefixes.enabled = True
    report("repair_round_ms_median_with_prefix_reuse", median(repair_with), "ms")
    report("repair_round_ms_median_without_prefix_reuse", median(repair_without), "ms")
    report("repair_prompt_share_reused_median", median(reused), "")
    report("peak_rss_mb", peak_rss_mb(), "MB", "all three models in one process")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
