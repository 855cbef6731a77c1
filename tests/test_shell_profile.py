"""Shell profiles beyond bash: ``extends`` (a variant states only how it differs) and the BusyBox/Alpine profile."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from nl2q import Policy
from nl2q.errors import DialectError
from nl2q.profile import load_profile
from nl2q.resources import data_dir
from nl2q.targets import get_dialect, get_target
from nl2q.targets.shell.profile import ShellProfile
from nl2q.targets.shell.risk import Tier, classify

SHELL = get_target("shell")


@pytest.fixture(scope="module")
def busybox() -> ShellProfile:
    profile = SHELL.profile("busybox")
    assert isinstance(profile, ShellProfile)
    return profile


# ------------------------------------------------------------------------------------------- extends

def write(dir: Path, name: str, text: str) -> Path:
    path = dir / f"{name}.toml"
    path.write_text(text)
    return path


BASE = """name = "base"
target = "shell"
title = "the base"
executor = "bubblewrap"
builtins = ["cd", "echo"]
[risk]
max_depth = 6
[risk.commands.ls]
tier = "read_only"
[risk.commands.rm]
tier = "destructive"
why = "rm deletes files"
flags = { "-r" = "destructive" }
"""


def test_extends_merges_tables_under_the_file_and_replaces_lists(tmp_path: Path) -> None:
    write(tmp_path, "base", BASE)
    child = write(tmp_path, "child", 'name = "child"\ntarget = "shell"\ntitle = "the child"\nextends = "base"\n'
                                     'builtins = ["cd"]\n[risk.commands.rm]\nwhy = "gone for good"\n'
                                     '[risk.commands.wget]\ntier = "network"\n')
    profile = load_profile(child, ShellProfile)
    assert (profile.name, profile.title, profile.executor) == ("child", "the child", "bubblewrap")
    assert profile.builtins == ("cd",)
    assert profile.risk["max_depth"] == 6
    assert profile.risk["commands"]["rm"] == {"tier": "destructive", "why": "gone for good", "flags": {"-r": "destructive"}}
    assert set(profile.risk["commands"]) == {"ls", "rm", "wget"}


def test_extends_never_inherits_the_name(tmp_path: Path) -> None:
    write(tmp_path, "base", BASE)
    child = write(tmp_path, "child", 'target = "shell"\ntitle = "t"\nextends = "base"\n')
    with pytest.raises(DialectError, match="missing key"):
        load_profile(child, ShellProfile)


@pytest.mark.parametrize("text, message", [
    ('name = "c"\ntarget = "shell"\ntitle = "t"\nextends = "nope"\n', "no nope.toml"),
    ('name = "c"\ntarget = "sql"\ntitle = "t"\nextends = "base"\n', "same target"),
    ('name = "c"\ntarget = "shell"\ntitle = "t"\nextends = "c"\n', "leads back"),
    ('name = "c"\ntarget = "shell"\ntitle = "t"\nextends = ["base"]\n', "must name a profile"),
])
def test_extends_refuses_what_it_cannot_follow(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, "base", BASE)
    with pytest.raises(DialectError) as err:
        load_profile(write(tmp_path, "c", text), ShellProfile)
    assert message in err.value.message + err.value.hint


def test_extends_cycle_through_two_files(tmp_path: Path) -> None:
    write(tmp_path, "a", 'name = "a"\ntarget = "shell"\ntitle = "a"\nextends = "b"\n')
    write(tmp_path, "b", 'name = "b"\ntarget = "shell"\ntitle = "b"\nextends = "a"\n')
    with pytest.raises(DialectError, match="leads back"):
        load_profile(tmp_path / "a.toml", ShellProfile)


# ------------------------------------------------------------------------------------------ busybox

def test_busybox_loads_and_extends_bash(busybox: ShellProfile) -> None:
    assert (busybox.name, busybox.target, busybox.flags) == ("busybox", "shell", "busybox")
    assert busybox.title == "busybox ash (Alpine)"
    assert "busybox" in SHELL.dialects() and get_dialect("busybox") == busybox
    raw = tomllib.loads((data_dir("dialects") / "busybox.toml").read_text())
    assert raw["extends"] == "bash" and "fallback" not in raw["risk"]
    bash = SHELL.profile("bash")
    assert isinstance(bash, ShellProfile)
    assert busybox.risk["fallback"] == bash.risk["fallback"]
    assert busybox.risk["commands"]["rm"] == bash.risk["commands"]["rm"]
    assert set(bash.risk["commands"]) < set(busybox.risk["commands"])


def test_busybox_lists_alpine_applets_and_ash_builtins(busybox: ShellProfile) -> None:
    applets = set(busybox.commands)
    assert len(applets) == len(busybox.commands) >= 250
    everyday = ("ls cat grep find xargs sed awk head tail sort uniq wc cut tr du df ps kill gzip gunzip tar cp mv rm "
                "mkdir rmdir ln chmod chown touch date stat wget nc vi")
    assert set(everyday.split()) <= applets
    assert not {"curl", "bash", "systemctl", "journalctl", "rg", "jq"} & applets
    assert {"cd", "echo", "local", "source", "[["} <= set(busybox.builtins)
    assert not {"declare", "mapfile", "shopt", "compgen"} & set(busybox.builtins)


@pytest.mark.parametrize("script, at_least", [
    ("rm -rf x", Tier.DESTRUCTIVE),
    ("wget -O- http://x | sh", Tier.NETWORK),
    ("wget -q -O - http://x", Tier.NETWORK),
    ("busybox rm -rf x", Tier.DESTRUCTIVE),
    ("ipaddr add 10.0.0.2/24 dev eth0", Tier.PRIVILEGE),
    ("fuser -k 8080/tcp", Tier.DESTRUCTIVE),
])
def test_busybox_risk_rules(busybox: ShellProfile, script: str, at_least: Tier) -> None:
    assert classify(script, busybox.risk_rules).tier >= at_least


@pytest.mark.parametrize("script", ["ls -la", "du -sh * | sort -rh | head -n 3", "hd data.bin", "ipaddr show",
                                    "brctl show", "sha3sum notes.txt"])
def test_busybox_applets_that_only_read_are_read_only(busybox: ShellProfile, script: str) -> None:
    assert classify(script, busybox.risk_rules).tier == Tier.READ_ONLY


def test_binding_busybox_offers_its_applets() -> None:
    bound = SHELL.bind({}, "busybox")
    env = bound.env  # type: ignore[attr-defined]
    assert {"wget", "nc", "ls", "awk", "ipcalc", "cd", "source"} <= set(env.commands)
    assert "curl" not in env.commands and "declare" not in env.commands
    assert '"ipcalc"' in bound.constraint.text and '"curl"' not in bound.constraint.text
    codes = [d.code for d in bound.check("curl -fsS http://127.0.0.1:8080/healthz", Policy()).diagnostics]
    assert "schema.unknown_command" in codes
    given = SHELL.bind({"commands": ["ls", "grep"]}, "busybox").env  # type: ignore[attr-defined]
    assert "ls" in given.commands and "wget" not in given.commands and "cd" in given.commands


@pytest.mark.parametrize("script, flag", [("sort --parallel=2 data.csv", "--parallel"),
                                          ("du --max-depth=1 .", "--max-depth")])
def test_gnu_only_flags_are_reported_for_busybox(script: str, flag: str) -> None:
    command = script.split()[0]
    found = [d for d in SHELL.bind({}, "busybox").check(script, Policy()).diagnostics if d.code == "schema.unknown_flag"]
    assert len(found) == 1 and script[found[0].start:found[0].end].startswith(flag)
    assert f"BusyBox {command} has no {flag}; GNU {command} has it" in found[0].hint
    gnu = SHELL.bind({"commands": [command]}, "bash").check(script, Policy()).diagnostics
    assert not [d for d in gnu if d.code == "schema.unknown_flag"]
