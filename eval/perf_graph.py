"""Graph (Cypher) speed figures, measured side by side in one run (medians).

    python eval/perf_graph.py [--scale-1m] [--repeats 5]

Introspection (Ladybug, Bolt/ArcadeDB), grammar compile for the 16 text2cypher schemas
(cold, cached), check and dry-run medians, and with --scale-1m the ops graph's load time
at ~1M edges. Prints each figure, then one JSON line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from timing import median, ms  # noqa: E402
QUERIES = [
    "MATCH (s:Service)-[:RUNS_ON]->(c:Container)-[:RUNS_ON]->(h:Host) RETURN s.name, h.hostname LIMIT 20",
    "MATCH (i:Incident)-[:CAUSED_BY]->(d:Deployment)-[:DEPLOYS]->(s:Service) RETURN i.title, d.version, s.name",
    "MATCH (a:Service)-[:DEPENDS_ON*1..3]->(b:Service) RETURN a.name, count(DISTINCT b) AS deps ORDER BY deps DESC LIMIT 5",
    "MATCH (t:Team)-[:OWNS]->(s:Service) WHERE t.name = 'payments' RETURN s.name",
    "MATCH (al:Alert)-[:FIRED_ON]->(h:Host) WHERE al.severity = 'critical' RETURN h.hostname, count(*) AS n ORDER BY n DESC",
]


def load_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "fixtures" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scale-1m", action="store_true", help="also time loading the ops graph at ~1M edges")
    args = ap.parse_args(argv)

    from nl2q import Constraint
    from nl2q.targets.cypher.check import check_cypher
    from nl2q.models import load_model
    from nl2q.targets import get_dialect
    from nl2q.targets.cypher.execute import BoltExecutor
    from nl2q.targets.cypher.ladybug import LadybugExecutor
    from nl2q.targets.cypher.grammar import specialise_cypher
    from nl2q.targets.cypher.introspect import from_bolt, from_ladybug

    figures: dict[str, float] = {}

    def report(key: str, value: float, unit: str) -> None:
        figures[key] = value
        print(f"{key:48s} {value:>10} {unit}")

    kg = load_module("ops_kg")
    neo4j = get_dialect("neo4j")
    with tempfile.TemporaryDirectory() as tmp:
        db = kg.write_ladybug(Path(tmp) / "ops_kg")
        report("ladybug_introspection_ms", median([ms(lambda: from_ladybug(db)) for _ in range(args.repeats)]), "ms")
        schema = from_ladybug(db)
        checks = [ms(lambda q=q: check_cypher(q, schema, neo4j)) for q in QUERIES for _ in range(args.repeats)]
        report("cypher_parse_and_check_ms_median", median(checks), "ms")
        lb = LadybugExecutor(db)
        assert all(lb.run(q).ok for q in QUERIES), "a benchmark query failed on Ladybug"
        report("dry_run_ms_median_ladybug",
               median([lb.run(q).elapsed_ms for q in QUERIES for _ in range(args.repeats)]), "ms")
        lb.close()

        from graph_server import start_arcadedb

        server = start_arcadedb(Path(tmp) / "arcade")
        try:
            with server.driver() as driver:
                kg.load_bolt(driver)
                report("bolt_introspection_ms", median([ms(lambda: from_bolt(driver)) for _ in range(args.repeats)]), "ms")
            bolt = BoltExecutor(server.uri, auth=server.auth)
            assert all(bolt.run(q).ok for q in QUERIES), "a benchmark query failed over Bolt"
            report("dry_run_ms_median_bolt", median([bolt.run(q).elapsed_ms for q in QUERIES for _ in range(args.repeats)]), "ms")
            bolt.close()
        finally:
            server.stop()

        if args.scale_1m:
            scale = 2450  # ~1.0M relationships
            t0 = time.perf_counter()
            kg.write_ladybug(Path(tmp) / "kg_1m", scale=scale)
            report("ops_kg_load_ladybug_1m_edges_s", round(time.perf_counter() - t0, 2), "s")

    try:
        from eval.text2cypher import load_schemas

        schemas = load_schemas()
    except Exception as e:  # benchmark data absent
        print(f"(text2cypher schemas unavailable: {e})")
        schemas = {}
    if schemas:
        model = load_model()
        cold, cached = [], []
        for name, s in schemas.items():
            grammar = specialise_cypher(s, neo4j)
            cold.append(ms(lambda g=grammar: model.constrain(Constraint("lark", g))))
            cached.append(median([ms(lambda: model.constrain(Constraint("lark", specialise_cypher(s, neo4j)))) for _ in range(args.repeats)]))
        report(f"cypher_grammar_compile_cold_ms_median ({len(schemas)} schemas)", median(cold), "ms")
        report("cypher_grammar_compile_cold_ms_max", round(max(cold), 3), "ms")
        report("cypher_grammar_specialise_and_cached_compile_ms_median", median(cached), "ms")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
