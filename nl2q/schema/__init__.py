"""Schemas: what names exist, and their types. One module per kind of store."""

from .sql import SqlSchema, Table, from_duckdb, from_mapping, from_spider, from_sqlite, load_schema, type_class

__all__ = ["SqlSchema", "Table", "from_duckdb", "from_mapping", "from_spider", "from_sqlite", "load_schema", "type_class"]
