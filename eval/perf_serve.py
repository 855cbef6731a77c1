"""The search box under load: many users asking at once against one ``nl2q serve`` on 127.0.0.1.

    python eval/perf_serve.py [--graph fixtures/ops_kg] [--users 1,5,20] [--workers 1] [--queue 8] [--url URL]

Each user is its own client (own session cookie) and asks one of the schema's example questions
(from ``/api/info``) at the same moment as the others, then reads the NDJSON stream to its end.
Every request must end as an answer (``result``), an answer that failed (``error`` event) or a
refusal (503 with Retry-After); a stream that ends without either is *lost*, one that outlives
``--timeout`` is *hung*. Printed per user count, side by side in one run: counts by outcome,
p50/p95 latency of answers, p50 time to the first event (queue place or start) and to a refusal,
and the server's own queue counters. Without ``--url`` the script starts ``nl2q serve`` with the
default model (rate limit off). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Outcome:
    kind: str  # answered, failed, refused, rate_limited, http_<status>, lost, hung
    seconds: float
    first_event_s: float | None = None
    retry_after: int | None = None
    valid: bool | None = None
    queued_at: int | None = None  # the first place in line the user was told


def ask(url: str, question: str, source: str, timeout: float) -> Outcome:
    import httpx

    t0 = time.perf_counter()
    first = place = None
    try:
        with httpx.Client(timeout=timeout) as client, \
                client.stream("POST", url + "api/ask", json={"question": question, "source": source}) as r:
            if r.status_code != 200:
                r.read()
                kind = {503: "refused", 429: "rate_limited"}.get(r.status_code, f"http_{r.status_code}")
                ra = r.headers.get("retry-after")
                return Outcome(kind, time.perf_counter() - t0, retry_after=int(ra) if ra and ra.isdigit() else None)
            for line in r.iter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                first = first if first is not None else time.perf_counter() - t0
                if event["event"] == "queued" and place is None:
                    place = event["position"]
                if event["event"] == "result":
                    return Outcome("answered", time.perf_counter() - t0, first, valid=event["result"]["valid"],
                                   queued_at=place)
                if event["event"] == "error":
                    return Outcome("failed", time.perf_counter() - t0, first, queued_at=place)
        return Outcome("lost", time.perf_counter() - t0, first, queued_at=place)
    except httpx.TimeoutException:
        return Outcome("hung", time.perf_counter() - t0, first, queued_at=place)


def load(url: str, users: int, questions: list[str], source: str, timeout: float) -> list[Outcome]:
    """``users`` clients released at the same moment, one question each."""
    start = threading.Barrier(users)

    def user(i: int) -> Outcome:
        start.wait()
        return ask(url, questions[i % len(questions)], source, timeout)

    with ThreadPoolExecutor(users) as pool:
        return list(pool.map(user, range(users)))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def summarise(outcomes: list[Outcome]) -> dict[str, Any]:
    answered = [o.seconds for o in outcomes if o.kind == "answered"]
    refused = [o.seconds for o in outcomes if o.kind == "refused"]
    firsts = [o.first_event_s for o in outcomes if o.first_event_s is not None]
    kinds: dict[str, int] = {}
    for o in outcomes:
        kinds[o.kind] = kinds.get(o.kind, 0) + 1
    return {"requests": len(outcomes), "outcomes": kinds,
            "valid_answers": sum(1 for o in outcomes if o.valid),
            "answer_p50_s": _round(statistics.median(answered) if answered else None),
            "answer_p95_s": _round(percentile(answered, 0.95)),
            "first_event_p50_s": _round(statistics.median(firsts) if firsts else None),
            "refusal_p50_s": _round(statistics.median(refused) if refused else None),
            "retry_after_s": sorted({o.retry_after for o in outcomes if o.retry_after is not None})}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def info(url: str) -> dict[str, Any]:
    import httpx

    return httpx.get(url + "api/info", timeout=10).json()


def health(url: str) -> dict[str, Any]:
    import httpx

    return httpx.get(url + "api/health", timeout=10).json()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", default=str(ROOT / "fixtures" / "ops_kg"))
    ap.add_argument("--users", default="1,5,20", help="comma-separated user counts, run one after another")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--queue", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds before a request counts as hung")
    ap.add_argument("--url", default=None, help="an nl2q serve already running (its settings are its own)")
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.users.split(",") if x.strip()]

    sys.path.insert(0, str(ROOT / "tests"))
    from serve_support import serving

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.url:
            runs = _measure(args.url.rstrip("/") + "/", counts, args.timeout)
        else:
            if not Path(args.graph).exists():
                print(f"perf_serve: no graph at {args.graph}; run `make demo` first", file=sys.stderr)
                return 2
            with serving("--graph", args.graph, "--workers", str(args.workers), "--queue", str(args.queue),
                         "--rate", "0", store=Path(tmp) / "store.sqlite3") as served:
                runs = _measure(served.url, counts, args.timeout)
    print(json.dumps({"workers": args.workers, "queue": args.queue, "runs": runs}))
    return 0


def _measure(url: str, counts: list[int], timeout: float) -> list[dict[str, Any]]:
    about = info(url)
    source = about["sources"][0]
    questions = source["examples"] or ["List every node."]
    print(f"nl2q serve at {url}: model {about['model']}, source {source['label']}, {len(questions)} example questions")
    runs = []
    for users in counts:
        t0 = time.perf_counter()
        outcomes = load(url, users, questions, source["id"], timeout)
        s = summarise(outcomes)
        s.update(users=users, wall_s=round(time.perf_counter() - t0, 2), server=health(url)["model"])
        runs.append(s)
        print(f"{users:>3} users: {s['outcomes']}  answers p50 {s['answer_p50_s']} s, p95 {s['answer_p95_s']} s; "
              f"first event p50 {s['first_event_p50_s']} s; refusals p50 {s['refusal_p50_s']} s "
              f"(Retry-After {s['retry_after_s']}); wall {s['wall_s']} s")
    return runs


if __name__ == "__main__":
    sys.exit(main())
