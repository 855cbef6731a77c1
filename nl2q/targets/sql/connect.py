"""Connections nl2q opens to SQL engines: one configuration per engine, shared by schema loading and dry runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DUCKDB_SAFE_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


def open_duckdb(path: str | Path) -> Any:
    """A read-only DuckDB connection with external access off.

    Every connection nl2q opens to a file uses this one configuration: DuckDB refuses
    two connections to one file with different configurations in one process.
    """
    import duckdb

    return duckdb.connect(str(path), read_only=True, config=dict(DUCKDB_SAFE_CONFIG))
