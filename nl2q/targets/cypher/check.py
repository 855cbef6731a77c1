"""Cypher checks on the parse tree of the grammar's check variant: policy, dialect, schema, scope.

A reversed relationship arrow that only fits the other way round is corrected and
reported; everything else is a diagnostic with a position and a hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Iterable, Iterator

from lark import Lark, Token, Tree, Visitor
from lark.exceptions import UnexpectedEOF, UnexpectedInput

from .profile import CypherProfile
from .grammar import cypher_check_grammar
from ...policy import Policy
from ...types import Diagnostic, position
from .schema import GraphSchema
from ...check import hidden_characters, input_bounds, lookalike_characters, suggestion

WRITE_CLAUSES = {
    "create_clause": "CREATE", "merge_clause": "MERGE", "set_clause": "SET", "delete_clause": "DELETE",
    "remove_clause": "REMOVE", "foreach_clause": "FOREACH",
}
READ_PROCEDURES = frozenset({
    "db.labels", "db.relationshiptypes", "db.propertykeys", "db.schema.visualization",
    "db.schema.nodetypeproperties", "db.schema.reltypeproperties",
})
CONSTRUCT_NAMES = {
    "shortest_path": "shortestPath()/allShortestPaths()",
    "count_subquery": "COUNT { } subqueries",
    "pattern_comprehension": "pattern comprehensions [(a)-->(b) | b.x]",
}

MAX_CHARS = 8_000
MAX_DEPTH = 24  # brackets; a bracket is ~12 levels of parse tree, and the walk recurses per level
MAX_TOKENS = 300  # 2x the longest of 9,846 text2cypher gold queries; Earley takes 1.5-4 ms a token here
MAX_NOTS = 3  # in a row
MAX_CASES = 6  # CASE inside CASE: neither needs a bracket
_SIMPLER = "split it into steps with WITH, or ask for something smaller"
_TOKEN = re.compile(r"""'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|`[^`]*`?|//[^\n]*|/\*.*?(?:\*/|$)|[A-Za-z_0-9.]+|\S""",
                    re.S)


@cache
def parser() -> Lark:
    return Lark(cypher_check_grammar(), parser="earley", propagate_positions=True)


@dataclass
class Binding:
    kind: str  # node, rel, path, value
    labels: frozenset[str] = frozenset()


@dataclass
class CypherCheck:
    tree: Tree | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    corrected: str | None = None
    writes: bool = False

    @property
    def ok(self) -> bool:
        return self.tree is not None and not any(d.is_error for d in self.diagnostics)


def check_cypher(text: str, schema: GraphSchema, dialect: CypherProfile, policy: Policy = Policy(),
                 parameters: Iterable[str] = ()) -> CypherCheck:
    """Check ``text`` exactly as given: positions, corrections and the verdict are about the text that runs.

    Size and nesting are bounded before parsing (Earley time grows with the token count; the
    tree walk recurses with the nesting), so no input can hang or crash the checker.
    """
    diags = hidden_characters(text) + lookalike_characters(text, _TOKEN, ("'", '"', "`", "//", "/*"))
    bounds = input_bounds(text, MAX_CHARS, MAX_DEPTH) or _token_bound(text)
    if bounds:
        return CypherCheck(None, diags + bounds)
    try:
        tree = parser().parse(text)
        checker = _Checker(text, schema, dialect, policy, set(parameters))
        checker.run(tree)
    except UnexpectedInput as e:
        return CypherCheck(None, diags + [_syntax(text, e)])
    except RecursionError:
        return CypherCheck(None, diags + [Diagnostic(
            "policy.input_too_deep", "the query nests too deeply to check", hint=_SIMPLER, stage="policy")])
    return CypherCheck(tree, diags + checker.diags, checker.corrected(), checker.writes)


def _token_bound(text: str) -> list[Diagnostic]:
    """Refuse what the checker cannot parse quickly: too many tokens (comments excluded), long runs of
    NOT, or CASE nested deeply (neither needs a bracket, and both make the Earley parse explode)."""
    count = nots = cases = 0
    for m in _TOKEN.finditer(text):
        word = m.group()
        if word.startswith(("//", "/*")):
            continue
        count += 1
        upper = word.upper()
        nots = nots + 1 if upper == "NOT" else 0
        cases += (upper == "CASE") - (upper == "END" and cases > 0)
        problem = (f"the query has more than {MAX_TOKENS} tokens" if count > MAX_TOKENS else
                   f"more than {MAX_NOTS} NOTs in a row" if nots > MAX_NOTS else
                   f"CASE expressions nest more than {MAX_CASES} deep" if cases > MAX_CASES else "")
        if problem:
            line, col = position(text, m.start())
            return [Diagnostic("policy.input_too_complex", problem + " to check quickly", line=line, col=col,
                               start=m.start(), end=m.end(), hint=_SIMPLER, stage="policy")]
    return []


def _syntax(text: str, e: UnexpectedInput) -> Diagnostic:
    offset = getattr(e, "pos_in_stream", None)
    if isinstance(e, UnexpectedEOF) or offset is None:
        offset = len(text)
    line, col = position(text, min(offset, len(text)))
    expected = sorted(getattr(e, "expected", None) or getattr(e, "allowed", None) or [])
    shown = [x.strip('"').rstrip("i").strip('"') for x in expected if not x.startswith(("_", "__"))][:8]
    near = text[offset:offset + 12].split("\n")[0] if offset < len(text) else "end of query"
    return Diagnostic("syntax.error", f"unexpected {near!r}", line=line, col=col, start=offset,
                      end=min(len(text), offset + max(1, len(near) if offset < len(text) else 1)),
                      hint=("expected one of: " + ", ".join(shown)) if shown else "check the Cypher syntax",
                      stage="parse")


def _tokens(tree: Tree, kind: str) -> list[Token]:
    return [t for t in tree.children if isinstance(t, Token) and t.type == kind]


def _first(tree: Tree, rule: str) -> Tree | None:
    return next((c for c in tree.children if isinstance(c, Tree) and c.data == rule), None)


def _name(tok: Token) -> str:
    v = str(tok)
    return v[1:-1] if v.startswith("`") else v


def _subtrees(tree: Tree, stop: set[str] = frozenset()) -> Iterator[Tree]:
    """Pre-order subtrees, not descending into rules named in ``stop`` (yielded, not entered)."""
    yield tree
    for c in tree.children:
        if isinstance(c, Tree):
            if c.data in stop:
                yield c
            else:
                yield from _subtrees(c, stop)


class _Checker:
    def __init__(self, text: str, schema: GraphSchema, dialect: CypherProfile, policy: Policy, params: set[str]) -> None:
        self.text, self.schema, self.dialect, self.policy, self.params = text, schema, dialect, policy, params
        self.diags: list[Diagnostic] = []
        self.edits: list[tuple[int, int, str]] = []
        self.writes = False
        self.constructs = set(dialect.constructs)
        self.replacements: dict[str, str] = dict(dialect.replacements)
        self.functions = {f.lower() for f in dialect.functions}

    # -------------------------------------------------------------- output

    def add(self, code: str, message: str, node: Tree | Token | None = None, *, severity: str = "error",
            hint: str = "", stage: str = "check") -> None:
        start = end = None
        if isinstance(node, Token):
            start, end = node.start_pos, node.end_pos
        elif isinstance(node, Tree) and not node.meta.empty:
            start, end = node.meta.start_pos, node.meta.end_pos
        line, col = position(self.text, start) if start is not None else (None, None)
        self.diags.append(Diagnostic(code, message, severity=severity, line=line, col=col, start=start, end=end,
                                     hint=hint, stage=stage))  # type: ignore[arg-type]

    def corrected(self) -> str | None:
        if not self.edits:
            return None
        text = self.text
        for start, end, new in sorted(self.edits, reverse=True):
            text = text[:start] + new + text[end:]
        return text

    # -------------------------------------------------------------- walk

    def run(self, tree: Tree) -> None:
        self.policy_and_dialect(tree)
        for single in tree.iter_subtrees_topdown():
            if single.data == "single_query":
                self.single_query(single, {})

    def policy_and_dialect(self, tree: Tree) -> None:
        _PolicyAndDialect(self).visit_topdown(tree)

    def function(self, node: Tree) -> None:
        fn = _first(node, "function_name")
        name = ".".join(_name(t) for t in fn.children)  # type: ignore[union-attr]
        if name.lower() in self.functions:
            if name.lower() == "substring" and self.dialect.one_based_substring:
                self.add("dialect.caution", f"substring() counts from 1 in {self.dialect.title}, from 0 in Neo4j", fn,
                         severity="warning", hint="substring(s, 1, 3) is the first three characters here")
            return
        hint = self.replacements.get(name) or self.replacements.get(name.lower()) or \
            suggestion(name, self.dialect.functions, "function")
        self.add("dialect.function", f"function {name}() is not available in {self.dialect.title}", fn, hint=hint)

    # -------------------------------------------------------------- scopes

    def single_query(self, tree: Tree, outer: dict[str, Binding]) -> dict[str, Binding]:
        """Check the clauses in order; returns what is in scope at the end (a RETURN's columns)."""
        scope = dict(outer)
        for child in tree.children:
            if not isinstance(child, Tree):
                continue
            clause = child.children[0] if child.data == "clause" and child.children else child
            if not isinstance(clause, Tree):
                continue
            if clause.data == "match_clause":
                self.pattern(_first(clause, "pattern"), scope)
                where = _first(clause, "where_clause")
                if where is not None:
                    self.expr(where, scope)
            elif clause.data == "unwind_clause":
                self.expr(clause.children[0], scope)
                scope[str(_tokens(clause, "VARIABLE")[0])] = Binding("value")
            elif clause.data in ("with_clause", "return_clause"):
                projection = _first(clause, "projection")
                scope = self.projection(projection, scope)  # type: ignore[arg-type]
                where = _first(clause, "where_clause")
                if where is not None:
                    self.expr(where, scope)
            elif clause.data == "write_clause":
                for sub in clause.children:
                    if not isinstance(sub, Tree):
                        continue
                    if sub.data in ("create_clause", "merge_clause"):
                        self.pattern(_first(sub, "pattern"), scope)
                    elif sub.data in ("load_csv_clause", "call_clause"):
                        scope.update({str(v): Binding("value") for v in _tokens(sub, "VARIABLE")})
                    elif sub.data == "call_subquery":
                        scope.update(self.single_query(_first(sub, "query_body"), scope))  # type: ignore[arg-type]
                        for part in sub.children:
                            if isinstance(part, Tree) and part.data == "in_transactions":
                                self.expr(part, scope)
                    else:
                        self.expr(sub, scope)
        return scope

    def projection(self, proj: Tree, scope: dict[str, Binding]) -> dict[str, Binding]:
        items = _first(proj, "projection_items")
        new: dict[str, Binding] = {}
        star = items is not None and not any(isinstance(c, Tree) for c in items.children)
        if star:
            new = dict(scope)
        for item in (items.children if items is not None else []):
            if not isinstance(item, Tree):
                continue
            expr = item.children[0]
            self.expr(expr, scope)
            alias = _tokens(item, "VARIABLE")
            var = self.bare_variable(expr)
            if alias:
                new[str(alias[0])] = scope.get(var, Binding("value")) if var else Binding("value")
            elif var and var in scope:
                new[var] = scope[var]
        visible = {**scope, **new}
        for rule in ("order_by", "skip", "limit"):
            part = _first(proj, rule)
            if part is not None:
                self.expr(part, visible)
        return new

    @staticmethod
    def bare_variable(expr: Tree | Token) -> str | None:
        node = expr
        while isinstance(node, Tree) and len(node.children) == 1:
            node = node.children[0]
        return str(node) if isinstance(node, Token) and node.type == "VARIABLE" else None

    # -------------------------------------------------------------- patterns

    def pattern(self, pattern: Tree | None, scope: dict[str, Binding]) -> None:
        if pattern is None:
            return
        for part in pattern.children:
            if not isinstance(part, Tree):
                continue
            path_var = _tokens(part, "VARIABLE")
            for element in _subtrees(part, {"pattern_element"}):
                if element.data == "pattern_element":
                    self.element(element, scope)
            if path_var:
                scope[str(path_var[0])] = Binding("path")

    def element(self, element: Tree, scope: dict[str, Binding]) -> None:
        nodes: list[frozenset[str]] = []
        kids = [c for c in element.children if isinstance(c, Tree)]
        for child in kids:
            if child.data == "node_pattern":
                nodes.append(self.node(child, scope))
        rels = [c for c in kids if c.data == "relationship"]
        for i, rel in enumerate(rels):
            self.relationship(rel, nodes[i], nodes[i + 1], scope)

    def node(self, node: Tree, scope: dict[str, Binding]) -> frozenset[str]:
        var = _tokens(node, "VARIABLE")
        labels_tree = _first(node, "node_labels")
        labels: set[str] = set()
        if labels_tree is not None:
            for lab in labels_tree.children:
                if isinstance(lab, Tree):
                    tok = lab.children[0]
                    name = _name(tok)  # type: ignore[arg-type]
                    if name in self.schema.labels:
                        labels.add(name)
                    else:
                        self.add("schema.unknown_label", f"label :{name} does not exist", tok,
                                 hint=suggestion(name, self.schema.labels, "label"))
        if var:
            v = str(var[0])
            prior = scope.get(v)
            if prior and not labels:
                labels = set(prior.labels)
            scope[v] = Binding("node", frozenset(labels))
        props = _first(node, "properties")
        if props is not None:
            self.property_map(props, frozenset(labels), "node", scope)
        return frozenset(labels)

    def property_map(self, props: Tree, owners: frozenset[str], kind: str, scope: dict[str, Binding]) -> None:
        for key in props.children:
            if isinstance(key, Tree) and key.data == "property_key":
                self.property(key.children[0], owners, kind)  # type: ignore[arg-type]
            elif isinstance(key, Tree):
                self.expr(key, scope)

    def relationship(self, rel: Tree, left: frozenset[str], right: frozenset[str], scope: dict[str, Binding]) -> None:
        detail = _first(rel, "rel_detail")
        types: list[tuple[str, Token]] = []
        if detail is not None:
            rt = _first(detail, "rel_types")
            for t in (rt.children if rt is not None else []):
                if isinstance(t, Tree):
                    tok = t.children[0]
                    name = _name(tok)  # type: ignore[arg-type]
                    if name in self.schema.rels:
                        types.append((name, tok))  # type: ignore[arg-type]
                    else:
                        self.add("schema.unknown_relationship", f"relationship type :{name} does not exist", tok,
                                 hint=suggestion(name, self.schema.rels, "relationship type"))
            var = _tokens(detail, "VARIABLE")
            if var:
                scope[str(var[0])] = Binding("rel", frozenset(n for n, _ in types))
            props = _first(detail, "properties")
            if props is not None:
                self.property_map(props, frozenset(n for n, _ in types), "rel", scope)
        arrows = [t for t in rel.children if isinstance(t, Token)]
        kinds = [t.type for t in arrows]
        if not types or "LEFT_ARROW" not in kinds and "RIGHT_ARROW" not in kinds:
            return
        forward = "RIGHT_ARROW" in kinds
        start, end = (left, right) if forward else (right, left)
        names = [n for n, _ in types]
        if self.fits(names, start, end):
            return
        if self.fits(names, end, start):
            self.reverse(arrows)
            self.add("schema.direction_reversed",
                     f"{self.show(start, names, end)} does not exist; the reverse does, so the arrow was turned round",
                     rel, severity="warning", hint=self.allowed(names))
            return
        self.add("schema.relationship_endpoints", f"{self.show(start, names, end)} does not fit the schema either way",
                 rel, hint=self.allowed(names))

    def fits(self, names: list[str], start: frozenset[str], end: frozenset[str]) -> bool:
        starts = start or {None}
        ends = end or {None}
        return any(self.schema.fits(n, s, e) for n in names for s in starts for e in ends)  # type: ignore[arg-type]

    @staticmethod
    def show(start: frozenset[str], names: list[str], end: frozenset[str]) -> str:
        def lab(x: frozenset[str]) -> str:
            return "(" + "".join(f":{n}" for n in sorted(x)) + ")"

        return f"{lab(start)}-[:{'|'.join(names)}]->{lab(end)}"

    def allowed(self, names: list[str]) -> str:
        pats = [f"(:{a})-[:{n}]->(:{b})" for n in names for a, b in self.schema.rels[n].endpoints]
        return "allowed: " + ", ".join(pats[:6])

    def reverse(self, arrows: list[Token]) -> None:
        """Turn an arrow round in place: -[..]-> becomes <-[..]- and back; spacing is kept."""
        swap = {"DASH_OPEN": ("-", "<-"), "RIGHT_ARROW": ("->", "-"), "LEFT_ARROW": ("<-", "-"), "DASH_CLOSE": ("-", "->")}
        for tok in arrows:
            if tok.type in swap:
                old, new = swap[tok.type]
                self.edits.append((tok.start_pos, tok.end_pos, str(tok).replace(old, new, 1)))

    # -------------------------------------------------------------- expressions

    def property(self, tok: Token, owners: frozenset[str], kind: str) -> None:
        name = _name(tok)
        table = self.schema.labels if kind == "node" else self.schema.rels
        owners = frozenset(o for o in owners if o in table)  # a relationship's types on a variable reused as a node
        if owners:
            known = {k for o in owners for k in table[o].properties}
            if name not in known:
                owner = "|".join(sorted(owners))
                hint = suggestion(name, sorted(known), "property") or (
                    f"properties of {owner}: {', '.join(sorted(known))}" if known else f"{owner} has no properties")
                self.add("schema.unknown_property", f"property '{name}' does not exist on :{owner}", tok, hint=hint)
        elif name not in self.schema.property_keys():
            self.add("schema.unknown_property", f"property '{name}' does not exist in the graph", tok,
                     hint=suggestion(name, self.schema.property_keys(), "property"))

    def expr(self, node: Tree | Token, scope: dict[str, Binding]) -> None:
        if isinstance(node, Token):
            return
        kind = node.data
        if kind in ("exists_subquery", "count_subquery"):
            inner = dict(scope)
            body = _first(node, "subquery_body")
            if _first(body, "pattern") is None:  # type: ignore[arg-type]
                self.single_query(body, inner)  # type: ignore[arg-type]
                return
            self.pattern(_first(body, "pattern"), inner)  # type: ignore[arg-type]
            where = _first(body, "where_clause")  # type: ignore[arg-type]
            if where is not None:
                self.expr(where, inner)
            return
        if kind == "pattern_comprehension":
            inner = dict(scope)
            for c in node.children:
                if isinstance(c, Tree) and c.data == "pattern_element":
                    self.element(c, inner)
                elif isinstance(c, Tree):
                    self.expr(c, inner)
            return
        if kind in ("list_comprehension", "list_predicate"):
            var = str(_tokens(node, "VARIABLE")[0])
            trees = [c for c in node.children if isinstance(c, Tree)]
            self.expr(trees[0], scope)
            inner = {**scope, var: Binding("value")}
            for t in trees[1:]:
                self.expr(t, inner)
            return
        if kind == "parameter":
            name = str(_tokens(node, "PARAM_NAME")[0])
            if name not in self.params:
                self.add("schema.unbound_parameter", f"parameter ${name} has no value", node,
                         hint="write the value into the query, or pass it as a parameter")
            return
        if kind == "map_literal":
            for c in node.children:
                if isinstance(c, Tree):
                    self.expr(c, scope)
            return
        if kind == "postfix":
            self.postfix(node, scope)
            return
        if kind == "label_test":
            self.node_ref(_tokens(node, "VARIABLE")[0], scope)
            for lab in _first(node, "node_labels").children:  # type: ignore[union-attr]
                if isinstance(lab, Tree) and _name(lab.children[0]) not in self.schema.labels:  # type: ignore[arg-type]
                    tok = lab.children[0]
                    self.add("schema.unknown_label", f"label :{_name(tok)} does not exist", tok,  # type: ignore[arg-type]
                             hint=suggestion(_name(tok), self.schema.labels, "label"))  # type: ignore[arg-type]
            return
        for c in node.children:
            if isinstance(c, Token) and c.type == "VARIABLE":
                self.node_ref(c, scope)
            elif isinstance(c, Tree) and c.data not in ("function_name", "property_key"):
                self.expr(c, scope)

    def node_ref(self, tok: Token, scope: dict[str, Binding]) -> Binding | None:
        name = str(tok)
        if name in scope:
            return scope[name]
        self.add("schema.unknown_variable", f"variable '{name}' is not defined here", tok,
                 hint=(f"in scope: {', '.join(sorted(scope))}." if scope else "nothing is in scope yet.")
                 + " Bind it in MATCH, or carry it through WITH.")
        return None

    def postfix(self, node: Tree, scope: dict[str, Binding]) -> None:
        atom, *suffixes = [c for c in node.children]
        binding = None
        var = self.bare_variable(atom)
        if var is not None:
            tok = next(_leaf_tokens(atom, "VARIABLE"))
            binding = self.node_ref(tok, scope)
        else:
            self.expr(atom, scope)
        for i, suffix in enumerate(suffixes):
            if not isinstance(suffix, Tree):
                continue
            if suffix.data == "property_lookup":
                key = suffix.children[0].children[0]  # type: ignore[union-attr]
                if i == 0 and binding is not None and binding.kind in ("node", "rel"):
                    self.property(key, binding.labels, binding.kind)  # type: ignore[arg-type]
            else:
                self.expr(suffix, scope)


class _PolicyAndDialect(Visitor):
    """What the policy and the dialect say about each rule, one method per rule, in text order."""

    def __init__(self, checker: _Checker) -> None:
        self.c = checker

    def _write(self, node: Tree) -> None:
        self.c.writes = True
        if not self.c.policy.allow_writes:
            self.c.add("policy.write", f"{WRITE_CLAUSES[node.data]} writes to the graph; the policy is read-only",
                       node, hint="only MATCH/WITH/UNWIND/RETURN queries are allowed", stage="policy")

    create_clause = merge_clause = set_clause = delete_clause = remove_clause = foreach_clause = _write

    def load_csv_clause(self, node: Tree) -> None:
        self.c.add("policy.statement", "LOAD CSV reads files or URLs and is never allowed", node,
                   hint="query the graph only", stage="policy")

    def call_clause(self, node: Tree) -> None:
        proc = ".".join(str(t) for t in _first(node, "procedure_name").children)  # type: ignore[union-attr]
        if proc.lower() not in READ_PROCEDURES:
            self.c.add("policy.procedure", f"procedure {proc} may write or reach outside the graph", node,
                       hint="use MATCH patterns instead of procedures", stage="policy")

    def call_subquery(self, node: Tree) -> None:
        if not self.c.dialect.call_subquery:
            self.c.add("dialect.unsupported", f"CALL {{ }} subqueries are not supported in {self.c.dialect.title}",
                       node, hint="use WITH to chain parts", stage="policy")

    def in_transactions(self, node: Tree) -> None:
        self.c.writes = True
        if not self.c.policy.allow_writes:
            self.c.add("policy.write", "CALL { } IN TRANSACTIONS commits batches on its own, even in a dry run; "
                       "the policy is read-only", node, hint="drop IN TRANSACTIONS; only reads are allowed",
                       stage="policy")

    def _construct(self, node: Tree) -> None:
        if node.data not in self.c.constructs:
            hint = self.c.replacements.get("shortestPath", "") if node.data == "shortest_path" else ""
            self.c.add("dialect.unsupported", f"{CONSTRUCT_NAMES[node.data]} are not supported in "
                       f"{self.c.dialect.title}", node, hint=hint or "rewrite it with MATCH and WITH")

    shortest_path = count_subquery = pattern_comprehension = _construct

    def function_call(self, node: Tree) -> None:
        self.c.function(node)

    def var_length(self, node: Tree) -> None:
        ints = _tokens(node, "INT")
        text = self.c.text[node.meta.start_pos:node.meta.end_pos] if not node.meta.empty else "*"
        if ".." in text and (len(ints) < 2 and not text.rstrip().endswith(tuple("0123456789")) or not ints):
            self.c.add("policy.unbounded_path", f"variable-length relationship {text} has no upper bound", node,
                       hint="bound it, e.g. *1..5", stage="policy")
        elif ".." not in text and not ints:
            self.c.add("policy.unbounded_path", "variable-length relationship * has no upper bound", node,
                       hint="bound it, e.g. *1..5", stage="policy")

    def node_labels(self, node: Tree) -> None:
        if not self.c.dialect.multi_label_nodes and len(node.children) > 1:
            self.c.add("dialect.unsupported", f"a node has one label in {self.c.dialect.title}; (n:A:B) means A or "
                       "B there", node, hint="use a single label")


def _leaf_tokens(node: Tree | Token, kind: str) -> Iterator[Token]:
    if isinstance(node, Token):
        if node.type == kind:
            yield node
        return
    for c in node.children:
        yield from _leaf_tokens(c, kind)
