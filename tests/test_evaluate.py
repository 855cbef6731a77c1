"""The evaluation harness on a tiny Spider-format set (scripted model: plumbing only), plus one real-model run."""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nl2q import ScriptedModel
from nl2q.models import Generation
from nl2q.errors import Nl2qError
from nl2q.evaluate import (
    RESULTS_FILE, SUITES, Execution, Item, Suite, aggregate, evaluate, format_table, get_suite, results_match,
)
from nl2q.targets.sql.metrics import exact_set_match, spider_hardness, sql_hardness, sql_orders

ROOT = Path(__file__).resolve().parent.parent

QUESTIONS = {
    "How many singers are there?": "SELECT count(*) FROM singer",
    "List the names of the singers from the youngest to the oldest.": "SELECT name FROM singer ORDER BY age",
    "What are the names of the singers from France?": "SELECT name FROM singer WHERE country = 'France'",
}
FENCE = "\n```"


def _tiny_benchmarks(root: Path) -> Path:
    """spider/{dev.json,tables.json,database/shop/shop.sqlite} in Spider's format, three questions."""
    db_dir = root / "spider" / "database" / "shop"
    db_dir.mkdir(parents=True)
    con = sqlite3.connect(db_dir / "shop.sqlite")
    con.execute("CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER, country TEXT)")
    con.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", [
        (1, "Joe", 52, "France"), (2, "Ana", 29, "Spain"), (3, "Li", 41, "France"), (4, "Sam", 35, "Ireland")])
    con.commit()
    con.close()
    dev = [{"db_id": "shop", "question": q, "query": sql} for q, sql in QUESTIONS.items()]
    (root / "spider" / "dev.json").write_text(json.dumps(dev))
    tables = [{
        "db_id": "shop", "table_names_original": ["singer"], "table_names": ["singer"],
        "column_names_original": [[-1, "*"], [0, "singer_id"], [0, "name"], [0, "age"], [0, "country"]],
        "column_names": [[-1, "*"], [0, "singer id"], [0, "name"], [0, "age"], [0, "country"]],
        "column_types": ["text", "number", "text", "number", "text"], "primary_keys": [1], "foreign_keys": [],
    }]
    (root / "spider" / "tables.json").write_text(json.dumps(tables))
    return root


class KeyedModel(ScriptedModel):
    """Canned outputs per question (items run in sampled order): each question's list is used in turn."""

    def __init__(self, outputs: dict[str, list[str]]) -> None:
        super().__init__([])
        self.by_question = {q: list(v) for q, v in outputs.items()}

    def generate(self, messages, *, prefix="", constraint=None, max_new_tokens=256, sampling=None, guide=None):
        question = next(m["content"] for m in messages if m["role"] == "user" and m["content"] in self.by_question)
        self.outputs = [self.by_question[question].pop(0)]
        return super().generate(messages, prefix=prefix, constraint=constraint, max_new_tokens=max_new_tokens,
                                sampling=sampling, guide=guide)


@pytest.fixture()
def bench(tmp_path) -> Path:
    return _tiny_benchmarks(tmp_path / "bench")


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / RESULTS_FILE).read_text().splitlines()]


def _by(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["question"], r["config"]): r for r in rows}


COUNT, ORDERED, FRANCE = QUESTIONS


def test_metrics_execution_order_exact_and_repair(bench, tmp_path):
    model = KeyedModel({
        COUNT: ["SELECT count(*) FROM singer" + FENCE,                      # raw: right
                "SELECT count(*) FROM singer WHERE age > 40" + FENCE],      # repair: valid but wrong
        ORDERED: ["SELECT name FROM singer ORDER BY age DESC" + FENCE,      # raw: right rows, wrong order
                  "SELECT nme FROM singer ORDER BY age" + FENCE,            # repair round 1: unknown column
                  "SELECT name FROM singer ORDER BY age" + FENCE],          # repair round 2: right
        FRANCE: ["SELECT name FROM singer WHERE country = 'France' ORDER BY name" + FENCE,  # gold unordered: right
                 "SELECT T1.name FROM singer AS T1 WHERE T1.country = 'Spain'" + FENCE],    # exact-set yes, EX no
    })
    out = tmp_path / "run"
    summary = evaluate("spider-dev", model=model, configs=("raw", "repair"), out=out, benchmarks=bench, progress=False)
    rows = _by(_rows(out))
    assert len(rows) == 6

    r = rows[(COUNT, "raw")]["metrics"]
    assert r["valid"] and r["exec_match"] and r["right"] and r["exact_set"] and r["rounds"] == 1
    r = rows[(COUNT, "repair")]["metrics"]
    assert r["valid"] and r["exec_match"] is False and r["exact_set"] is False

    r = rows[(ORDERED, "raw")]["metrics"]
    assert r["ordered"] and r["valid"] and r["exec_match"] is False and r["exact_set"] is False
    row = rows[(ORDERED, "repair")]
    r = row["metrics"]
    assert r["rounds"] == 2 and not r["first_valid"] and r["valid"] and r["exec_match"]
    assert r["invalid_to_valid"] and r["wrong_to_right"] and not r["right_to_wrong"]
    assert "schema.unknown_column" in [d["code"] for d in row["rounds"][0]["diagnostics"]]
    assert row["rounds"][1]["kind"] == "repair" and row["rounds"][1]["prompt"][-1]["role"] == "user"
    assert row["rounds"][0]["raw_output"].startswith("SELECT nme")

    r = rows[(FRANCE, "raw")]["metrics"]
    assert not r["ordered"] and r["exec_match"] and r["exact_set"] is False
    r = rows[(FRANCE, "repair")]["metrics"]
    assert r["valid"] and r["exec_match"] is False and r["exact_set"] is True

    raw, rep = summary["results"]["raw"], summary["results"]["repair"]
    assert raw["n"] == rep["n"] == 3
    assert raw["valid"] == 1.0 and raw["exec_acc"] == pytest.approx(2 / 3, abs=1e-3) and raw["exact_set"] == pytest.approx(1 / 3, abs=1e-3)
    assert rep["exec_acc"] == pytest.approx(1 / 3, abs=1e-3) and rep["invalid_to_valid"] == 1 and rep["wrong_to_right"] == 1
    assert rep["rounds_mean"] == pytest.approx(4 / 3, abs=1e-3)
    assert summary["execution"]["mode"] == "sqlite" and summary["gold_in_prompts"] is False
    assert set(summary["breakdown"]) == {"difficulty", "database"}
    assert summary["breakdown"]["database"]["shop"]["raw"]["n"] == 3

    # The harness never shows gold queries to the model.
    for messages in model.calls:
        text = json.dumps(messages)
        assert "ORDER BY age" not in text.replace("SELECT nme FROM singer ORDER BY age", "")
        assert "country = 'France'" not in text


def test_repair_replays_the_constrained_first_round(bench, tmp_path):
    """constrained and repair send the same first request: it is decoded once, and timed as if decoded twice."""
    outputs = {COUNT: [Generation("SELECT count(*) FROM singer" + FENCE, "eos", 10, 5, 400.0, True)],
               ORDERED: [Generation("SELECT nme FROM singer" + FENCE, "eos", 10, 5, 300.0, True),
                         "SELECT name FROM singer ORDER BY age" + FENCE],
               FRANCE: ["SELECT name FROM singer WHERE country = 'France'" + FENCE]}
    model = KeyedModel(outputs)
    out = tmp_path / "run"
    evaluate("spider-dev", model=model, configs=("constrained", "repair"), out=out, benchmarks=bench, progress=False)
    rows = _by(_rows(out))
    assert len(model.calls) == 4  # COUNT and FRANCE once each; ORDERED's first round once, then its repair
    assert rows[(COUNT, "repair")]["rounds"][0]["raw_output"] == rows[(COUNT, "constrained")]["rounds"][0]["raw_output"]
    assert rows[(COUNT, "repair")]["timings"]["replayed_generations"] == 1
    assert rows[(COUNT, "repair")]["metrics"]["latency_ms"] >= 400.0
    assert "replayed_generations" not in rows[(COUNT, "constrained")]["timings"]
    rep = rows[(ORDERED, "repair")]
    assert rep["metrics"]["rounds"] == 2 and rep["metrics"]["valid"] and rep["metrics"]["latency_ms"] >= 300.0


def test_outputs_written(bench, tmp_path):
    outputs = {q: [sql + FENCE] * 2 for q, sql in QUESTIONS.items()}
    out = tmp_path / "run"
    summary = evaluate("spider-dev", model=KeyedModel(outputs), configs="raw,constrained", out=out, benchmarks=bench,
                       progress=False)
    for name in ("results.jsonl", "summary.json", "report.md", "metrics.png", "latency.png", "by_difficulty.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["results"]["constrained"]["exec_acc"] == 1.0 and on_disk["complete"]
    assert on_disk["charts"] == summary["charts"]
    report = (out / "report.md").read_text()
    assert "| `raw` |" in report and "| `constrained` |" in report and "![metrics](metrics.png)" in report
    table = format_table(summary)
    assert "constrained" in table and "100.0%" in table
    rows = _rows(out)
    assert all(r["rounds"][0]["constrained"] == (r["config"] == "constrained") for r in rows)


def test_resume_skips_finished_rows_and_never_rewrites_them(bench, tmp_path):
    outputs = {q: [sql + FENCE] * 3 for q, sql in QUESTIONS.items()}
    out = tmp_path / "run"
    m1 = KeyedModel(outputs)
    evaluate("spider-dev", model=m1, configs=("raw",), out=out, benchmarks=bench, limit=2, progress=False)
    first = (out / RESULTS_FILE).read_bytes()
    assert len(m1.calls) == 2

    m2 = KeyedModel(outputs)
    s = evaluate("spider-dev", model=m2, configs=("raw",), out=out, benchmarks=bench, limit=3, progress=False)
    assert len(m2.calls) == 1  # only the third item ran
    after = (out / RESULTS_FILE).read_bytes()
    assert after.startswith(first) and len(after.splitlines()) == 3
    assert s["timing"]["resumed_pairs"] == 2 and s["timing"]["pairs_run"] == 1

    assert [r["pairs_run"] for r in s["timing"]["runs"]] == [2, 1] and s["timing"]["pairs_run_all_runs"] == 3

    m3 = KeyedModel(outputs)
    s = evaluate("spider-dev", model=m3, configs=("raw",), out=out, benchmarks=bench, limit=3, progress=False)
    assert m3.calls == [] and (out / RESULTS_FILE).read_bytes() == after
    assert [r["pairs_run"] for r in s["timing"]["runs"]] == [2, 1]  # re-summarising keeps the runs' timing
    assert "2 run(s), 3 pairs" in (out / "report.md").read_text()


def test_killed_run_partial_line_is_resumed(bench, tmp_path):
    outputs = {q: [sql + FENCE] * 3 for q, sql in QUESTIONS.items()}
    out = tmp_path / "run"
    evaluate("spider-dev", model=KeyedModel(outputs), configs=("raw",), out=out, benchmarks=bench, progress=False)
    lines = (out / RESULTS_FILE).read_bytes().splitlines(keepends=True)
    # A run killed while writing its third row: two whole lines and half of the third.
    (out / RESULTS_FILE).write_bytes(b"".join(lines[:2]) + lines[2][: len(lines[2]) // 2])
    model = KeyedModel(outputs)
    s = evaluate("spider-dev", model=model, configs=("raw",), out=out, benchmarks=bench, progress=False)
    assert len(model.calls) == 1 and s["timing"]["dropped_partial_lines"] == 1
    new = (out / RESULTS_FILE).read_bytes()
    assert new.startswith(b"".join(lines[:2]))
    rows = _rows(out)
    assert len(rows) == 3 and len({r["item_id"] for r in rows}) == 3
    assert s["complete"] and s["results"]["raw"]["exec_acc"] == 1.0


def test_other_model_in_same_out_dir_is_refused(bench, tmp_path):
    outputs = {q: [sql + FENCE] for q, sql in QUESTIONS.items()}
    out = tmp_path / "run"
    evaluate("spider-dev", model=KeyedModel(outputs), configs=("raw",), out=out, benchmarks=bench, limit=1,
             progress=False)
    other = KeyedModel(outputs)
    other.name = "another-model"
    with pytest.raises(Nl2qError, match="another --out"):
        evaluate("spider-dev", model=other, configs=("raw",), out=out, benchmarks=bench, limit=1, progress=False)


def test_sampling_is_deterministic_and_recorded(bench, tmp_path):
    suite = get_suite("spider-dev", bench)
    a = [i.id for i in suite.items(seed=7, limit=3)]
    assert a == [i.id for i in suite.items(seed=7, limit=3)]
    assert [i.id for i in suite.items(seed=7, limit=2)] == a[:2]  # a larger limit extends a smaller one
    assert sorted(a) == ["dev:0", "dev:1", "dev:2"]
    assert {tuple(i.id for i in suite.items(seed=s)) for s in range(10)} != {tuple(a)}  # the seed matters
    outputs = {q: [sql + FENCE] for q, sql in QUESTIONS.items()}
    s = evaluate("spider-dev", model=KeyedModel(outputs), configs=("raw",), out=tmp_path / "r", benchmarks=bench,
                 seed=7, limit=2, progress=False)
    assert s["seed"] == 7 and s["item_ids"] == a[:2] and s["few_shot"]["k"] == 0
    assert [r["item_id"] for r in _rows(tmp_path / "r")] == a[:2]
    difficulty = {i.question: i.groups["difficulty"] for i in suite.all_items()}
    assert difficulty[COUNT] == "easy" and difficulty[FRANCE] == "easy"


def test_few_shot_examples_come_from_outside_the_sample_and_other_databases(bench, tmp_path):
    dev_path = bench / "spider" / "dev.json"
    dev = json.loads(dev_path.read_text())
    zoo = [("How many animals are there?", "SELECT count(*) FROM animal"),
           ("Name every keeper.", "SELECT name FROM keeper"),
           ("Which animals are older than 3?", "SELECT name FROM animal WHERE age > 3")]
    dev += [{"db_id": "zoo", "question": q, "query": sql} for q, sql in zoo]
    dev_path.write_text(json.dumps(dev))

    model = KeyedModel({q: [sql + FENCE] for q, sql in QUESTIONS.items()})
    out = tmp_path / "run"
    s = evaluate("spider-dev:shop", model=model, configs=("constrained",), out=out, benchmarks=bench, few_shot=2,
                 progress=False)
    rows = _rows(out)
    assert len(model.calls) == 3 and all(r["error"] is None and r["valid"] for r in rows)
    zoo_ids = {f"dev:{i}" for i in range(3, 6)}
    assert all(len(r["few_shot"]) == 2 and set(r["few_shot"]) <= zoo_ids for r in rows)
    assert s["few_shot"]["k"] == 2 and "not in the sample" in s["few_shot"]["split"]
    by_q = {q: sql for q, sql in zoo}
    for messages, row in zip(model.calls, rows):
        shown = [m["content"] for m in messages[1:-1]]
        assert len(shown) == 4 and shown[0] in by_q and by_q[shown[0]] in shown[1]  # question, then its gold
        assert row["gold"] not in json.dumps(messages)  # never the evaluated item's own gold
    assert "few-shot: 2 examples per item" in (out / "report.md").read_text()

    again = KeyedModel({q: [sql + FENCE] for q, sql in QUESTIONS.items()})
    evaluate("spider-dev:shop", model=again, configs=("constrained",), out=tmp_path / "run2", benchmarks=bench,
             few_shot=2, progress=False)
    assert [r["few_shot"] for r in _rows(tmp_path / "run2")] == [r["few_shot"] for r in rows]  # deterministic
    with pytest.raises(Nl2qError, match="few-shot"):
        evaluate("spider-dev:shop", model=again, configs=("constrained",), out=out, benchmarks=bench, progress=False)
    with pytest.raises(Nl2qError, match="only 3 few-shot examples"):
        evaluate("spider-dev:shop", model=again, configs=("constrained",), out=tmp_path / "run3", benchmarks=bench,
                 few_shot=4, progress=False)


def test_execution_accuracy_without_empty_gold_results():
    def row(match: bool, gold_rows: int) -> dict:
        return {"gold_execution": {"ok": True, "row_count": gold_rows},
                "metrics": {"valid": True, "exec_match": match, "right": match, "rounds": 1, "latency_ms": 1.0,
                            "prompt_tokens": 1, "output_tokens": 1}}

    agg = aggregate([row(True, 0), row(True, 0), row(True, 3), row(False, 2)])
    assert agg["exec_acc"] == 0.75 and agg["exec_acc_gold_rows"] == 0.5 and agg["n_gold_rows"] == 2


def test_result_comparison_and_order_sensitivity():
    g = Execution(True, "sqlite", ["a"], [(1,), (2,), (2,)])
    assert results_match(g, Execution(True, "sqlite", ["x"], [(2,), (1,), (2,)]), ordered=False)
    assert not results_match(g, Execution(True, "sqlite", ["x"], [(2,), (1,), (2,)]), ordered=True)
    assert not results_match(g, Execution(True, "sqlite", ["a"], [(1,), (2,)]), ordered=False)  # multiset, not set
    assert results_match(Execution(True, "s", [], [(1.0000001,)]), Execution(True, "s", [], [(1,)]), ordered=True)
    assert not results_match(g, Execution(False, "sqlite", error="boom"), ordered=False)
    assert not results_match(g, Execution(True, "sqlite", ["a", "b"], [(1, 1), (2, 2), (2, 2)]), ordered=False)
    assert sql_orders("SELECT a FROM t ORDER BY a") and not sql_orders("SELECT a FROM t WHERE b IN (SELECT b FROM u ORDER BY b LIMIT 1)")


def test_exact_set_match_normalises():
    cols = {"singer": {"singer_id", "name", "age", "country"}, "concert": {"concert_id", "singer_id", "year"}}
    gold = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id WHERE T2.year = 2014"
    assert exact_set_match(gold, "select singer.NAME from concert join singer on singer.singer_id = concert.singer_id "
                                 "where year = 1999", cols)
    assert not exact_set_match(gold, "SELECT T1.age FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id "
                                     "WHERE T2.year = 2014", cols)
    assert exact_set_match("SELECT a, b FROM t WHERE x = 1 AND y = 2", "SELECT b, a FROM t WHERE y = 5 AND x = 3")
    assert not exact_set_match("SELECT a FROM t ORDER BY a", "SELECT a FROM t ORDER BY a DESC")
    assert not exact_set_match("SELECT a FROM t UNION SELECT a FROM u", "SELECT a FROM t EXCEPT SELECT a FROM u")
    assert not exact_set_match("SELECT a FROM t", "SELEC a FRM t")


def test_hardness_official_rules():
    easy = {"from": {"table_units": [["table_unit", 1]], "conds": []}, "select": [False, [[3, [0, [0, 0, False], None]]]],
            "where": [], "groupBy": [], "having": [], "orderBy": [], "limit": None,
            "intersect": None, "union": None, "except": None}
    assert spider_hardness(easy) == "easy"
    nested = dict(easy, where=[[False, 8, [0, [0, 1, False], None], dict(easy), None]])
    assert spider_hardness(nested) == "hard"
    assert sql_hardness("SELECT count(*) FROM singer") == "easy"
    assert sql_hardness("SELECT a FROM t WHERE b IN (SELECT b FROM u) AND c > 1 GROUP BY a ORDER BY count(*) LIMIT 1") == "extra"


def test_cli_parser_and_errors(bench, tmp_path, capsys, monkeypatch):
    from nl2q.evaluate import cli as eval_cli

    ap = argparse.ArgumentParser(prog="nl2q")
    sub = ap.add_subparsers(dest="command", required=True)
    eval_cli.add_parser(sub)
    args = ap.parse_args(["eval", "--suite", "spider-dev", "--limit", "1", "--configs", "raw", "--out", str(tmp_path / "o"),
                          "--benchmarks", str(bench), "--seed", "3", "--workers", "1"])
    assert (args.suite, args.limit, args.configs, args.seed, args.workers) == ("spider-dev", 1, "raw", 3, 1)

    from nl2q.evaluate import runner

    model = KeyedModel({q: [sql + FENCE] for q, sql in QUESTIONS.items()})
    real_runner = runner.Runner
    monkeypatch.setattr(runner, "Runner", lambda suite, m, *a: real_runner(suite, model, *a))
    args.no_progress = True
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "exec acc" in printed and "raw" in printed and "1 items" in printed

    bad = ap.parse_args(["eval", "--suite", "nope", "--benchmarks", str(bench), "--out", str(tmp_path / "x")])
    with pytest.raises(Nl2qError, match="unknown suite") as e:
        bad.func(bad)
    assert "spider-dev" in e.value.hint
    missing = ap.parse_args(["eval", "--suite", "spider-dev", "--benchmarks", str(tmp_path / "none"), "--out", str(tmp_path / "y")])
    with pytest.raises(Nl2qError, match="benchmark directory not found") as e:
        missing.func(missing)
    assert "NL2Q_BENCHMARKS" in e.value.hint
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Nl2qError, match="Spider data not found"):
        evaluate("spider-dev", out=tmp_path / "z", benchmarks=empty, progress=False)
    with pytest.raises(Nl2qError, match="unknown configuration"):
        evaluate("spider-dev", configs="raw,bogus", out=tmp_path / "z", benchmarks=bench, progress=False)


def test_target_metrics_live_in_their_target_and_stay_importable_from_the_harness():
    import nl2q.evaluate as ev
    from nl2q.targets.cypher.metrics import cypher_orders

    assert (ev.exact_set_match, ev.spider_hardness, ev.sql_orders) == (exact_set_match, spider_hardness, sql_orders)
    assert ev.cypher_orders is cypher_orders
    assert cypher_orders("MATCH (m:Movie) RETURN m.title ORDER BY m.released")
    assert not cypher_orders("MATCH (m:Movie) WITH m ORDER BY m.released LIMIT 3 RETURN m.title")
    assert not cypher_orders("MATCH (m:Movie {title: 'x ORDER BY y'}) RETURN m")


def test_the_harness_never_names_a_target():
    """No module of nl2q/evaluate imports a target or tests for one by name: suites carry what is target-specific."""
    from nl2q.targets import available

    # "config" is also the harness's own word for a run's configuration (raw, constrained, repair): a field
    # and a column everywhere, never a test for the config target
    names = ({n.lower() for n in available()} | {"sql", "cypher"}) - {"config"}
    modules = sorted((ROOT / "nl2q" / "evaluate").glob("*.py"))
    assert len(modules) >= 12
    for path in modules:
        assert len(path.read_text().splitlines()) <= 400, path.name
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "targets" not in (node.module or ""), (path.name, node.lineno, node.module)
            elif isinstance(node, ast.Import):
                assert not [a.name for a in node.names if "targets" in a.name], (path.name, node.lineno)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value.lower() not in names, (path.name, node.lineno, node.value)


class _Singers(Suite):
    """A suite from outside nl2q/targets: no engine, no exact match, one setting from its own variable."""

    target = "sql"
    dialect = "sqlite"
    env = {"flavour": "NL2Q_TEST_FLAVOUR"}

    def _load_items(self) -> list[Item]:
        return [Item(f"s:{i}", q, sql, "shop", {"database": "shop"}) for i, (q, sql) in enumerate(QUESTIONS.items())]

    def schema_for(self, item: Item) -> Path:
        return self.root / "spider" / "database" / "shop" / "shop.sqlite"


@pytest.fixture()
def singers():
    SUITES.register("singers", _Singers)
    yield _Singers
    SUITES._loaded.pop("singers", None)


def test_a_registered_suite_runs_and_decides_its_own_metrics(singers, bench, tmp_path, monkeypatch):
    assert "singers" in SUITES and "singers" in list(SUITES) and "spider-dev" in list(SUITES)
    monkeypatch.setenv("NL2Q_TEST_FLAVOUR", "from-env")
    assert get_suite("singers", bench).options == {"flavour": "from-env"}
    assert get_suite("singers", bench, {"flavour": "given"}).options == {"flavour": "given"}
    assert get_suite("singers", bench, environ={}).options == {}  # what a worker does: settings come resolved

    model = KeyedModel({q: [sql + FENCE] for q, sql in QUESTIONS.items()})
    s = evaluate("singers", model=model, configs=("raw",), out=tmp_path / "r", benchmarks=bench, progress=False)
    rows = _rows(tmp_path / "r")
    assert len(rows) == 3 and all(r["valid"] for r in rows)
    assert all(r["metrics"]["exact_set"] is None and r["metrics"]["exec_match"] is None for r in rows)
    assert s["suite"] == "singers" and s["execution"]["mode"] == "none"
    assert s["results"]["raw"]["exact_set"] is None and s["results"]["raw"]["valid"] == 1.0
    with pytest.raises(Nl2qError, match="unknown suite") as e:
        get_suite("singer", bench)
    assert "singers" in e.value.hint


WHEEL_CHECK = textwrap.dedent("""
    import contextlib, importlib, importlib.util, io, json, pkgutil, runpy, sys
    from pathlib import Path

    site, repo, bench, shared, out = sys.argv[1:6]
    gone = {Path(repo).resolve(), (Path(repo) / "eval").resolve(), (Path(repo) / "tests").resolve()}
    sys.path[:] = [site] + [p for p in sys.path if p and Path(p).resolve() not in gone]
    before = list(sys.path)
    import nl2q.evaluate
    report = {"nl2q": nl2q.evaluate.__file__, "eval_importable": importlib.util.find_spec("eval") is not None,
              "cli_imported_by_harness": "nl2q.cli" in sys.modules}
    harness = [f"nl2q.evaluate.{m.name}" for m in pkgutil.iter_modules(nl2q.evaluate.__path__)]
    for name in harness:
        importlib.import_module(name)
    report["harness_modules"] = harness
    report["targets_loaded_by_harness"] = sorted(m for m in sys.modules if m.startswith("nl2q.targets."))
    from nl2q.evaluate.suites import _BUILTIN
    suites = [ref.partition(":")[0] for ref in _BUILTIN.values()]
    for name in suites + ["nl2q.targets.cypher.text2cypher", "nl2q.targets.cypher.graph_data",
                          "nl2q.targets.cypher.graph_load", "nl2q.targets.sql.metrics", "nl2q.targets.cypher.metrics"]:
        importlib.import_module(name)
    help_text = io.StringIO()
    sys.argv = ["nl2q", "eval", "--help"]
    with contextlib.redirect_stdout(help_text):
        try:
            runpy.run_module("nl2q.cli", run_name="__main__")
        except SystemExit as e:
            report["help_exit"] = e.code
    report["help"] = help_text.getvalue()
    from nl2q import ScriptedModel
    from nl2q.evaluate import evaluate, get_suite

    s = evaluate("spider-dev", model=ScriptedModel(["SELECT count(*) FROM singer\\n```"]), configs="raw", limit=1,
                 out=out, benchmarks=bench, progress=False)
    report["spider"] = [s["rows"], s["execution"]["mode"]]
    report["t2c_items"] = len(get_suite("text2cypher:movies", shared).items(0, 5)) if shared else None
    report["eval_loaded"] = sorted(m for m in sys.modules if m == "eval" or m.startswith("eval."))
    report["sys_path_unchanged"] = sys.path == before
    print(json.dumps(report))
""")


def test_harness_and_suites_import_and_run_from_a_wheel_layout(bench, tmp_path):
    """nl2q copied alone (data under nl2q/_data, as the wheel has it), in a fresh interpreter without the checkout."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "nl2q", site / "nl2q", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("grammars", "dialects"):
        shutil.copytree(ROOT / name, site / "nl2q" / "_data" / name)
    shared = str(SHARED) if (SHARED / "text2cypher").is_dir() else ""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NL2Q_BENCHMARKS", "NL2Q_BOLT_URI")}
    env["COLUMNS"] = "200"  # argparse wraps help to the terminal width
    proc = subprocess.run([sys.executable, "-c", WHEEL_CHECK, str(site), str(ROOT), str(bench), shared,
                           str(tmp_path / "run")], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["nl2q"].startswith(str(site)) and not r["eval_importable"]
    assert not r["cli_imported_by_harness"]  # no cli -> evaluate -> cli cycle
    assert {"nl2q.evaluate.suites", "nl2q.evaluate.runner", "nl2q.evaluate.cli", "nl2q.evaluate.charts"} <= set(r["harness_modules"])
    assert not [m for m in r["targets_loaded_by_harness"] if m.startswith(("nl2q.targets.sql", "nl2q.targets.cypher"))]
    assert r["help_exit"] == 0 and "--suite" in r["help"] and "spider-dev | text2cypher" in r["help"]
    assert r["spider"] == [1, "sqlite"]
    assert r["t2c_items"] in (None, 5)
    assert r["eval_loaded"] == [] and r["sys_path_unchanged"]


SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks"


@pytest.mark.model
@pytest.mark.skipif(not (SHARED / "spider" / "dev.json").is_file(), reason="../shared/benchmarks is absent")
def test_spider_dev_with_the_default_model(default_model, tmp_path):
    out = tmp_path / "spider"
    s = evaluate("spider-dev", limit=2, model=default_model, configs=("raw",), out=out, benchmarks=SHARED, progress=False)
    rows = _rows(out)
    assert len(rows) == 2 and {r["config"] for r in rows} == {"raw"}
    for r in rows:
        assert r["model"].startswith("smollm2-135m@") and r["rounds"] and r["rounds"][0]["raw_output"] is not None
        assert r["gold_execution"]["ok"] and r["metrics"]["exec_match"] is not None
    assert s["results"]["raw"]["n"] == 2 and (out / "report.md").is_file()


class ConcurrentModel(ScriptedModel):
    """Canned answers by question, safe across threads; records how many requests overlap."""

    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__([])
        self.answers = answers
        self.in_flight = self.most_in_flight = 0
        self.threads: set[str] = set()

    def generate(self, messages, *, prefix="", constraint=None, max_new_tokens=256, sampling=None, guide=None):
        import threading
        import time

        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.threads.add(threading.current_thread().name)
        time.sleep(0.05)
        question = next(m["content"] for m in messages if m["role"] == "user" and m["content"] in self.answers)
        with self._lock:
            self.in_flight -= 1
        return Generation(self.answers[question], "eos", 10, 5, 50.0, constraint is not None)


def test_concurrency_runs_items_at_once_on_one_model_with_the_same_rows(bench, tmp_path):
    answers = {q: sql + FENCE for q, sql in QUESTIONS.items()}
    serial, concurrent = ConcurrentModel(answers), ConcurrentModel(answers)
    a = evaluate("spider-dev", model=serial, configs=("raw", "constrained"), out=tmp_path / "a", benchmarks=bench,
                 progress=False)
    b = evaluate("spider-dev", model=concurrent, configs=("raw", "constrained"), out=tmp_path / "b", benchmarks=bench,
                 concurrency=3, progress=False)
    assert serial.most_in_flight == 1 and concurrent.most_in_flight >= 2 and len(concurrent.threads) >= 2
    assert b["timing"]["concurrency"] == 3
    outcome = lambda r: (r["question"], r["config"], r["prediction"], r["valid"], r["metrics"]["right"])  # noqa: E731
    assert sorted(map(outcome, _rows(tmp_path / "a"))) == sorted(map(outcome, _rows(tmp_path / "b")))
    assert {c: (r["valid"], r["exec_acc"]) for c, r in a["results"].items()} == \
        {c: (r["valid"], r["exec_acc"]) for c, r in b["results"].items()}
    with pytest.raises(Nl2qError, match="choose one"):
        evaluate("spider-dev", model="x", configs=("raw",), out=tmp_path / "c", benchmarks=bench, workers=2,
                 concurrency=2, progress=False)


@pytest.mark.skipif(not (SHARED / "text2cypher").is_dir(), reason="../shared/benchmarks is absent")
def test_similar_few_shot_examples_share_words_with_the_question_and_stay_outside_its_database():
    from nl2q.evaluate.suites import get_suite

    suite = get_suite("text2cypher", None, None)
    sample = suite.items(0, 6)
    similar = suite.few_shot(sample, 3, 0, "similar")
    randomly = suite.few_shot(sample, 3, 0, "random")
    taken = {i.id for i in sample}
    words = lambda q: {w.lower().strip("?.,'") for w in q.split() if len(w) > 3}  # noqa: E731
    overlap = {"similar": 0, "random": 0}
    for item in sample:
        for name, shots in (("similar", similar), ("random", randomly)):
            examples = shots[item.id]
            assert len(examples) == 3 and all(e.database != item.database and e.id not in taken for e in examples)
            overlap[name] += sum(len(words(e.question) & words(item.question)) for e in examples)
        assert len({e.question for e in similar[item.id]}) == 3
    assert overlap["similar"] > overlap["random"]
    assert suite.few_shot(sample, 3, 0, "similar") == similar  # deterministic
