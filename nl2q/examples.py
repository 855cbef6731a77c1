"""Confirmed (question, query) pairs, retrieved as few-shot examples for similar questions.

Retrieval is SQLite's FTS5 with BM25 ranking and the Porter stemmer: the index lives in the same
database, and is written in the same transaction, as the pairs it indexes, so a confirmed pair is
either stored and findable or not stored at all. ``scope`` keeps pairs apart by what they were
asked of (a target and a source): an example from another database names tables that do not exist.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from typing import ContextManager

_SCHEMA = """
CREATE TABLE IF NOT EXISTS examples (
  id INTEGER PRIMARY KEY, scope TEXT NOT NULL, question TEXT NOT NULL, query TEXT NOT NULL,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  UNIQUE (scope, question, query));
CREATE VIRTUAL TABLE IF NOT EXISTS examples_fts USING fts5(
  question, content='examples', content_rowid='id', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS examples_ai AFTER INSERT ON examples BEGIN
  INSERT INTO examples_fts(rowid, question) VALUES (new.id, new.question);
END;
"""
_WORD = re.compile(r"\w+", re.UNICODE)


class Examples:
    """An example store over one SQLite connection (in memory when none is given). Thread-safe."""

    def __init__(self, conn: sqlite3.Connection | None = None, lock: threading.RLock | None = None) -> None:
        self.conn = conn or sqlite3.connect(":memory:", check_same_thread=False)
        self.lock = lock or threading.RLock()
        with self.lock:
            self.conn.executescript(_SCHEMA)

    def add(self, scope: str, question: str, query: str, *, transaction: ContextManager | None = None) -> int:
        """Store a pair (once: the same pair again returns its id). Commits, unless the caller passes its own
        ``transaction`` (e.g. ``contextlib.nullcontext()`` inside a ``with conn:`` of its own)."""
        with self.lock, (transaction or self.conn):
            row = self.conn.execute("SELECT id FROM examples WHERE scope=? AND question=? AND query=?",
                                    (scope, question, query)).fetchone()
            if row:
                return int(row[0])
            cur = self.conn.execute("INSERT INTO examples(scope, question, query) VALUES (?, ?, ?)",
                                    (scope, question, query))
            return int(cur.lastrowid)

    def similar(self, scope: str, question: str, k: int = 3) -> list[tuple[str, str]]:
        """Up to ``k`` (question, query) pairs of ``scope`` whose questions share the most weighted words."""
        words = {w.lower() for w in _WORD.findall(question)}
        if k <= 0 or not words:
            return []
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in sorted(words))
        with self.lock:
            rows = self.conn.execute(
                "SELECT e.question, e.query FROM examples_fts JOIN examples e ON e.id = examples_fts.rowid "
                "WHERE examples_fts MATCH ? AND e.scope = ? ORDER BY bm25(examples_fts), e.id DESC LIMIT ?",
                (match, scope, k)).fetchall()
        return [(q, s) for q, s in rows]

    def count(self, scope: str | None = None) -> int:
        with self.lock:
            if scope is None:
                return int(self.conn.execute("SELECT count(*) FROM examples").fetchone()[0])
            return int(self.conn.execute("SELECT count(*) FROM examples WHERE scope=?", (scope,)).fetchone()[0])
