"""Checking the SPL parser on real data: the Splunk Security Content detections.

    python eval/spl_checker.py [--benchmarks DIR] [--limit N] [--examples 2]
                               [--out eval/results/spl_checker.json] [--no-out]

Every detection under ``splunk/detections`` that is not deprecated (not under ``deprecated/``, no
``status: deprecated``) has its ``search`` expanded with the shipped macros (``splunk/macros``, plus
the CIM macro ``drop_dm_object_name``; unknown ``*_filter`` macros are empty, as customers ship
them) and parsed with ``nl2q.targets.spl.parse``. Then the whole checker (``check_spl``: policy,
names, traps) runs on each, against the content's own environment (``corpus_schema``: the indexes,
sourcetypes, datamodels, lookups and fields the detections name) with the time range waived, as
detections are scheduled searches whose window is the schedule's. Printed: how many parse and how
many the checker accepts, the parse and check times, the failures grouped by kind, command and what
the parser met (with examples), the checker's errors by code, and which commands were parsed
generically. The JSON summary holds counts and short snippets only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nl2q.evaluate.benchmarks import benchmarks_dir  # noqa: E402
from nl2q.policy import Policy  # noqa: E402
from nl2q.resources import data_dir  # noqa: E402
from nl2q.targets.spl.profile import SplProfile  # noqa: E402
from nl2q.profile import load_profile  # noqa: E402
from nl2q.targets.spl.check import check_spl  # noqa: E402
from nl2q.targets.spl.macros import MacroError, Macros  # noqa: E402
from nl2q.targets.spl.parse import SplSyntaxError, parse  # noqa: E402
from nl2q.targets.spl.security_content import Detection, corpus_schema, load_detections, load_macros  # noqa: E402

DEFAULT_OUT = ROOT / "eval" / "results" / "spl_checker.json"
SNIPPET = 70  # characters either side of a failure, in reports


def splunk_dir(benchmarks: str | Path | None = None) -> Path:
    return benchmarks_dir("splunk", benchmarks)


def _found_class(found: str) -> str:
    if not found:
        return "end of search"
    if found[0] == '"':
        return "a quoted string"
    if found[0].isalnum() or found[0] in "_*":
        return "a word"
    return repr(found[:3])


def _snippet(text: str, offset: int) -> str:
    before = " ".join(text[max(0, offset - SNIPPET):offset].split())
    after = " ".join(text[offset:offset + SNIPPET].split())
    return f"...{before} >>>{after}..."


class Groups:
    """Counts per key, with the first few examples of each."""

    def __init__(self, examples: int) -> None:
        self.examples = examples
        self.counts: Counter[str] = Counter()
        self.samples: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def add(self, key: str, example: dict[str, Any]) -> None:
        self.counts[key] += 1
        if len(self.samples[key]) < self.examples:
            self.samples[key].append(example)

    def to_json(self) -> dict[str, Any]:
        return {k: {"count": n, "examples": self.samples[k]} for k, n in self.counts.most_common()}


def check(detections: list[Detection], macros: Macros, examples: int = 2,
          environment: list[Detection] | None = None) -> dict[str, Any]:
    """Expand, parse and check every detection; the summary the report prints. ``environment``: the detections
    whose names make the environment (default: those checked)."""
    failures = Groups(examples)
    rejected = Groups(examples)
    warnings: Counter[str] = Counter()
    parse_ms: list[float] = []
    check_ms: list[float] = []
    accepted = 0
    schema = corpus_schema(environment or detections, macros)
    profile = load_profile(data_dir("dialects") / "splunk.toml", SplProfile)
    policy = Policy(require_time_range=False)
    by_status: dict[str, Counter[str]] = defaultdict(Counter)
    modelled: Counter[str] = Counter()
    generic: Counter[str] = Counter()
    parsed = 0
    parse("index=warm | stats count")  # the parser and its lexers are built on first use, not per search
    for d in detections:
        by_status[d.status]["total"] += 1
        try:
            text = macros.expand(d.search)
        except MacroError as e:
            failures.add(f"macro: {e.message.split(' (')[0]}", {"id": d.id, "message": e.message})
            continue
        t0 = time.perf_counter()
        try:
            tree = parse(text)
        except SplSyntaxError as e:
            parse_ms.append((time.perf_counter() - t0) * 1000)
            key = f"syntax in {e.command or '?'}: unexpected {_found_class(e.found)}"
            failures.add(key, {"id": d.id, "message": e.message[:300], "at": _snippet(text, e.offset)})
            continue
        parse_ms.append((time.perf_counter() - t0) * 1000)
        parsed += 1
        by_status[d.status]["parsed"] += 1
        for command in tree.walk():
            (modelled if command.modelled else generic)[command.name] += 1
        t0 = time.perf_counter()
        found = check_spl(text, schema, profile, policy).diagnostics
        check_ms.append((time.perf_counter() - t0) * 1000)
        errors = [x for x in found if x.is_error]
        warnings.update(x.code for x in found if not x.is_error)
        if errors:
            e = errors[0]
            rejected.add(e.code, {"id": d.id, "message": e.message[:300],
                                  "at": _snippet(text, e.start) if e.start is not None else ""})
        else:
            accepted += 1
    total = len(detections)
    return {
        "total": total,
        "parsed": parsed,
        "parsed_pct": round(100 * parsed / total, 2) if total else None,
        "parse_ms": {"median": round(statistics.median(parse_ms), 3) if parse_ms else None,
                     "p95": round(sorted(parse_ms)[int(0.95 * (len(parse_ms) - 1))], 3) if parse_ms else None,
                     "max": round(max(parse_ms), 3) if parse_ms else None},
        "accepted": accepted,
        "accepted_pct": round(100 * accepted / total, 2) if total else None,
        "check_ms": {"median": round(statistics.median(check_ms), 3) if check_ms else None,
                     "p95": round(sorted(check_ms)[int(0.95 * (len(check_ms) - 1))], 3) if check_ms else None},
        "schema": {"indexes": len(schema.indexes), "sourcetypes": len(schema.sourcetypes),
                   "datamodels": len(schema.datamodels), "lookups": len(schema.lookups), "fields": len(schema.fields)},
        "rejected": rejected.to_json(),
        "warnings": dict(warnings.most_common()),
        "by_status": {k: dict(v) for k, v in sorted(by_status.items())},
        "failures": failures.to_json(),
        "commands_modelled": dict(modelled.most_common()),
        "commands_generic": dict(generic.most_common()),
    }


def print_groups(title: str, groups: dict[str, Any]) -> None:
    if groups:
        print(f"\n{title}")
    for key, group in groups.items():
        print(f"  {group['count']:5}  {key}")
        for ex in group["examples"]:
            print(f"           - {ex['id']}: {ex['message'][:160]}")
            if ex.get("at"):
                print(f"             {ex['at']}")


def print_report(rep: dict[str, Any]) -> None:
    print(f"parsed {rep['parsed']}/{rep['total']} ({rep['parsed_pct']}%) non-deprecated detections")
    ms = rep["parse_ms"]
    print(f"parse time per search: median {ms['median']} ms, p95 {ms['p95']} ms, max {ms['max']} ms")
    for status, c in rep["by_status"].items():
        print(f"  {status or '(no status)'}: {c.get('parsed', 0)}/{c['total']}")
    sc = rep["schema"]
    print(f"accepted by the checker {rep['accepted']}/{rep['total']} ({rep['accepted_pct']}%): time range waived, "
          f"names against the content's own environment ({sc['indexes']} indexes, {sc['sourcetypes']} sourcetypes, "
          f"{sc['datamodels']} datamodels, {sc['lookups']} lookups, {sc['fields']} fields)")
    print(f"check time per search (parse included): median {rep['check_ms']['median']} ms, p95 {rep['check_ms']['p95']} ms")
    print_groups("Rejected by the checker, by first error:", rep["rejected"])
    print("Warnings and notes (not rejections): " + ", ".join(f"{k} {n}" for k, n in rep["warnings"].items()))
    print_groups("Failures, by kind, command and what the parser met:", rep["failures"])
    print("\nCommands parsed generically (name arg*):")
    print("  " + ", ".join(f"{k} {n}" for k, n in rep["commands_generic"].items()))
    print("Commands modelled:")
    print("  " + ", ".join(f"{k} {n}" for k, n in rep["commands_modelled"].items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Parse and check the Splunk Security Content detections with nl2q's SPL "
                                             "parser and checker.")
    ap.add_argument("--benchmarks", default=None, help="benchmark root (default: $NL2Q_BENCHMARKS or ../shared/benchmarks)")
    ap.add_argument("--limit", type=int, default=None, help="first N detections only")
    ap.add_argument("--examples", type=int, default=2, help="examples kept per failure group")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON summary (default: {DEFAULT_OUT.relative_to(ROOT)})")
    ap.add_argument("--no-out", action="store_true", help="write no JSON summary")
    args = ap.parse_args(argv)

    splunk = splunk_dir(args.benchmarks)
    every = load_detections(splunk)
    detections = every[: args.limit]
    macros = load_macros(splunk)
    print(f"{len(detections)} detections, {len(macros)} macros", file=sys.stderr)
    rep = check(detections, macros, args.examples, environment=every)
    print_report(rep)
    if not args.no_out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"meta": {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                                                 "macros": len(macros)}, **rep}, indent=1))
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
