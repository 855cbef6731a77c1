"""Benchmark suites: the base class and the registry that finds them by name.

A suite owns everything about its benchmark: reading the items, the schema each is asked
against, how gold and predicted queries execute, when two results are equal, and which
target-specific metrics apply. The harness only talks to this interface, so it never names a
target. Suites live beside their target (``nl2q/targets/<target>/``) and are registered here by a
``module:Class`` string, or by another package through an entry point::

    [project.entry-points."nl2q.suites"]
    my-bench = "my_package.bench:MyBench"

Suites are imported only when first asked for.
"""

from __future__ import annotations

import importlib
import os
import random
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Sequence

from ..errors import Nl2qError
from ..policy import Policy
from .benchmarks import benchmarks_root
from .compare import Execution, results_match

GROUP = "nl2q.suites"
_BUILTIN = {
    "spider-dev": "nl2q.targets.sql.spider:SpiderDev",
    "text2cypher": "nl2q.targets.cypher.text2cypher_suite:Text2Cypher",
    "intercode-alfa": "nl2q.targets.shell.nl2bash:InterCodeAlfa",
    "intercode-bash": "nl2q.targets.shell.nl2bash:InterCodeBash",
    "nl2bash": "nl2q.targets.shell.nl2bash:NL2Bash",
    "splunk-security": "nl2q.targets.spl.security_content:SecurityContent",
    "prometheus-alerts": "nl2q.targets.config.prometheus_suite:PrometheusAlerts",
    "kubernetes-manifests": "nl2q.targets.config.kubernetes_suite:KubernetesManifests",
    "bfcl-simple": "nl2q.targets.api.bfcl:BfclSimple",
    "bfcl-multiple": "nl2q.targets.api.bfcl:BfclMultiple",
    "bfcl-parallel": "nl2q.targets.api.bfcl:BfclParallel",
    "bfcl-parallel-multiple": "nl2q.targets.api.bfcl:BfclParallelMultiple",
    "bfcl-live": "nl2q.targets.api.bfcl:BfclLive",
    "bfcl-irrelevance": "nl2q.targets.api.bfcl:BfclIrrelevance",
    "gorilla-apibench": "nl2q.targets.api.gorilla:GorillaApiBench",
}


@dataclass
class Item:
    """One benchmark question. ``groups`` are its breakdown keys (difficulty, database, category)."""

    id: str
    question: str
    gold: str
    database: str
    groups: dict[str, str] = field(default_factory=dict)


class Suite(ABC):
    """A benchmark: its items, the schema for each, and how to execute and compare gold and predicted queries.

    ``options`` are the suite's settings (say, which engine executes); ``env`` maps each option to
    the environment variable the entry point reads it from when it is not passed explicitly.
    """

    name: str = ""
    target: str
    dialect: str
    breakdowns: tuple[str, ...] = ("database",)
    group_order: Mapping[str, Sequence[str]] = {}  # breakdown key -> values listed first, in this order
    env: Mapping[str, str] = {}
    # what outputs are judged under: read-only, unless the benchmark's tasks write (then runs are on sandboxed copies)
    policy: Policy = Policy()

    def __init__(self, root: Path, databases: Sequence[str] | None = None,
                 options: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.databases = list(databases) if databases else None
        self.options = dict(options or {})
        self._gold: dict[str, Execution | None] = {}
        self._all: list[Item] | None = None

    def all_items(self) -> list[Item]:
        """Every item of the suite, in a fixed order (the benchmark's own); read once."""
        if self._all is None:
            self._all = self._load_items()
        return self._all

    @abstractmethod
    def _load_items(self) -> list[Item]:
        """Read every item from the benchmark files."""

    def items(self, seed: int = 0, limit: int | None = None) -> list[Item]:
        """Deterministic sample: all items shuffled with ``random.Random(seed)``, the first ``limit`` kept."""
        items = self.all_items()
        if self.databases is not None:
            unknown = set(self.databases) - {i.database for i in items}
            if unknown:
                raise Nl2qError(f"suite {self.name} has no items for database(s) {', '.join(sorted(unknown))}",
                                f"databases with items: {', '.join(sorted({i.database for i in items}))}")
            items = [i for i in items if i.database in self.databases]
        order = list(range(len(items)))
        random.Random(seed).shuffle(order)
        if limit is not None:
            order = order[: max(0, limit)]
        return [items[i] for i in order]

    def few_shot(self, sample: list[Item], k: int, seed: int, select: str = "random") -> dict[str, list[Item]]:
        """``k`` examples per sampled item, from the split disjoint from the sample.

        The split: every item of the suite (all databases) that is not in ``sample``; an item's examples
        come from other databases than its own, since Spider and text2cypher hold paraphrases of one
        question on the same database. ``select="random"``: drawn with ``random.Random(f"{seed}:{item.id}")``;
        ``"similar"``: the ``k`` whose questions are most like the item's, retrieved the way the search box
        retrieves confirmed answers (:class:`nl2q.examples.Examples`, BM25), so the harness measures what
        retrieval buys over random examples.
        """
        if select not in ("random", "similar"):
            raise Nl2qError(f"unknown few-shot selection {select!r}", "choose random or similar")
        if k <= 0:
            return {i.id: [] for i in sample}
        taken = {i.id for i in sample}
        by_db: dict[str, list[Item]] = {}
        for i in self.all_items():
            if i.id not in taken:
                by_db.setdefault(i.database, []).append(i)
        others = {db: [x for d, xs in by_db.items() if d != db for x in xs] for db in {i.database for i in sample}}
        out: dict[str, list[Item]] = {}
        indexes: dict[str, tuple[Any, dict[tuple[str, str], Item]]] = {}
        for item in sample:
            eligible = others[item.database]
            if len(eligible) < k:
                raise Nl2qError(f"only {len(eligible)} few-shot examples outside the evaluated items for {item.id} "
                                f"(database {item.database}); {k} asked for", "lower --limit or --few-shot")
            if select == "random":
                out[item.id] = random.Random(f"{seed}:{item.id}").sample(eligible, k)
                continue
            if item.database not in indexes:
                from ..examples import Examples

                index, by_pair, asked = Examples(), {}, set()
                for x in eligible:
                    if x.question not in asked:  # one example per question text
                        asked.add(x.question)
                        index.add("split", x.question, x.gold)
                        by_pair[(x.question, x.gold)] = x
                indexes[item.database] = (index, by_pair)
            index, by_pair = indexes[item.database]
            found = [by_pair[pair] for pair in index.similar("split", item.question, k)]
            rest = [x for x in random.Random(f"{seed}:{item.id}").sample(eligible, len(eligible)) if x not in found]
            out[item.id] = found + rest[: k - len(found)]  # a question sharing no word with any: random ones
        return out

    @abstractmethod
    def schema_for(self, item: Item) -> Any:
        """What ``Compiler.compile(schema=...)`` gets for this item."""

    def execution(self) -> dict[str, Any]:
        """How (whether) queries are executed, for the summary."""
        return {"mode": "none", "note": "validity only"}

    def ordered(self, item: Item) -> bool:
        """Whether the gold query orders its result (then rows are compared as lists)."""
        return False

    def execute_gold(self, item: Item) -> Execution | None:
        if item.id not in self._gold:
            self._gold[item.id] = self._execute(item, item.gold)
        return self._gold[item.id]

    def execute_prediction(self, item: Item, query: str) -> Execution | None:
        return self._execute(item, query) if query.strip() else None

    def _execute(self, item: Item, query: str) -> Execution | None:
        return None

    def compare(self, gold: Execution, pred: Execution, ordered: bool) -> bool:
        """Whether ``pred`` returned the gold result (a suite whose engine has its own value types overrides)."""
        return results_match(gold, pred, ordered)

    def exact_match(self, item: Item, query: str) -> bool | None:
        """A target's exact-match metric on the query text; None where the suite has none."""
        return None

    def similarity(self, item: Item, query: str) -> dict[str, float | None]:
        """Graded closeness to the gold for suites that cannot execute (name -> 0..1, None where it does not
        apply to this item); averaged per configuration in the summary."""
        return {}

    def close(self) -> None:
        pass


def _declared() -> dict[str, Any]:
    """name -> 'module:Class' string or an EntryPoint; entry points may add suites, not replace built-ins."""
    found: dict[str, Any] = {ep.name: ep for ep in entry_points(group=GROUP)}
    found.update(_BUILTIN)
    return found


class _Registry(Mapping[str, type]):
    """Suite names -> classes, each imported on first lookup."""

    def __init__(self) -> None:
        self._loaded: dict[str, type] = {}

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*_BUILTIN, *sorted(_declared()), *self._loaded]))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __getitem__(self, name: str) -> type:
        if name not in self._loaded:
            ref = _declared().get(name)
            if ref is None:
                raise KeyError(name)
            if isinstance(ref, str):
                module, _, attr = ref.partition(":")
                cls = getattr(importlib.import_module(module), attr)
            else:
                cls = ref.load()
            if not (isinstance(cls, type) and issubclass(cls, Suite)):
                raise Nl2qError(f"suite {name!r} ({ref}) is not an nl2q Suite", "its entry must name a Suite subclass")
            cls.name = name
            self._loaded[name] = cls
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in _declared()

    def register(self, name: str, cls: type) -> type:
        """Add a suite class (for code that does not ship an entry point)."""
        cls.name = name
        self._loaded[name] = cls
        return cls


SUITES = _Registry()


def suite_options(name: str, options: Mapping[str, str] | None = None,
                  environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A suite's settings: ``options`` as given, the rest from the variables ``Suite.env`` names in ``environ``."""
    base = name.partition(":")[0]
    cls = SUITES[base] if base in SUITES else None
    environ = os.environ if environ is None else environ
    found = {key: environ[var] for key, var in (cls.env if cls else {}).items() if environ.get(var)}
    return {**found, **(options or {})}


def get_suite(name: str, benchmarks: str | Path | None = None, options: Mapping[str, str] | None = None,
              environ: Mapping[str, str] | None = None) -> Suite:
    """A suite by name; ``NAME:db1,db2`` keeps only those databases.

    ``options`` override what is read from ``environ`` (default ``os.environ``); pass ``environ={}``
    where the settings were resolved once already (a worker process).
    """
    base, _, dbs = name.partition(":")
    if base not in SUITES:
        raise Nl2qError(f"unknown suite {name!r}", f"choose one of: {', '.join(SUITES)} (optionally NAME:db1,db2)")
    databases = [d.strip() for d in dbs.split(",") if d.strip()] or None
    return SUITES[base](benchmarks_root(benchmarks), databases, suite_options(base, options, environ))
