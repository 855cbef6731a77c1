"""Cypher over graphs: a Bolt server, an embedded Ladybug database, or a schema file."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from ...errors import SchemaError, require
from ...policy import Policy
from ...types import Constraint, DryRun, Scope
from ..base import Bound, Checked, Conformance, Target, TargetSpec
from .profile import CypherProfile
from .schema import GraphSchema

CYPHER = TargetSpec(name="cypher", noun="query", nouns="queries", fence="cypher", has_rows=True,
                   source_flag="graph",
                   source_help="graph: a Ladybug database path, a bolt:// URI, or a .yaml/.json graph schema",
                   default_dialect="neo4j", closers=("RETURN",),
                   extenders=("AND", "OR", "XOR", "NOT", "CASE", "WHEN", "EXISTS", "STARTS", "ENDS", "CONTAINS", "IN",
                              "MATCH", "OPTIONAL", "WITH", "UNWIND", "WHERE"))


class CypherBound(Bound):
    spec = CYPHER

    def __init__(self, schema: GraphSchema, dialect: CypherProfile, executor: Any | None) -> None:
        from .grammar import specialise_cypher

        self.schema = schema
        self.dialect = dialect
        self.constraint = Constraint("lark", specialise_cypher(schema, dialect))
        self.executor = executor
        self.has_data = executor is not None and executor.has_data

    def schema_text(self, question: str) -> str:
        shown, pruned = self.schema.subset(question)
        note = (f"(Only the {len(shown.labels)} of {len(self.schema.labels)} labels most relevant to the question "
                "are shown.)") if pruned else ""
        return shown.render(note)

    def check(self, text: str, policy: Policy) -> Checked:
        from .check import check_cypher

        result = check_cypher(text, self.schema, self.dialect, policy)
        return Checked(result.diagnostics, result.writes, result.corrected)

    def dry_run(self, text: str, policy: Policy, writes: bool) -> DryRun | None:
        return self.executor.run(text, policy, writes=writes) if self.executor is not None else None

    def scope(self) -> Scope | None:
        """The incremental scope checker for decoding (built once; safe to share between threads)."""
        scope = self.__dict__.get("_scope")
        if scope is None:
            from .scope import CypherScope

            scope = self.__dict__.setdefault("_scope", CypherScope(self.schema, self.dialect))
        return scope

    def normalise(self, text: str) -> str:
        """Spacing outside string literals does not matter; case does (labels and properties are case-sensitive)."""
        parts = re.split(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`)""", text.strip().rstrip(";"))
        return "".join(p if i % 2 else " ".join(p.split()) for i, p in enumerate(parts)).strip()

    def describe(self) -> dict[str, Any]:
        from .browse import describe

        return describe(self.schema)

    def sample_questions(self, n: int = 6) -> list[str]:
        from .browse import sample_questions

        return sample_questions(self.schema, n)

    def graph(self, dry: DryRun) -> dict[str, Any] | None:
        from .browse import graph_of

        return graph_of(dry.rows) if dry.ok else None

    def neighbours(self, node: dict[str, Any]) -> str | None:
        from .browse import neighbours_query

        return neighbours_query(self.schema, node)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.close()


class CypherTarget(Target):
    """Graphs: a Bolt URI (neo4j driver), a Ladybug database, or a schema file/mapping."""

    spec = CYPHER
    profile_type = CypherProfile

    def bind(self, source: Any, dialect: str | None = None) -> Bound:
        from .bolt import is_bolt_uri
        from .schema import from_dict, from_file

        if isinstance(source, GraphSchema):
            return self._bound(source, dialect, None, None)
        if isinstance(source, dict):
            return self._bound(from_dict(source), dialect, None, None)
        if is_bolt_uri(source):
            return self._bolt(source, dialect)
        if isinstance(source, (str, Path)):
            path = Path(source)
            if path.suffix.lower() in (".yaml", ".yml", ".json"):
                return self._bound(from_file(path), dialect, None, None)
            if not path.exists():
                raise SchemaError(f"graph not found: {path}",
                                  "pass a Ladybug database path, a bolt:// URI or a .yaml/.json graph schema")
            require("ladybug", "graph", "an embedded Ladybug graph")
            from .ladybug import LadybugExecutor
            from .introspect import from_ladybug

            return self._bound(from_ladybug(path), dialect, "ladybug", LadybugExecutor(path))
        raise SchemaError(f"unsupported graph source of type {type(source).__name__}",
                          "pass a bolt:// URI, a Ladybug database path, a schema file or a GraphSchema")

    def _bound(self, schema: GraphSchema, dialect: str | None, inferred: str | None, executor: Any) -> CypherBound:
        try:
            d = self.profile(dialect, inferred)
        except Exception:
            if executor is not None:
                executor.close()
            raise
        assert isinstance(d, CypherProfile)
        return CypherBound(schema, d, executor)

    def _bolt(self, uri: str, dialect: str | None) -> Bound:
        require("neo4j", "graph", "a Bolt graph server")
        from .bolt import parse_bolt_uri
        from .execute import BoltExecutor
        from .introspect import from_bolt

        where = parse_bolt_uri(uri)
        executor = BoltExecutor(where.uri, auth=where.auth, database=where.database)
        try:
            schema = from_bolt(executor.driver, database=where.database)
        except Exception:
            executor.close()
            raise
        return self._bound(schema, dialect, None, executor)

    def conformance(self) -> Conformance:
        return Conformance(
            source={"nodes": {"Host": {"hostname": "STRING", "cpu_count": "INTEGER"},
                              "Service": {"name": "STRING", "tier": "INTEGER"}},
                    "relationships": {"RUNS_ON": {"endpoints": [["Service", "Host"]], "properties": {}}}},
            random_source=_random_graph,
            valid=("MATCH (h:Host) RETURN h.hostname",
                   "MATCH (s:Service)-[:RUNS_ON]->(h:Host) WHERE h.cpu_count > 8 RETURN s.name, h.hostname"),
            writes=("MATCH (h:Host) SET h.hostname = 'x' RETURN h", "MATCH (h:Host) DETACH DELETE h",
                    "CREATE (h:Host {hostname: 'x'})", "MERGE (s:Service {name: 'x'})",
                    "MATCH (h:Host) REMOVE h.cpu_count RETURN h"),
            different=(("MATCH (h:Host) WHERE h.hostname = 'A' RETURN h", "MATCH (h:Host) WHERE h.hostname = 'a' RETURN h"),
                       ("MATCH (h:Host) RETURN h.hostname", "MATCH (h:Host) RETURN h.Hostname")),
            same=(("MATCH (h:Host) RETURN h.hostname", "MATCH  (h:Host)\nRETURN h.hostname;"),),
            never=("syntax.", "policy.", "dialect.", "schema.unknown_label", "schema.unknown_relationship"),
        )


def _random_graph(rng: random.Random) -> dict:
    def word(upper: bool) -> str:
        head = rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ" if upper else "abcdefghijklmnopqrstuvwxyz")
        return head + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz_", k=rng.randint(1, 7)))

    labels = list(dict.fromkeys(word(True) for _ in range(rng.randint(1, 4))))
    nodes = {lab: {word(False): rng.choice(["STRING", "INTEGER"]) for _ in range(rng.randint(1, 3))} for lab in labels}
    rels = {}
    for _ in range(rng.randint(0, 3)):
        name = "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=rng.randint(2, 6)))
        rels[name] = {"endpoints": [[rng.choice(labels), rng.choice(labels)] for _ in range(rng.randint(1, 2))],
                      "properties": {}}
    return {"nodes": nodes, "relationships": rels}
