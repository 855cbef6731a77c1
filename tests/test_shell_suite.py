"""The shell suites: ALFA's functional equivalence in bubblewrap sandboxes on the benchmarks' own file systems,
and a real-model run of each suite through the harness."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from nl2q.evaluate import evaluate
from nl2q.evaluate.suites import get_suite
from nl2q.targets.shell.nl2bash import ScriptRun, equivalent, icalfa_assets, tfidf_cosine
from nl2q.targets.shell.sandbox import sandbox_available

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks"
have_data = (SHARED / "nl2bash" / "alfa").is_dir()
try:
    have_assets = (icalfa_assets() / "setup_nl2b_fs_1.sh").is_file()
except Exception:
    have_assets = False
needs_all = pytest.mark.skipif(not (have_data and have_assets and sandbox_available() == "bubblewrap"),
                               reason="needs ../shared/benchmarks/nl2bash, icalfa's set-up scripts and bubblewrap")


def run(output: str = "", effects: set[tuple[str, str, str]] = frozenset(), ok: bool = True) -> ScriptRun:
    return ScriptRun(ok=ok, engine="bubblewrap", output=output, exit_status=0, effects=frozenset(effects))


def test_tfidf_cosine_is_scikit_learns_default_vectoriser() -> None:
    # by hand: tokens a:{hello:1, world:1}, b:{hello:1, there:1}; idf(hello)=ln(3/3)+1=1, others ln(3/2)+1
    w = math.log(1.5) + 1
    assert tfidf_cosine("Hello world", "hello there") == pytest.approx(1 / (1 + w * w))
    assert tfidf_cosine("a b", "c") == 0.0  # no token of two characters: ALFA scores it 0
    assert tfidf_cosine("same words here", "here words same") == pytest.approx(1.0)


def test_equivalence_needs_the_same_effects_content_and_output() -> None:
    made = {("file.created", "out.txt", "d1")}
    assert equivalent(run("3\n", made), run("3\n", made))
    assert not equivalent(run("3\n", made), run("3\n"))  # did not create the file
    assert not equivalent(run("3\n", made), run("3\n", {("file.created", "out.txt", "d2")}))  # other content
    assert not equivalent(run("3\n", made), run("4\n", made))
    assert not equivalent(run("x", ok=False), run("x"))
    listing = "dir1\ndir2\nfile_one.txt\nfile_two.txt\n"
    assert equivalent(run(listing), run(listing.replace("\n", "  ")))  # same words, other layout: TF-IDF 1.0


@needs_all
def test_alfa_file_systems_build_and_gold_commands_are_judged_by_their_runs() -> None:
    suite = get_suite("intercode-alfa:fs_1", SHARED)
    try:
        items = suite.items(limit=None)
        assert len(items) == 153 and len(suite.all_items()) == 300
        tree = suite.tree("fs_1")
        assert (tree / "dir1" / "subdir1").is_dir() and suite.schema_for(items[0])["shown_as"] == "/testbed"
        by_gold = {i.gold: i for i in items}
        ls = by_gold["ls"]
        gold = suite.execute_gold(ls)
        assert gold.ok and "dir1" in gold.output and gold.others  # both gold commands ran
        assert suite.compare(gold, suite._execute(ls, "ls -1"), False)  # the same listing
        assert suite.compare(gold, suite._execute(ls, "ls -l"), False)  # equals the second gold, ls -l
        assert not suite.compare(gold, suite._execute(ls, "ls dir1"), False)
        deleting = suite._execute(ls, "rm -r /testbed/dir1 && ls")
        assert any(e[0] == "file.deleted" for e in deleting.effects) and not suite.compare(gold, deleting, False)
        assert (tree / "dir1").is_dir()  # every run is on a copy
    finally:
        suite.close()


@pytest.mark.model
@needs_all
@pytest.mark.parametrize("name", ["intercode-alfa", "nl2bash"])
def test_each_shell_suite_runs_through_the_harness_with_the_default_model(default_model, tmp_path, name) -> None:
    out = tmp_path / name
    s = evaluate(name, limit=2, model=default_model, configs=("constrained",), out=out, benchmarks=SHARED,
                 progress=False)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and s["results"]["constrained"]["n"] == 2
    for r in rows:
        assert r["error"] is None and r["rounds"][0]["constrained"]
        if name == "nl2bash":
            assert r["gold_execution"] is None and r["metrics"]["exec_match"] is None
        else:
            assert r["gold_execution"]["ok"] and r["metrics"]["exec_match"] is not None
