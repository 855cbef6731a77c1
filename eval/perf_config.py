"""Config target speed figures, measured side by side in one run (medians).

    python eval/perf_config.py [--repeats 5] [--json OUT]

Schema to constraint: a Kubernetes Deployment (kubernetes-validate's strict schema bundled, cut for
generation, validated by llguidance, compiled for the default model's tokenizer) and the Prometheus
rule file (its grammar with PromQL nested over 200 bound metrics), each cold (first time in the
process) and cached. Then checking: schema validation with our diagnostics, the semantic checks, the
whole ``check`` of a bound; and the dry runs: ``promtool check rules``, the firing test on synthetic
series (``promtool test rules``), and ``kubernetes-validate --strict``. Prints each figure, then one JSON
line; ``--json OUT`` also writes the figures to OUT.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import Figures, median, ms  # noqa: E402
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
              "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                             "ports": [{"containerPort": 80}],
                                                             "resources": {"requests": {"cpu": "100m"},
                                                                           "limits": {"cpu": "500m"}},
                                                             "readinessProbe": {"httpGet": {"path": "/healthz",
                                                                                            "port": 80}}}]}}}}
RULES = {"groups": [{"name": "node", "rules": [
    {"alert": "HostHighCpuLoad", "for": "10m", "expr": "100 - (avg by (instance) (rate(node_cpu_seconds_total"
                                                       "{mode=\"idle\"}[2m])) * 100) > 80",
     "labels": {"severity": "warning"}, "annotations": {"summary": "CPU load is {{ $value }}%"}},
    {"alert": "HostOutOfMemory", "for": "2m", "expr": "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes "
                                                      "* 100 < 10", "labels": {"severity": "warning"}}]}]}


def metrics(n: int) -> dict[str, Any]:
    names = ["node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes"]
    names += [f"app_metric_{i}_total" for i in range(n - len(names))]
    return {"metrics": {m: {"type": "counter" if m.endswith("_total") else "gauge",
                            "labels": ["instance", "job", "mode"]} for m in names}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    figures = Figures(48)
    report = figures.report

    from nl2q.grammar import validate as llguidance_validate
    from nl2q.policy import Policy
    from nl2q.targets import get_target

    target = get_target("config")
    question = "a Deployment of nginx:1.27 with 3 replicas and a readiness probe on /healthz"
    t = ms(lambda: target.bind("Deployment").for_question(question))
    deployment = target.bind("Deployment")
    narrowed = deployment.for_question(question)
    report("deployment_bind_cold_ms", round(t, 3), "ms", "kubernetes-validate schema bundled and cut for generation")
    report("deployment_bind_again_ms_median", median([ms(lambda: target.bind("Deployment").for_question(question))
                                                      for _ in range(args.repeats)]), "ms",
           "a new bind: the schema files are cached, the generation schema is rebuilt")
    report("deployment_constraint_kb", round(len(narrowed.constraint.text) / 1024, 1), "KB", "cut to the question")
    rules = target.bind({"kind": "prometheus-rule", "metrics": metrics(200)})
    report("rule_file_constraint_kb", round(len(rules.constraint.text) / 1024, 1), "KB", "PromQL over 200 metrics")
    for name, constraint in (("deployment", narrowed.constraint), ("rule_file", rules.constraint)):
        report(f"{name}_llguidance_validate_cold_ms", round(ms(lambda: llguidance_validate(constraint)), 3), "ms",
               "no tokenizer")
    try:
        from nl2q.models import load_model

        model = load_model()
        model.constrain(target.bind("ConfigMap").constraint)  # the tokenizer's one-time set-up
        for name, constraint in (("deployment", narrowed.constraint), ("rule_file", rules.constraint)):
            report(f"{name}_compile_cold_ms", round(ms(lambda: model.constrain(constraint)), 3), "ms",
                   f"{model.name}: first compile")
            report(f"{name}_compile_cached_ms_median", median([ms(lambda: model.constrain(constraint))
                                                               for _ in range(args.repeats)]), "ms", "cached")
    except Exception as e:  # the default model is not installed
        print(f"(tokenizer compile skipped: {e})")

    from nl2q.targets.config.document import load_documents
    from nl2q.targets.config.kubernetes import semantic_checks, strict_validate
    from nl2q.targets.config.validate import validate

    text = json.dumps(DEPLOYMENT, indent=2)
    loaded = narrowed.kind.validation()
    doc = load_documents(text)[0]
    validate(doc, loaded.schema, registry=loaded.registry)
    report("deployment_parse_ms_median", median([ms(lambda: load_documents(text)) for _ in range(args.repeats)]), "ms",
           "JSON with the span of every key and value")
    report("deployment_validate_ms_median", median([ms(lambda: validate(doc, loaded.schema, registry=loaded.registry))
                                                    for _ in range(args.repeats)]), "ms", "strict schema, our diagnostics")
    report("deployment_semantic_ms_median", median([ms(lambda: semantic_checks(doc.data)) for _ in range(args.repeats)]),
           "ms", "selector, ports, probes, quantities")
    report("deployment_check_ms_median", median([ms(lambda: narrowed.check(text, Policy()))
                                                 for _ in range(args.repeats)]), "ms", "the whole check")
    report("kubernetes_validate_strict_ms_median", median([ms(lambda: strict_validate(DEPLOYMENT, narrowed.kind.version))
                                                           for _ in range(args.repeats)]), "ms", "the dry run")

    rule_text = json.dumps(RULES, indent=2)
    rules.check(rule_text, Policy())
    report("rule_file_check_ms_median", median([ms(lambda: rules.check(rule_text, Policy()))
                                                for _ in range(args.repeats)]), "ms",
           "schema, PromQL parse and names, templates")
    from nl2q.targets.config.promtool import check_rules

    report("promtool_check_rules_ms_median", median([ms(lambda: check_rules(rule_text)) for _ in range(args.repeats)]),
           "ms", "a process per run")
    report("rule_file_dry_run_ms_median", median([ms(lambda: rules.dry_run(rule_text, Policy(), False))
                                                  for _ in range(args.repeats)]), "ms",
           "check rules + synthetic series designed and fired (promtool test rules)")
    figures.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
