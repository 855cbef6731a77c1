"""llama-server against the in-process backend on the same prompts, side by side in one run (medians).

    python eval/perf_remote.py [--items 10] [--tokens 96] [--benchmarks DIR] [--url URL]

Both decode the default model (in-process: the GGUF dequantised to int8 linear layers; the
server: the GGUF's Q4_1 weights as they are) under the same grammar (the server gets its
GBNF translation), greedy with the same repetition penalty, without nl2q's steering (a server
cannot run it), interleaved item by item so machine noise falls on both. Prompts are the first
``--items`` Spider dev and text2cypher (movies, northwind) items of the harness's seed-0 sample.

Figures: first-token latency (request sent to first output token; locally the prefill),
decode tokens/s after the first token, tokens/s including it, the share of outputs that pass
the target's checks uncut, and the server's aggregate tokens/s with two requests in flight.
Without ``--url`` the script starts the cached llama-server with two slots. Prints each figure,
then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from perf_decode import median, prompts, rss_mb  # noqa: E402


def process_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=10, help="items per suite")
    ap.add_argument("--tokens", type=int, default=96, help="max new tokens per request")
    ap.add_argument("--benchmarks", default=None, help="benchmark directory (default: $NL2Q_BENCHMARKS)")
    ap.add_argument("--url", default=None, help="a running llama-server's /v1 URL (default: start the cached build)")
    args = ap.parse_args(argv)

    from nl2q import Compiler
    from nl2q.models import Sampling, load_model
    from nl2q.models.llama_server import LlamaServer
    from nl2q.models.remote import Endpoint
    from nl2q.models.remote.llamacpp import LlamaCppServer
    from nl2q.policy import Policy
    from nl2q.prompt import extract_output, fence, generation_messages

    figures: dict[str, Any] = {}

    def report(key: str, value: Any, unit: str = "", note: str = "") -> None:
        figures[key] = value
        print(f"{key:52s} {value!s:>10} {unit:6s} {note}", flush=True)

    server = None if args.url else LlamaServer(slots=2, threads=os.cpu_count() or 2).start()
    try:
        defaults = Sampling(repetition_penalty=1.1)
        backends = {"local": load_model(), "server": LlamaCppServer(Endpoint(args.url or server.url, timeout=300),
                                                                     defaults=defaults)}
        compiler = Compiler(backends["local"])
        work = []
        for suite, question, schema in prompts(args.benchmarks, args.items):
            bound = compiler.bind(schema, "sql" if suite == "spider-dev" else "cypher")
            messages = generation_messages(question, spec=bound.spec, title=bound.dialect.title,
                                           schema_text=bound.schema_text(question))
            work.append((suite, bound, messages))

        runs: dict[str, list[dict[str, Any]]] = {"local": [], "server": []}
        t_grammar = time.perf_counter()
        for _, bound, _ in work:
            backends["server"].constrain(bound.constraint)  # the GBNF translation, once per schema
        report("gbnf_translation_ms_per_schema", round((time.perf_counter() - t_grammar) * 1000 / len(work), 1), "ms")

        def one(name: str, bound: Any, messages: Any) -> dict[str, Any]:
            model = backends[name]
            prefix = fence(bound.spec.fence)
            gen = model.generate(messages, prefix=prefix, constraint=model.constrain(bound.constraint),
                                 max_new_tokens=args.tokens)
            text = extract_output(gen.text, prefix=prefix)
            checked = bound.check(text, Policy())
            return {"elapsed_ms": gen.elapsed_ms, "first_ms": gen.prefill_ms, "tokens": gen.output_tokens,
                    "valid": not gen.truncated and not any(d.is_error for d in checked.diagnostics), "text": text}

        for index, (suite, bound, messages) in enumerate(work):
            for name in (("local", "server") if index % 2 == 0 else ("server", "local")):
                runs[name].append({**one(name, bound, messages), "suite": suite})

        for name, rs in runs.items():
            report(f"first_token_ms_{name}", median([r["first_ms"] for r in rs]), "ms", "median")
            decode = [(r["tokens"] - 1) / (r["elapsed_ms"] - r["first_ms"]) * 1000 for r in rs
                      if r["tokens"] > 1 and r["elapsed_ms"] > r["first_ms"]]
            report(f"tokens_per_s_{name}", median(decode), "tok/s", "decode, after the first token")
            report(f"tokens_per_s_incl_first_{name}", median([r["tokens"] / r["elapsed_ms"] * 1000 for r in rs if r["tokens"]]),
                   "tok/s", "output tokens / request wall time")
            report(f"valid_{name}", round(sum(r["valid"] for r in rs) / len(rs), 3), "", f"of {len(rs)} outputs, uncut and checked")
        for key in ("first_token_ms", "tokens_per_s", "tokens_per_s_incl_first"):
            if figures.get(f"{key}_local") and figures.get(f"{key}_server"):
                report(f"{key}_server_over_local", round(figures[f"{key}_server"] / figures[f"{key}_local"], 2), "x")
        same = sum(a["text"] == b["text"] for a, b in zip(runs["local"], runs["server"]))
        report("same_output", f"{same}/{len(work)}", "", "int8 in-process vs Q4_1 on the server: greedy paths differ")

        t0 = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            both = list(pool.map(lambda w: one("server", w[1], w[2]), work))
        wall = time.perf_counter() - t0
        serial_s = sum(r["elapsed_ms"] for r in runs["server"]) / 1000
        report("server_aggregate_tokens_per_s_2_in_flight", round(sum(r["tokens"] for r in both) / wall, 2), "tok/s")
        report("server_aggregate_tokens_per_s_serial", round(sum(r["tokens"] for r in runs["server"]) / serial_s, 2), "tok/s")
        report("rss_in_process_mb", rss_mb(), "MB", "this process: the local model, grammars, engines")
        if server is not None and server.process is not None:
            report("rss_llama_server_mb", process_rss_mb(server.process.pid), "MB", "the server process")
        print(json.dumps(figures))
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
