"""The shape of the library: no import cycles, targets named only in nl2q/targets, plug-in targets, extras."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nl2q"
BUILTIN_TARGETS = ("sql", "cypher")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """nl2q modules imported by ``path`` (relative imports resolved); only module-level ones if asked."""
    tree = ast.parse(path.read_text())
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # module level includes `if`/`try` blocks, not function bodies
        nodes = [n for stmt in tree.body for n in ast.walk(stmt)
                 if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        nodes += [n for stmt in tree.body if isinstance(stmt, ast.ClassDef) for n in stmt.body
                  if isinstance(n, (ast.Import, ast.ImportFrom))]
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("nl2q")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("nl2q"):
                out.add(mod)
                out |= {f"{mod}.{a.name}" for a in node.names}
    return out


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    return {m: {i for i in _imports(p, top_level_only=True) if i in MODULES and i != m} for m, p in MODULES.items()}


def test_no_import_cycles_at_module_level():
    graph = _graph()
    # a package imports its parents implicitly; those edges are Python's, not ours
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if m.startswith(n + "."):
                continue
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_types_module_imports_nothing_from_nl2q():
    assert _imports(PACKAGE / "types.py", top_level_only=False) == set()


def test_no_module_outside_targets_imports_a_target_by_name():
    offenders = []
    for name, path in MODULES.items():
        if name.startswith("nl2q.targets"):
            continue
        for imported in _imports(path, top_level_only=False):
            if any(imported == f"nl2q.targets.{t}" or imported.startswith(f"nl2q.targets.{t}.") for t in BUILTIN_TARGETS):
                offenders.append(f"{name} imports {imported}")
    assert not offenders, offenders


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports_alone(module):
    """A fresh interpreter imports each module first: an order-dependent cycle would fail here."""
    if module.startswith(("nl2q.models.local", "nl2q.models.gguf")) and os.environ.get("NL2Q_SKIP_LOCAL"):
        pytest.skip("local extra not installed")
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=ROOT, capture_output=True)


def _dist_info(tmp_path: Path) -> Path:
    """A third-party package on sys.path that declares a target through the nl2q.targets entry point."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "toy_target.py").write_text((ROOT / "tests" / "toy_target.py").read_text())
    info = site / "nl2q_toy-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nl2q-toy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[nl2q.targets]\ntoy = toy_target:ToyTarget\n")
    return site


def test_a_target_registered_through_an_entry_point_compiles(tmp_path):
    site = _dist_info(tmp_path)
    code = textwrap.dedent("""
        import json, nl2q
        from nl2q.targets import available, get_target
        assert "toy" in available(), available()
        model = nl2q.ScriptedModel(['FIND hosts WHERE dc = "ams9"', 'FIND hosts WHERE dc = "fra1"'])
        r = nl2q.compile("hosts in fra1", target="toy", model=model,
                         schema={"hosts": [{"name": "web1", "dc": "fra1"}, {"name": "db1", "dc": "ams1"}]})
        print(json.dumps({"valid": r.valid, "output": r.output, "rows": r.dry_run.rows,
                          "codes": [[d.code for d in x.diagnostics] for x in r.rounds],
                          "constrained": [x.constrained for x in r.rounds], "prompt": model.calls[0][0]["content"]}))
    """)
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env, cwd=tmp_path)
    import json

    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["valid"] and got["output"] == 'FIND hosts WHERE dc = "fra1"'
    assert got["rows"] == [["web1", "fra1"]]
    assert got["codes"][0] == ["execute.empty_result"]  # the first answer ran and found nothing: one more round
    assert got["constrained"] == [True, True]
    assert "Toy lookups" in got["prompt"] and "hosts: name, dc" in got["prompt"]


def test_cli_offers_a_plugged_in_targets_source_flag(tmp_path):
    site = _dist_info(tmp_path)
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-m", "nl2q.cli", "ask", "--help"], capture_output=True, text=True, env=env)
    assert "--inventory" in out.stdout and "--db" in out.stdout and "--graph" in out.stdout


def test_a_missing_extra_fails_with_one_line_naming_it(tmp_path):
    code = "import sys; sys.modules['torch'] = None; from nl2q.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, "ask", "q", "--db", str(tmp_path / "x.duckdb")],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "torch" in out.stderr and "nl2q[local]" in out.stderr


def test_an_unknown_profile_key_names_the_file_and_the_key(tmp_path):
    from nl2q.errors import DialectError
    from nl2q.profile import load_profile
    from nl2q.targets import get_target

    cypher = get_target("cypher")
    path = tmp_path / "neo4j_typo.toml"
    path.write_text('name = "x"\ntarget = "cypher"\ntitle = "X"\nexecutor = "bolt"\ncall_subqeury = true\n')
    with pytest.raises(DialectError) as e:
        load_profile(path, cypher.profile_type)
    assert "call_subqeury" in str(e.value) and str(path) in str(e.value)
    path.write_text('name = "x"\ntarget = "cypher"\ntitle = "X"\nexecutor = "bolt"\nconstructs = "shortest_path"\n')
    with pytest.raises(DialectError, match="constructs must be a list"):
        load_profile(path, cypher.profile_type)


def test_dialect_facts_come_from_profiles_not_names():
    """No code branches on an engine's name: a renamed copy of a profile behaves the same."""
    offenders = []
    for name, path in MODULES.items():
        text = path.read_text()
        for engine in ("neo4j", "ladybug", "duckdb", "sqlite"):
            for pattern in (f'dialect.name == "{engine}"', f'dialect.name != "{engine}"', f'.name == "{engine}"'):
                if pattern in text:
                    offenders.append(f"{name}: {pattern}")
    assert not offenders, offenders
