"""The SPL decode grammar over a bound environment, and the Splunk Security Content suite and its metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from lark import Lark
from lark.exceptions import LarkError

from nl2q.evaluate.benchmarks import available, benchmarks_dir
from nl2q.targets import get_target
from nl2q.targets.spl.grammar import macro_uses
from nl2q.targets.spl.parse import parse
from nl2q.targets.spl.schema import load_schema
from nl2q.targets.spl.security_content import SecurityContent, event_fields, similarity

ENV = {"indexes": {"web": ["access_combined"], "auth": ["linux_secure"]},
       "fields": {"status": {"type": "BIGINT"}, "user": {}, "Web.src": {}},
       "datamodels": ["Web"], "lookups": ["bad_hosts"],
       "macros": {"web_logs": "index=web sourcetype=access_combined", "ctime(1)": "convert ctime($f$)",
                  "noise_filter": "search *", "nested": "`web_logs` status=500"}}


@pytest.fixture(scope="module")
def decoder() -> Lark:
    bound = get_target("spl").bind(ENV)
    return Lark(bound.constraint.text, parser="earley")


def derives(decoder: Lark, text: str) -> bool:
    try:
        decoder.parse(text)
    except LarkError:
        return False
    return True


def test_decoding_starts_from_a_bound_index_with_its_own_sourcetypes_a_macro_or_a_datamodel(decoder) -> None:
    assert derives(decoder, "index=web sourcetype=access_combined earliest=-24h status=500 | stats count by user")
    assert not derives(decoder, "index=web sourcetype=linux_secure earliest=-24h")  # auth's sourcetype
    assert not derives(decoder, "index=mail earliest=-24h")
    assert not derives(decoder, "index=web status=500")  # no time range
    assert derives(decoder, "`web_logs` earliest=-1h status=500 | `ctime(user)` | `noise_filter`")
    assert not derives(decoder, "index=web earliest=-1h | `web_logs`")  # selects events: not a command
    assert derives(decoder, "| tstats count from datamodel=Web by Web.src")
    assert not derives(decoder, "| tstats count from datamodel=Endpoint by Web.src")
    assert derives(decoder, "index=web earliest=-1h | lookup bad_hosts user OUTPUT status")


def test_new_fields_are_lower_case_and_never_a_grammar_word(decoder) -> None:
    assert derives(decoder, "index=web earliest=-1h | stats count as hits by user | sort -hits")
    assert not derives(decoder, "index=web earliest=-1h | stats count as Hits by user")
    assert not derives(decoder, "index=web earliest=-1h | sort -num user")  # num( would start a sort function


def test_macros_are_offered_by_what_their_definition_parses_as() -> None:
    starts, piped = macro_uses(load_schema(ENV))
    assert [m.name for m in starts] == ["web_logs"]
    assert sorted(m.name for m in piped) == ["ctime", "noise_filter"]  # `nested` calls a macro: not offered


def test_event_fields_are_those_read_before_the_pipeline_made_them() -> None:
    search = parse("index=a x=1 | eval y=x+w | stats count by y, z | where count > 2 | join y [search b=2]")
    assert event_fields(search) == {"x", "w", "z", "b"}


def test_similarity_by_hand() -> None:
    gold = parse("index=web sourcetype=access_combined status=500 | stats count by user")
    same = similarity(gold, gold)
    assert same["command_sequence"] == same["field_f1"] == same["index_match"] == same["source_match"] == 1.0
    assert same["datamodel_match"] is None  # the gold names no datamodel
    pred = parse("index=web status=404 | eval n=1 | stats count by host")
    got = similarity(gold, pred)
    assert got["command_sequence"] == pytest.approx(1 - 1 / 3)  # one command inserted, three long
    assert got["index_match"] == 1.0 and got["sourcetype_match"] == 0.0 and got["source_match"] == 0.0
    assert got["field_f1"] == pytest.approx(2 * 1 / (2 + 2))  # status shared; user vs host
    nothing = similarity(gold, None)
    assert nothing["command_sequence"] == 0.0 and nothing["source_match"] == 0.0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_suite_reads_detections_skips_deprecated_and_builds_the_environment(tmp_path) -> None:
    base = tmp_path / "splunk"
    _write(base / "macros" / "web_logs.yml", "name: web_logs\ndefinition: index=web sourcetype=access_combined\n")
    _write(base / "detections" / "web" / "a.yml", "name: A\ntype: TTP\nstatus: production\n"
           "description: Many server errors.\nsearch: '`web_logs` status=500 | stats count by uri | `a_filter`'\n")
    _write(base / "detections" / "endpoint" / "b.yml", "name: B\ntype: Hunting\ndescription: Processes.\n"
           "search: '| tstats count from datamodel=Endpoint.Processes by Processes.dest | lookup assets "
           "dest OUTPUT owner'\n")
    _write(base / "detections" / "web" / "old.yml", "name: Old\nstatus: deprecated\nsearch: index=web\n")
    _write(base / "detections" / "deprecated" / "c.yml", "name: C\nsearch: index=old\n")
    suite = SecurityContent(tmp_path)
    items = suite.all_items()
    assert sorted(i.database for i in items) == ["endpoint", "web"]
    assert {i.groups["type"] for i in items} == {"TTP", "Hunting"}
    schema = suite.schema_for(items[0])
    assert schema.indexes == ["web"] and schema.sourcetypes == ["access_combined"]
    assert schema.datamodels == ["Endpoint.Processes"] and schema.lookups == ["assets"]
    assert {"status", "uri", "Processes.dest"} <= set(schema.fields) and "owner" not in schema.fields
    web = next(i for i in items if i.database == "web")
    assert suite.similarity(web, web.gold)["command_sequence"] == 1.0
    assert suite.similarity(web, "index=web earliest=-1h status=500 | stats count by uri")["source_match"] == 0.0
    bound = get_target("spl").bind(schema)
    assert not [d for d in bound.check(web.gold, suite.policy).diagnostics if d.is_error]


needs_content = pytest.mark.skipif(not available("splunk"), reason="needs the Splunk Security Content benchmark data")


@pytest.fixture(scope="module")
def content() -> SecurityContent:
    return SecurityContent(benchmarks_dir())


@needs_content
def test_the_checker_accepts_at_least_95_percent_of_the_gold_detections(content) -> None:
    items = content.all_items()
    assert len(items) == 1613
    bound = get_target("spl").bind(content.schema_for(items[0]))
    sample = items[::3]
    accepted = sum(1 for i in sample if not [d for d in bound.check(i.gold, content.policy).diagnostics if d.is_error])
    assert accepted >= 0.95 * len(sample)


@needs_content
def test_the_content_environments_grammar_masks_every_token_within_llguidances_limits(content, default_model) -> None:
    """The grammar over 1,068 fields, 190 macros and 18 datamodels: the Earley parser computing each token's mask
    stays under llguidance's item limit, and searches shaped like the content's are derivable token by token."""
    import llguidance
    import llguidance.hf

    bound = get_target("spl").bind(content.schema_for(content.all_items()[0]))
    grammar = llguidance.grammar_from("lark", bound.constraint.text)
    tokenizer = default_model.tokenizer
    searches = [
        "`sysmon` earliest=-24h EventCode=1 process_name=cmd.exe | stats count min(_time) as firstTime by dest, user"
        " | where count > 5 | `security_content_ctime(firstTime)`",
        "| tstats summariesonly=t count from datamodel=Endpoint.Processes where Processes.process_name=cmd.exe by "
        "Processes.dest Processes.user | `drop_dm_object_name(Processes)` | table dest user count",
        "| tstats count from datamodel=Endpoint.Processes | fields + dest, user, process_name | sort -count | head 5",
    ]
    for text in searches:
        matcher = llguidance.LLMatcher(llguidance.hf.from_tokenizer(tokenizer), grammar, log_level=0)
        for token in tokenizer(text + "\n```", add_special_tokens=False).input_ids:
            matcher.compute_bitmask()
            assert not matcher.is_error(), matcher.get_error()
            assert matcher.consume_token(token), (text, tokenizer.decode([token]), matcher.get_error())
        assert matcher.is_accepting() or matcher.is_stopped(), text
