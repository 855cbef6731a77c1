"""The neo4j-labs text2cypher sets and schemas: ``nl2q.targets.cypher.text2cypher``, for the scripts here.

    python eval/text2cypher.py        # summary: rows per database, clean vs author-flagged
"""

from nl2q.targets.cypher.text2cypher import (
    COLUMNS, MISSING_SCHEMAS, SCHEMAS_FILE, SETS, TYPE_NAMES, Row, data_dir, load_rows, load_schema_texts, load_schemas,
    load_structured, structured_to_dict, summary, unique_keys,
)

__all__ = ["COLUMNS", "MISSING_SCHEMAS", "SCHEMAS_FILE", "SETS", "TYPE_NAMES", "Row", "data_dir", "load_rows",
           "load_schema_texts", "load_schemas", "load_structured", "structured_to_dict", "summary", "unique_keys"]

if __name__ == "__main__":
    print(summary())
