"""The SPL checker (names through the pipeline, policy on the tree, semantic traps) and the offline dry run
(SPL compiled to DuckDB over LogHub events, with Splunk's semantics where SQL differs)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from nl2q import Policy
from nl2q.evaluate.benchmarks import available, benchmarks_dir
from nl2q.targets import get_target
from nl2q.targets.spl.check import check_spl
from nl2q.targets.spl.events import build_store
from nl2q.targets.spl.macros import Macros
from nl2q.targets.spl.schema import load_schema

PROFILE = get_target("spl").profile("splunk")
SCHEMA = load_schema({"indexes": ["web", "auth"], "sourcetypes": ["access_combined", "linux_secure"],
                      "fields": {"status": {"type": "BIGINT"}, "user": {}, "action": {}, "uri_path": {}}})
LOGHUB = benchmarks_dir("loghub") if available("loghub") else Path("/nonexistent")


def codes(text: str, policy: Policy = Policy(), macros: Macros | None = None) -> list[str]:
    return [d.code for d in check_spl(text, SCHEMA, PROFILE, policy, macros).diagnostics]


def only(text: str, code: str) -> object:
    found = [d for d in check_spl(text, SCHEMA, PROFILE, Policy()).diagnostics if d.code == code]
    assert len(found) == 1, (text, codes(text))
    return found[0]


def test_a_plain_search_passes() -> None:
    assert codes("index=web earliest=-24h status=500 | stats count by user | sort 0 -count") == []


def test_unknown_names_with_did_you_mean() -> None:
    d = only("index=web earliest=-1h | stats count by usr", "schema.unknown_field")
    assert "user" in d.hint and d.col == 41
    assert "web" in only("index=wbe earliest=-1h", "schema.unknown_index").hint
    assert "schema.unknown_sourcetype" in codes("index=web sourcetype=acess_combined earliest=-1h")
    assert codes("index=w* earliest=-1h") == []  # a wildcard may match


def test_fields_follow_the_pipeline() -> None:
    assert codes("index=web earliest=-1h | eval u=lower(user) | stats count by u") == []
    assert codes('index=web earliest=-1h | rex field=uri_path "/(?<app>[a-z]+)/" | stats dc(user) as n by app') == []
    assert codes("index=web earliest=-1h | stats count as hits by user | where hits > 5") == []
    assert codes("index=web earliest=-1h | rename user as account | table account status") == []
    dropped = only("index=web earliest=-1h | table user | stats count by status", "schema.unknown_field")
    assert "dropped" in dropped.message
    assert "schema.unknown_field" in codes("index=web earliest=-1h | stats count by user | table status")


def test_options_aggregations_and_function_arity_are_checked_against_the_profile() -> None:
    assert codes("index=web earliest=-1h | timechart span=1h limit=5 count by user | head 3") == []
    d = only("index=web earliest=-1h | timechart spn=1h count", "syntax.unknown_option")
    assert "span" in d.hint and d.col == 36
    assert "syntax.unknown_option" in codes("index=web earliest=-1h | stats span=1h count by user")  # tstats only
    assert "syntax.no_aggregation" in codes("index=web earliest=-1h | chart by user")
    assert "syntax.unknown_option" in codes("| tstats tokenizer=t count")
    assert "if" in only('index=web earliest=-1h | eval x=iff(status>1, 1, 0)', "syntax.unknown_function").hint
    assert "3" in only('index=web earliest=-1h | where if(status>1, 1)', "syntax.arity").message
    assert "syntax.arity" in codes("index=web earliest=-1h | stats count(eval(round(status, 1, 2) > 1)) as n")
    assert codes("index=web earliest=-1h | stats p95(status) perc99(status) by user") == []
    assert "syntax.unknown_function" in codes("index=web earliest=-1h | stats cnt by user")
    assert "syntax.arity" in codes("index=web earliest=-1h | stats dc by user")  # dc of what?
    assert codes("index=web earliest=-1h | stats c dc(user) as users by status") == []
    assert "syntax.unknown_function" in codes("index=web earliest=-1h | convert avg(status)")  # not a conversion


def test_letters_that_fold_to_ascii_are_refused_outside_quoted_strings() -> None:
    d = only("index=web earliest=-1h | \u017fort -status", "policy.lookalike_character")  # ſort reads as sort
    assert d.col == 26
    assert "policy.lookalike_character" in codes("index=web earliest=-1h user=\u0130lker")
    assert "policy.lookalike_character" not in codes('index=web earliest=-1h user="\u0130lker"')


def test_commands_that_write_send_or_run_are_refused_wherever_they_are() -> None:
    for cmd in PROFILE.refused_commands:
        assert "policy.refused_command" in codes(f"index=web earliest=-1h | {cmd} x=1"), cmd
    assert "policy.refused_command" in codes("index=web earliest=-1h | append [search index=auth earliest=-1h | delete]")
    assert "policy.guarded_command" in codes("| rest /services/authentication/users")
    assert "policy.guarded_command" not in codes("| rest /services/server/info", Policy(allow_writes=True))
    assert "policy.refused_command" in codes("index=web earliest=-1h | delete", Policy(allow_writes=True))


def test_a_time_range_is_required_unless_waived() -> None:
    assert "policy.time_range" in codes("index=web status=500")
    assert "policy.time_range" not in codes("index=web status=500", Policy(require_time_range=False))
    assert codes("index=web status=500 latest=now earliest=-15m") == []


def test_a_search_starts_with_events_or_a_generating_command() -> None:
    assert "syntax.not_generating" in codes("| top 5 user")
    assert "syntax.not_generating" not in codes("| makeresults count=1")


def test_semantic_traps_are_warnings() -> None:
    assert "semantics.or_binding" in codes("index=web earliest=-1h error user=a OR user=b")
    assert "semantics.or_binding" not in codes("index=web earliest=-1h error (user=a OR user=b)")
    assert "semantics.not_equal" in codes("index=web earliest=-1h NOT user=a")
    assert "semantics.sort_limit" in codes("index=web earliest=-1h | sort -status")
    assert "semantics.join_max" in codes("index=web earliest=-1h | join user [search index=auth earliest=-1h]")
    report = check_spl("index=web earliest=-1h | sort -status", SCHEMA, PROFILE, Policy()).diagnostics
    assert all(not d.is_error for d in report)


def test_macros_expand_before_checking() -> None:
    macros = Macros({"web_errors": "index=web status>=500"})
    assert codes("`web_errors` earliest=-1h | stats count by user", macros=macros) == []
    assert codes("`nope` earliest=-1h", macros=macros) == ["schema.unknown_macro"]


def test_syntax_errors_say_where() -> None:
    d = check_spl("index=web earliest=-1h | stats count by", SCHEMA, PROFILE, Policy()).diagnostics[0]
    assert d.code == "syntax.error" and d.line == 1 and "stats" in d.message


# ------------------------------------------------------------------ the offline dry run

needs_loghub = pytest.mark.skipif(not available("loghub"), reason="needs LogHub in the benchmark directory")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("spl") / "three.duckdb", LOGHUB, ["hdfs", "openssh", "linux"])


@pytest.fixture(scope="module")
def ref(store, tmp_path_factory):
    """A second copy of the store for direct SQL (the dry run holds the first one, read-only, locked down)."""
    import shutil

    copy = tmp_path_factory.mktemp("ref") / "ref.duckdb"
    shutil.copy(store, copy)
    con = duckdb.connect(str(copy), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def bound(store):
    b = get_target("spl").bind(store)
    yield b
    b.close()


def rows(bound, text: str, policy: Policy = Policy(max_rows=100_000, preview_rows=100_000)) -> list[list]:
    dry = bound.dry_run(text, policy, False)
    assert dry is not None and dry.ok and dry.mode == "run", (text, dry)
    return dry.rows


@needs_loghub
def test_stats_matches_sql_and_drops_null_groups(bound, ref) -> None:
    got = rows(bound, "index=hdfs earliest=0 | stats count by Component")
    want = ref.execute("SELECT Component, count(*) FROM events WHERE \"index\"='hdfs' GROUP BY 1 ORDER BY 1").fetchall()
    assert [tuple(r) for r in got] == want  # sorted by the BY field, as Splunk does
    levels = rows(bound, "index=* earliest=0 | stats count by Level")
    assert None not in [r[0] for r in levels]  # openssh events have no Level: not a null group
    assert sum(r[1] for r in levels) == 4000


@needs_loghub
def test_not_equals_and_not_field_equals_differ_on_events_without_the_field(bound) -> None:
    ne = rows(bound, "index=* earliest=0 Level!=INFO | stats count")[0][0]
    negated = rows(bound, "index=* earliest=0 NOT Level=INFO | stats count")[0][0]
    assert negated - ne == 2000  # the openssh events, which lack Level


@needs_loghub
def test_values_match_case_insensitively_with_wildcards_and_terms_search_raw(bound) -> None:
    assert rows(bound, "index=hdfs earliest=0 Level=info | stats count")[0][0] == \
        rows(bound, "index=hdfs earliest=0 Level=INFO | stats count")[0][0] > 0
    starred = rows(bound, "index=hdfs earliest=0 Component=dfs.Data* | stats dc(Component) as n")[0][0]
    assert starred >= 2
    assert rows(bound, 'index=openssh earliest=0 "Failed password" | stats count')[0][0] > 0


@needs_loghub
def test_relative_time_counts_back_from_the_newest_event_of_the_named_index(bound, ref) -> None:
    newest = ref.execute("SELECT max(_time) FROM events WHERE \"index\"='openssh'").fetchone()[0]
    want = ref.execute("SELECT count(*) FROM events WHERE \"index\"='openssh' AND _time >= ? - INTERVAL 1 HOUR",
                       [newest]).fetchone()[0]
    assert rows(bound, "index=openssh earliest=-1h | stats count")[0][0] == want


@needs_loghub
def test_pipeline_commands_keep_splunk_order_and_shape(bound) -> None:
    head = rows(bound, "index=linux earliest=0 | table _time Component | head 3")
    assert len(head) == 3 and head[0][0] >= head[1][0] >= head[2][0]  # newest first
    ips = rows(bound, r'index=openssh earliest=0 | rex "from (?<ip>\d+\.\d+\.\d+\.\d+)" | top 3 ip')
    assert len(ips) == 3 and ips[0][1] >= ips[1][1] and all(r[0].count(".") == 3 for r in ips)
    dedup = rows(bound, "index=linux earliest=0 | dedup Component | stats count")
    distinct = rows(bound, "index=linux earliest=0 | stats dc(Component)")
    assert dedup == distinct
    assert len(rows(bound, "index=linux earliest=0 | head")) == 10


@needs_loghub
def test_an_engine_error_names_the_command_and_unsupported_commands_are_not_run(bound) -> None:
    dry = bound.dry_run('index=hdfs earliest=0 | eval x=Content - _time | stats count by x', Policy(), False)
    assert not dry.ok and "`eval`" in dry.error
    skipped = bound.dry_run("index=hdfs earliest=0 | transaction Pid", Policy(), False)
    assert skipped.ok and skipped.mode == "skipped" and "transaction" in skipped.plan
    assert [d.code for d in bound.outcome_diagnostics(skipped)] == ["execute.skipped"]


@needs_loghub
def test_fields_differing_only_in_case_stay_apart_and_events_show_their_index_fields(bound, ref) -> None:
    pid = rows(bound, "index=* earliest=0 | stats count(Pid) as a count(PID) as b")[0]
    columns = {r[0]: r[1] for r in ref.execute("SELECT field, \"column\" FROM _fields WHERE field IN ('Pid', 'PID')")
               .fetchall()}
    want = ref.execute(f'SELECT count("{columns["Pid"]}"), count("{columns["PID"]}") FROM events').fetchone()
    assert tuple(pid) == want and want[0] > 0 and want[1] > 0
    dry = bound.dry_run("index=openssh earliest=0 | head 2", Policy(), False)
    assert "Pid" in dry.columns and "PID" not in dry.columns and "Level" not in dry.columns


@needs_loghub
def test_timechart_by_draws_a_column_per_top_value_with_other_and_null(bound, ref) -> None:
    dry = bound.dry_run("index=* earliest=0 | timechart span=1d limit=2 count by Level", Policy(max_rows=100_000,
                        preview_rows=100_000), False)
    assert dry.ok and dry.mode == "run", dry
    want = [r[0] for r in ref.execute("SELECT Level, count(*) FROM events WHERE Level IS NOT NULL GROUP BY 1 "
                                      "ORDER BY 2 DESC, 1 LIMIT 2").fetchall()]
    assert dry.columns == ["_time", *want, "OTHER", "NULL"]  # openssh events have no Level: the NULL series
    total = ref.execute("SELECT count(*) FROM events").fetchone()[0]
    assert sum(sum(r[1:]) for r in dry.rows) == total  # every event in exactly one series
    per_level = ref.execute(f"SELECT count(*) FROM events WHERE Level = '{want[0]}'").fetchone()[0]
    assert sum(r[1] for r in dry.rows) == per_level
    plain = rows(bound, "index=* earliest=0 | timechart span=1d limit=2 useother=f usenull=f count by Level")
    assert len(plain[0]) == 3
