"""promtool as the dry run of rule files: its checks, what alerts fire on given series, and the synthetic series
designed so a rule's firing tells right from wrong. Everything runs the real promtool."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nl2q.errors import Nl2qError
from nl2q.targets.config import promtool as pt
from nl2q.targets.config.promtool import (Series, check_rules, discriminating_series, expand, firing, label_value,
                                          matches, notation, regex_examples, rule_file, synthetic_series)

pytestmark = pytest.mark.skipif(not Path("/usr/bin/promtool").is_file() and shutil.which("promtool") is None,
                                reason="promtool is not installed (apt-get install prometheus)")

GOOD = """groups:
- name: demo
  rules:
  - alert: HighFoo
    expr: foo > 5
    for: 2m
    labels: {severity: warning}
"""
BAD = """groups:
- name: demo
  rules:
  - alert: Broken
    expr: rate(foo[5m)
"""


def minutes(*ms: int) -> list[str]:
    return [f"{m}m" for m in ms]


def test_check_rules_accepts_a_good_file_as_yaml_or_json() -> None:
    import yaml

    for text in (GOOD, json.dumps(yaml.safe_load(GOOD))):
        result = check_rules(text)
        assert result.ok and result.errors == [], result.output


def test_check_rules_rejects_a_broken_expression_naming_rule_and_position() -> None:
    result = check_rules(BAD)
    assert not result.ok
    [error] = result.errors
    assert "could not parse expression" in error.message and "unexpected" in error.message
    assert (error.group, error.rule, error.name) == ("demo", 1, "Broken")
    assert (error.expr_line, error.expr_col) == (1, 12)  # the ")" where "]" belongs
    diag = error.diagnostic(BAD)
    assert BAD[diag.start] == ")" and (diag.line, diag.col) == (5, BAD.split("\n")[4].index(")") + 1)
    assert "Broken" in diag.message and diag.hint


def test_check_rules_reports_file_level_errors_without_a_rule() -> None:
    result = check_rules("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n")
    assert not result.ok
    assert [(e.group, e.rule, e.line) for e in result.errors] == [("g", None, 4)]
    assert "repeated" in result.errors[0].message and "own name" in result.errors[0].hint


def test_promtool_missing_is_an_error_that_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setattr(pt, "PROMTOOL_CANDIDATES", ("/nonexistent/promtool",))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(Nl2qError, match="apt-get install prometheus"):
        pt.promtool_path()


def test_firing_distinguishes_pending_from_firing_under_for() -> None:
    """``foo > 5`` held 2m: true from 1m, firing from 3m; false at 5m resets it; true again from 6m, firing at 8m."""
    series = [Series("foo", {"job": "j", "instance": "a"}, "0 10 10 10 10 0 10 10 10 10"),
              Series("foo", {"job": "j", "instance": "b"}, "0x9")]
    result = firing(GOOD, series, evals=minutes(*range(10)))
    assert result.ok, result.error
    fired = {t for t, alerts in result.by_time.items() if alerts}
    assert fired == set(minutes(3, 4, 8, 9))
    assert result.by_time["3m"] == {("HighFoo", frozenset({("alertname", "HighFoo"), ("job", "j"), ("instance", "a"),
                                                      ("severity", "warning")}))}


def test_firing_of_a_rate_rule_follows_prometheus_extrapolation() -> None:
    """``c`` grows 120 a minute for 5m, then stays. ``rate(c[5m])`` while the window is filling is the increase so far
    over 300s (0.4, 0.8, 1.2, ...: above 1 from 3m); once the counter stops, the window loses 120 a minute
    (at 7m: 360/300 = 1.2, at 8m: 240/300 = 0.8)."""
    text = rule_file("rate(c[5m]) > 1")
    result = firing(text, [Series("c", {"instance": "a"}, "0+120x5 600x10")], evals=minutes(*range(1, 12)))
    assert result.ok, result.error
    assert {t for t, alerts in result.by_time.items() if alerts} == set(minutes(3, 4, 5, 6, 7))


def test_firing_reports_an_evaluation_error_instead_of_silence() -> None:
    text = rule_file("foo / on() bar > 1")  # two foo series against one bar: many-to-one without group_left
    series = [Series("foo", {"instance": "a"}, "5x5"), Series("foo", {"instance": "b"}, "5x5"),
              Series("bar", {"instance": "a"}, "1x5")]
    result = firing(text, series, evals=["2m"])
    assert not result.ok and "many-to-one" in (result.error or "")


def test_notation_round_trips_and_folds_runs() -> None:
    samples = [0.0, 10.0, 20.0, 30.0, None, None, 5.0, 5.0, 5.0, 2.5, 1.0]
    text = notation(samples)
    assert expand(text) == samples
    assert text.startswith("0+10x3 _x1 5x2")


@pytest.mark.parametrize("pattern, example", [("a|b", "a"), (".*", "x"), (".+", "x"), ("[0-9]+", "0"),
                                              ("^(fuse.*|tmpfs)$", "fusex"), ("5..", "5xx"), (r"sd[a-z]\d", "sda0")])
def test_regex_examples_start_with_the_simplest_match(pattern: str, example: str) -> None:
    found = regex_examples(pattern)
    assert found[0] == example and all(re.fullmatch(pattern, s) for s in found)


def test_label_value_leaves_out_a_label_only_its_absence_satisfies() -> None:
    assert label_value([("!~", ".+")]) is None
    assert label_value([("=~", "tmpfs|ext4"), ("!=", "tmpfs")]) == "ext4"
    assert label_value([("!=", "x")]) not in ("x", "", None)


WORDS = ["idle", "user", "eth0", "tmpfs", "ext4", "500", "GET"]


@st.composite
def matcher_sets(draw) -> list[tuple[str, str, str]]:
    """Matchers on up to three labels that a hidden value of each label satisfies (so they can be met)."""
    out = []
    for label in draw(st.lists(st.sampled_from(["mode", "device", "code", "fstype"]), min_size=1, max_size=3,
                               unique=True)):
        value = draw(st.sampled_from(WORDS))
        other = draw(st.sampled_from([w for w in WORDS if w != value]))
        regexes = [f"{value}|{other}", f"{other}|{value}", f"{re.escape(value[0])}.*", ".+", "[A-Za-z0-9]+",
                   f"({re.escape(value)})", f"{re.escape(value[:2])}[A-Za-z0-9]*", f"(?:{other}|{value[0]}.+)"]
        kinds = [("=", value), ("=~", draw(st.sampled_from(regexes))), ("!=", other),
                 ("!~", draw(st.sampled_from([other, f"{other}|zz", "zz.*"])))]
        for op, operand in draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=3, unique=True)):
            out.append((label, op, operand))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matcher_sets(), st.sampled_from(["{}", "rate({}[5m]) > 1", "sum by (instance) ({}) / on(instance) up > 0.5"]))
def test_synthetic_series_labels_satisfy_the_selector(matchers, template) -> None:
    inner = ", ".join(f"{label}{op}{json.dumps(value)}" for label, op, value in matchers)
    expr = template.format(f"m{{{inner}}}")
    for candidate in synthetic_series(expr, for_="1m"):
        ms = [s for s in candidate if s.metric == "m"]
        ok = [s for s in ms if all(matches(s.labels.get(label, ""), op, v) for label, op, v in matchers)]
        assert len({s.labels["instance"] for s in ok}) == 2, (expr, ms)
        assert len(ms) - len(ok) <= 1  # at most a decoy the selector must filter out
        assert all(re.fullmatch(v, s.labels.get(label, "")) for s in ok for label, op, v in matchers if op == "=~")


@pytest.mark.parametrize("gold, for_, other", [
    ("up == 0", "1m", "up == 1"),
    ("node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.1", "5m",
     "node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.3"),
    ("increase(errors_total[1m]) > 3", None, "increase(errors_total[1m]) > 10"),
    ("rate(requests_total{code=~\"5..\"}[5m]) > 0.5", "2m", "rate(requests_total[5m]) > 0.5"),
])
def test_discriminating_series_separates_the_gold_from_a_different_rule(gold: str, for_: str | None,
                                                                        other: str) -> None:
    scenario = discriminating_series(gold, for_)
    assert scenario is not None and scenario.discriminating
    fired = scenario.run(rule_file(gold, for_))
    assert fired.ok and 0 < fired.times_firing() < len(scenario.evals)
    assert scenario.run(rule_file(other, for_)).by_time != fired.by_time


def test_a_rule_that_always_fires_falls_back_and_one_that_never_can_gets_none() -> None:
    always = discriminating_series("vector(1)")
    assert always is not None and not always.discriminating
    assert discriminating_series("up > 1 and up < 1") is None
