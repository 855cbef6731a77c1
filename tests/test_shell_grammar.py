"""The shell grammar: whatever the decode variant derives is bash that tree-sitter-bash and `bash -n`
accept and that the check variant parses; ops one-liners written the canonical way are derivable."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lark import Lark
from lark.exceptions import LarkError

from grammar_sampler import GrammarSampler, byte_matcher, llguidance_accepts
from nl2q import Constraint
from nl2q.grammar import validate
from nl2q.prompt import extract_output, fence
from nl2q.targets.shell.grammar import KEYWORDS, shell_check_grammar, shell_word, specialise_shell

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

COMMANDS = """ls grep find xargs awk sed sort uniq head tail wc du df ps ss lsof gzip tar rm mv cp mkdir chmod
chown kill systemctl journalctl curl sudo echo printf cat test date stat read cd export local exit true false
sleep seq id pgrep nginx python3 cut tee diff ssh git docker uptime env timeout nohup nice time command exec
free ip ping wget psql backup""".split()
WORDS = ["/var/log/app", "/srv/my app", "it's"]
DECODE = specialise_shell(COMMANDS, words=WORDS)
CHECK = shell_check_grammar()


@cache
def parser(grammar: str) -> Lark:
    return Lark(grammar, parser="earley")


def parses(grammar: str, text: str) -> bool:
    try:
        parser(grammar).parse(text)
    except LarkError:
        return False
    return True


@cache
def _tree_sitter():  # type: ignore[no-untyped-def]
    ts = pytest.importorskip("tree_sitter")
    bash = pytest.importorskip("tree_sitter_bash")
    return ts.Parser(ts.Language(bash.language()))


def tree_sitter_errors(scripts: list[str]) -> list[str]:
    return [s for s in scripts if _tree_sitter().parse(s.encode()).root_node.has_error]


def bash_errors(scripts: list[str]) -> list[str]:
    """The scripts `bash -n` refuses or warns about, checked by one bash process."""
    with tempfile.TemporaryDirectory() as tmp:
        files = [Path(tmp) / f"{i}.sh" for i in range(len(scripts))]
        for f, s in zip(files, scripts):
            f.write_text(s)
        loop = 'for f; do if ! out=$(bash -n "$f" 2>&1) || [ -n "$out" ]; then echo "$f"; fi; done'
        out = subprocess.run(["bash", "-c", loop, "_", *map(str, files)], capture_output=True, text=True, check=True)
    return [scripts[int(Path(f).stem)] for f in out.stdout.split("\n") if f]


def test_both_variants_are_accepted_by_llguidance():
    validate(Constraint("lark", DECODE))
    validate(Constraint("lark", CHECK))


# ----------------------------------------------------------------------------- every sentence is bash

# Sampling from rules below start reaches what a depth bound cuts short from the top (loops,
# tests, substitutions); each root derives complete commands, which are sentences of start too.
# A word is sampled after "echo ", which the environment binds: `echo WORD` is a sentence of start.
ROOTS = (("start", 8, ""), ("compound_nc", 9, ""), ("simple_command", 10, ""), ("plain_word", 9, "echo "))


@cache
def sampler(root: str, depth: int) -> GrammarSampler:
    return GrammarSampler(DECODE, start=root, max_depth=depth)


@settings(max_examples=45, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # shrinking a batch of scripts takes minutes
@given(data=st.data())
def test_every_decoded_sentence_is_bash_and_checks(data):
    """One source of truth: what decoding can emit is bash to tree-sitter and to bash, and the checker parses it."""
    batch = [prefix + extract_output(data.draw(sampler(root, depth).sentences()), prefix=fence("bash"))
             for root, depth, prefix in ROOTS]
    assert tree_sitter_errors(batch) == []
    assert bash_errors(batch) == []
    assert [s for s in batch if not parses(CHECK, s)] == []
    assert [s for s in batch if not llguidance_accepts(DECODE, s)] == []  # its greedy lexer can emit it too


# ----------------------------------------------------------------------------- command names

def test_only_bound_commands_are_command_names():
    assert parses(DECODE, "ls -la") and llguidance_accepts(DECODE, "ls -la")
    for text in ["rsync -a a b", "sudo rsync", "ls | xargs rsync", "timeout 5 rsync", "LC_ALL=C rsync"]:
        assert not parses(DECODE, text) and not llguidance_accepts(DECODE, text), text
    assert parses(CHECK, "rsync -a a b")


@pytest.mark.parametrize("keyword", sorted(KEYWORDS | {"{", "}", "!", "[[", "]]"}))
def test_keywords_are_never_command_names(keyword):
    grammar = specialise_shell(["ls", keyword])
    for text in [f"{keyword} -x", f"ls; {keyword} -x", f"ls | {keyword} -x"]:
        assert not parses(grammar, text) and not parses(CHECK, text), text
    if keyword.isalpha():
        assert parses(grammar, f"ls {keyword}") and parses(CHECK, f"ls {keyword}")


def test_names_that_are_not_plain_are_skipped():
    grammar = specialise_shell(["ls", "a b", "-x", "[", "./run.sh", "g++", "apt-get", "if"])
    assert [line for line in grammar.splitlines() if line.startswith("COMMAND:")] == ['COMMAND: "apt-get" | "g++" | "ls"']
    with pytest.raises(ValueError):
        specialise_shell(["if", "sudo"])


def command_names(grammar: str, text: str) -> list[str]:
    tree = parser(grammar).parse(text)
    return ["".join(tok for tok in t.scan_values(lambda _: True)) for t in tree.iter_subtrees_topdown()
            if t.data == "command_name"]


@pytest.mark.parametrize("grammar", [DECODE, CHECK], ids=["decode", "check"])
def test_both_variants_name_the_commands_a_script_runs(grammar):
    """What the checker reads off the tree: wrapped commands are command names, words and keywords are not."""
    script = ("sudo -u postgres psql -c 'SELECT 1' | xargs -0 rm -f; for f in ls cat; do echo \"$f\"; done\n"
              "if [ -f /etc/motd ]; then nice -n 5 tar -czf /tmp/a.tgz /etc; fi; cat <<EOF | grep ls\nls\nEOF")
    assert command_names(grammar, script) == ["psql", "rm", "echo", "tar", "cat", "grep"]


def test_bound_words_are_offered_as_shell_words():
    assert [shell_word(w) for w in WORDS + ["a`b", "x\ny", ""]] == ["/var/log/app", "'/srv/my app'", "'it'\\''s'",
                                                                    None, None, None]
    [known] = [line for line in DECODE.splitlines() if line.startswith("KNOWN_WORD:")]
    assert all(f'"{w}"' in known for w in ["/var/log/app", "'/srv/my app'"])
    assert parses(DECODE, "ls '/srv/my app' /var/log/app") and llguidance_accepts(DECODE, "ls '/srv/my app'")


def test_wrappers_take_a_bound_command_and_only_when_bound():
    assert parses(DECODE, "sudo -u postgres psql -c 'SELECT 1'")
    assert not parses(specialise_shell(["ls", "psql"]), "sudo psql")
    assert not parses(DECODE, "sudo -u postgres")


# ----------------------------------------------------------------------------- ops scripts, canonical

CANONICAL = [
    r"find /var/log/app -name '*.log' -mtime +7 -exec gzip {} \;",
    "ss -tlnp | grep :8080",
    "du -sh /srv/* | sort -rh | head -n 10",
    'for f in *.log; do gzip "$f"; done',
    "if [ -f /etc/nginx/nginx.conf ]; then nginx -t; fi",
    "ps aux --sort=-%mem | head -n 5",
    "df -h | awk '$5+0 > 80 {print $6}'",
    "journalctl -u nginx --since '1 hour ago' | grep -i error | wc -l",
    "tail -n 100 /var/log/syslog | grep -E 'error|fail'",
    "lsof -i :443",
    "kill -9 $(pgrep -f 'java -jar app.jar')",
    "find . -type f -size +100M -print0 | xargs -0 ls -lh",
    "tar -czf /backup/etc-$(date +%F).tar.gz /etc",
    "sudo systemctl restart nginx && systemctl status nginx --no-pager",
    "curl -fsS http://localhost:8080/health || echo 'unhealthy'",
    "cut -d: -f1 /etc/passwd | sort | uniq -c | sort -rn | head",
    "mkdir -p /srv/app/releases && cp -r build/* /srv/app/releases/",
    "chown -R www-data:www-data /var/www && chmod -R 755 /var/www",
    'echo "Disk usage: $(df -h / | tail -n 1)"',
    "LC_ALL=C sort -u names.txt > names.sorted",
    'while IFS= read -r host; do ssh "$host" uptime; done < hosts.txt',
    "ls -1 /var/log/*.gz 2>/dev/null | wc -l",
    "command -v docker >/dev/null 2>&1 || echo 'docker missing' >&2",
    "timeout 5 curl -s http://example.com > /dev/null; echo $?",
    "nohup python3 app.py > app.log 2>&1 &",
    "[[ -d /srv/app ]] || mkdir -p /srv/app",
    "if [[ $(id -u) -ne 0 ]]; then echo 'run as root' >&2; exit 1; fi",
    'case "$1" in\n  start) systemctl start app;;\n  stop|restart) systemctl "$1" app;;\n'
    '  *) echo "usage: $0 start|stop"; exit 1;;\nesac',
    "cat <<EOF > /etc/motd\nWelcome to $HOSTNAME, $USER.\nEOF",
    "cat <<'EOF' | sudo tee /etc/app.conf\nport=8080\nlog_level=info # $not expanded\nEOF",
    'backup() {\n  tar -czf "/backup/$1.tar.gz" "$1"\n}\nbackup /etc',
    "for i in $(seq 1 5); do curl -s -o /dev/null -w '%{http_code}\\n' http://localhost/; done",
    'count=$(ls | wc -l); echo "files: $count"',
    'echo "${HOME:-/root}" ${#PATH} "${file%.log}" ${path##*/}',
    "echo $((60 * 60 * 24))",
    "grep -rl 'TODO' src/ | xargs -I {} sed -i 's/TODO/DONE/g' {}",
    "sudo -u postgres psql -c 'SELECT 1'",
    "env | grep -i proxy",
    "(cd /srv/app && git pull)",
    "{ date; uptime; } > /tmp/status.txt",
    "diff <(sort a.txt) <(sort b.txt)",
    "until curl -sf http://localhost:8080/; do sleep 1; done",
    'for ((i = 0; i < 3; i++)); do echo "$i"; done',
    "[ -z \"$VAR\" ] && echo 'empty'",
    'if ! grep -q "^$USER:" /etc/passwd; then echo missing; fi',
    "[[ $x =~ ^[0-9]+$ ]] && echo number",
    "stat -c '%s %n' /var/log/*.log | sort -n",
    "if systemctl is-active --quiet nginx; then\n  echo 'nginx up'\nelif [ -f /var/run/nginx.pid ]; then\n"
    "  echo 'stale pid'\nelse\n  systemctl start nginx\nfi",
    'while read -r line; do echo "$line"; done <<< "$data"',
    "count=0; ((count++)); echo $count",
    "exec > /var/log/setup.log 2>&1",
    "nice -n 10 tar -czf /tmp/b.tgz /srv/app",
    "env -i PATH=/usr/bin ls",
    "time du -sh /var",
    "tail -n 5 '/srv/my app'/log.txt /var/log/app",
]


@pytest.mark.parametrize("script", CANONICAL)
def test_canonical_scripts_are_derivable_and_check(script):
    assert parses(DECODE, script)
    assert llguidance_accepts(DECODE, script)
    assert llguidance_accepts(DECODE, f"{script}\n```")
    assert parses(CHECK, script)


def test_canonical_scripts_are_bash():
    assert tree_sitter_errors(CANONICAL) == []
    assert bash_errors(CANONICAL) == []


NON_CANONICAL = [
    "ls   -la|grep foo",
    "if [ -f x ];then\n\techo yes # comment\nfi",
    'for f in *.log ; do gzip "$f" ; done',
    "#!/bin/bash\n# clean up\nfind /tmp -mtime +7 -delete  # old files\n",
    "du -sh /srv/* \\\n  | sort -rh",
    "ls;date",
    "cat <<-EOF\n\tindented\n\tEOF",
    "cat << 'END'\n$x\nEND",
    "function f { echo hi; }",
    "f () {\n  echo hi\n}",
    "x=$(( 1+2 ))",
    "echo hi>out.txt 2> /dev/null",
    "case $x in\n  a ) echo a ;;\nesac",
    "rsync -a ./ host:/srv/ && ./deploy.sh",
    "ls &&\n  # then\n  date",
    "[[ $a = b ]] && [ -f a -a -d b ]",
    "! if true; then ls; fi",
]


@pytest.mark.parametrize("script", NON_CANONICAL)
def test_non_canonical_scripts_check_but_are_not_decoded(script):
    assert parses(CHECK, script)
    assert not parses(DECODE, script)
    assert bash_errors([script]) == []


# ----------------------------------------------------------------------------- compile time

def test_decode_variant_with_2000_commands_compiles_fast():
    """A real environment's PATH holds a few thousand commands; the decode variant must stay cheap."""
    prefixes = ["git-", "kube", "systemd-", "x", "py", "apt-", "docker-", "gnome-", "", "lib"]
    commands = [f"{prefixes[i % len(prefixes)]}tool{i}" for i in range(2000)]
    grammar = specialise_shell(commands)
    start = time.perf_counter()
    validate(Constraint("lark", grammar))
    byte_matcher(grammar)
    elapsed = time.perf_counter() - start
    print(f"llguidance compiled the decode variant with 2,000 commands in {elapsed:.3f}s")
    assert elapsed < 5
    assert llguidance_accepts(grammar, "kubetool1 -x | gnome-tool1997 && tool1998")
