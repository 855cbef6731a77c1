"""SPL searches over logs: the grammar is ours (no SPL parser exists as a library), the names come from
the event store or a schema file, risky commands are refused on the tree, and the dry run compiles the
search to DuckDB over the offline event store."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from ...policy import Policy
from ...types import Constraint, Diagnostic, DryRun
from ..base import Bound, Checked, Conformance, Target, TargetSpec
from .profile import SplProfile
from .schema import SplSchema, load_schema

SPL = TargetSpec(name="spl", noun="search", fence="spl", has_rows=True, source_flag="logs",
                 source_help="spl: the event store (default: fixtures/loghub.duckdb, which make demo builds), a schema "
                             "file (.yaml/.json), or a Splunk server (https://host:8089, token in NL2Q_SPLUNK_TOKEN)",
                 source_default="fixtures/loghub.duckdb",
                 default_dialect="splunk", extenders=("AND", "OR", "|"))


class SplBound(Bound):
    spec = SPL

    def __init__(self, schema: SplSchema, dialect: SplProfile, server: Any = None) -> None:
        """``server``: a :class:`.splunk.SplunkExecutor`, when the search is dry-run on a Splunk server."""
        from .grammar import specialise_spl

        self.schema = schema
        self.dialect = dialect
        self.macros = schema.macros
        self.constraint = Constraint("lark", specialise_spl(schema, dialect))
        self.has_data = schema.store is not None or server is not None
        self._server = server
        self._executor: Any = None

    def schema_text(self, question: str) -> str:
        return self.schema.render(question)

    def check(self, text: str, policy: Policy) -> Checked:
        from .check import check_spl

        result = check_spl(text, self.schema, self.dialect, policy, self.macros)
        return Checked(result.diagnostics, False)

    def dry_run(self, text: str, policy: Policy, writes: bool) -> DryRun | None:
        """Splunk's parser and a bounded oneshot search on a server, or the search compiled to DuckDB over the
        event store; None for a schema file."""
        expanded = self.macros.expand(text) if self.macros is not None and "`" in text else text
        if self._server is not None:
            return self._server.run(expanded, policy)
        if self.schema.store is None:
            return None
        from .parse import parse

        if self._executor is None:
            from .execute import SplExecutor

            self._executor = SplExecutor(self.schema.store, self.schema)
        return self._executor.run(parse(expanded), expanded, policy)

    def outcome_diagnostics(self, dry: DryRun, text: str = "") -> list[Diagnostic]:
        if dry.mode == "skipped":
            return [Diagnostic("execute.skipped", f"not run offline: {dry.plan}", severity="info", stage="execute")]
        return super().outcome_diagnostics(dry, text)

    def normalise(self, text: str) -> str:
        return " ".join(text.split())

    def describe(self) -> dict[str, Any]:
        return {"target": "spl", "indexes": self.schema.indexes, "sourcetypes": self.schema.sourcetypes,
                "fields": {n: f.type for n, f in self.schema.fields.items()}}

    def close(self) -> None:
        for engine in (self._executor, self._server):
            if engine is not None:
                engine.close()
        self._executor = self._server = None


class SplTarget(Target):
    """Splunk SPL over an event store (LogHub in DuckDB) or a schema file."""

    spec = SPL
    profile_type = SplProfile

    def bind(self, source: Any, dialect: str | None = None) -> Bound:
        """``source``: a Splunk server (``https://host:8089``, ``splunk://user:pass@host:8089``, ``{"splunk": url}``;
        a token from ``NL2Q_SPLUNK_TOKEN``), an event store, a schema file, a mapping (``macros`` may name a
        macro directory), or an :class:`SplSchema`; ``{"store": path, "macros": ...}`` adds macros to a store."""
        profile = self.profile(dialect)
        assert isinstance(profile, SplProfile)
        url = source.get("splunk") if isinstance(source, dict) else source
        if isinstance(url, str) and url.startswith(("splunk://", "https://", "http://")):
            from .splunk import SplunkConfig, SplunkExecutor, connect, schema_from_splunk

            service = connect(SplunkConfig.from_url(url))
            return SplBound(schema_from_splunk(service), profile, server=SplunkExecutor(service))
        if isinstance(source, dict) and "store" in source:
            from dataclasses import replace

            given = source.get("macros")
            schema = load_schema(source["store"])
            if given is not None:
                from .macros import Macros

                schema = replace(schema, macros=Macros.from_dir(given) if isinstance(given, (str, Path))
                                 else Macros(given))
            return SplBound(schema, profile)
        return SplBound(load_schema(source), profile)

    def conformance(self) -> Conformance:
        return Conformance(
            source={"indexes": ["web", "auth"], "sourcetypes": ["access_combined", "linux_secure"],
                    "fields": {"status": {"type": "BIGINT"}, "user": {}, "action": {}, "bytes": {"type": "BIGINT"},
                               "Web.src": {}},
                    "datamodels": ["Web"], "lookups": ["bad_hosts"],
                    "macros": {"web_logs": "index=web sourcetype=access_combined", "ctime(1)": "convert ctime($f$)",
                               "noise_filter": "search *"}},
            random_source=_random_schema,
            valid=("index=web earliest=-24h status=500 | stats count by host",
                   "index=auth earliest=-1h action=failure | top 5 user",
                   "index=web earliest=-7d | eval kb=bytes/1024 | stats avg(kb) as avg_kb by host"),
            writes=("index=web earliest=-1h | delete", "index=web earliest=-1h | outputlookup bad.csv",
                    'index=web earliest=-1h | sendemail to="x@example.com"', "| rest /services/authentication/users"),
            different=(("index=web earliest=-1h status=500", "index=web earliest=-1h status=404"),
                       ("index=web earliest=-1h | head 5", "index=web earliest=-1h | head 50")),
            same=(("index=web  earliest=-1h |  head 5", "index=web earliest=-1h | head 5"),),
        )


def _random_schema(rng: random.Random) -> dict[str, Any]:
    pool = ["status", "user", "action", "bytes", "src", "dest", "process", "signature", "app", "uri_path"]
    return {"indexes": rng.sample(["web", "auth", "main", "os", "net"], rng.randint(1, 3)),
            "sourcetypes": rng.sample(["access_combined", "linux_secure", "syslog"], rng.randint(1, 2)),
            "fields": {f: {} for f in rng.sample(pool, rng.randint(1, 6))},
            "datamodels": rng.sample(["Web", "Authentication"], rng.randint(0, 1)),
            "lookups": rng.sample(["bad_hosts", "assets"], rng.randint(0, 1)),
            "macros": dict(rng.sample([("web_logs", "index=web"), ("ctime(1)", "convert ctime($f$)"),
                                       ("noise_filter", "search *"), ("odd", "| inputlookup x")], rng.randint(0, 3)))}
