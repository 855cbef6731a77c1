"""The resumable results file, and atomic JSON writes for the summary."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class ResultStore:
    """``results.jsonl``: appended one whole line at a time (flushed and fsynced), never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.dropped_partial = 0
        self.bad_lines = 0
        if path.exists():
            self._load()
        self._f: Any = None

    def _load(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # A killed run left half a line: it is not a finished row. Cut it off so new rows start clean.
            keep = data.rfind(b"\n") + 1
            with self.path.open("r+b") as f:
                f.truncate(keep)
            self.dropped_partial = 1
            data = data[:keep]
        for line in data.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                self.rows[(row["item_id"], row["config"])] = row
            except (json.JSONDecodeError, KeyError, TypeError):
                self.bad_lines += 1

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self.rows

    def append(self, row: dict[str, Any]) -> None:
        key = (row["item_id"], row["config"])
        if key in self.rows:
            return
        line = json.dumps(row, ensure_ascii=False, default=str) + "\n"
        if self._f is None:
            self._f = self.path.open("a", encoding="utf-8")
        self._f.write(line)
        self._f.flush()
        os.fsync(self._f.fileno())
        self.rows[key] = row

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def write_json(path: Path, data: Any) -> None:
    """Write through a temporary file and rename, so a reader never sees half a summary."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
