"""Command line: ``nl2q ask``, ``nl2q eval``, ``nl2q serve``, ``nl2q models``, ``nl2q bench``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from .errors import Nl2qError
from .models.config import MODEL_HELP
from .quiet import quiet as _quiet
from .types import Approval, CompileResult, DryRun


def _source(args: argparse.Namespace) -> tuple[str, Any]:
    """The target and source named on the command line: ``--target T --source S`` or a target's own flag."""
    from .targets import available, get_target

    given = [(t, getattr(args, f"source_{t}")) for t in available() if getattr(args, f"source_{t}", None) is not None]
    if args.source is not None:
        given.append((args.target, args.source))
    if not given and args.target and get_target(args.target).spec.source_default:
        given.append((args.target, get_target(args.target).spec.source_default))
    flags = ", ".join(f"--{get_target(t).spec.source_flag} PATH" for t in available() if get_target(t).spec.source_flag)
    if len(given) != 1:
        raise Nl2qError("say what to query", f"pass exactly one of {flags}, or --target NAME --source SOURCE")
    target, source = given[0]
    if target is None:
        raise Nl2qError("--source needs --target", f"choose one of: {', '.join(available())}")
    spec = get_target(target).spec
    options = {name: getattr(args, f"option_{name}") for name, _ in spec.source_options
               if getattr(args, f"option_{name}", None) is not None}
    return target, ({spec.source_flag: source, **options} if options else source)


def _ask(args: argparse.Namespace) -> int:
    from .compiler import Compiler, Stages
    from .policy import Policy

    target, source = _source(args)
    policy = Policy(allow_writes=args.allow_writes, max_rows=args.max_rows, timeout_s=args.timeout,
                    allow_privilege=not args.strict)
    compiler = Compiler(args.model, policy=policy, stages=Stages.named(args.config),
                        max_repairs=args.max_repairs, max_new_tokens=args.max_new_tokens)
    result = compiler.compile(args.question, schema=source, target=target, dialect=args.dialect)
    refused = None
    if args.run and result.valid:
        result, refused = _run_for_real(compiler, result, source)
    if args.json:
        print(json.dumps(result.to_dict(), default=str))
    else:
        print(render(result))
    if refused is not None:
        print(f"nl2q: {refused}", file=sys.stderr)
    return 0 if result.valid and (not args.run or (result.executed and result.executed.outcome.ok)) else 1


def _run_for_real(compiler: Any, result: CompileResult, source: Any) -> tuple[CompileResult, Nl2qError | None]:
    """``--run``: the checked output runs for real once its tier allows it; a tier that needs a person is
    asked on the terminal ([r]un / [e]dit / [a]bort), and never confirmed by a flag or from a pipe."""
    from .errors import NotApproved

    while True:
        answers: list[str] = []

        def approve(request: Approval) -> bool:
            print(render_approval(request), file=sys.stderr)
            answers.append(_ask_terminal("[r]un / [e]dit / [a]bort? "))
            return answers[-1] == "r"

        try:
            compiler.execute(result, schema=source, dialect=result.dialect, approve=approve)
            return result, None
        except NotApproved as e:  # the result shown is the one that was refused (the edited one after [e]dit)
            if answers[-1:] != ["e"]:
                return result, e
        result = compiler.run(_edit(result.query), schema=source, target=result.target, dialect=result.dialect,
                              question=result.question)
        if not result.valid:
            return result, None


def render_approval(request: Approval) -> str:
    """What a person reads before saying yes: the exact text, its tier and why, and what the dry run did."""
    lines = ["", f"About to run for real in {request.where or 'the bound source'}:", "", request.text, "",
             f"risk tier: {request.tier.replace('_', ' ')} ({'; '.join(request.reasons) or 'no reason given'})"]
    if request.dry_run is not None:
        lines += ["", f"in the dry run ({request.dry_run.mode} on {request.dry_run.engine}) it did this:"]
        lines += render_outcome(request.dry_run)
        if not request.dry_run.effects:
            lines.append("  (no effects: nothing created, changed or deleted)")
    return "\n".join(lines)


def _ask_terminal(prompt: str) -> str:
    """One letter typed on the controlling terminal; no terminal, no answer (a pipe cannot confirm)."""
    return _ask_terminal_line(prompt).lower()[:1]


def _edit(text: str) -> str:
    """The output opened in $VISUAL/$EDITOR, or a replacement typed on the terminal."""
    import shlex
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        return _ask_terminal_line(f"current: {text}\nnew: ") or text
    with tempfile.NamedTemporaryFile("w+", suffix=".sh", delete=False) as f:
        f.write(text + "\n")
    try:
        subprocess.run([*shlex.split(editor), f.name], check=False)
        return Path(f.name).read_text().strip()
    finally:
        os.unlink(f.name)


def _ask_terminal_line(prompt: str) -> str:
    """A line typed on the controlling terminal (``/dev/tty``, not stdin, so a pipe cannot answer)."""
    from .errors import NotApproved

    try:
        with open("/dev/tty", "rb+", buffering=0) as tty:
            tty.write(prompt.encode())
            line = b""
            while not line.endswith(b"\n"):
                chunk = tty.read(1)
                if not chunk:
                    break
                line += chunk
    except OSError:
        raise NotApproved("this needs a person's confirmation on a terminal, and there is none",
                          "run nl2q ask --run from a terminal, or use Compiler.execute(approve=...)") from None
    return line.decode(errors="replace").strip()


def render(result: CompileResult) -> str:
    """The query, its diagnostics and a preview of the rows, for a terminal."""
    author = "edited by a person" if result.config.get("edited") else f"model {result.model}"
    lines = [f"-- {result.target}/{result.dialect}, {author}, "
             f"{len(result.rounds)} round(s), {'valid' if result.valid else 'NOT valid'}"]
    shown = next(iter(result.renderings.items()), None)
    if shown:
        lines[0] += f" (written as {result.target} {result.dialect} JSON, shown as {shown[0].upper()})"
    lines.append(shown[1].rstrip("\n") if shown else result.query or "(no query)")
    if result.diagnostics:
        lines += ["", result.explain()]
    if result.dry_run and result.dry_run.ok:
        lines += render_outcome(result.dry_run)
    if result.executed:
        lines += ["", f"-- ran for real ({result.executed.approved_by} approved, tier "
                      f"{result.executed.tier.replace('_', ' ')}):"] + render_outcome(result.executed.outcome)
    return "\n".join(lines)


def render_outcome(dr: DryRun) -> list[str]:
    """Rows as a table; output text, exit status and effects for targets that have them."""
    lines: list[str] = []
    if dr.has_rows:
        lines += ["", table(dr.columns, dr.rows)]
        count = f"more than {len(dr.rows)}" if dr.capped else str(dr.row_count)
        lines.append(f"({count} row(s), {dr.elapsed_ms:.1f} ms on {dr.engine})")
    if dr.output:
        lines += ["", dr.output.rstrip("\n")]
    if dr.effects:
        lines += ["", f"effects ({dr.mode} on {dr.engine}):"] + [
            f"  {e.kind} {e.target}" + (f" ({e.detail})" if e.detail else "") for e in dr.effects]
    if dr.exit_status is not None:
        lines.append(f"(exit status {dr.exit_status}, {dr.elapsed_ms:.1f} ms on {dr.engine})")
    return lines


def table(columns: list[str], rows: list[list[Any]], width: int = 32) -> str:
    cells = [[_cell(c, width) for c in columns]] + [[_cell(v, width) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    fmt = lambda row: " | ".join(v.ljust(w) for v, w in zip(row, widths))  # noqa: E731
    return "\n".join([fmt(cells[0]), "-+-".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]])


def _cell(value: Any, width: int) -> str:
    text = "NULL" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _bench(args: argparse.Namespace) -> int:
    bench = Path(__file__).resolve().parent.parent / "eval" / "perf.py"
    if not bench.is_file():
        raise Nl2qError("the benchmark script eval/perf.py is not in this installation", "run it from a source checkout")
    import runpy

    sys.argv = [str(bench)] + args.rest
    runpy.run_path(str(bench), run_name="__main__")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .serve import serve

    serve(graph=args.graph, db=args.db, model=args.model, host=args.host, port=args.port, token=args.token,
          workers=args.workers, queue=args.queue, store=args.store, max_rows=args.max_rows,
          rate_per_minute=args.rate, dialect=args.dialect)
    return 0


def _models(args: argparse.Namespace) -> int:
    from .models.config import catalogue

    rows = catalogue(check=args.check)
    print(table(["model", "kind", "status"], [list(r) for r in rows], width=100))
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="nl2q", description="Natural language to checked queries.")
    sub = ap.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="compile a question into a checked query and dry-run it")
    ask.add_argument("question")
    from .targets import available, get_target

    dialects = []
    for name in available():
        spec = get_target(name).spec
        if spec.source_flag:
            ask.add_argument(f"--{spec.source_flag}", dest=f"source_{name}", metavar="SOURCE",
                             help=f"{spec.source_help} (target {name})")
        for option, text in spec.source_options:
            ask.add_argument(f"--{option.replace('_', '-')}", dest=f"option_{option}", help=f"{text} (target {name})")
        dialects.append(f"{'|'.join(get_target(name).dialects())} for {name}")
    ask.add_argument("--target", choices=available(), help="the target language, with --source")
    ask.add_argument("--source", help="what to query, for --target: a path, URI or schema file")
    ask.add_argument("--dialect", help="; ".join(dialects) + " (default: from the source)")
    ask.add_argument("--model", default=os.environ.get("NL2Q_MODEL"), help=MODEL_HELP)
    ask.add_argument("--max-repairs", type=int, default=3)
    ask.add_argument("--max-new-tokens", type=int, default=256)
    ask.add_argument("--max-rows", type=int, default=1000, help="row cap for the dry run")
    ask.add_argument("--timeout", type=float, default=5.0, help="dry-run timeout in seconds")
    ask.add_argument("--config", default="repair",
                     help="raw | constrained | constrained+scope | constrained+scope+backtrack | repair (default: all stages)")
    ask.add_argument("--allow-writes", action="store_true",
                     help="let the output change things (a script that writes files); the default is read-only")
    ask.add_argument("--run", action="store_true",
                     help="run the checked, dry-run output for real (shell: in --workdir); destructive, network "
                          "and privileged ones ask on the terminal: [r]un / [e]dit / [a]bort")
    ask.add_argument("--strict", action="store_true",
                     help="refuse configs that grant privilege (privileged containers, hostPath, RBAC wildcards); "
                          "by default they are listed as warnings")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.set_defaults(func=_ask)
    from .evaluate.cli import add_parser as add_eval_parser

    add_eval_parser(sub)
    models = sub.add_parser("models", help="list the models usable here: local, cached, configured servers")
    models.add_argument("--check", action="store_true", help="ask each configured server whether it answers")
    models.set_defaults(func=_models)
    srv = sub.add_parser("serve", help="serve the search box: a web page and a JSON API over one model")
    srv.add_argument("--graph", help="a Ladybug database path, a bolt:// URI, or a .yaml/.json graph schema")
    srv.add_argument("--db", help="a DuckDB or SQLite database")
    srv.add_argument("--dialect", help="the dialect, when only one source is given (default: from the source)")
    srv.add_argument("--model", default=os.environ.get("NL2Q_MODEL"), help=MODEL_HELP)
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others need --token)")
    srv.add_argument("--port", type=int, default=8765)
    srv.add_argument("--token", default=os.environ.get("NL2Q_SERVE_TOKEN"),
                     help="required of every client (default $NL2Q_SERVE_TOKEN); open the page as /?token=...")
    srv.add_argument("--workers", type=int, default=1, help="questions decoded at once, sharing the model (default 1)")
    srv.add_argument("--queue", type=int, default=8, help="questions that may wait; beyond that 503 (default 8)")
    srv.add_argument("--store", default=None, help="history and confirmed answers (default ~/.local/share/nl2q/serve.sqlite3)")
    srv.add_argument("--max-rows", type=int, default=500, help="row cap of every dry run (default 500)")
    srv.add_argument("--rate", type=float, default=30.0, help="requests per minute per client (default 30)")
    srv.set_defaults(func=_serve)
    bench = sub.add_parser("bench", help="run eval/perf.py (speed and memory figures)")
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=_bench)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _quiet()
    try:
        return args.func(args)
    except Nl2qError as e:
        print(f"nl2q: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
