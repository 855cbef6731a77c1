"""The shell target's parse walk (syntax.py) and risk tiers (risk.py) against disguised and benign scripts."""

from __future__ import annotations

import copy
import statistics
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nl2q.errors import DialectError
from nl2q.targets.shell import risk, syntax
from nl2q.targets.shell.risk import RiskRules, Tier, classify, needs_approval, permitted

import shell_adversarial as cases

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "dialects" / "bash.toml"
RISK_TABLE = tomllib.loads(PROFILE.read_text())["risk"]
RULES = RiskRules.from_mapping(RISK_TABLE)


def at_least(actual: Tier, expected: Tier) -> bool:
    """The tiers are one linear order (UNKNOWN on top), so "at least as risky" is a comparison."""
    return actual >= expected


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("work")
    for name, text in cases.WORKDIR_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root)


# --------------------------------------------------------------------------------------- the data

def test_the_case_lists_are_large_enough():
    assert len(cases.ADVERSARIAL) >= 200
    assert len(cases.BENIGN) >= 60
    assert len({s for s, _ in cases.ADVERSARIAL}) == len(cases.ADVERSARIAL)


@pytest.mark.parametrize("script,expected", cases.ADVERSARIAL, ids=[f"a{i}" for i in range(len(cases.ADVERSARIAL))])
def test_disguised_scripts_reach_their_tier(script, expected, workdir):
    got = classify(script, RULES, workdir)
    assert at_least(got.tier, expected), (script, got)
    assert got.findings and max(f.tier for f in got.findings) == got.tier


@pytest.mark.parametrize("script", cases.BENIGN, ids=[f"b{i}" for i in range(len(cases.BENIGN))])
def test_benign_scripts_are_read_only(script, workdir):
    got = classify(script, RULES, workdir)
    assert got.tier == Tier.READ_ONLY, (script, got.findings)
    assert got.findings == []


def test_classification_is_fast(workdir):
    times = []
    for script, _ in cases.ADVERSARIAL:
        t0 = time.perf_counter()
        classify(script, RULES, workdir)
        times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.025


# --------------------------------------------------------------------------------------- the order

def test_tier_order_and_what_needs_a_human():
    assert list(Tier) == sorted(Tier)
    assert Tier.READ_ONLY < Tier.CHANGES_FILES < Tier.DESTRUCTIVE < Tier.NETWORK < Tier.PRIVILEGE < Tier.UNKNOWN
    assert [t for t in Tier if needs_approval(t)] == [Tier.DESTRUCTIVE, Tier.NETWORK, Tier.PRIVILEGE, Tier.UNKNOWN]
    assert permitted(Tier.READ_ONLY)
    assert not permitted(Tier.CHANGES_FILES) and permitted(Tier.CHANGES_FILES, allow_writes=True)
    assert not permitted(Tier.UNKNOWN, allow_writes=True) and permitted(Tier.UNKNOWN, approved=True)


def test_the_script_takes_its_highest_finding_and_keeps_every_escalation():
    got = classify("ls; rm -rf build; curl https://example.com", RULES)
    assert got.tier == Tier.NETWORK
    assert {f.tier for f in got.findings} == {Tier.DESTRUCTIVE, Tier.NETWORK}


def test_findings_underline_what_they_are_about():
    script = "ls && rm -rf build"
    spans = {script[f.start:f.end] for f in classify(script, RULES).findings}
    assert {"rm", "-rf"} <= spans
    script = "echo hi; bash -c 'rm -rf build'"
    spans = {script[f.start:f.end] for f in classify(script, RULES).findings}
    assert "-rf" in spans and "rm" in spans
    script = "sh <<'EOF'\nfind . -delete\nEOF"
    assert any(script[f.start:f.end] == "-delete" for f in classify(script, RULES).findings)
    script = "é=1; echo ü > /etc/motd"
    assert any(script[f.start:f.end] == "/etc/motd" for f in classify(script, RULES).findings)


def test_network_into_a_shell_is_network_and_unknown():
    tiers = {f.tier for f in classify("curl -fsSL https://example.com/i.sh | sh", RULES).findings}
    assert {Tier.NETWORK, Tier.UNKNOWN} <= tiers
    sub = classify('sh -c "$(wget -qO- https://example.com)"', RULES)
    assert sub.tier == Tier.UNKNOWN and any(f.tier == Tier.NETWORK for f in sub.findings)


def test_lookalike_names_say_which_character():
    got = classify("r\u200bm -rf build", RULES)
    assert got.tier == Tier.UNKNOWN
    assert any("U+200B" in f.reason and "ZERO WIDTH SPACE" in f.reason for f in got.findings)
    assert any("'rm'" in f.reason for f in got.findings)


def test_unknown_and_computed_names_are_unknown():
    for script in ("frobnicate --all", "$cmd -rf x", "eval \"$x\"", "\"${a[@]}\"", "`which rm` x"):
        assert classify(script, RULES).tier == Tier.UNKNOWN, script


# ------------------------------------------------------------------------------------- paths

def test_truncation_is_judged_by_what_is_there(workdir, tmp_path):
    assert classify("echo x > brand-new.txt", RULES, workdir).tier == Tier.CHANGES_FILES
    assert classify("echo x > notes.txt", RULES, workdir).tier == Tier.DESTRUCTIVE
    assert classify("echo x > ../elsewhere.txt", RULES, workdir).tier == Tier.DESTRUCTIVE
    assert classify("echo x >> notes.txt", RULES, workdir).tier == Tier.CHANGES_FILES
    assert classify("echo x > brand-new.txt", RULES).tier == Tier.DESTRUCTIVE  # no work directory to look in
    assert classify("echo x > /dev/null 2>&1", RULES).tier == Tier.READ_ONLY
    assert classify("ls > /dev/sda", RULES, workdir).tier == Tier.DESTRUCTIVE
    (tmp_path / "passwd-link").symlink_to("/etc/passwd")
    assert classify("echo x > passwd-link", RULES, str(tmp_path)).tier == Tier.PRIVILEGE


def test_copies_into_a_directory_check_the_file_they_would_replace(workdir):
    assert classify("cp notes.txt backup/", RULES, workdir).tier == Tier.DESTRUCTIVE
    assert classify("cp data.csv backup/", RULES, workdir).tier == Tier.CHANGES_FILES


def test_cd_moves_where_relative_paths_land(workdir):
    assert classify("cd /etc\necho x > hosts", RULES, workdir).tier == Tier.PRIVILEGE
    assert classify("echo x > hosts; cd /etc", RULES, workdir).tier == Tier.PRIVILEGE
    assert classify("cd \"$D\"; echo x > f", RULES, workdir).tier == Tier.DESTRUCTIVE


def test_a_visible_script_is_read_unless_the_script_may_change_it(workdir):
    assert classify("source report.sh", RULES, workdir).tier == Tier.READ_ONLY
    assert classify("source helpers.sh", RULES, workdir).tier == Tier.DESTRUCTIVE
    assert classify("echo ls >> report.sh; source report.sh", RULES, workdir).tier == Tier.UNKNOWN
    assert classify("source report.sh", RULES).tier == Tier.UNKNOWN


def test_awk_and_sed_programs_are_read():
    assert classify("awk '$3 > 100 { print $1 }' f", RULES).tier == Tier.READ_ONLY
    assert classify("awk '{ print ($1 > 2) }' f", RULES).tier == Tier.READ_ONLY
    assert classify("awk '{ print $1 > \"/dev/stderr\" }' f", RULES).tier == Tier.READ_ONLY
    assert classify("awk '{ print $1 > out }' f", RULES).tier == Tier.DESTRUCTIVE
    assert classify("awk 'BEGIN { system(\"id\") }'", RULES).tier == Tier.UNKNOWN
    assert classify("awk \"$prog\" f", RULES).tier == Tier.UNKNOWN
    assert classify("sed -n '/a/,/b/{ s/x/y/g; p }' f", RULES).tier == Tier.READ_ONLY
    assert classify("sed 's/x/y/w /dev/stdout' f", RULES).tier == Tier.READ_ONLY
    assert classify("sed 's/x/y/gw /etc/x' f", RULES).tier == Tier.PRIVILEGE
    assert classify("sed '$!N; e date' f", RULES).tier == Tier.UNKNOWN
    assert classify("sed 's/unterminated' f", RULES).tier == Tier.UNKNOWN


def test_computed_words_count_as_any_option():
    assert classify("grep \"$pattern\" notes.txt", RULES).tier == Tier.READ_ONLY
    assert classify("find \"$HOME\" -name '*.txt'", RULES).tier == Tier.READ_ONLY
    assert classify("HOME=-delete; find \"$HOME\"", RULES).tier >= Tier.DESTRUCTIVE
    assert classify("find ./\"$dir\" -name x", RULES).tier == Tier.READ_ONLY
    assert classify("find \"$dir\" -name x", RULES).tier == Tier.DESTRUCTIVE
    assert classify("find $dir -name x", RULES).tier == Tier.UNKNOWN
    assert classify("date -d \"$when\" +%F", RULES).tier == Tier.READ_ONLY


# -------------------------------------------------------------------------------------- the data rules

def test_every_tier_decision_comes_from_the_data():
    table = copy.deepcopy(RISK_TABLE)
    assert classify("ls -la", RiskRules.from_mapping(table)).tier == Tier.READ_ONLY
    table["commands"]["ls"]["tier"] = "destructive"
    assert classify("ls -la", RiskRules.from_mapping(table)).tier == Tier.DESTRUCTIVE
    table["commands"]["frobnicate"] = {"tier": "read_only"}
    assert classify("frobnicate", RiskRules.from_mapping(table)).tier == Tier.READ_ONLY
    table["writes"]["new"] = "destructive"
    assert classify("echo > x", RiskRules.from_mapping(table), "/tmp").tier == Tier.DESTRUCTIVE
    del table["commands"]["rm"]
    assert classify("rm x", RiskRules.from_mapping(table)).tier == Tier.UNKNOWN


def test_a_mistyped_rule_is_an_error_naming_it():
    with pytest.raises(DialectError, match="rm.*flagz"):
        RiskRules.from_mapping({"commands": {"rm": {"tier": "destructive", "flagz": {}}}})
    with pytest.raises(DialectError, match="destructiv"):
        RiskRules.from_mapping({"commands": {"rm": {"tier": "destructiv"}}})


def test_the_profile_starts_with_its_identity_and_keeps_rules_under_risk():
    lines = PROFILE.read_text().splitlines()
    assert lines[:5] == [
        "# bash on GNU/Linux: the commands' risk tiers (data the shell target's classifier reads)",
        'name = "bash"', 'target = "shell"', 'title = "bash (GNU/Linux)"', 'executor = "bubblewrap"']
    assert set(tomllib.loads(PROFILE.read_text())) == {"name", "target", "title", "executor", "builtins", "risk"}


def test_the_classifier_does_not_read_scripts_with_regexes():
    for module in (risk, syntax):
        source = Path(module.__file__).read_text()
        assert "import re\n" not in source and "from re " not in source


# ------------------------------------------------------------------------------------------- syntax

def _names(script: str) -> list[str | None]:
    return [c.name.value if c.name else None for c in syntax.commands(script)]


def test_word_values_after_quote_removal():
    expected = {
        "plain": "plain", "'single quoted'": "single quoted", '"double $HOME"': None, '"a\\"b"': 'a"b',
        "a\\ b": "a b", "\\rm": "rm", "'r'm": "rm", '"rm"': "rm", 'r""m': "rm", "$'\\x72\\x6d'": "rm",
        "$'a\\tb'": "a\tb", '$"hi"': "hi", "*.txt": "*.txt", "a{b,c}": "a{b,c}", "~/x": "~/x", "$x": None,
        "$(ls)": None, "`ls`": None, "$((1+2))": None, "<(ls)": None, "'$x'": "$x", '"\\$x"': "$x",
        "pre'fix'\"$x\"": None,
    }
    for text, value in expected.items():
        cmd = syntax.commands(f"echo {text}")[0]
        word = cmd.args[0]
        assert (word.text, word.value) == (text, value), text
        assert word.dynamic == (value is None), text


def test_offsets_are_characters_even_after_non_ascii_text():
    script = "echo 'héllo wörld' \"ü$(rm x)\" > /tmp/ä; rm -rf 'ø'"
    for cmd in syntax.commands(script):
        for word in [cmd.name, *cmd.args, *(r.target for r in cmd.redirects)]:
            assert word is not None and script[word.start:word.end] == word.text
        assert script[cmd.start:cmd.end].startswith(cmd.name.text)
    last = syntax.commands(script)[-1]
    assert last.args[-1].value == "ø" and script[last.args[-1].start:last.args[-1].end] == "'ø'"


def test_commands_are_found_in_every_construct():
    script = """
c1 | c2 && c3 || c4; c5 & c6
( c7 ) ; { c8; }
x=$(c9) ; echo `c10` <(c11) >(c12)
if c13; then c14; elif c15; then c16; else c17; fi
while c18; do c19; done; until c20; do c21; done
for i in $(c22); do c23; done; for ((i=0; i<$(c24); i++)); do c25; done
case $(c26) in a) c27 ;; *) c28 ;; esac
f() { c29; }; function g { c30; }
cat <<EOF
$(c31) `c32`
EOF
[[ -n $(c33) ]] && test -f x && [ -d y ]
! c34
select s in a; do c35; done
c36 > $(c37)
echo ${x:-$(c38)} $(( $(c39) ))
export V=$(c40)
coproc c41
"""
    names = set(_names(script))
    assert {f"c{i}" for i in range(1, 41)} <= names
    assert {"[[", "test", "[", "coproc"} <= names
    contexts = {c.name.value: c.context for c in syntax.commands(script) if c.name and c.name.value}
    assert contexts["c9"] == ("command_substitution",)
    assert "process_substitution" in contexts["c11"]
    assert contexts["c19"] == ("while",) and contexts["c21"] == ("until",)
    assert "function" in contexts["c29"] and "for" in contexts["c23"] and "case" in contexts["c27"]
    assert contexts["c31"] == ("command_substitution",) and contexts["c32"][-1] == "command_substitution"
    assert "background" in contexts["c5"]
    assert set(syntax.functions(script)) == {"f", "g"}
    assert [c.name.value for c in syntax.functions(script)["f"]] == ["c29"]
    assert syntax.syntax_errors(script) == []


def test_redirects_reach_the_commands_bash_gives_them():
    def redirects(script: str) -> dict[str, list[tuple[str, str | None]]]:
        return {c.name.value: [(r.op, r.target.value if r.target else None) for r in c.redirects]
                for c in syntax.commands(script) if c.name}

    assert redirects("{ a; b; } > f") == {"a": [(">", "f")], "b": [(">", "f")]}
    assert redirects("for i in 1; do a; done 2>> log") == {"a": [("2>>", "log")]}
    assert redirects("f() { a; } > out") == {"a": [(">", "out")]}
    assert redirects("while read l; do a; done < in") == {"read": [("<", "in")], "a": [("<", "in")]}
    assert redirects("a && b > f") == {"a": [], "b": [(">", "f")]}
    assert redirects("a | b 2>&1") == {"a": [], "b": [("2>&", "1")]}
    assert redirects("a &> all >| clobber 2>&-") == {"a": [("&>", "all"), (">|", "clobber"), ("2>&-", None)]}
    assert redirects("a <<< 'x'") == {"a": [("<<<", "x")]}
    assert redirects("{ b; } > f 2>/dev/null") == {"b": [(">", "f"), ("2>", "/dev/null")]}
    assert redirects("[ a > f ]") == {"[": [(">", "f")]}
    here = syntax.commands("cat <<'EOF'\n$x\nEOF")[0].redirects[0]
    assert (here.op, here.target.value, here.target.dynamic) == ("<<", "$x\n", False)
    here = syntax.commands("cat <<EOF\n$x\nEOF")[0].redirects[0]
    assert here.target.dynamic and here.target.value is None


def test_pipe_in_follows_the_pipeline():
    cmds = syntax.commands("a | b | c; d")
    a, b, c, d = cmds
    assert (a.pipe_in, b.pipe_in, c.pipe_in, d.pipe_in) == (None, a, b, None)
    assert all("pipeline" in x.context for x in (a, b, c))
    cat, sh, tee, rm = syntax.commands("cat <<EOF | sh | tee x && rm y\nhi\nEOF")
    assert (sh.pipe_in, tee.pipe_in, rm.pipe_in) == (cat, sh, None)
    first, read, body = syntax.commands("curl x | while read l; do sh; done")
    assert read.pipe_in is first and body.pipe_in is first
    assert syntax.commands("a | (b; c)")[2].pipe_in.name.value == "a"


def test_tree_sitter_misreadings_are_repaired_on_the_tree():
    assert _names("ls\n\\rm -rf x") == ["ls", "rm"]
    assert _names("ls x\n\\rm y") == ["ls", "rm"]
    assert [a.value for a in syntax.commands("r\\\nm -r\\\nf x")[0].args] == ["-rf", "x"]
    assert _names("r\\\nm -rf x") == ["rm"]
    assert _names("x=1 > f\nrm y") == [None, "rm"]
    echo = syntax.commands("echo > a b c")[0]
    assert [a.value for a in echo.args] == ["b", "c"] and echo.redirects[0].target.value == "a"
    assert syntax.commands("ls > a\\\nb")[0].redirects[0].target.value == "ab"


def test_syntax_errors_are_reported_with_character_spans():
    assert syntax.syntax_errors("ls -la | grep x") == []
    errors = syntax.syntax_errors("é; exec 3<>/dev/tcp/h/80")
    assert errors and all(0 <= s <= e <= len("é; exec 3<>/dev/tcp/h/80") for s, e, _ in errors)
    assert syntax.syntax_errors("if true; then ls")
    assert syntax.syntax_errors("[[ a =~ $(rm x) ]]") or "rm" in _names("[[ a =~ $(rm x) ]]")


def test_assignments_and_word_shapes():
    cmd = syntax.commands("A=1 B=$(x) env")[0]
    assert [(k, v.value) for k, v in cmd.assignments] == [("A", "1"), ("B", None)]
    assert set(syntax.assigned_names("for v in 1; do read w; done; x=1; export Y=2")) >= {"v", "x", "Y"}
    assert syntax.word_shape('"$HOME/x"') == syntax.Shape(False, "", "HOME")
    assert syntax.word_shape("./$x").splits and syntax.word_shape("./$x").prefix == "./"
    assert not syntax.word_shape('"./$x"').splits


def test_parsing_is_safe_across_threads():
    scripts = [f"echo {i} | grep {i} && rm -rf dir{i}" for i in range(40)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda s: [a.value for a in syntax.commands(s)[-1].args], scripts))
    assert results == [["-rf", f"dir{i}"] for i in range(40)]
    with ThreadPoolExecutor(4) as pool:
        tiers = list(pool.map(lambda s: classify(s, RULES).tier, scripts * 2))
    assert set(tiers) == {Tier.DESTRUCTIVE}


# ------------------------------------------------------------------------------------------ properties

_PIECE = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=4)


def _quote(piece: str, how: int) -> str:
    if how == 0:
        return "".join("\\" + c if not c.isalnum() else c for c in piece)
    if how == 1 and "'" not in piece:
        return f"'{piece}'"
    if how == 2:
        return '"' + "".join("\\" + c if c in '$`"\\' else c for c in piece) + '"'
    return "$'" + "".join(f"\\x{ord(c):02x}" for c in piece) + "'"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_PIECE, st.integers(0, 3)), min_size=1, max_size=4))
def test_any_quoting_of_a_word_gives_back_its_value(pieces):
    text = "".join(_quote(p, how) for p, how in pieces)
    word = syntax.commands(f"echo {text}")[0].args[0]
    assert word.value == "".join(p for p, _ in pieces) and word.text == text


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=2, max_size=2), st.sampled_from(["rm -rf x", "find . -delete",
                                                                             "shred -u f", "mkfs.ext4 /dev/sdb"]))
def test_any_quoting_of_a_dangerous_name_stays_dangerous(hows, line):
    name, rest = line.split(" ", 1)
    mid = len(name) // 2
    disguised = _quote(name[:mid], hows[0]) + _quote(name[mid:], hows[1]) + " " + rest
    assert classify(disguised, RULES).tier >= Tier.DESTRUCTIVE, disguised


# --------------------------------------------------------------------------------- bash as the referee

_SANDBOX = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--unshare-all",
            "--die-with-parent", "--chdir", "/tmp", "/bin/bash", "--norc", "--noprofile", "-c"]


def _bash_reprint(script: str) -> str | None:
    """bash's own reading of ``script``: defined as a function body (never run) in a read-only sandbox and printed
    back by ``declare -f``, one simple command per line."""
    import subprocess

    program = "f() {\n" + script + "\n}\ndeclare -f f"
    done = subprocess.run(_SANDBOX + [program], capture_output=True, text=True, timeout=10,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    if done.returncode or done.stdout.count("\n") < 2:
        return None
    return done.stdout.split("\n", 2)[2].rsplit("}", 1)[0]


def test_the_walk_finds_every_command_bash_finds():
    import collections
    import shutil
    import subprocess

    if shutil.which("bwrap") is None or subprocess.run(_SANDBOX + ["true"], capture_output=True).returncode:
        pytest.skip("needs bubblewrap to let bash read the scripts safely")

    def names(script: str) -> collections.Counter:
        return collections.Counter(c.name.value for c in syntax.commands(script) if c.name and c.name.value)

    compared = 0
    for script, _ in cases.ADVERSARIAL[::3]:
        if "<<" in script or syntax.syntax_errors(script):
            continue  # bash reprints here-docs in an order tree-sitter reads differently
        reprinted = _bash_reprint(script)
        if reprinted is None or syntax.syntax_errors(reprinted):
            continue
        compared += 1
        assert not names(reprinted) - names(script), (script, reprinted)
    assert compared > 100
