"""What the search box keeps: each session's questions and results, and the pairs people confirmed.

One SQLite database in WAL mode with ``synchronous=FULL``: every write is one transaction, so a
server killed mid-write leaves each confirmation either stored (and already findable as an example)
or not stored, never half-written. History is per session; confirmed pairs are shared by everyone
asking of the same source.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from ..errors import Nl2qError
from ..examples import Examples

_SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
  id INTEGER PRIMARY KEY, session TEXT NOT NULL, source TEXT NOT NULL, question TEXT NOT NULL,
  query TEXT NOT NULL, valid INTEGER NOT NULL, edited INTEGER NOT NULL DEFAULT 0,
  confirmed INTEGER NOT NULL DEFAULT 0, scope TEXT NOT NULL, result TEXT NOT NULL,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
CREATE INDEX IF NOT EXISTS history_session ON history(session, id);
"""


class Store:
    """Thread-safe; one connection, one lock."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise Nl2qError(f"cannot open the store {path}: {e}", "pass --store with a writable path") from e
        self.path = path
        self.lock = threading.RLock()
        self.examples = Examples(self.conn, self.lock)

    def record(self, session: str, source: str, scope: str, result: dict[str, Any]) -> int:
        with self.lock, self.conn:
            cur = self.conn.execute(
                "INSERT INTO history(session, source, question, query, valid, edited, scope, result) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session, source, result.get("question", ""), result.get("query", ""), int(bool(result.get("valid"))),
                 int(bool(result.get("edited"))), scope, json.dumps(result, default=str)))
            return int(cur.lastrowid)

    def history(self, session: str, limit: int = 50) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.conn.execute(
                "SELECT id, question, query, valid, confirmed, source, created, edited FROM history "
                "WHERE session=? ORDER BY id DESC LIMIT ?", (session, limit)).fetchall()
        return [{"id": r[0], "question": r[1], "query": r[2], "valid": bool(r[3]), "confirmed": bool(r[4]),
                 "source": r[5], "created": r[6], "edited": bool(r[7])} for r in rows]

    def get(self, session: str, item: int) -> dict[str, Any] | None:
        """A stored result of this session (another session's is not found)."""
        with self.lock:
            row = self.conn.execute("SELECT result, confirmed FROM history WHERE id=? AND session=?",
                                    (item, session)).fetchone()
        if row is None:
            return None
        result = json.loads(row[0])
        result.update(id=item, confirmed=bool(row[1]))
        return result

    def confirm(self, session: str, item: int) -> int:
        """Mark a valid result of this session right and store its (question, query) as an example, atomically."""
        with self.lock, self.conn:
            row = self.conn.execute("SELECT question, query, valid, scope FROM history WHERE id=? AND session=?",
                                    (item, session)).fetchone()
            if row is None:
                raise LookupError(item)
            question, query, valid, scope = row
            if not valid or not question.strip() or not query.strip():
                raise ValueError("only a valid answer to a question can be confirmed")
            self.conn.execute("UPDATE history SET confirmed=1 WHERE id=?", (item,))
            return self.examples.add(scope, question, query, transaction=nullcontext())

    def close(self) -> None:
        with self.lock:
            self.conn.close()
