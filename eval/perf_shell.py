"""Shell target speed figures, measured side by side in one run (medians).

    python eval/perf_shell.py [--repeats 5]

Over the ops work directory (fixtures/ops_workdir.py): the tree-sitter walk, risk classification and the
whole check (with its ``bash -n`` and shellcheck subprocesses) per script; classification over the
adversarial and benign sets of tests/shell_adversarial.py (median, p95); sandbox dry runs; and binding a
PATH of 2,000 commands: PATH scan, grammar specialisation and llguidance compile, cold and cached.
Every parse is timed cold (the walk's per-process cache is cleared before each call) unless the label
says "parse cached". Prints each figure, then one JSON line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from timing import constraint_figures, median, ms, p95  # noqa: E402
SCRIPTS = [
    "du -sh * | sort -rh | head -n 3",
    "find var/log/app -name '*.log' -mtime +7 -print",
    "grep -r ERROR var/log/app | wc -l",
    "grep -rn 'status=500' var/log/app --include='*.log' | head -n 20",
    "awk '{print $2}' var/log/app/api-01.log | sort | uniq -c | sort -rn",
    "ls -lt var/log/app | head -n 5",
    "find . -type f -size +10k -exec ls -lh {} \\; | sort -k5 -rh | head",
    "tail -n 100 var/log/nginx/access.log | grep -E 'status=5[0-9]{2}' | cut -d' ' -f3 | sort | uniq -c",
    "df -h . && du -sh var/log/*",
    "stat -c '%n %s' srv/data/*.csv | sort -k2 -n",
    "cut -d, -f2 srv/data/export-00.csv | tail -n +2 | awk '{s += $1} END {print s}'",
    "ps aux | grep -v grep | grep -c nginx",
    "for f in var/log/app/*.log; do\n  echo \"$f $(wc -l < \"$f\")\"\ndone",
    "cat <<EOF\nerrors today: $(grep -c ERROR var/log/app/api-01.log)\nwarnings: $(grep -c WARN var/log/app/api-01.log)\nEOF",
    "for f in var/log/app/*; do\n  case \"$f\" in\n    *.log) echo \"log $f\" ;;\n    *.gz) echo \"archive $f\" ;;\n"
    "    *) echo \"other $f\" ;;\n  esac\ndone",
    "if [ -f etc/app/config.yaml ]; then\n  grep -E '^(port|workers):' etc/app/config.yaml\nfi",
    "find tmp -type f -mtime +7 -delete",
]
SANDBOX_SCRIPTS = {
    "echo": "echo hi",
    "du_sort_head": "du -sh * | sort -rh | head -n 3",
    "writes": "echo done > status.txt\ngzip -k var/log/app/api-35.log\nrm tmp/cache.bin",
}
PATH_SIZE = 2000


def cold_ms(fn: Callable[[], Any]) -> float:
    """``fn`` timed after emptying the tree-sitter walk's caches, so a script is parsed as if seen for the first time."""
    from nl2q.targets.shell import syntax

    syntax._analyse.cache_clear()
    syntax.word_shape.cache_clear()
    return ms(fn)


def load_module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "fixtures" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def path_commands(n: int) -> list[str]:
    """``n`` command names: the real ones in /usr/bin, /bin and /usr/sbin, padded with made-up tool names."""
    real: dict[str, None] = {}
    for d in ("/usr/bin", "/bin", "/usr/sbin"):
        try:
            real.update(dict.fromkeys(sorted(os.listdir(d))))
        except OSError:
            pass
    names = list(real)[:n]
    names += [f"tool-{i}" for i in range(n - len(names))]
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    from nl2q import Constraint, Policy
    from nl2q.targets import get_target
    from nl2q.targets.shell import syntax
    from nl2q.targets.shell.check import check_shell, shellcheck_binary
    from nl2q.targets.shell.environment import scan_path
    from nl2q.targets.shell.grammar import specialise_shell
    from nl2q.targets.shell.risk import classify
    from nl2q.targets.shell.sandbox import Limits, run_sandboxed, sandbox_available

    figures: dict[str, float] = {}

    def report(key: str, value: float, unit: str, note: str = "") -> None:
        figures[key] = value
        print(f"{key:58s} {value:>10} {unit}" + (f"  ({note})" if note else ""))

    t0 = time.perf_counter()
    path = scan_path()
    report("scan_path_cold_ms", round((time.perf_counter() - t0) * 1000, 3), "ms", f"{len(path)} commands on PATH")

    shell = get_target("shell")
    workdir_fixture = load_module("ops_workdir")
    policy = Policy()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = workdir_fixture.write(Path(tmp) / "ops")
        bound: Any = shell.bind(workdir, "bash")
        env, profile, where = bound.env, bound.dialect, str(bound.env.workdir)
        for script in SCRIPTS:  # warm-up, untimed: the parser's set-up and each binary's --help flag table
            check_shell(script, env, profile, policy)

        walks = [cold_ms(lambda s=s: syntax.commands(s)) for s in SCRIPTS for _ in range(args.repeats)]
        report("shell_tree_sitter_walk_ms_median", median(walks), "ms", f"{len(SCRIPTS)} scripts")
        risks = [cold_ms(lambda s=s: classify(s, profile.risk_rules, where)) for s in SCRIPTS for _ in range(args.repeats)]
        report("shell_risk_classify_ms_median", median(risks), "ms", "including its parse")
        warm = [ms(lambda s=s: classify(s, profile.risk_rules, where)) for s in SCRIPTS for _ in range(args.repeats)]
        report("shell_risk_classify_parse_cached_ms_median", median(warm), "ms")
        checks = [cold_ms(lambda s=s: check_shell(s, env, profile, policy)) for s in SCRIPTS for _ in range(args.repeats)]
        helpers = "bash -n + shellcheck subprocesses" if shellcheck_binary() else "bash -n; shellcheck NOT installed"
        report("shell_parse_and_check_ms_median", median(checks), "ms", f"whole check_shell: {helpers}")

        import shell_adversarial as cases

        cases_dir = Path(tmp) / "adversarial"
        for name, text in cases.WORKDIR_FILES.items():
            (cases_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (cases_dir / name).write_text(text)
        for label, scripts in (("adversarial", [s for s, _ in cases.ADVERSARIAL]), ("benign", cases.BENIGN)):
            per_script = [median([cold_ms(lambda s=s: classify(s, profile.risk_rules, str(cases_dir)))
                                  for _ in range(args.repeats)]) for s in scripts]
            report(f"shell_risk_classify_{label}_ms_median", median(per_script), "ms", f"{len(scripts)} scripts")
            report(f"shell_risk_classify_{label}_ms_p95", p95(per_script), "ms")

        engine = sandbox_available()
        if engine is None:
            print("(sandbox dry runs skipped: neither bubblewrap nor unshare works here)")
        else:
            for key, script in SANDBOX_SCRIPTS.items():
                runs = [run_sandboxed(script, workdir, Limits()) for _ in range(args.repeats)]
                assert all(r.ok for r in runs), (script, runs[0].error)
                kinds = sorted(f"{e.kind.split('.')[-1]} {e.target}" for e in runs[0].effects)
                report(f"shell_dry_run_{key}_ms_median", median([r.elapsed_ms for r in runs]), "ms",
                       engine + (f"; effects: {', '.join(kinds)}" if kinds else "; no effects"))

        commands = path_commands(PATH_SIZE)
        words = [e.path for e in env.entries if "/" not in e.path][:200]
        t0 = time.perf_counter()
        grammar = specialise_shell(commands, words=words)
        report(f"shell_grammar_specialise_{PATH_SIZE}_cmds_cold_ms", round((time.perf_counter() - t0) * 1000, 3), "ms",
               f"first in process; {len(grammar):,} characters")
        again = [ms(lambda: specialise_shell(commands, words=words)) for _ in range(args.repeats)]
        report(f"shell_grammar_specialise_{PATH_SIZE}_cmds_repeat_ms_median", median(again), "ms",
               "no cache: every bind specialises again")
        constraint_figures(report, lambda kind: f"shell_grammar_{kind}_{PATH_SIZE}_cmds", Constraint("lark", grammar),
                           Constraint("lark", specialise_shell(["ls", "grep"])),
                           lambda: Constraint("lark", specialise_shell(commands, words=words)), args.repeats)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
