"""A toy target that plugs in from outside nl2q, as a third-party package would.

Language: ``FIND <collection> [WHERE <field> = "<value>"]`` over an in-memory inventory;
``DROP <collection>`` parses and is refused. Its grammar is data (one Lark text used to
constrain and to check); its checker walks the tree with a lark Interpreter.
"""

from __future__ import annotations

import random
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput
from lark.visitors import Interpreter

from nl2q import Constraint, Diagnostic, DryRun, Policy
from nl2q.grammar import alternatives, lark_literal
from nl2q.targets import Bound, Checked, Target, TargetSpec
from nl2q.targets.base import Conformance
from nl2q.types import position

RULES = r"""
find: "FIND " collection (" WHERE " field " = " VALUE)?
drop: "DROP " collection
VALUE: /"[a-z0-9]{0,12}"/
"""
DECODE_GRAMMAR = "start: find\n" + RULES  # the decoder can only read
CHECK_GRAMMAR = "start: find | drop\n" + RULES + "collection: NAME\nfield: NAME\nNAME: /[a-z_]+/\n"

TOY = TargetSpec(name="toy", noun="lookup", fence="toy", has_rows=True, source_flag="inventory",
                 source_help="a toy inventory {collection: [rows]}", default_dialect="toy")


class _Names(Interpreter):
    def __init__(self, text: str, data: dict[str, list[dict[str, Any]]], policy: Policy) -> None:
        self.text, self.data, self.policy = text, data, policy
        self.diags: list[Diagnostic] = []
        self.current: str | None = None

    def _add(self, code: str, message: str, tok: Token, stage: str = "check") -> None:
        line, col = position(self.text, tok.start_pos)
        self.diags.append(Diagnostic(code, message, line=line, col=col, start=tok.start_pos, end=tok.end_pos, stage=stage))

    def drop(self, tree: Tree) -> None:
        if not self.policy.allow_writes:
            self._add("policy.write", "DROP deletes a collection; the policy is read-only", tree.children[0].children[0],
                      stage="policy")

    def collection(self, tree: Tree) -> None:
        tok = tree.children[0]
        if tok not in self.data:
            self._add("schema.unknown_collection", f"unknown collection {tok}", tok)
        self.current = str(tok)

    def field(self, tree: Tree) -> None:
        tok = tree.children[0]
        rows = self.data.get(self.current or "", [])
        if rows and tok not in rows[0]:
            self._add("schema.unknown_field", f"unknown field {tok}", tok)


class ToyBound(Bound):
    spec = TOY

    def __init__(self, data: dict[str, list[dict[str, Any]]], dialect: Any) -> None:
        self.data, self.dialect, self.has_data = data, dialect, True
        fields = sorted({k for rows in data.values() for row in rows[:1] for k in row}) or ["id"]
        self.constraint = Constraint("lark", DECODE_GRAMMAR + "collection: " + alternatives(lark_literal(c) for c in data)
                                     + "\nfield: " + alternatives(lark_literal(f) for f in fields) + "\n")
        self.parser = Lark(CHECK_GRAMMAR, parser="lalr", propagate_positions=True)

    def schema_text(self, question: str) -> str:
        return "\n".join(f"{c}: {', '.join(rows[0]) if rows else ''}" for c, rows in self.data.items())

    def check(self, text: str, policy: Policy) -> Checked:
        try:
            tree = self.parser.parse(text)
        except UnexpectedInput as e:
            return Checked([Diagnostic("syntax.error", f"cannot parse: {str(e).splitlines()[0]}")])
        names = _Names(text, self.data, policy)
        names.visit(tree)
        return Checked(names.diags, writes=tree.children[0].data == "drop")

    def dry_run(self, text: str, policy: Policy, writes: bool) -> DryRun | None:
        tree = self.parser.parse(text).children[0]
        rows = self.data[str(tree.children[0].children[0])]
        if len(tree.children) > 1:
            key, value = str(tree.children[1].children[0]), str(tree.children[2])[1:-1]
            rows = [r for r in rows if str(r.get(key)) == value]
        cols = list(rows[0]) if rows else []
        return DryRun(True, "toy", "run", columns=cols, rows=[[r[c] for c in cols] for r in rows],
                      row_count=len(rows))


class ToyProfile:
    name = target = "toy"
    title = "Toy"


class ToyTarget(Target):
    spec = TOY

    def bind(self, source: Any, dialect: str | None = None) -> Bound:
        return ToyBound(source, ToyProfile())

    def dialects(self) -> list[str]:
        return ["toy"]

    def conformance(self) -> Conformance:
        return Conformance(
            source={"hosts": [{"name": "web1", "dc": "fra1"}, {"name": "db1", "dc": "ams1"}]},
            random_source=_random_inventory,
            valid=('FIND hosts', 'FIND hosts WHERE dc = "fra1"'),
            writes=("DROP hosts",),
            different=(('FIND hosts WHERE dc = "fra1"', 'FIND hosts WHERE dc = "ams1"'),),
        )


def _random_inventory(rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    def word() -> str:
        return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(1, 6)))

    out: dict[str, list[dict[str, Any]]] = {}
    for _ in range(rng.randint(1, 3)):
        fields = list(dict.fromkeys(word() for _ in range(rng.randint(1, 3))))
        out[word()] = [{f: word() for f in fields} for _ in range(rng.randint(1, 3))]
    return out
