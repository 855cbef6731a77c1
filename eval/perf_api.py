"""API target speed figures, measured side by side in one run (medians).

    python eval/perf_api.py [--repeats 5] [--json OUT]

Spec to constraint for generated OpenAPI documents of 10, 100 and 1,000 operations: binding (reading the
document into operations), the constraint of the whole spec and of one question's cut (the operations most
like it), and the default model's compile of each, cold and cached. Then checking a call list (JSON-Schema
checks with diagnostics plus openapi-core's request validation), and the dry runs on the fixture ops API
(``fixtures/ops_api.py``, started here on 127.0.0.1): recorded through an httpx MockTransport, and live (a real
read-only request, its response validated). Prints each figure, then one JSON line; ``--json OUT`` also writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from timing import Figures, median, ms  # noqa: E402
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

NOUNS = ["host", "service", "alert", "incident", "deployment", "silence", "team", "disk", "volume", "certificate",
         "route", "queue", "backup", "quota", "node", "cluster", "secret", "job", "pipeline", "runner"]


def spec(n: int) -> dict[str, Any]:
    """An OpenAPI 3.1 document of ``n`` operations shaped like an ops API's: lists with enum, integer and string
    filters, reads by name, and creates with a JSON body (a shared component schema each)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    i = 0
    group = 0
    while i < n:
        noun = f"{NOUNS[group % len(NOUNS)]}{group // len(NOUNS) or ''}"
        schemas[noun] = {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "description": f"The {noun}'s name"},
            "size": {"type": "integer", "minimum": 1, "maximum": 100}, "labels": {"type": "object",
                                                                              "additionalProperties": {"type": "string"}}}}
        ops = [("get", f"/{noun}s", f"list_{noun}s", [
                    {"name": "state", "in": "query", "schema": {"enum": ["ok", "degraded", "down"]},
                     "description": f"Only {noun}s in this state"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}}], None),
               ("get", f"/{noun}s/{{name}}", f"get_{noun}", [
                   {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}], None),
               ("post", f"/{noun}s", f"create_{noun}", [], {"$ref": f"#/components/schemas/{noun}"})]
        for method, path, op_id, params, body in ops:
            if i >= n:
                break
            op: dict[str, Any] = {"operationId": op_id, "summary": f"{op_id.replace('_', ' ')}", "parameters": params,
                                  "responses": {"200": {"description": "ok"}}}
            if body:
                op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
            paths.setdefault(path, {})[method] = op
            i += 1
        group += 1
    return {"openapi": "3.1.0", "info": {"title": f"{n} operations", "version": "1"},
            "servers": [{"url": "http://ops.test"}], "paths": paths, "components": {"schemas": schemas}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    figures = Figures(44)
    report = figures.report

    from nl2q.policy import Policy
    from nl2q.targets import get_target

    target = get_target("api")
    question = "list the backups that are degraded"
    try:
        from nl2q.models import load_model

        model = load_model()
        model.constrain(target.bind(spec(3)).constraint)  # the tokenizer's one-time set-up
    except Exception as e:  # the default model is not installed
        model = None
        print(f"(tokenizer compile skipped: {e})")
    for n in (10, 100, 1000):
        document = spec(n)
        bound = target.bind(document)
        report(f"ops{n}_bind_ms_median", median([ms(lambda: target.bind(document)) for _ in range(args.repeats)]),
               "ms", "document read into operations")
        cut = bound.for_question(question)
        report(f"ops{n}_cut_ms", round(ms(lambda: target.bind(document).for_question(question).constraint), 3), "ms",
               f"rank {n} operations, build the constraint of the {len(cut.ops)} kept")
        from nl2q.targets.api.schema import relevant

        report(f"ops{n}_rank_ms_median", median([ms(lambda: relevant(bound.api, question, 24))
                                                 for _ in range(args.repeats)]), "ms",
               "rank the operations for one more question (the spec's word counts kept)")
        report(f"ops{n}_full_constraint_ms", round(ms(lambda: target.bind(document).constraint), 3), "ms",
               f"the constraint of all {n} operations")
        report(f"ops{n}_full_constraint_kb", round(len(bound.constraint.text) / 1024, 1), "KB", "")
        if model is not None:
            for label, constraint in (("cut", cut.constraint), ("full", bound.constraint)):
                report(f"ops{n}_{label}_compile_cold_ms", round(ms(lambda: model.constrain(constraint)), 3), "ms",
                       f"{model.name}: first compile")
                report(f"ops{n}_{label}_compile_cached_ms_median",
                       median([ms(lambda: model.constrain(constraint)) for _ in range(args.repeats)]), "ms", "cached")

    big = target.bind(spec(100))
    calls = json.dumps([{"operation": "list_backups", "parameters": {"state": "degraded", "limit": 20}},
                        {"operation": "get_host", "parameters": {"name": "web-1"}}])
    big.check(calls, Policy())
    report("check_ms_median", median([ms(lambda: _fresh_check(big, calls)) for _ in range(args.repeats)]), "ms",
           "two calls on the 100-operation spec: schemas, openapi-core, policy")
    report("record_dry_run_ms_median", median([ms(lambda: big.dry_run(calls, Policy(), False))
                                                for _ in range(args.repeats)]), "ms", "httpx MockTransport: validated, "
                                                                                       "recorded, not sent")
    from api_server import start_ops_api, stop

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_ops_api(Path(tmp))
        try:
            live = target.bind({"api": url + "/openapi.json", "live": True})
            one = json.dumps([{"operation": "listHosts", "parameters": {"datacenter": "fra1", "limit": 20}}])
            live.check(one, Policy())
            report("live_dry_run_ms_median", median([ms(lambda: live.dry_run(one, Policy(), False))
                                                     for _ in range(args.repeats)]), "ms",
                   "a real GET on the fixture ops API, its response validated against the spec")
        finally:
            stop(proc)
    figures.finish(args.json)
    return 0


def _fresh_check(bound: Any, text: str) -> Any:
    """A check that does not hit the bound's memo of checked texts: the policy-free part and the policy's."""
    from nl2q.policy import Policy
    from nl2q.targets.api.check import check_calls, policy_diagnostics

    checked = check_calls(text, bound.api, bound.dialect, bound._validators)
    return policy_diagnostics(checked, bound.api, bound.dialect, Policy())


if __name__ == "__main__":
    sys.exit(main())
