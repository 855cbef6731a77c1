"""Connections nl2q opens to SQL engines: one configuration per engine, shared by schema loading and dry runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# No files, network, extensions or caller's Python variables (replacement scans); bounded memory,
# spill and threads, so a dry run cannot take the machine. lock_configuration keeps a query from
# SET-ting any of it back.
DUCKDB_SAFE_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
    "memory_limit": "512MB",
    "max_temp_directory_size": "1GB",
    "threads": 1,
    "lock_configuration": True,
}


def open_duckdb(path: str | Path) -> Any:
    """A read-only DuckDB connection with external access off.

    Every connection nl2q opens to a file uses this one configuration: DuckDB refuses
    two connections to one file with different configurations in one process.
    """
    import duckdb

    return duckdb.connect(str(path), read_only=True, config=dict(DUCKDB_SAFE_CONFIG))
