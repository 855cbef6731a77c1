"""Load the text2cypher graphs with data (movies, northwind) into Ladybug and an ArcadeDB Bolt server.

    python eval/graph_data.py [--ladybug-dir DIR] [--no-bolt]

The readers and loaders are ``nl2q.targets.cypher.graph_data`` and ``graph_load`` (re-exported
here for the scripts). What lives here needs a source checkout: ``bolt_server`` starts ArcadeDB
through tests/graph_server.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from nl2q.targets.cypher.graph_data import (
    DATABASES, EXPECTED, NORTHWIND_FILES, GraphData, LoadError, Rel, graph_counts, northwind_script, read_csv_rows,
    read_graph, read_movies, read_northwind, source_dir,
)
from nl2q.targets.cypher.graph_load import (
    LADYBUG_TYPES, bolt_counts, ladybug_counts, ladybug_ddl, ladybug_type, load_bolt, load_ladybug, verify_bolt,
)

ROOT = Path(__file__).resolve().parent.parent
__all__ = ["DATABASES", "EXPECTED", "LADYBUG_TYPES", "NORTHWIND_FILES", "BoltServer", "GraphData", "LoadError", "Rel",
           "bolt_counts", "bolt_server", "graph_counts", "ladybug_counts", "ladybug_ddl", "ladybug_type", "load_bolt",
           "load_ladybug", "northwind_script", "read_csv_rows", "read_graph", "read_movies", "read_northwind",
           "source_dir", "verify_bolt"]


def _graph_server_module() -> Any:
    """tests/graph_server.py, which starts an ArcadeDB server with the Bolt plugin in a subprocess."""
    path = ROOT / "tests" / "graph_server.py"
    if not path.is_file():
        raise LoadError(f"{path} is missing: it starts the ArcadeDB Bolt server these loads run against")
    import importlib.util

    spec = importlib.util.spec_from_file_location("nl2q_tests_graph_server", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules.setdefault(spec.name, mod)  # type: ignore[union-attr]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@dataclass
class BoltServer:
    """A running server: its driver, address, databases and credentials."""

    driver: Any
    uri: str
    databases: tuple[str, ...]
    auth: tuple[str, str]

    @property
    def database(self) -> str:
        return self.databases[0]

    @property
    def uri_with_auth(self) -> str:
        """``bolt://user:password@host:port``, the form ``$NL2Q_BOLT_URI`` takes."""
        user, password = self.auth
        return self.uri.replace("bolt://", f"bolt://{user}:{password}@", 1)


@contextmanager
def bolt_server(*databases: str) -> Iterator[BoltServer]:
    """An ArcadeDB server (in a subprocess, temporary root) holding empty ``databases`` (default: nl2q); stopped on exit."""
    gs = _graph_server_module()
    names = databases or ("nl2q",)
    with tempfile.TemporaryDirectory(prefix="nl2q-arcadedb-") as root:
        server = gs.start_arcadedb(root, database=",".join(names))
        driver = None
        try:
            driver = server.driver()
            yield BoltServer(driver, server.uri, names, server.auth)
        finally:
            if driver is not None:
                driver.close()
            server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ladybug-dir", help="where to write <name>.lbug databases (default: a temporary directory)")
    ap.add_argument("--no-bolt", action="store_true", help="skip the ArcadeDB/Bolt load")
    ap.add_argument("names", nargs="*", default=list(DATABASES))
    args = ap.parse_args(argv)
    ok = True
    for name in args.names:
        c = read_graph(name).counts()
        print(f"source {name}: {c['nodes']} nodes, {c['relationships']} relationships; {c['labels']}; {c['types']}")
    with tempfile.TemporaryDirectory(prefix="nl2q-ladybug-") as tmp:
        out = Path(args.ladybug_dir or tmp)
        for name in args.names:
            t0 = time.perf_counter()
            try:
                path = load_ladybug(name, out / f"{name}.lbug", overwrite=True)
                print(f"ladybug {name}: counts match the source ({time.perf_counter() - t0:.2f} s) -> {path}")
            except Exception as e:  # noqa: BLE001
                ok = False
                print(f"ladybug {name}: FAILED: {e}")
    if not args.no_bolt:
        t0 = time.perf_counter()
        with bolt_server() as srv:
            print(f"ArcadeDB Bolt server up at {srv.uri} ({time.perf_counter() - t0:.1f} s)")
            for name in args.names:  # one database, loaded in turn (clear=True empties it first)
                try:
                    res = load_bolt(name, srv.driver, database=srv.database, clear=True)
                    print(f"bolt {name}: counts match the source ({res['seconds']} s); skipped: {res['skipped'] or 'nothing'}")
                except Exception as e:  # noqa: BLE001
                    ok = False
                    print(f"bolt {name}: FAILED: {e}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
