"""The Spider 1.0 dev suite: SQLite databases, gold and predictions executed on the same files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from ...errors import Nl2qError
from ...evaluate.benchmarks import ENV_VAR
from ...evaluate.compare import EXEC_POLICY, Execution, execution_of
from ...evaluate.constants import EXEC_ROW_CAP, EXEC_TIMEOUT_S
from ...evaluate.suites import Item, Suite
from .metrics import LEVELS, exact_set_match, spider_hardness, sql_hardness, sql_orders


class SpiderDev(Suite):
    """Spider 1.0 dev: SQLite, gold and predictions executed on ``spider/database/<db>/<db>.sqlite``."""

    target = "sql"
    dialect = "sqlite"
    breakdowns = ("difficulty", "database")
    group_order = {"difficulty": LEVELS}

    def __init__(self, root: Path, databases: Sequence[str] | None = None,
                 options: Mapping[str, str] | None = None) -> None:
        super().__init__(root, databases, options)
        self.dir = root / "spider"
        for f in ("dev.json", "tables.json", "database"):
            if not (self.dir / f).exists():
                raise Nl2qError(f"Spider data not found: {self.dir / f} is missing",
                                f"point --benchmarks (or ${ENV_VAR}) at a directory holding spider/dev.json, "
                                "spider/tables.json and spider/database/<db_id>/<db_id>.sqlite")
        self._executors: dict[str, Any] = {}
        self._columns: dict[str, dict[str, set[str]]] | None = None

    def _load_items(self) -> list[Item]:
        entries = json.loads((self.dir / "dev.json").read_text(encoding="utf-8"))
        out = []
        for i, e in enumerate(entries):
            level = spider_hardness(e["sql"]) if isinstance(e.get("sql"), dict) else sql_hardness(e["query"])
            out.append(Item(f"dev:{i}", e["question"], e["query"], e["db_id"],
                            {"difficulty": level, "database": e["db_id"]}))
        return out

    def db_path(self, db: str) -> Path:
        path = self.dir / "database" / db / f"{db}.sqlite"
        if not path.is_file():
            raise Nl2qError(f"Spider database not found: {path}", "the benchmark directory is incomplete")
        return path

    def schema_for(self, item: Item) -> Any:
        return self.db_path(item.database)

    def execution(self) -> dict[str, Any]:
        return {"mode": "sqlite", "note": "gold and predicted queries executed on the same SQLite databases "
                                          f"(spider/database), up to {EXEC_ROW_CAP} rows, {EXEC_TIMEOUT_S:g} s each"}

    def ordered(self, item: Item) -> bool:
        return sql_orders(item.gold)

    def _execute(self, item: Item, query: str) -> Execution:
        from .execute import SQLiteExecutor

        ex = self._executors.get(item.database)
        if ex is None:
            ex = self._executors[item.database] = SQLiteExecutor(self.db_path(item.database))
        return execution_of(ex.run(query, EXEC_POLICY), engine="sqlite")

    def exact_match(self, item: Item, query: str) -> bool:
        """Spider's exact-set match; an empty prediction does not match."""
        return bool(query) and exact_set_match(item.gold, query, self.columns(item.database))

    def columns(self, db: str) -> dict[str, set[str]]:
        """{table: {column}} (lower case) from tables.json, for qualifying columns in exact-set match."""
        if self._columns is None:
            self._columns = {}
            for e in json.loads((self.dir / "tables.json").read_text(encoding="utf-8")):
                names = [t.lower() for t in e["table_names_original"]]
                cols: dict[str, set[str]] = {t: set() for t in names}
                for ti, c in e["column_names_original"]:
                    if ti >= 0:
                        cols[names[ti]].add(c.lower())
                self._columns[e["db_id"]] = cols
        return self._columns.get(db, {})

    def close(self) -> None:
        for ex in self._executors.values():
            ex.close()
        self._executors.clear()
