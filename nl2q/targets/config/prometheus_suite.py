"""The awesome-prometheus-alerts suite: an alert's name and description -> a Prometheus rule file.

The benchmark file (``<benchmarks>/prometheus/rules.yml``, read in place) lists rules as
``groups -> services -> exporters -> rules`` with a name, description, PromQL query, severity and
``for``. Each rule is one item; its gold is the rule file an operator would deploy (JSON text: one
group named after the service, one alerting rule).

Rules are compared by what they do, not by their text: both run under the real ``promtool test
rules`` on synthetic series designed once per item from the gold expression (see
:func:`~nl2q.targets.config.promtool.discriminating_series`), and a prediction is right when the
same series fire at the same evaluation times. Alert names, annotations and the labels a rule sets
are left out of the comparison: they name and describe the alert, they do not decide when it fires.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from ...errors import Nl2qError
from ...evaluate.benchmarks import ENV_VAR
from ...evaluate.compare import Execution
from ...evaluate.suites import Item, Suite
from .promql import PromQLError, parse, selectors
from .promtool import Scenario, alerting_rules, discriminating_series, load_rule_file

ENGINE = "promtool"
COLUMNS = ["eval_time", "series"]
_COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
_SCRAPE_LABELS = ("job", "instance")  # what Prometheus attaches to every scraped series


def camel_case(name: str) -> str:
    """An alert name from a rule's title, as awesome-prometheus-alerts writes them: ``Prometheus target missing``
    -> ``PrometheusTargetMissing``."""
    return "".join(w[:1].upper() + w[1:] for w in re.findall(r"[A-Za-z0-9]+", name))


def question_for(name: str, description: str, for_: str | None) -> str:
    """What a person would ask for: the alert's title and description (template placeholders dropped), and how long
    the condition must hold, since that decides when the alert fires."""
    text = re.sub(r"\{\{.*?\}\}", " ", description)
    text = re.sub(r"\(\s*\)", "", re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", " ".join(text.split()))))
    held = f" It should fire once this has held for {for_}." if for_ else ""
    return f"Alerting rule: {name}: {' '.join(text.split())}{held}"


def gold_rule_file(service: str, rule: Mapping[str, Any]) -> str:
    """The rule file an operator would deploy for one benchmark rule (JSON text)."""
    alert: dict[str, Any] = {"alert": camel_case(str(rule["name"])), "expr": str(rule["query"]).strip()}
    if rule.get("for"):
        alert["for"] = str(rule["for"])
    alert["labels"] = {"severity": str(rule.get("severity", "warning"))}
    alert["annotations"] = {"summary": str(rule["name"]), "description": str(rule.get("description", ""))}
    return json.dumps({"groups": [{"name": service, "rules": [alert]}]})


def expr_metrics(expr: str) -> set[str]:
    """The metric names an expression reads ({} when it does not parse)."""
    try:
        return {s.metric for s in selectors(expr) if s.metric}
    except PromQLError:
        return set()


def metric_labels(expr: str) -> dict[str, set[str]]:
    """Each metric of ``expr`` and the labels used with it: its matchers, the ``by``/``without`` of aggregations
    over it and the ``on``/``ignoring`` of matches it takes part in."""
    import promql_parser as pp

    try:
        tree = parse(expr)
    except PromQLError:
        return {}
    out: dict[str, set[str]] = {}
    for s in selectors(tree):
        if s.metric:
            out.setdefault(s.metric, set()).update(label for label, _, _ in s.matchers)

    def visit(node: Any) -> None:
        if isinstance(node, pp.AggregateExpr) and node.modifier is not None:
            names = set(node.modifier.labels)
        elif isinstance(node, pp.BinaryExpr) and node.modifier is not None and node.modifier.matching is not None:
            names = set(node.modifier.matching.labels)
        else:
            return
        for s in selectors(node):
            if s.metric:
                out[s.metric].update(names)

    pp.walk(tree, pre_visit=visit)
    return out


def metric_type(name: str) -> str:
    return "counter" if name.endswith(_COUNTER_SUFFIXES) else "gauge"


def exporter_metrics(exprs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """What a server scraping one exporter exposes, as far as its rules show: each metric with its guessed type and
    labels (``job`` and ``instance`` on all), and ``up``."""
    labels: dict[str, set[str]] = {"up": set()}
    for expr in exprs:
        for metric, names in metric_labels(expr).items():
            labels.setdefault(metric, set()).update(names)
    return {m: {"type": metric_type(m), "help": "", "labels": sorted(set(names) - {"__name__"} | set(_SCRAPE_LABELS))}
            for m, names in sorted(labels.items())}


class PrometheusAlerts(Suite):
    """awesome-prometheus-alerts: an alert's title and description -> a rule file; scored by firing behaviour under
    promtool on synthetic series designed from the gold rule."""

    target = "config"
    dialect = "prometheus"
    breakdowns = ("database", "group")

    def __init__(self, root: Path, databases: Sequence[str] | None = None,
                 options: Mapping[str, str] | None = None) -> None:
        super().__init__(root, databases, options)
        self.path = root / "prometheus" / "rules.yml"
        if not self.path.is_file():
            raise Nl2qError(f"awesome-prometheus-alerts rules not found at {self.path}",
                            f"point --benchmarks (or ${ENV_VAR}) at a directory holding prometheus/rules.yml "
                            "(from github.com/samber/awesome-prometheus-alerts, _data/rules.yml)")
        self._exporter: dict[str, tuple[str, str]] = {}  # item id -> (service, exporter slug)
        self._rules: dict[str, Mapping[str, Any]] = {}
        self._schemas: dict[tuple[str, str], Any] = {}
        self._scenarios: dict[str, Scenario | str] = {}  # a scenario, or why there is none
        self._runs: dict[tuple[str, str], Execution] = {}

    def _load_items(self) -> list[Item]:
        import yaml

        doc = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        counts: dict[str, int] = {}
        items: list[Item] = []
        for group in doc.get("groups") or []:
            for service in group.get("services") or []:
                for exporter in service.get("exporters") or []:
                    slug = str(exporter.get("slug") or "exporter")
                    for rule in exporter.get("rules") or []:
                        counts[slug] = counts.get(slug, 0) + 1
                        item_id = f"prometheus:{slug}/{counts[slug]}"
                        name = str(service["name"])
                        self._exporter[item_id], self._rules[item_id] = (name, slug), rule
                        items.append(Item(item_id, question_for(str(rule["name"]), str(rule.get("description", "")),
                                                                rule.get("for")),
                                          gold_rule_file(name, rule), name,
                                          {"database": name, "group": str(group["name"])}))
        return items

    def exporter(self, item: Item) -> tuple[str, str]:
        """(service, exporter slug) of an item: the rules sharing it describe one scrape target."""
        self.all_items()
        return self._exporter[item.id]

    def schema_for(self, item: Item) -> Any:
        key = self.exporter(item)
        if key not in self._schemas:
            exprs = [str(self._rules[i]["query"]) for i, k in self._exporter.items() if k == key]
            self._schemas[key] = {"kind": "prometheus-rule", "metrics": {"metrics": exporter_metrics(exprs)}}
        return self._schemas[key]

    def execution(self) -> dict[str, Any]:
        return {"mode": ENGINE, "note": "each rule file runs under promtool test rules on synthetic series designed "
                                        "from the gold expression; a prediction matches when the same series fire "
                                        "at the same evaluation times (alert names, annotations and the labels a "
                                        "rule sets are ignored); gold rules that fire on no synthetic input are "
                                        "not scored"}

    def scenario(self, item: Item) -> Scenario | str:
        """The item's input series (designed once, from the gold), or why there are none."""
        if item.id not in self._scenarios:
            rule = alerting_rules(load_rule_file(item.gold))[0]
            try:
                found = discriminating_series(str(rule["expr"]), rule.get("for"))
            except PromQLError as e:
                found = None
                why = f"the gold expression does not parse: {e}"
            else:
                why = "no synthetic input makes the gold rule fire"
            self._scenarios[item.id] = found if found is not None else why
        return self._scenarios[item.id]

    def _execute(self, item: Item, query: str) -> Execution:
        key = (item.id, query)
        if key not in self._runs:
            self._runs[key] = self._run(item, query)
        return self._runs[key]

    def _run(self, item: Item, query: str) -> Execution:
        scenario = self.scenario(item)
        if isinstance(scenario, str):
            return Execution(False, ENGINE, COLUMNS, error=scenario)
        try:
            rules = alerting_rules(load_rule_file(query))
        except ValueError as e:
            return Execution(False, ENGINE, COLUMNS, error=str(e))
        if not rules:
            return Execution(False, ENGINE, COLUMNS, error="the rule file holds no alerting rule "
                                                           "(groups -> rules -> {alert, expr})")
        fired = scenario.run(query)
        if not fired.ok:
            return Execution(False, ENGINE, COLUMNS, error=fired.error, elapsed_ms=fired.elapsed_ms)
        own = _rule_labels(rules)
        rows = [(t, tuple(sorted((k, v) for k, v in labels if k != "alertname" and k not in own.get(name, ()))))
                for t in scenario.evals for name, labels in sorted(fired.by_time[t], key=repr)]
        return Execution(True, ENGINE, COLUMNS, rows, elapsed_ms=fired.elapsed_ms)

    def similarity(self, item: Item, query: str) -> dict[str, float | None]:
        """``metric_f1``: F1 of the metric names the gold and predicted expressions read; ``fires``: whether the
        prediction fires at all on the item's scenario (None where the gold has none)."""
        gold = expr_metrics(str(alerting_rules(load_rule_file(item.gold))[0]["expr"]))
        pred_rules = self._predicted_rules(query)
        pred = set().union(*(expr_metrics(str(r.get("expr", ""))) for r in pred_rules))
        both = len(gold & pred)
        f1 = 2 * both / (len(gold) + len(pred)) if gold or pred else None
        scored = not isinstance(self.scenario(item), str)
        fires = None if not scored else float(bool(pred_rules) and bool(self._execute(item, query).rows))
        return {"metric_f1": f1 if gold else None, "fires": fires}

    @staticmethod
    def _predicted_rules(query: str) -> list[dict[str, Any]]:
        if not query.strip():
            return []
        try:
            return alerting_rules(load_rule_file(query))
        except ValueError:
            return []


def _rule_labels(rules: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Per alert name, the label names its rules set (they decorate the alert; the series decide when it fires)."""
    out: dict[str, set[str]] = {}
    for r in rules:
        labels = r.get("labels")
        out.setdefault(str(r["alert"]), set()).update(labels if isinstance(labels, dict) else ())
    return out


__all__ = ["PrometheusAlerts", "camel_case", "exporter_metrics", "gold_rule_file", "metric_labels", "question_for"]
