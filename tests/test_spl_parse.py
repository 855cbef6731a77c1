"""The SPL grammar, parser, typed tree and macro expansion (nl2q.targets.spl)."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import pytest
from lark import Lark

from nl2q.evaluate.benchmarks import available, benchmarks_dir
from nl2q.grammar import alternatives, base_grammar, lark_literal, words_excluding
from nl2q.targets.spl.macros import CIM_MACROS, Macro, MacroError, Macros, split_arguments
from nl2q.targets.spl.parse import SplSyntaxError, commands, parse, spl_check_grammar
from nl2q.targets.spl.tree import BinOp, BoolOp, Call, FieldRef, InExpr, InList, Not, Term

ROOT = Path(__file__).resolve().parent.parent


def names(fields) -> list[str]:
    return [f.name for f in fields]


# ---------------------------------------------------------------------------------------------
# pipelines and the search language


def test_pipeline_splits_into_named_commands_with_spans():
    text = "index=web status=500 | stats count by host\n| sort - count | head 5"
    search = parse(text)
    assert search.names == ["search", "stats", "sort", "head"]
    assert [text[c.start:c.end] for c in search.commands] == [
        "index=web status=500", "stats count by host", "sort - count", "head 5"]
    assert search.commands[0].implicit and not search.commands[1].implicit
    assert search.commands[3].count == 5
    assert commands(text) == ["search", "stats", "sort", "head"]


def test_leading_pipe_starts_with_a_generating_command():
    search = parse("| makeresults count=3 | eval x=1")
    assert search.names == ["makeresults", "eval"]
    assert search.commands[0].options["count"].text == "3"


def test_or_binds_tighter_than_implicit_and():
    expr = parse("error timeout OR refused").commands[0].search
    assert isinstance(expr, BoolOp) and expr.op == "AND"
    first, second = expr.items
    assert isinstance(first, Term) and first.text == "error"
    assert isinstance(second, BoolOp) and second.op == "OR"
    assert [t.text for t in second.items] == ["timeout", "refused"]


def test_or_binds_tighter_than_explicit_and_and_not_tightest():
    expr = parse("a AND b OR c").commands[0].search
    assert expr.op == "AND" and expr.items[1].op == "OR"
    expr = parse("NOT a OR b").commands[0].search
    assert expr.op == "OR" and isinstance(expr.items[0], Not)


def test_search_operators_are_upper_case_as_in_splunk():
    expr = parse("log in or out").commands[0].search
    assert expr.op == "AND" and [t.text for t in expr.items] == ["log", "in", "or", "out"]


def test_search_comparisons_phrases_in_lists_and_named_values():
    search = parse('index=web sourcetype="access_combined" "failed login" bytes>=100 '
                   'status!=200 method IN (GET, "POST") NOT index=other earliest=-24h@h TERM(10.0.0.1)')
    items = search.commands[0].search.items
    assert [type(i).__name__ for i in items] == ["Compare", "Compare", "Term", "Compare", "Compare", "InList",
                                                 "Not", "Compare", "TermFn"]
    assert items[2].quoted and items[2].text == "failed login"
    assert (items[3].field.name, items[3].op, items[3].value) == ("bytes", ">=", "100")
    assert isinstance(items[5], InList) and items[5].values == ["GET", "POST"]
    assert search.indexes == ["web"]  # not the one under NOT
    assert search.sourcetypes == ["access_combined"]
    assert names(search.commands[0].fields_read)[:2] == ["index", "sourcetype"]


def test_subsearch_in_join():
    text = "index=a | join type=left user [search index=b | fields user email] | table user email"
    search = parse(text)
    join = search.commands[1]
    assert join.name == "join" and join.options["type"].text == "left"
    assert names(join.fields_read) == ["user"]
    (sub,) = join.subsearches
    assert sub.names == ["search", "fields"] and sub.indexes == ["b"]
    assert [c.name for c in search.walk()] == ["search", "search", "fields", "join", "table"]


def test_subsearch_as_a_search_term_and_subpipelines():
    search = parse("index=a NOT [| inputlookup allow.csv | fields user] | appendpipe [stats count | where count=0]")
    first = search.commands[0]
    assert first.subsearches[0].names == ["inputlookup", "fields"]
    assert first.subsearches[0].commands[0].target == "allow.csv"
    assert search.commands[1].subsearches[0].names == ["stats", "where"]


# ---------------------------------------------------------------------------------------------
# what commands do to fields


def test_eval_creates_fields_and_reads_the_rest():
    cmd = parse('index=a | eval mins = round(duration / 60, 1), label = "host " . host, late = mins > 5').commands[1]
    assert names(cmd.fields_written) == ["mins", "label", "late"]
    assert names(cmd.fields_read) == ["duration", "host"]  # mins was made by the eval itself
    call = cmd.assignments[0].expr
    assert isinstance(call, Call) and call.name == "round"
    assert isinstance(call.args[0], BinOp) and call.args[0].op == "/"
    assert isinstance(cmd.assignments[1].expr, BinOp) and cmd.assignments[1].expr.op == "."


def test_where_expression_precedence_and_functions():
    cmd = parse('index=a | where isnotnull(user) AND (count > 5 OR like(host, "web%")) and src IN ("a", "b")').commands[1]
    expr = cmd.where  # ((isnotnull AND (... OR ...)) AND src IN (...))
    assert isinstance(expr, BinOp) and expr.op == "AND"
    assert isinstance(expr.left, BinOp) and expr.left.op == "AND" and expr.left.right.op == "OR"
    assert isinstance(expr.right, InExpr) and isinstance(expr.right.operand, FieldRef)
    assert [v.value for v in expr.right.values] == ["a", "b"]
    assert names(cmd.fields_read) == ["user", "count", "host", "src"]


def test_rename_reads_drops_and_writes():
    cmd = parse('index=a | rename src_ip as src, "Dest Port" AS dest_port, Processes.* as *').commands[1]
    assert names(cmd.fields_read) == ["src_ip", "Dest Port", "Processes.*"]
    assert names(cmd.fields_dropped) == names(cmd.fields_read)
    assert names(cmd.fields_written) == ["src", "dest_port", "*"]
    assert cmd.renames[2].source.matches("Processes.dest") and not cmd.renames[2].source.matches("dest")


def test_stats_by_fields_and_outputs():
    cmd = parse("index=a | stats count dc(user) as users, avg(bytes) values(eval(lower(src))) by host, src").commands[1]
    assert names(cmd.by) == ["host", "src"]
    assert [a.output for a in cmd.aggregations] == ["count", "users", "avg(bytes)", "values(eval(lower(src)))"]
    assert names(cmd.fields_written) == ["count", "users", "avg(bytes)", "values(eval(lower(src)))"]
    assert names(cmd.keeps) == ["count", "users", "avg(bytes)", "values(eval(lower(src)))", "host", "src"]
    assert names(cmd.fields_read) == ["user", "bytes", "src", "host", "src"]
    assert parse("index=a | eventstats count by host").commands[1].keeps is None


def test_tstats_datamodel_where_by_and_span():
    text = ("| tstats summariesonly=true count min(_time) as firstTime from datamodel=Endpoint.Processes "
            "where Processes.process_name IN (cmd.exe, powershell.exe) by Processes.dest _time span=1h")
    cmd = parse(text).commands[0]
    assert cmd.name == "tstats" and cmd.target == "Endpoint.Processes"
    assert cmd.option("summariesonly") == "true" and cmd.option("span") == "1h"
    assert names(cmd.by) == ["Processes.dest", "_time"]
    assert isinstance(cmd.search, InList) and cmd.search.values == ["cmd.exe", "powershell.exe"]
    assert names(cmd.keeps) == ["count", "firstTime", "Processes.dest", "_time"]


def test_table_keeps_and_fields_minus_drops():
    search = parse("index=a | table _time, user src* | fields - junk secret")
    table, fields = search.commands[1:]
    assert names(table.keeps) == ["_time", "user", "src*"]
    assert table.keeps[2].matches("src_ip")
    assert fields.keeps is None and names(fields.fields_dropped) == ["junk", "secret"]
    assert names(parse("index=a | fields + user").commands[1].keeps) == ["user"]


def test_rex_named_groups_are_written_with_their_spans():
    text = r'index=a | rex field=msg "user=(?<user>\w+) from (?P<src>\S+)" max_match=0'
    cmd = parse(text).commands[1]
    assert names(cmd.fields_read) == ["msg"]
    assert [(f.name, text[f.start:f.end]) for f in cmd.fields_written] == [("user", "user"), ("src", "src")]
    assert cmd.option("max_match") == "0"
    assert names(parse('index=a | rex mode=sed field=x "s/a/b/g"').commands[1].fields_written) == ["x"]


def test_lookup_reads_inputs_and_writes_outputs():
    cmd = parse("index=a | lookup update=true ioc_domains domain as query OUTPUTNEW is_ioc as hit, category").commands[1]
    assert cmd.target == "ioc_domains" and cmd.option("update") == "true"
    assert names(cmd.fields_read) == ["query"]
    assert names(cmd.fields_written) == ["hit", "category"]
    assert "outputnew" in cmd.options and not cmd.writes_unknown
    assert parse("index=a | lookup users uid").commands[1].writes_unknown


def test_risky_commands_parse_into_commands_named_as_such():
    for text, name in [("index=a | delete", "delete"), ("index=a | sendemail to=x", "sendemail"),
                       ("index=a | outputlookup foo.csv", "outputlookup"),
                       ('index=a | collect index=summary | map search="search index=b $user$"', "collect")]:
        cmd = parse(text).commands[1]
        assert cmd.name == name and not cmd.modelled and cmd.writes_unknown
    send = parse('index=a | sendemail to="ops@example.com" subject="daily report"').commands[1]
    assert [(a.kind, a.key, a.text) for a in send.args] == [("option", "to", "ops@example.com"),
                                                            ("option", "subject", "daily report")]
    assert parse("index=a | outputlookup foo.csv").commands[1].args[0].text == "foo.csv"


def test_comments_and_keyword_case():
    search = parse("index=a ```why``` | STATS Count BY host ```the end```")
    assert search.names == ["search", "stats"] and names(search.commands[1].by) == ["host"]


# ---------------------------------------------------------------------------------------------
# errors


def test_syntax_error_carries_line_column_offset_and_command():
    text = "index=web\n| stats count by host\n| eval x = (1 + "
    with pytest.raises(SplSyntaxError) as info:
        parse(text)
    e = info.value
    assert (e.line, e.col, e.offset) == (3, 17, len(text))
    assert e.command == "eval" and e.found == ""
    assert "unexpected end of search at line 3 col 17 (in eval); expected one of" in e.message
    d = e.diagnostic()
    assert d.code == "syntax.error" and (d.line, d.col, d.start) == (3, 17, len(text))


def test_syntax_error_names_the_offending_text_and_what_could_come():
    with pytest.raises(SplSyntaxError) as info:
        parse("index=web | rename a b")
    e = info.value
    assert (e.found, e.col, e.command) == ("b", 22, "rename")
    assert e.expected == ("'as'",) and "expected 'as'" in str(e)
    with pytest.raises(SplSyntaxError, match="expand macros"):
        parse("`my_macro` | stats count")
    with pytest.raises(SplSyntaxError, match="empty"):
        parse("  ")


def test_commands_lenient_for_unparsable_text():
    assert commands("index=a | stats count by | table x [", lenient=True) == ["search", "stats", "table"]
    with pytest.raises(SplSyntaxError):
        commands("index=a | stats count by")


# ---------------------------------------------------------------------------------------------
# macros


def test_macro_expansion_with_arguments_and_nesting():
    macros = Macros({
        "web": "index=web sourcetype=access",
        "errors": "`web` status>=500",
        "count_by(1)": "stats count by $field$",
        "rename_pair(2)": "rename $from$ as $to$",
    })
    text = "`errors` | `count_by(host)` | `rename_pair(count, n)`"
    assert macros.expand(text) == "index=web sourcetype=access status>=500 | stats count by host | rename count as n"
    assert parse(macros.expand(text)).names == ["search", "stats", "rename"]


def test_macros_are_keyed_by_arity_like_splunk():
    macros = Macros([Macro("ctime", "eval t=now()"), Macro("ctime", "convert ctime($f$)", ("f",))])
    assert "ctime" in macros and "ctime(1)" in macros
    assert macros.expand("`ctime` | `ctime(x)`") == "eval t=now() | convert ctime(x)"
    with pytest.raises(MacroError, match=r"`ctime\(2\)` is not defined; there is ctime, ctime\(1\)"):
        macros.expand("`ctime(a, b)`")


def test_unknown_macro_is_an_error_naming_it_unless_an_empty_filter():
    with pytest.raises(MacroError) as info:
        Macros({"a": "index=a"}).expand("`a` | `nope`")
    assert info.value.name == "nope" and info.value.offset == 6 and "unknown macro `nope`" in str(info.value)
    filters = Macros({"a": "index=a"}, empty_filters=True)
    assert filters.expand("`a` | stats count | `x_filter`") == "index=a | stats count"
    assert filters.expand("`a` | `x_filter` | table n") == "index=a | table n"
    with pytest.raises(MacroError):
        filters.expand("`not_a_filterx`")


def test_recursive_macros_stop_at_the_depth_limit():
    with pytest.raises(MacroError, match="deeper than 5 levels"):
        Macros({"a": "`b`", "b": "`a`"}, max_depth=5).expand("`a`")


def test_comments_go_and_a_lone_backtick_is_text():
    macros = Macros({"m": "index=a"})
    assert macros.expand('`m` ```say `m` here``` | eval n=split(x, "`")') == 'index=a  | eval n=split(x, "`")'


def test_arguments_split_outside_quotes_and_brackets():
    assert split_arguments('a, "b, c", f(x, y)') == ["a", '"b, c"', "f(x, y)"]


def test_macros_from_a_directory_of_yaml(tmp_path):
    (tmp_path / "web.yml").write_text("name: web\ndefinition: index=web\ndescription: d\n")
    (tmp_path / "ct.yml").write_text("name: ct\narguments:\n  - field\ndefinition: convert ctime($field$)\n")
    macros = Macros.from_dir(tmp_path, extra=CIM_MACROS)
    assert len(macros) == 3 and "ct(1)" in macros
    assert macros.expand("`web` | `ct(t)` | `drop_dm_object_name(Processes)`") == \
        "index=web | convert ctime(t) | rename Processes.* AS *"


# ---------------------------------------------------------------------------------------------
# the grammar file


def test_check_variant_has_no_lalr_conflicts(caplog):
    caplog.set_level(logging.DEBUG, logger="lark")
    Lark(spl_check_grammar(), parser="lalr", lexer="contextual", cache=False)
    assert not [r.getMessage() for r in caplog.records if "conflict" in r.getMessage().lower()]


def _decode_variant() -> str:
    """The decode variant with small generated slots, as a target would bind it to an environment."""
    def lits(xs):
        return alternatives(lark_literal(x) for x in xs)

    letters = "abcdefghijklmnopqrstuvwxyz"
    return base_grammar("spl") + "\n" + "\n".join([
        "field: " + lits(["host", "user", "src", "count", "_time", "Processes.dest"]),
        "eval_field: " + lits(["host", "user", "src", "count", "'Processes.dest'"]),
        "new_field: /[a-z][a-z0-9_]{0,30}/",
        "function_name: " + lits(["if", "coalesce", "lower", "round", "isnull"]),
        "agg_name: " + lits(["count", "dc", "values", "min", "max"]),
        "command_name: " + lits(["makeresults"]),
        "lookup_name: " + lits(["ioc_domains"]),
        "datamodel_name: " + lits(["Endpoint.Processes"]),
        "WORD: /" + words_excluding(["AND", "OR", "NOT", "IN", "TERM", "CASE", "by"], 30,
                                    first=letters + letters.upper() + "*", rest=letters + letters.upper() + "0123456789_*.:-",
                                    ) + "/",
    ]) + "\n"


def test_decode_variant_derives_exactly_spaced_searches():
    grammar = Lark(_decode_variant(), parser="earley")
    for text in ["index=main error OR warning | stats count by host",
                 "| tstats count from datamodel=Endpoint.Processes where Processes.dest=x by Processes.dest",
                 'index=main | eval n=if(isnull(user), "none", lower(user))\n| table user host',
                 'index=main user IN ("a", "b") NOT src="x" | rename user as u | head 10\n```']:
        grammar.parse(text)
        parse(text.removesuffix("\n```"))  # what decoding derives, the checker parses


def test_decode_variant_is_accepted_by_llguidance():
    pytest.importorskip("llguidance")
    from nl2q.grammar import validate
    from nl2q.types import Constraint

    validate(Constraint("lark", _decode_variant()))


# ---------------------------------------------------------------------------------------------
# real searches


def _checker():
    spec = importlib.util.spec_from_file_location("nl2q_eval_spl_checker", ROOT / "eval" / "spl_checker.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.mark.skipif(not available("splunk"), reason="the Splunk detections are not under the benchmark directory "
                                                   "(set NL2Q_BENCHMARKS)")
def test_gold_detection_searches_parse():
    checker = _checker()
    splunk = benchmarks_dir("splunk")
    detections = checker.load_detections(splunk)
    assert len(detections) > 1500
    report = checker.check(detections, checker.load_macros(splunk))
    assert report["parsed"] / report["total"] >= 0.95, report["failures"]
