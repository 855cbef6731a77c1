"""``nl2q serve``: the knowledge-graph search box, a page and a JSON API over one shared model.

Needs the ``serve`` extra (Starlette, uvicorn). See :mod:`nl2q.serve.app` for the API.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from ..errors import Nl2qError, require

DEFAULT_PORT = 8765


def default_store() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "nl2q" / "serve.sqlite3"


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(*, graph: str | None = None, db: str | None = None, model: Any = None, host: str = "127.0.0.1",
          port: int = DEFAULT_PORT, token: str | None = None, workers: int = 1, queue: int = 8,
          store: str | Path | None = None, max_rows: int = 500, rate_per_minute: float = 30.0,
          dialect: str | None = None, ready: Any = None) -> None:
    """Bind the sources, load the model once, and serve until interrupted. ``ready(url)`` is told the address."""
    require("starlette", "serve", "nl2q serve")
    require("uvicorn", "serve", "nl2q serve")
    import uvicorn

    from ..compiler import Compiler
    from ..policy import Policy
    from .app import Settings, Source, create_app

    if not graph and not db:
        raise Nl2qError("nothing to search", "pass --graph PATH|bolt://... and/or --db PATH")
    if not loopback(host) and not token:
        raise Nl2qError(f"refusing to serve on {host} without a token",
                        "pass --token (or set NL2Q_SERVE_TOKEN), or bind to 127.0.0.1")
    if workers < 1 or queue < 0:
        raise Nl2qError("--workers must be at least 1 and --queue at least 0")
    sources = []
    if graph:
        sources.append(Source("graph", "cypher", graph, dialect if not db else None))
    if db:
        sources.append(Source("db", "sql", db, dialect if not graph else None))
    compiler = Compiler(model, policy=Policy(max_rows=max_rows))
    app = create_app(Settings(sources=sources, store=Path(store) if store else default_store(), token=token,
                              workers=workers, max_waiting=queue, rate_per_minute=rate_per_minute), compiler)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
    print(f"nl2q: serving {', '.join(s.label for s in sources)} with {compiler.model.name} on {url}", flush=True)
    if ready is not None:
        ready(url)
    server.run()
