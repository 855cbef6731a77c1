"""Bolt URIs: the one parser for ``bolt://user:password@host:port/database``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from ...errors import SchemaError

SCHEMES = ("bolt", "neo4j", "bolt+s", "neo4j+s", "bolt+ssc", "neo4j+ssc")
DEFAULT_PORT = 7687


@dataclass(frozen=True)
class BoltTarget:
    """Where to connect, with what credentials, to which database (None: the server's default)."""

    uri: str  # scheme://host:port, no credentials
    auth: tuple[str, str]
    database: str | None

    def __repr__(self) -> str:  # never print the password
        return f"BoltTarget({self.uri!r}, user={self.auth[0]!r}, database={self.database!r})"


def is_bolt_uri(source: object) -> bool:
    return isinstance(source, str) and source.split("://", 1)[0].lower() in SCHEMES


def parse_bolt_uri(uri: str) -> BoltTarget:
    """Credentials from the URI, else ``$NL2Q_BOLT_USER``/``$NL2Q_BOLT_PASSWORD``; port 7687 when omitted."""
    parts = urlsplit(uri)
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise SchemaError(f"not a Bolt URI: {uri.split('@')[-1]!r}",
                          "use bolt://user:password@host:port[/database]")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise SchemaError(f"invalid port in Bolt URI {uri.split('@')[-1]!r}", "use a number, e.g. :7687") from None
    user = unquote(parts.username) if parts.username else os.environ.get("NL2Q_BOLT_USER", "neo4j")
    password = unquote(parts.password) if parts.password else os.environ.get("NL2Q_BOLT_PASSWORD", "")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    clean = urlunsplit((parts.scheme, f"{host}:{port}", "", "", ""))
    return BoltTarget(clean, (user, password), parts.path.strip("/") or None)
