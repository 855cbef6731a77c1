"""The text2cypher suite: neo4j-labs text2cypher (clean rows), Neo4j Cypher, executed where the graph has data.

movies and northwind ship with data; they are loaded into a Bolt server (option ``bolt_uri``, from
``$NL2Q_BOLT_URI``) or, without one, into embedded Ladybug, and gold and predicted queries run through
nl2q's own executors. The other graphs are scored on validity only. ``graph_engine`` (from
``$NL2Q_EVAL_GRAPH``): ``auto`` (Bolt when a URI is given, else Ladybug), ``bolt``, ``ladybug`` or ``none``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from ...errors import Nl2qError
from ...evaluate.benchmarks import ENV_VAR
from ...evaluate.compare import EXEC_POLICY, Execution, execution_of, results_match
from ...evaluate.suites import Item, Suite
from .metrics import cypher_orders, graph_value

ENGINES = ("auto", "bolt", "ladybug", "none")


class Text2Cypher(Suite):
    """neo4j-labs text2cypher (clean rows only), Neo4j Cypher; executed where the graph has data."""

    target = "cypher"
    dialect = "neo4j"
    breakdowns = ("category", "database")
    env = {"graph_engine": "NL2Q_EVAL_GRAPH", "bolt_uri": "NL2Q_BOLT_URI"}
    DATA = ("movies", "northwind")

    def __init__(self, root: Path, databases: Sequence[str] | None = None,
                 options: Mapping[str, str] | None = None) -> None:
        super().__init__(root, databases, options)
        if not (root / "text2cypher").is_dir():
            raise Nl2qError(f"text2cypher data not found: {root / 'text2cypher'} is missing",
                            f"point --benchmarks (or ${ENV_VAR}) at a directory holding text2cypher/")
        self._schemas: dict[str, Any] | None = None
        self._engine: _GraphEngine | None = None
        self._engine_error: str | None = None

    def schemas(self) -> dict[str, Any]:
        if self._schemas is None:
            from .text2cypher import load_schemas

            self._schemas = load_schemas(self.root)
        return self._schemas

    def _load_items(self) -> list[Item]:
        from .text2cypher import load_rows

        schemas = self.schemas()
        return [Item(r.id, r.question, r.cypher, r.database, {"category": r.type or "(none)", "database": r.database})
                for r in load_rows(clean=True, root=self.root)
                if r.database in schemas and r.question and r.cypher.strip()]

    def schema_for(self, item: Item) -> Any:
        return self.schemas()[item.database]

    def ordered(self, item: Item) -> bool:
        return cypher_orders(item.gold)

    def compare(self, gold: Execution, pred: Execution, ordered: bool) -> bool:
        return results_match(gold, pred, ordered, special=graph_value)

    def engine(self) -> _GraphEngine | None:
        if self._engine is None and self._engine_error is None:
            wanted = [d for d in self.DATA if self.databases is None or d in self.databases]
            try:
                self._engine = self._open_engine(wanted) if wanted else None
                if self._engine is None:
                    self._engine_error = f"no graph engine (set {self.env['bolt_uri']}, or install ladybug)"
            except Exception as e:  # noqa: BLE001 - without an explicit engine: validity-only, and say so
                if self.options.get("bolt_uri") or self.options.get("graph_engine", "auto").lower() != "auto":
                    raise Nl2qError(f"the graph engine asked for could not be opened: {type(e).__name__}: {e}",
                                    f"check {self.env['bolt_uri']} / {self.env['graph_engine']}, or set "
                                    f"{self.env['graph_engine']}=none to score text2cypher on validity only") from e
                self._engine_error = f"{type(e).__name__}: {e}"
        return self._engine

    def _open_engine(self, databases: list[str]) -> _GraphEngine | None:
        choice = self.options.get("graph_engine", "auto").lower()
        if choice not in ENGINES:
            raise Nl2qError(f"{self.env['graph_engine']}={choice!r} is not a graph engine",
                            f"use {', '.join(ENGINES[:-1])} or {ENGINES[-1]}")
        if choice == "none":
            return None
        uri = self.options.get("bolt_uri")
        if choice == "bolt" or (choice == "auto" and uri):
            if not uri:
                raise Nl2qError(f"{self.env['graph_engine']}=bolt needs {self.env['bolt_uri']}",
                                "set it to bolt://user:password@host:port")
            return _BoltEngine(uri, databases, self.root)
        try:
            import ladybug  # noqa: F401
        except ImportError:
            return None
        return _LadybugEngine(databases, self.schemas(), self.root)

    def execution(self) -> dict[str, Any]:
        eng = self.engine()
        if eng is None:
            return {"mode": "validity-only", "note": f"no queries executed: {self._engine_error}"}
        return {"mode": eng.kind, "databases": list(eng.databases),
                "note": f"{', '.join(eng.databases)} executed on {eng.describe}; other databases validity-only"}

    def _execute(self, item: Item, query: str) -> Execution | None:
        eng = self.engine()
        if eng is None or item.database not in eng.databases:
            return None
        return eng.run(item.database, query)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


class _GraphEngine:
    """Gold and predicted queries run through one nl2q executor per evaluated database."""

    kind = "none"
    describe = ""
    databases: tuple[str, ...] = ()
    _executors: dict[str, Any]

    def run(self, database: str, query: str) -> Execution:
        return execution_of(self._executors[database].run(query, EXEC_POLICY))

    def close(self) -> None:
        for ex in self._executors.values():
            ex.close()
        self._executors.clear()


class _BoltEngine(_GraphEngine):
    """A Bolt server: database ``<name>`` per graph, loaded when empty (verified whole when not); reads rolled back."""

    kind = "bolt"

    def __init__(self, uri: str, databases: list[str], root: Path) -> None:
        import neo4j

        from .bolt import parse_bolt_uri
        from .execute import BoltExecutor
        from .graph_load import load_bolt, verify_bolt

        target = parse_bolt_uri(uri)
        self.driver = neo4j.GraphDatabase.driver(target.uri, auth=target.auth)
        self.describe = f"Bolt server {target.uri}"
        self.databases = tuple(databases)
        self._executors = {}
        try:
            for name in databases:
                with self.driver.session(database=name) as s:
                    count = int(s.run("MATCH (n) RETURN count(n)").single()[0])
                    if count:  # loaded before (by an earlier run, or the parent of these workers): must be whole
                        verify_bolt(name, s, root)
                if count == 0:
                    load_bolt(name, self.driver, database=name, root=root)
                self._executors[name] = BoltExecutor(self.driver, database=name)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        super().close()
        self.driver.close()


class _LadybugEngine(_GraphEngine):
    """The graphs loaded into Ladybug (embedded) in a temporary directory, opened read-only."""

    kind = "ladybug"

    def __init__(self, databases: list[str], schemas: dict[str, Any], root: Path) -> None:
        from .ladybug import LadybugExecutor
        from .graph_load import load_ladybug

        self._tmp = tempfile.TemporaryDirectory(prefix="nl2q-eval-graphs-")
        self.databases = tuple(databases)
        self.describe = "Ladybug (embedded; its Cypher differs from Neo4j's, so some gold queries fail there)"
        self._executors = {}
        for name in databases:
            path = load_ladybug(name, Path(self._tmp.name) / f"{name}.lbug", schemas[name], root=root)
            self._executors[name] = LadybugExecutor(path)

    def close(self) -> None:
        super().close()
        self._tmp.cleanup()
