"""The executors' own barriers, independent of the checker: a statement gate before EXPLAIN and a
plan barrier between EXPLAIN and the run.

Neither engine's read-only mode is a barrier on its own: ArcadeDB runs ``CALL { } IN TRANSACTIONS``,
schema changes and LOAD CSV whatever the access mode and rollback (and executes ``EXPLAIN CREATE
INDEX``), and a read-only Ladybug still reads files (``LOAD FROM``) and writes them (``COPY ... TO``).
"""

from __future__ import annotations

import re
from typing import Any

from ...execute import Refused
from .check import READ_PROCEDURES


# Line ends that some engine honours and the checker does not (ArcadeDB ends a // comment at a lone \r).
_ODD_LINE_END = re.compile(r"\r(?!\n)|[\x0b\x0c\x85\u2028\u2029]")
_LEXEME = re.compile(r"""[ \t\n]+|\r\n|//[^\n]*|/\*[^*]*\*/|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`"""
                     r"""|[A-Za-z_][A-Za-z0-9_]*|\S""", re.S)
# Statements a dry run may start with. CREATE only before a pattern: ``CREATE INDEX``/``CONSTRAINT``
# and other commands run even under EXPLAIN on ArcadeDB.
_READ_STARTS = frozenset({"match", "optional", "unwind", "with", "return", "call", "create", "merge"})
_LOAD_NEXT = frozenset({"csv", "from", "with", "extension"})  # LOAD CSV, LOAD FROM, LOAD WITH HEADERS, LOAD EXTENSION


def _words(query: str) -> list[str]:
    """The query's tokens outside comments, strings and backtick names (these stay as one token)."""
    return [m.group() for m in _LEXEME.finditer(query) if not m.group().isspace() and m.group() != "\r\n"
            and not m.group().startswith(("//", "/*"))]


def statement_gate(query: str) -> None:
    """Refuse, before anything reaches the engine, what even EXPLAIN could act on.

    The query must start with a clause of a query (not a command such as CREATE INDEX, DROP,
    SHOW, COPY, INSTALL or GRANT), hold no line end that engines read differently, and have no
    LOAD clause anywhere (Ladybug's EXPLAIN of LOAD FROM already opens the file to bind columns).
    """
    odd = _ODD_LINE_END.search(query)
    if odd:
        raise Refused(f"a line end (U+{ord(odd.group()):04X}) that engines read differently at offset {odd.start()}")
    words = _words(query)
    if not words or words[0].lower() not in _READ_STARTS:
        first = words[0] if words else "nothing"
        raise Refused(f"the statement starts with {first!r}: only queries (MATCH, WITH, UNWIND, RETURN, CALL ...) "
                      "are dry-run; commands could act even under EXPLAIN")
    if words[0].lower() == "create" and (len(words) < 2 or words[1] != "("):
        raise Refused(f"CREATE {words[1] if len(words) > 1 else ''} is a schema or admin command, never dry-run")
    for w, after in zip(words, words[1:]):
        if w.lower() == "load" and after.lower() in _LOAD_NEXT:
            raise Refused(f"LOAD {after.upper()} reads files or extensions; a dry run never does")


# Operators that write, load, call out or run their own transactions, by the start of their name once
# lower-cased with spaces and underscores dropped: Neo4j operatorTypes (SetProperty@neo4j,
# DetachDelete, LoadCSV, ProcedureCall, TransactionForeach, CreateIndex ...), ArcadeDB's plan steps
# (SET (1 items), DETACH DELETE, LOAD CSV FROM, CALL SUBQUERY { ... } IN TRANSACTIONS) and Ladybug's
# operators (COPY_TO, INSTALL_EXTENSION, STANDALONE_CALL, INSERT, SET_NODE_PROPERTY ...).
_WRITE_OPERATOR = re.compile(
    r"(create|merge|lockingmerge|set|delete|detachdelete|remove|loadcsv|load|foreach|subqueryforeach|"
    r"procedurecall|transaction|callsubquery|copy|install|export|import|attach|detach|insert|standalonecall|"
    r"drop|alter|grant|deny|revoke|terminate)")
# Ladybug table functions a plan may call: its own intermediate-result reader and schema listings.
LADYBUG_TABLE_FUNCTIONS = frozenset({"READ_FTABLE", "SHOW_TABLES", "TABLE_INFO", "SHOW_CONNECTION"})


def _operator_key(name: str) -> str:
    lead = re.match(r"[A-Za-z_ ]*", name.strip().lstrip("+").strip())
    return re.sub(r"[ _]", "", lead.group() if lead else "").lower()


def plan_barrier(operators: list[tuple[str, str]]) -> None:
    """Refuse a plan with an operator that writes, loads files, calls a procedure or commits on its own.

    ``operators`` are (name, details) pairs; a procedure call passes only for a read-only
    catalogue procedure, a Ladybug table function only for one of :data:`LADYBUG_TABLE_FUNCTIONS`.
    """
    for name, details in operators:
        key = _operator_key(name)
        if not key:
            continue
        if key.startswith("tablefunctioncall"):
            fn = re.search(r"Function:\s*(\w+)", details)
            if fn is None or fn.group(1).upper() not in LADYBUG_TABLE_FUNCTIONS:
                raise Refused(f"the plan calls the table function {fn.group(1) if fn else '?'}, which can read "
                              "files or reach outside the graph")
            continue
        if key.startswith("call") and not key.startswith("callsubquery") or key.startswith("procedurecall"):
            proc = re.search(r"(?:CALL\s+)?([A-Za-z_][\w.]*)\s*\(", details or name)
            if proc is None or proc.group(1).lower() not in READ_PROCEDURES:
                raise Refused(f"the plan calls the procedure {proc.group(1) if proc else '?'}, which may write "
                              "or reach outside the graph")
            continue
        if key.startswith("callsubquery") and "{ ... }" in name:
            raise Refused("the plan hides what a CALL { } subquery does (" + name.strip().lstrip("+ ") +
                          "), so it cannot be shown to be read-only")
        if _WRITE_OPERATOR.match(key):
            raise Refused(f"the plan has the operator {name.strip().lstrip('+ ')!r}, which writes, loads or "
                          "commits on its own")


def bolt_operators(plan: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Every operator of ``summary.plan``: the tree's operatorTypes and the lines of a text rendering."""
    if not plan:
        raise Refused("the server returned no plan for EXPLAIN, so the statement cannot be shown to be a "
                      "read-only query")
    out: list[tuple[str, str]] = []

    def walk(op: dict[str, Any]) -> None:
        args = op.get("args") or {}
        name = str(op.get("operatorType", "")).split("@")[0]
        if name != "ArcadeDB.OpenCypher.Plan":
            out.append((name, str(args.get("Details", ""))))
        for line in str(args.get("string-representation") or "").splitlines():
            if line.lstrip().startswith("+"):
                out.append((line, line))
        for child in op.get("children") or []:
            walk(child)

    walk(plan)
    return out


def ladybug_operators(plan: str) -> list[tuple[str, str]]:
    """(name, details) for each line of :func:`ladybug_plan`'s rendering."""
    out = []
    for line in plan.splitlines():
        m = re.match(r"\s*(?:\+\s*)?([A-Z_]+)\[\d+\]\s*(.*)", line)
        if m:
            out.append((m.group(1), m.group(2)))
        elif line.strip():
            raise Refused("the plan is not in the expected form, so it cannot be shown to be read-only")
    return out
