"""PromQL in Prometheus rules: the decode grammar against promql-parser, promtool and llguidance; the checks of
expressions, durations and alert templates; where metric names come from (files, a real Prometheus).

One known over-approximation of the grammar: a label in both on(...) and group_left(...) parses there and not in
Prometheus; the checker reports it (see the test that pins it down), the sampling tests set it aside.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import urllib.request
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lark import Lark
from lark.exceptions import LarkError

from grammar_sampler import GrammarSampler, llguidance_accepts
from nl2q.errors import Nl2qError
from nl2q.grammar import validate
from nl2q.targets.config.metrics import MetricInfo, MetricSet, load_metrics
from nl2q.targets.config.promql import (RESERVED, TEMPLATE_FUNCTIONS, PromQLError, check_duration, check_expr,
                                        check_template, parse, promql_grammar, promql_rules, selectors)
from nl2q.types import Constraint, position
import prometheus_server
from prometheus_server import free_port

GOLD = Path("/work/shared/benchmarks/prometheus/rules.yml")
PROMTOOL = Path("/usr/bin/promtool")
prometheus_url = prometheus_server.prometheus_url  # the fixture: a real Prometheus scraping itself
JSON_HOST = 'start: "\\"" promql "\\""\n'
OVERLAP = "must not occur in ON and GROUP clause"
FAST = settings(deadline=None, suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.reuse, Phase.generate])  # shrinking a batch of sentences is slow
DRAWS = 8  # sentences per example: more overrun hypothesis's buffer, and it retries

METRICS = MetricSet.from_dict({
    "metrics": {
        "http_requests_total": {"type": "counter", "help": "Requests served.", "labels": ["code", "handler"]},
        "node_memory_free_bytes": {"type": "gauge", "help": "Free memory."},
        "request_duration_seconds": {"type": "histogram", "help": "Latency."},
        "rpc_latency_seconds": {"type": "summary"},
        "up": "gauge",
    },
    "labels": {"job": ["api", "node"], "code": ["200", "500"]},
}, source="test")


def promtool_refusals(exprs: list[str]) -> str:
    """promtool's complaints about recording rules with these expressions ('' when it accepts them all)."""
    return promtool_check({"groups": [{"name": "g", "rules": [{"record": f"r{i}", "expr": e}
                                                                for i, e in enumerate(exprs)]}]})


def promtool_check(rules: dict) -> str:
    """promtool's complaints about a rule file ('' when it passes)."""
    if not PROMTOOL.exists():
        pytest.skip("promtool is not installed (Debian: apt install prometheus)")
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(rules, f)
        f.flush()
        done = subprocess.run([str(PROMTOOL), "check", "rules", f.name], capture_output=True, text=True, timeout=60)
    return "" if done.returncode == 0 else done.stdout + done.stderr


# ----------------------------------------------------------------------------- llguidance, byte by byte


@cache
def sampler(grammar: str) -> GrammarSampler:
    return GrammarSampler(grammar, max_depth=6)


@cache
def lark(grammar: str) -> Lark:
    return Lark(grammar, parser="earley")


# ----------------------------------------------------------------------------- the grammar

_identifier = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)
metric_names = st.lists(st.one_of(_identifier, st.from_regex(r"[a-z]{1,5}:[a-z_]{1,8}:[a-z0-9]{1,5}", fullmatch=True))
                        .filter(lambda n: n not in RESERVED), min_size=1, max_size=5, unique=True)
label_names = st.lists(_identifier.filter(lambda n: n not in ("inf", "nan", "__name__")), min_size=1, max_size=4,
                       unique=True)


def parses_or_overlaps(expr: str) -> bool:
    """promql-parser reads ``expr``, or refuses it only for the grammar's known over-approximation."""
    try:
        parse(expr)
        return True
    except PromQLError as e:
        if OVERLAP not in str(e):
            raise
        return False


@settings(FAST, max_examples=8)
@given(metrics=metric_names, labels=label_names, data=st.data())
def test_sentences_over_bound_names_parse_and_name_only_those(metrics, labels, data):
    """What decoding can emit is PromQL to promql-parser and to llguidance's greedy lexer, and names only what
    was bound: the checker, given those names, finds no unknown metric or label."""
    grammar = promql_grammar(metrics, labels)
    bound = MetricSet.from_dict({"metrics": {m: {"labels": labels} for m in metrics}})
    for _ in range(DRAWS):
        expr = data.draw(sampler(grammar).sentences())
        if not parses_or_overlaps(expr):
            continue
        for s in selectors(expr):
            assert s.metric in metrics, expr
            assert {m[0] for m in s.matchers} <= set(labels), expr
        assert [d for d in check_expr(expr, bound) if d.code.startswith("schema.")] == [], expr
        assert llguidance_accepts(grammar, expr), expr


@settings(FAST, max_examples=8)
@given(data=st.data())
def test_sentences_are_accepted_by_promtool(data):
    """Prometheus's own parser (Go: RE2 regexes, float parsing, duration limits) accepts what decoding emits,
    free names and bound ones alike."""
    grammars = [promql_grammar([], []), promql_grammar(["up", "http_requests_total", "job:errors:rate5m"],
                                                       ["job", "quantile", "code"])]
    batch = [data.draw(sampler(g).sentences()) for g in grammars for _ in range(DRAWS // len(grammars))]
    assert promtool_refusals([e for e in batch if parses_or_overlaps(e)]) == ""


@settings(FAST, max_examples=6)
@given(data=st.data())
def test_json_variant_emits_json_strings_holding_promql(data):
    """Inside a JSON string: every sentence is a JSON string literal (no raw quote, newline or control character)
    whose decoded content parses; the JSON variant accepts exactly the JSON-escaped plain sentences."""
    rules = promql_rules(["up", "http_requests_total"], ["job", "code"], in_json=True)
    host = JSON_HOST + rules
    plain = promql_grammar(["up", "http_requests_total"], ["job", "code"])
    for _ in range(DRAWS):
        literal = data.draw(sampler(host).sentences())
        assert not re.search(r"[\x00-\x1f]", literal)
        expr = json.loads(literal)
        assert isinstance(expr, str)
        if parses_or_overlaps(expr):
            assert lark(plain).parse(expr)
            assert llguidance_accepts(host, literal)


def test_json_variant_takes_escapes_as_json_writes_them():
    host = JSON_HOST + promql_rules([], [], in_json=True)
    for expr in ['up{job=~"10\\\\.0\\\\.0\\\\.1:.*", code!="a\\"b"}', "up{job='it\\'s'}", 'up{a="\\\\"}']:
        parse(expr)
        assert lark(host).parse(json.dumps(expr))
        assert llguidance_accepts(host, json.dumps(expr))
        with pytest.raises(LarkError):
            lark(host).parse('"' + expr + '"')  # unescaped, the quotes would end the JSON string


def test_llguidance_accepts_every_variant():
    for text in (promql_grammar([], []), promql_grammar(["up", "a:b:c"], ["job"]),
                 JSON_HOST + promql_rules([], [], in_json=True),
                 JSON_HOST + promql_rules(["up"], ["job"], in_json=True)):
        validate(Constraint("lark", text))


def test_rules_embed_without_clashing_names():
    rules = promql_rules(["up"], ["job"], in_json=True)
    defined = re.findall(r"^[?!]?(\w+):", rules, flags=re.M)
    assert "promql" in defined and "start" not in defined
    assert all(n == "promql" or n.lower().startswith("pq_") for n in defined)


@pytest.mark.parametrize("expr", ["sum", "by", "Offset", "inf", "bad-name", "bad_name"])
def test_names_that_cannot_be_written_bare_are_not_bound(expr):
    """Reserved words (any case) and non-identifiers are left out; the other names stay."""
    grammar = promql_grammar(["sum", "by", "Offset", "inf", "bad-name", "ok_name"], ["job"])
    assert lark(grammar).parse("ok_name")
    with pytest.raises(LarkError):
        lark(grammar).parse(expr)


@pytest.mark.parametrize("expr", [
    "1 and up", "up * on(job) 2", "1 == 2", "up + bool 1", "rate(up)", "sum(1)", "abs(1)", "time()[5m:1m]",
    "sum by (a) (up) by (b)", "(up) offset 5m", "up offset 1m offset 1m", "x * on(a) group_left (y)",
    "up[0s]", "up{a=~\"(\"}", "rate(-up[5m])", "up and bool up", "0e7 < up", "up > 1e400", "x[1m1h]",
    "up{__name__=\"x\"}", "{__name__=~\".*\"}", "up and 1 + 1",
])
def test_grammar_refuses_what_prometheus_refuses(expr):
    """Types, modifiers and literals Prometheus refuses are outside the grammar, not just caught later."""
    with pytest.raises(LarkError):
        lark(promql_grammar([], [])).parse(expr)


def test_label_in_on_and_group_is_the_grammars_one_overreach_and_the_checker_names_it():
    expr = "up * on(job) group_left(job) node_uname_info"
    assert lark(promql_grammar([], [])).parse(expr)
    [d] = check_expr(expr, None)
    assert d.code == "promql.syntax" and OVERLAP in d.message and expr[d.start:d.end] == "job"


# ----------------------------------------------------------------------------- the gold rules


@cache
def gold_queries() -> list[str]:
    if not GOLD.exists():
        pytest.skip(f"{GOLD} is not here")
    data = yaml.safe_load(GOLD.read_text())
    return [rule["query"] for group in data["groups"] for service in group["services"]
            for exporter in service["exporters"] for rule in exporter.get("rules") or []]


def test_every_gold_query_parses_or_is_reported():
    """Each query of awesome-prometheus-alerts parses, or check_expr reports it as promql.syntax, located."""
    refused = []
    for expr in gold_queries():
        try:
            parse(expr)
            assert not [d for d in check_expr(expr, None) if d.code == "promql.syntax"]
        except PromQLError:
            [d] = check_expr(expr, None)
            assert d.code == "promql.syntax" and 0 <= d.start < d.end <= len(expr)
            refused.append(expr)
    assert len(gold_queries()) == 1155
    assert len(refused) == 1, refused  # a regex escape written with one backslash: "\." in a double-quoted string


def test_grammar_derives_the_gold_queries():
    """Coverage: a model can only emit what the grammar derives. llguidance (the decoder) reads every query, Lark
    a quarter of them (Earley in Python takes ~30 ms a query); what promql-parser refuses, the grammar refuses."""
    grammar = promql_grammar([], [])
    queries = gold_queries()
    valid = [q for q in queries if _parses(q)]
    assert [q for q in valid if not llguidance_accepts(grammar, q)] == []
    assert [q for q in queries if q not in valid and llguidance_accepts(grammar, q)] == []
    sample = queries[::4]
    derived = [q for q in sample if _derives(grammar, q)]
    assert set(derived) == {q for q in sample if q in valid}


def _parses(expr: str) -> bool:
    try:
        parse(expr)
        return True
    except PromQLError:
        return False


def _derives(grammar: str, expr: str) -> bool:
    try:
        lark(grammar).parse(expr)
        return True
    except LarkError:
        return False


# ----------------------------------------------------------------------------- checking an expression


@pytest.mark.parametrize("bad, good, code, at", [
    ("rate(http_request_total[5m])", "rate(http_requests_total[5m])", "schema.unknown_metric", "http_request_total"),
    ('http_requests_total{cod="500"}', 'http_requests_total{code="500"}', "schema.unknown_label", "cod"),
    ("sum by (jb) (rate(http_requests_total[5m]))", "sum by (job) (rate(http_requests_total[5m]))",
     "schema.unknown_label", "jb"),
    ("up / on(instanc) up", "up / on(instance) up", "schema.unknown_label", "instanc"),
    ("sum without (hander) (up)", "sum without (handler) (up)", "schema.unknown_label", "hander"),
    ("rate(node_memory_free_bytes[5m]) > 0", "deriv(node_memory_free_bytes[5m]) > 0", "promql.rate_on_gauge",
     "node_memory_free_bytes"),
    ("histogram_quantile(0.9, rate(request_duration_seconds[5m]))",
     "histogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
     "promql.histogram_not_bucket", "request_duration_seconds"),
    ("rate(http_requests_total[5m]", "rate(http_requests_total[5m])", "promql.syntax", "("),
    ("sum(rate(up[5m])))", "sum(rate(up[5m]))", "promql.syntax", ")"),
    ("RATE(up[5m])", "rate(up[5m])", "promql.syntax", "RATE"),
    ('up{job=~"a\\.b"}', 'up{job=~"a\\\\.b"}', "promql.syntax", '"a\\.b"'),
    ("sum by job (up)", "sum by (job) (up)", "promql.syntax", "job"),
    ("rate(up)", "rate(up[5m])", "promql.syntax", "rate"),
    ("up{job=api}", 'up{job="api"}', "promql.syntax", "api"),
    ("up * on(job) group_left(job) up", "up * on(job) group_left(code) up", "promql.syntax", "job"),
])
def test_each_diagnostic_fires_where_it_should_and_only_there(bad, good, code, at):
    found = [d for d in check_expr(bad, METRICS) if d.code == code]
    assert len(found) == 1, check_expr(bad, METRICS)
    d = found[0]
    assert bad[d.start:d.end] == at
    assert (d.line, d.col) == position(bad, d.start)
    assert d.hint
    assert [x for x in check_expr(good, METRICS) if x.code == code] == []


def test_did_you_mean_and_severities():
    [metric] = check_expr("rate(http_request_total[5m])", METRICS)
    assert "http_requests_total" in metric.hint and metric.is_error
    [label] = check_expr('up{cod="1"}', METRICS)
    assert "'code'" in label.hint and label.is_error
    [gauge] = check_expr("rate(node_memory_free_bytes[5m])", METRICS)
    assert gauge.severity == "warning" and "deriv" in gauge.hint
    [bucket] = check_expr("histogram_quantile(0.9, rate(request_duration_seconds[5m]))", None)
    assert bucket.severity == "warning"
    [summary] = check_expr("histogram_quantile(0.9, rpc_latency_seconds)", METRICS)
    assert "quantile" in summary.hint


@pytest.mark.parametrize("expr", [
    'sum by (svc) (label_replace(up, "svc", "$1", "job", "(.*)"))',
    'count_values("version", up) by (version)',
    "sum by (le) (rate(request_duration_seconds_bucket[5m]))",
    "sum by (job, instance) (up)",
    'rpc_latency_seconds{quantile="0.99"} > 1',
    "increase(request_duration_seconds_count[5m])",
])
def test_labels_the_expression_or_prometheus_makes_are_known(expr):
    assert check_expr(expr, METRICS) == []


def test_without_declared_labels_label_names_stay_free():
    names_only = MetricSet.from_dict(["up", "http_requests_total"])
    assert names_only.label_names == frozenset()
    assert check_expr('sum by (anything) (up{whatever="x"})', names_only) == []
    assert [d.code for d in check_expr("upp", names_only)] == ["schema.unknown_metric"]


# ----------------------------------------------------------------------------- durations

DURATIONS = ["1m", "1h30m", "500ms", "0s", "0", "2w", "1y", "90s", "1d12h", "5", "1x", "5 min", "30m1h", "", "-5m",
             "1.5h", "5M"]


def test_durations_agree_with_promtool():
    """check_duration accepts exactly what Prometheus reads as a rule's ``for``."""
    for text in DURATIONS:
        rule = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": text}]}]}
        accepted = promtool_check(rule) == ""
        assert (check_duration(text) is None) == accepted, (text, check_duration(text))
    assert "1h30m" in check_duration("5 min")  # says what a duration looks like


# ----------------------------------------------------------------------------- alert templates


@pytest.mark.parametrize("bad, good, code, at, severity", [
    ("{{ $labels.instance ", "{{ $labels.instance }}", "template.syntax", "{{", "error"),
    ("{{ if gt $value 1.0 }}high", "{{ if gt $value 1.0 }}high{{ end }}", "template.syntax", "{{ if", "error"),
    ("{{ $valu | humanize }}", "{{ $value | humanize }}", "template.unknown_variable", "$valu", "error"),
    ("{{ humanise $value }}", "{{ humanize $value }}", "template.unknown_function", "humanise", "error"),
    ('{{ printff "%.2f" $value }}', '{{ printf "%.2f" $value }}', "template.unknown_function", "printff", "error"),
    ("{{ $labels.instnce }} down", "{{ $labels.instance }} down", "template.unknown_label", "instnce", "warning"),
    ("{{ .Labels.jbo }}", "{{ .Labels.job }}", "template.unknown_label", "jbo", "warning"),
    ("x }} y", "x y", "template.syntax", "}}", "warning"),
])
def test_template_diagnostics(bad, good, code, at, severity):
    found = [d for d in check_template(bad, {"instance", "job"}) if d.code == code]
    assert len(found) == 1
    assert bad[found[0].start:found[0].end] == at and found[0].severity == severity
    assert check_template(good, {"instance", "job"}) == []


@pytest.mark.parametrize("text", [
    "{{ $labels.instance }} of {{ $labels.job }} is {{ $value | humanizePercentage }}",
    '{{ printf "%.2f" $value }} {{ $externalLabels.cluster }} {{ $externalURL }}',
    "{{ $v := $value }}{{ if gt $v 10.0 }}high{{ else if gt $v 5.0 }}mid{{ else }}low{{ end }}",
    '{{ range query "up == 0" }}{{ .Labels.whatever }} {{ .Value }}{{ end }}',
    "{{- /* a comment */ -}}{{ with $labels.job }}{{ . }}{{ end }}",
    "{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance | toUpper }}",
])
def test_templates_promtool_accepts_are_clean(text):
    assert check_template(text, {"instance", "job"}) == []
    assert promtool_check(_alert_with(text)) == ""


@pytest.mark.parametrize("text", ["{{ $value ", "{{ if $value }}x", "{{ nope $value }}", "{{ $nope }}", "{{ end }}"])
def test_template_errors_are_errors_to_promtool_too(text):
    assert any(d.is_error for d in check_template(text, None))
    assert promtool_check(_alert_with(text)) != ""


def test_template_functions_are_prometheus_functions():
    """Every function the checker knows is one promtool knows (functions resolve when a template parses)."""
    calls = "".join(f"{{{{ {f} }}}}" for f in sorted(TEMPLATE_FUNCTIONS))
    assert promtool_check(_alert_with("{{ if false }}" + calls + "{{ end }}")) == ""


def _alert_with(annotation: str) -> dict:
    return {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0",
                                                 "annotations": {"summary": annotation}}]}]}


# ----------------------------------------------------------------------------- where metric names come from

EXPOSITION = """# HELP http_requests_total Requests served, by code.
# TYPE http_requests_total counter
http_requests_total{code="200",handler="/api"} 1027 1395066363000
http_requests_total{code="500",handler="/say \\"hi\\""} 3
# HELP request_duration_seconds Latency.
# TYPE request_duration_seconds histogram
request_duration_seconds_bucket{le="0.1"} 3
request_duration_seconds_bucket{le="+Inf"} 5
request_duration_seconds_sum 1.2
request_duration_seconds_count 5
# HELP idle_workers Workers waiting.
# TYPE idle_workers gauge
# TYPE untouched_total counter
process_start_time_seconds 1.7e9
"""


def test_exposition_file(tmp_path):
    path = tmp_path / "metrics.prom"
    path.write_text(EXPOSITION)
    ms = MetricSet.from_file(path)
    assert ms.names == {"http_requests_total", "request_duration_seconds_bucket", "request_duration_seconds_sum",
                        "request_duration_seconds_count", "idle_workers", "untouched_total",
                        "process_start_time_seconds"}
    assert ms.metrics["http_requests_total"] == MetricInfo("counter", "Requests served, by code.",
                                                           frozenset({"code", "handler"}))
    assert ms.metrics["request_duration_seconds_bucket"].type == "histogram"
    assert ms.metrics["idle_workers"].type == "gauge"
    assert ms.labels["handler"] == {"/api", '/say "hi"'}
    assert ms.label_names >= {"code", "handler", "le", "job", "instance"}


def test_json_and_yaml_files(tmp_path):
    data = {"metrics": {"up": {"type": "gauge", "help": "Target is up.", "labels": ["job"]}}, "labels": ["env"]}
    (tmp_path / "m.json").write_text(json.dumps(data))
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "list.yml").write_text("- up\n- http_requests_total\n")
    assert MetricSet.from_file(tmp_path / "m.json").metrics == MetricSet.from_file(tmp_path / "m.yaml").metrics
    assert MetricSet.from_file(tmp_path / "m.json").label_names == {"job", "env", "instance"}
    assert MetricSet.from_file(tmp_path / "list.yml").names == {"up", "http_requests_total"}
    assert load_metrics(str(tmp_path / "m.yaml")).metrics["up"].help == "Target is up."


@pytest.mark.parametrize("data, says", [
    ({"metrics": {"up": {"type": "countr"}}}, "countr"),
    ({"names": ["up"]}, "metrics"),
    ({"metrics": {"up": 3}}, "up"),
    ({"metrics": ["up"], "labels": "job"}, "labels"),
])
def test_bad_metric_files_say_what_is_wrong(data, says):
    with pytest.raises(Nl2qError, match=says):
        MetricSet.from_dict(data)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(Nl2qError, match="nope.json"):
        load_metrics(tmp_path / "nope.json")


def test_render_ranks_by_the_question_and_says_what_it_cut():
    many = MetricSet.from_dict({"metrics": {
        **{f"filler_{i:03}_seconds": {"type": "gauge"} for i in range(100)},
        "http_requests_total": {"type": "counter", "help": "HTTP requests served.\nMore detail."},
        "disk_free_bytes": {"type": "gauge", "help": "Free disk space."},
    }, "labels": {"job": ["api"], "device": []}})
    text = many.render("alert when HTTP requests fail", limit=10)
    lines = text.splitlines()
    assert "- http_requests_total (counter): HTTP requests served." in lines
    assert "... 92 more metrics not shown" in lines
    assert len([line for line in lines if line.startswith("- ")]) == 10
    assert lines[-1].startswith("Labels: ") and 'job ("api")' in lines[-1] and "device" in lines[-1]
    whole = many.render("anything", limit=500)
    assert "more metrics not shown" not in whole and whole.count("\n- ") == 101


def test_from_prometheus_reads_a_real_server(prometheus_url):
    ms = MetricSet.from_prometheus(prometheus_url)
    assert ms.source == prometheus_url
    counter = ms.metrics["prometheus_http_requests_total"]
    assert counter.type == "counter" and counter.help
    assert ms.info("prometheus_http_request_duration_seconds_bucket").type == "histogram"
    assert {"handler", "code", "job", "instance"} <= ms.label_names
    assert load_metrics(prometheus_url).names == ms.names
    assert check_expr('sum by (handler) (rate(prometheus_http_requests_total{code="200"}[5m]))', ms) == []
    assert [d.code for d in check_expr("rate(prometheus_http_request_total[5m])", ms)] == ["schema.unknown_metric"]


def test_a_saved_scrape_names_what_the_server_names(prometheus_url, tmp_path):
    with urllib.request.urlopen(prometheus_url + "/metrics", timeout=5) as response:
        (tmp_path / "scrape.txt").write_bytes(response.read())
    scraped = MetricSet.from_file(tmp_path / "scrape.txt")
    served = MetricSet.from_prometheus(prometheus_url)
    assert scraped.metrics["prometheus_http_requests_total"].type == "counter"
    common = scraped.names & served.names
    assert len(common) > 0.8 * len(scraped.names)
    assert all(scraped.metrics[n].type == served.metrics[n].type for n in common if served.metrics[n].type != "unknown")


def test_unreachable_prometheus_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(Nl2qError) as caught:
        MetricSet.from_prometheus(url, timeout=2)
    assert url in str(caught.value) and "running" in caught.value.hint


def test_wrong_path_on_a_real_server_is_a_clear_error(prometheus_url):
    with pytest.raises(Nl2qError, match="404"):
        MetricSet.from_prometheus(prometheus_url + "/nope")
