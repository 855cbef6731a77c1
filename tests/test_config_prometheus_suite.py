"""The awesome-prometheus-alerts suite: items, the exporter's metrics as the schema, and rules compared by what they
fire on the item's synthetic series (real promtool)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from nl2q.errors import Nl2qError
from nl2q.evaluate.benchmarks import available, benchmarks_dir
from nl2q.evaluate.suites import Item
from nl2q.targets.config.prometheus_suite import PrometheusAlerts, camel_case, question_for
from nl2q.targets.config.promtool import check_rules

HAVE_PROMTOOL = Path("/usr/bin/promtool").is_file() or shutil.which("promtool") is not None
pytestmark = pytest.mark.skipif(not HAVE_PROMTOOL, reason="promtool is not installed (apt-get install prometheus)")
THRESHOLD = re.compile(r"(>|<|>=|<=) (\d+(?:\.\d+)?)$")


@pytest.fixture(scope="module")
def suite() -> PrometheusAlerts:
    if not available("prometheus"):
        pytest.skip("benchmark data absent: no prometheus/ under the benchmark directory (set NL2Q_BENCHMARKS)")
    return PrometheusAlerts(benchmarks_dir())


def rule_of(item: Item) -> dict:
    return json.loads(item.gold)["groups"][0]["rules"][0]


def with_rule(item: Item, **changes) -> str:
    doc = json.loads(item.gold)
    doc["groups"][0]["rules"][0].update(changes)
    return json.dumps(doc)


@pytest.fixture(scope="module")
def threshold_item(suite: PrometheusAlerts) -> Item:
    """A rule of the form ``<expr> > <number>`` whose gold fires at some evaluation times and not at others."""
    for item in suite.all_items():
        if THRESHOLD.search(rule_of(item)["expr"]) and not isinstance(s := suite.scenario(item), str) \
                and s.discriminating:
            return item
    pytest.fail("no discriminating threshold rule in the benchmark")


def test_items_are_rule_files_promtool_accepts(suite: PrometheusAlerts) -> None:
    items = suite.all_items()
    assert len({i.id for i in items}) == len(items) > 0
    first = items[0]
    assert re.fullmatch(r"prometheus:[a-z0-9-]+/\d+", first.id)
    rule = rule_of(first)
    assert first.question.startswith("Alerting rule: ") and rule["annotations"]["summary"] in first.question
    assert rule["alert"] == camel_case(rule["annotations"]["summary"]) and " " not in rule["alert"]
    assert json.loads(first.gold)["groups"][0]["name"] == first.database == first.groups["database"]
    for item in items[::97]:
        assert check_rules(item.gold).ok, item.id


def test_question_drops_template_placeholders_and_says_how_long_to_hold() -> None:
    q = question_for("Scrape out of order", "Dropping samples ({{ $value }} in the last 5 minutes).", "5m")
    assert "{{" not in q and "(in the last 5 minutes)" in q and q.endswith("held for 5m.")


def test_schema_is_the_exporters_metrics_with_up(suite: PrometheusAlerts, threshold_item: Item) -> None:
    metrics = suite.schema_for(threshold_item)["metrics"]["metrics"]
    assert metrics["up"]["labels"] == ["instance", "job"]
    siblings = [i for i in suite.all_items() if suite.exporter(i) == suite.exporter(threshold_item)]
    assert siblings
    for item in siblings:
        for name in re.findall(r"\b([a-z_:][a-z0-9_:]*_total)\b", rule_of(item)["expr"]):
            assert metrics[name]["type"] == "counter"
    assert all({"job", "instance"} <= set(m["labels"]) for m in metrics.values())


def test_gold_executes_and_fires_at_some_times_only(suite: PrometheusAlerts, threshold_item: Item) -> None:
    gold = suite.execute_gold(threshold_item)
    assert gold is not None and gold.ok and gold.engine == "promtool"
    times = {t for t, _ in gold.rows}
    scenario = suite.scenario(threshold_item)
    assert 0 < len(times) < len(scenario.evals)
    assert all("severity" not in dict(labels) and "alertname" not in dict(labels) for _, labels in gold.rows)


def test_same_rule_under_another_name_and_text_matches(suite: PrometheusAlerts, threshold_item: Item) -> None:
    gold = suite.execute_gold(threshold_item)
    renamed = with_rule(threshold_item, alert="SomethingElse", labels={"severity": "page", "team": "ops"},
                        annotations={"summary": "other words"})
    pred = suite.execute_prediction(threshold_item, yaml.safe_dump(json.loads(renamed)))
    assert pred is not None and suite.compare(gold, pred, suite.ordered(threshold_item))
    assert suite.similarity(threshold_item, renamed) == {"metric_f1": 1.0, "fires": 1.0}


def test_a_changed_threshold_does_not_match(suite: PrometheusAlerts, threshold_item: Item) -> None:
    gold = suite.execute_gold(threshold_item)
    expr = rule_of(threshold_item)["expr"]
    m = THRESHOLD.search(expr)
    assert m is not None
    value = float(m.group(2))
    changed = with_rule(threshold_item, expr=f"{expr[:m.start(2)]}{value * 3 if value else 1}")
    pred = suite.execute_prediction(threshold_item, changed)
    assert pred is not None and pred.ok and not suite.compare(gold, pred, False)


def test_an_unusable_prediction_does_not_execute(suite: PrometheusAlerts, threshold_item: Item) -> None:
    for text, why in (("groups: [", "neither JSON nor YAML"), ('{"groups": []}', "no alerting rule"),
                      (with_rule(threshold_item, expr="rate(foo[5m)"), "parse")):
        pred = suite.execute_prediction(threshold_item, text)
        assert pred is not None and not pred.ok and why in (pred.error or ""), (text, pred.error)
    assert suite.similarity(threshold_item, "") == {"metric_f1": 0.0, "fires": 0.0}


def test_a_gold_that_cannot_fire_is_not_scored(tmp_path: Path) -> None:
    (tmp_path / "prometheus").mkdir()
    rules = {"groups": [{"name": "G", "services": [{"name": "Svc", "exporters": [{"slug": "exp", "rules": [
        {"name": "Never", "description": "Cannot fire.", "query": "up > 1 and up < 1", "severity": "info"},
        {"name": "Down", "description": "Target down.", "query": "up == 0", "severity": "critical", "for": "1m"},
    ]}]}]}]}
    (tmp_path / "prometheus" / "rules.yml").write_text(yaml.safe_dump(rules))
    small = PrometheusAlerts(tmp_path)
    never, down = small.all_items()
    assert (never.id, down.id) == ("prometheus:exp/1", "prometheus:exp/2")
    gold = small.execute_gold(never)
    assert gold is not None and not gold.ok and "no synthetic input" in (gold.error or "")
    assert small.similarity(never, never.gold)["fires"] is None
    assert small.execute_gold(down).ok


def test_missing_benchmark_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Nl2qError, match="prometheus/rules.yml"):
        PrometheusAlerts(tmp_path)
