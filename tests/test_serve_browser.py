"""The search box in a real browser (Debian's Chromium driven by Playwright) against a real
``nl2q serve`` with the real default model. Screenshots go to test-artifacts/serve/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from serve_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, serving, write_graph

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.model,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM} (make test installs it)")]

GRAPH_QUERY = "MATCH (s:Service)-[r:DEPENDS_ON]->(t:Service) RETURN s, r, t LIMIT 4"
SHOTS = ARTIFACTS / "serve"


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    # The page's CSP forbids eval, which Playwright's waits use; bypassing it also shows that the page
    # renders hostile values as text on its own, without the CSP as a second line.
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    pg.problems = problems
    yield pg
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def by(page, testid: str):
    return page.get_by_test_id(testid)


def ask(page, question: str) -> None:
    by(page, "question").fill(question)
    by(page, "ask").click()
    page.wait_for_selector('[data-testid="progress"][data-state="done"], [data-testid="progress"][data-state="failed"]',
                           timeout=180_000)


def run_edited(page, query: str) -> None:
    by(page, "edit").click()
    by(page, "query-editor").fill(query)
    by(page, "run-edited").click()
    page.wait_for_function(f"document.querySelector('[data-testid=query]').textContent.trim() === {query!r}",
                           timeout=60_000)
    page.wait_for_selector('[data-testid="progress"][data-state="done"]', timeout=60_000)


def test_ask_see_the_checked_query_table_and_graph_edit_confirm_and_find_it_after_a_reload(page, ops_kg, tmp_path):
    with serving("--graph", str(ops_kg), store=tmp_path / "store.sqlite3") as served:
        page.goto(served.url)
        by(page, "example").first.wait_for()
        assert by(page, "schema").get_by_text("DEPENDS_ON").count() >= 1
        shot(page, "01-start")

        question = "List the hostname of every host."
        ask(page, question)
        assert by(page, "progress").get_attribute("data-state") == "done"
        query = by(page, "query").text_content().strip()
        assert query.upper().startswith(("MATCH", "OPTIONAL", "WITH", "UNWIND", "RETURN", "CALL"))  # what the grammar derives
        assert by(page, "round").count() >= 1
        if by(page, "confirm").is_visible():  # a valid answer: its dry run's rows are shown
            assert by(page, "results-table").locator("tbody tr").count() > 0
        shot(page, "02-answer")

        run_edited(page, GRAPH_QUERY)  # an edit goes through the same checks and dry run before it runs
        graph = by(page, "graph")
        graph.wait_for()
        page.wait_for_function("window.nl2qGraph && window.nl2qGraph.nodes().length > 0")
        before = page.evaluate("window.nl2qGraph.nodes().length")
        edges = page.evaluate("window.nl2qGraph.edges().length")
        assert before >= 2 and edges >= 1
        shot(page, "03-graph")
        page.evaluate("window.nl2qGraph.nodes()[0].emit('tap')")
        page.wait_for_function(f"window.nl2qGraph.nodes().length > {before}", timeout=30_000)
        assert by(page, "node-details").text_content().strip()
        shot(page, "04-expanded")

        broken = GRAPH_QUERY.replace("DEPENDS_ON", "DEPENDS")
        by(page, "edit").click()
        by(page, "query-editor").fill(broken)
        by(page, "run-edited").click()
        by(page, "diagnostic").first.wait_for(timeout=60_000)
        assert "DEPENDS" in by(page, "diag-span").first.text_content()
        assert "DEPENDS_ON" in by(page, "diagnostics").text_content()  # the did-you-mean
        shot(page, "05-diagnostic")

        run_edited(page, GRAPH_QUERY)
        by(page, "confirm").click()
        page.wait_for_selector('[data-testid="confirm"][data-confirmed="true"]')

        page.reload()
        items = by(page, "history-item")
        items.first.wait_for()
        assert items.count() >= 3
        assert question in by(page, "history").text_content()
        confirmed = by(page, "history").locator('[data-testid="history-item"]', has=by(page, "history-confirmed"))
        assert confirmed.count() == 1
        confirmed.first.click()
        page.wait_for_function(f"document.querySelector('[data-testid=query]').textContent.trim() === {GRAPH_QUERY!r}")
        page.wait_for_selector('[data-testid="confirm"][data-confirmed="true"]')
        shot(page, "06-history")
        assert not page.problems, page.problems


HOSTILE = ['<img src=x onerror="window.__xss=1">', "<script>window.__xss=2</script>",
           '"><svg onload=window.__xss=3>']


def test_values_from_the_data_and_the_question_render_as_text(page, tmp_path):
    rows = [f"CREATE (:Host {{id: 'h{i}', hostname: '{v}'}})" for i, v in enumerate(HOSTILE)]
    rows += ["MATCH (a:Host {id: 'h0'}), (b:Host {id: 'h1'}) CREATE (a)-[:LINKS {note: '<b onmouseover=x>'}]->(b)"]
    graph = write_graph(tmp_path / "hostile", ["CREATE NODE TABLE Host(id STRING, hostname STRING, PRIMARY KEY (id))",
                                                "CREATE REL TABLE LINKS(FROM Host TO Host, note STRING)"], rows)
    with serving("--graph", str(graph), store=tmp_path / "store.sqlite3") as served:
        page.goto(served.url)
        by(page, "example").first.wait_for()
        ask(page, HOSTILE[0] + " list the hostnames")
        run_edited(page, "MATCH (a:Host)-[r:LINKS]->(b:Host) RETURN a.hostname, a, r, b")
        page.wait_for_function("window.nl2qGraph && window.nl2qGraph.nodes().length >= 2")
        page.evaluate("window.nl2qGraph.nodes()[0].emit('tap')")
        table = by(page, "results-table").text_content()
        assert HOSTILE[0] in table
        assert HOSTILE[0] in by(page, "node-details").text_content() or HOSTILE[1] in by(page, "node-details").text_content()
        page.reload()
        by(page, "history-item").first.wait_for()
        assert HOSTILE[0] in by(page, "history").text_content()
        shot(page, "07-hostile-values")
        assert page.evaluate("window.__xss") is None
        assert page.evaluate("document.querySelectorAll('main img, aside img, main svg, main script:not([src])').length") == 0
        assert not [p for p in page.problems if "dialog" in p or "page error" in p], page.problems
