"""Speed and memory figures for nl2q, measured side by side in one run (medians).

    python eval/perf.py [--db fixtures/ops.duckdb] [--tokens 48] [--repeats 5]

Prints each figure with its target, then one JSON line with all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUESTIONS = [
    "Which hosts in datacenter fra1 have more than 16 CPUs?",
    "How many alerts fired per severity?",
    "List the services owned by the payments team.",
    "What is the average cpu_count of hosts per datacenter?",
]
CHECK_QUERIES = [
    "SELECT hostname FROM hosts WHERE cpu_count > 16 AND datacenter = 'fra1'",
    "SELECT h.hostname, COUNT(*) AS n FROM hosts h JOIN alerts a ON a.host_id = h.id "
    "WHERE a.severity = 'critical' GROUP BY h.hostname ORDER BY n DESC LIMIT 5",
    "SELECT s.name FROM services s JOIN teams t ON t.id = s.team_id WHERE t.name = 'payments'",
    "WITH recent AS (SELECT host_id, COUNT(*) AS c FROM changes GROUP BY host_id) "
    "SELECT h.hostname, recent.c FROM hosts h JOIN recent ON recent.host_id = h.id ORDER BY recent.c DESC",
    "SELECT datacenter, AVG(cpu_count) FROM hosts GROUP BY datacenter HAVING COUNT(*) > 3",
]


def median(xs: list[float]) -> float:
    return round(statistics.median(xs), 3)


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def synthetic_schema(n_tables: int):
    from nl2q.targets.sql.schema import from_mapping

    return from_mapping({f"table_{i}": {f"col_{j}_{i % 13}": "INTEGER" for j in range(10)} for i in range(n_tables)})


def rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default=str(ROOT / "fixtures" / "ops.duckdb"))
    ap.add_argument("--tokens", type=int, default=48, help="tokens generated per decode sample")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    db = Path(args.db)
    if not db.is_file():
        print(f"perf: fixture database not found: {db} (run `make demo` or fixtures/ops_inventory.py)", file=sys.stderr)
        return 2

    from nl2q import Compiler, Constraint
    from nl2q.targets.sql.check import check_sql
    from nl2q.models import Sampling, load_model
    from nl2q.models.gguf import default_model_dir
    from nl2q.targets import get_dialect
    from nl2q.targets.sql.execute import DuckDBExecutor, SQLiteExecutor
    from nl2q.targets.sql.grammar import specialise_sql
    from nl2q.prompt import fence, generation_messages

    figures: dict[str, float] = {}

    def report(key: str, value: float, unit: str, target: str = "") -> None:
        figures[key] = value
        print(f"{key:42s} {value:>10} {unit:8s} {target}")

    # -- model load (after the one-time conversion), in fresh processes
    default_model_dir()
    loads = []
    for _ in range(3):
        code = ("import time,os;os.environ['TRANSFORMERS_VERBOSITY']='error';from nl2q.models.local import TransformersModel;"
                "from nl2q.models.gguf import default_model_dir;t=time.perf_counter();m=TransformersModel(default_model_dir());"
                "print((time.perf_counter()-t)*1000)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        loads.append(float(out.stdout.strip().splitlines()[-1]))
    report("model_load_ms (median of 3 processes)", median(loads), "ms", "target < 5000")
    model = load_model()
    report("rss_after_model_load_mb", rss_mb(), "MB")

    # -- decoding speed: unconstrained vs constrained, interleaved, same prompts
    compiler = Compiler(model)
    bound = compiler.bind(str(db))
    constraint = model.constrain(bound.constraint)
    prompts = [generation_messages(q, spec=bound.spec, title=bound.dialect.title, schema_text=bound.schema_text(q))
               for q in QUESTIONS]
    for m in prompts[:1]:  # warm-up
        model.generate(m, prefix=fence("sql"), max_new_tokens=8)
        model.generate(m, prefix=fence("sql"), constraint=constraint, max_new_tokens=8)
    per_token = {"raw": [], "constrained": []}
    masks: list[float] = []
    sampling = Sampling(repetition_penalty=model.defaults.repetition_penalty)
    for _ in range(max(1, args.repeats // 2)):
        for m in prompts:
            for mode in ("raw", "constrained"):
                g = model.generate(m, prefix=fence("sql"), constraint=constraint if mode == "constrained" else None,
                                   max_new_tokens=args.tokens, sampling=sampling)
                if g.ms_per_token is not None:
                    per_token[mode].append(g.ms_per_token)
                masks += g.mask_ms
    raw_ms, con_ms = median(per_token["raw"]), median(per_token["constrained"])
    report("decode_ms_per_token_unconstrained (after prefill)", raw_ms, "ms")
    report("decode_ms_per_token_constrained (after prefill)", con_ms, "ms")
    report("tokens_per_s_unconstrained", round(1000 / raw_ms, 2), "tok/s")
    report("tokens_per_s_constrained", round(1000 / con_ms, 2), "tok/s")
    report("constrained_over_unconstrained_speed", round(raw_ms / con_ms, 3), "ratio", "target >= 0.95")
    report("mask_ms_median", median(masks), "ms")

    # -- grammar specialise + compile: cold (new schema) and cached (same schema again)
    duck = get_dialect("duckdb")
    for n in (10, 100, 1000):
        cold = []
        for r in range(args.repeats):
            schema = synthetic_schema(n)
            schema.tables[f"fresh_{r}_{time.perf_counter_ns()}"] = schema.tables.pop("table_0")  # a new grammar each time
            t0 = time.perf_counter()
            model.constrain(Constraint("lark", specialise_sql(schema, duck)))
            cold.append((time.perf_counter() - t0) * 1000)
        report(f"grammar_compile_cold_ms_{n}_tables", median(cold), "ms", "target < 100" if n == 100 else "")
        mapping = {f"table_{i}": {f"col_{j}": "INTEGER" for j in range(10)} for i in range(n)}
        compiler.bind(mapping)
        model.constrain(compiler.bind(mapping).constraint)
        cached = timed(lambda: model.constrain(compiler.bind(mapping).constraint), args.repeats * 4)
        report(f"grammar_compile_cached_ms_{n}_tables", median(cached), "ms", "target < 1" if n == 100 else "")

    # -- parse + check
    checks = [t for q in CHECK_QUERIES for t in timed(lambda q=q: check_sql(q, bound.schema, bound.dialect), args.repeats * 4)]
    report("parse_and_check_ms_median", median(checks), "ms", "target < 5")

    # -- dry runs: DuckDB and SQLite on the same fixture data
    duck_ex = DuckDBExecutor(db)
    if not all(duck_ex.run(q).ok for q in CHECK_QUERIES):
        raise SystemExit("perf: a benchmark query failed on DuckDB")
    runs = [t for q in CHECK_QUERIES for t in timed(lambda q=q: duck_ex.run(q), args.repeats * 2)]
    report("dry_run_ms_median_duckdb", median(runs), "ms")
    with tempfile.TemporaryDirectory() as tmp:
        import importlib.util

        spec = importlib.util.spec_from_file_location("ops_inventory", ROOT / "fixtures" / "ops_inventory.py")
        ops = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ops)  # type: ignore[union-attr]
        sqlite_path = ops.write_sqlite(Path(tmp) / "ops.sqlite")
        lite = SQLiteExecutor(sqlite_path)
        if not all(lite.run(q).ok for q in CHECK_QUERIES):
            raise SystemExit("perf: a benchmark query failed on SQLite")
        runs = [t for q in CHECK_QUERIES for t in timed(lambda q=q: lite.run(q), args.repeats * 2)]
        report("dry_run_ms_median_sqlite", median(runs), "ms")
        lite.close()

    # -- a whole compile, end to end
    totals = []
    for q in QUESTIONS[:2]:
        r = compiler.compile(q, schema=str(db))
        totals.append(r.timings["total_ms"])
    report("compile_total_ms_median (incl. repairs)", median(totals), "ms")
    report("peak_rss_mb", rss_mb(), "MB")
    print(json.dumps({"model": model.name, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
