"""The offline event store: LogHub's structured logs as Splunk events in one DuckDB table.

Each LogHub system becomes an index (``hdfs``, ``openssh``, ...) with sourcetype ``loghub:<system>``,
``source`` its log file and ``host`` the column that names a machine where the log has one. Every
structured column is a field under its LogHub name (``Level``, ``Component``, ``Content``,
``EventId`` ...), typed BIGINT or DOUBLE when every value is a number, else VARCHAR; ``_raw`` is the
line of the original ``.log`` file and ``_time`` its timestamp. Where a log leaves out the year, the
year of the LogHub description is assumed (listed in ``SYSTEMS``).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ...errors import Nl2qError

TABLE = "events"
FIELDS = "_fields"  # field -> column, type and the index/sourcetype that has it (NULL: every event)
BASE_COLUMNS = ("_time", "_raw", "index", "sourcetype", "source", "host", "linecount")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                       "Dec"), start=1)}


def _epoch(row: dict[str, str], col: str) -> datetime:
    return datetime.fromtimestamp(int(row[col]), tz=timezone.utc).replace(tzinfo=None)


def _fmt(fmt: str, *cols: str, year: int | None = None) -> Callable[[dict[str, str]], datetime]:
    def parse(row: dict[str, str]) -> datetime:
        text = " ".join(row[c] for c in cols).replace(",", ".")
        when = datetime.strptime(text, fmt)
        return when.replace(year=year) if year is not None else when
    return parse


def _month_day(month: str, day: str, time: str, year: int) -> Callable[[dict[str, str]], datetime]:
    def parse(row: dict[str, str]) -> datetime:
        h, m, s = row[time].split(":")
        return datetime(year, _MONTHS[row[month]], int(row[day]), int(h), int(m), int(float(s)))
    return parse


def _health(text: str) -> datetime:
    """HealthApp writes ``20171223-22:15:29:606`` with unpadded fields (``22:15:2:6``)."""
    day, _, clock = text.partition("-")
    h, m, sec, ms = (int(x) for x in clock.split(":"))
    return datetime.strptime(day, "%Y%m%d").replace(hour=h, minute=m, second=sec, microsecond=ms * 1000)


@dataclass(frozen=True)
class System:
    name: str  # LogHub's directory
    time: Callable[[dict[str, str]], datetime]
    host: str | None = None  # the column naming the machine, when the log has one
    year_assumed: int | None = None


SYSTEMS: tuple[System, ...] = (
    System("Android", _fmt("%m-%d %H:%M:%S.%f", "Date", "Time", year=2017), None, 2017),
    System("Apache", _fmt("%a %b %d %H:%M:%S %Y", "Time")),
    System("BGL", lambda r: _epoch(r, "Timestamp"), "Node"),
    System("HDFS", _fmt("%y%m%d %H%M%S", "Date", "Time")),
    System("HPC", lambda r: _epoch(r, "Time"), "Node"),
    System("Hadoop", _fmt("%Y-%m-%d %H:%M:%S.%f", "Date", "Time")),
    System("HealthApp", lambda r: _health(r["Time"])),
    System("Linux", _month_day("Month", "Date", "Time", 2005), None, 2005),
    System("Mac", _month_day("Month", "Date", "Time", 2017), "User", 2017),
    System("OpenSSH", _month_day("Date", "Day", "Time", 2015), "Component", 2015),
    System("OpenStack", _fmt("%Y-%m-%d %H:%M:%S.%f", "Date", "Time")),
    System("Proxifier", _fmt("%m.%d %H:%M:%S", "Time", year=2016), None, 2016),
    System("Spark", _fmt("%y/%m/%d %H:%M:%S", "Date", "Time")),
    System("Thunderbird", lambda r: _epoch(r, "Timestamp"), "User"),
    System("Windows", _fmt("%Y-%m-%d %H:%M:%S", "Date", "Time")),
    System("Zookeeper", _fmt("%Y-%m-%d %H:%M:%S.%f", "Date", "Time")),
)


def _number_kind(values: Iterable[str]) -> str:
    kind = "BIGINT"
    seen = False
    for v in values:
        if v == "":
            continue
        seen = True
        if re.fullmatch(r"-?\d{1,18}", v):
            continue
        if re.fullmatch(r"-?\d+\.\d+", v):
            kind = "DOUBLE"
            continue
        return "VARCHAR"
    return kind if seen else "VARCHAR"


def read_system(root: Path, system: System) -> tuple[list[str], list[dict[str, object]]]:
    """One system's events: (its field names in file order, rows with the base columns and its fields)."""
    d = root / system.name
    structured = d / f"{system.name}_2k.log_structured.csv"
    raw = d / f"{system.name}_2k.log"
    if not structured.is_file():
        raise Nl2qError(f"LogHub data not found: {structured}", "point $NL2Q_BENCHMARKS at a directory holding loghub/")
    lines = raw.read_text(encoding="utf-8", errors="replace").splitlines() if raw.is_file() else []
    with structured.open(encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.DictReader(f)
        fields = [c for c in (reader.fieldnames or []) if c != "LineId"]
        rows: list[dict[str, object]] = []
        for rec in reader:
            line = int(rec["LineId"])
            try:
                when = system.time(rec)
            except (ValueError, KeyError, OverflowError) as exc:
                raise Nl2qError(f"{structured}:{line}: cannot read its timestamp ({exc})",
                                "the LogHub file differs from the one nl2q reads") from exc
            row: dict[str, object] = {
                "_time": when, "_raw": lines[line - 1] if 0 < line <= len(lines) else rec.get("Content", ""),
                "index": system.name.lower(), "sourcetype": f"loghub:{system.name.lower()}",
                "source": raw.name, "host": rec.get(system.host, "") if system.host else f"{system.name.lower()}-host",
                "linecount": 1}
            row.update({k: rec[k] for k in fields})
            rows.append(row)
    return fields, rows


def _physical_names(names: Sequence[str]) -> dict[str, str]:
    """Splunk field names are case-sensitive and DuckDB's are not: ``PID`` after ``Pid`` is stored as ``PID#2``."""
    taken = {c.lower() for c in BASE_COLUMNS}
    out = {}
    for n in names:
        name, k = n, 1
        while name.lower() in taken:
            k += 1
            name = f"{n}#{k}"
        taken.add(name.lower())
        out[n] = name
    return out


def build_store(db_path: str | Path, root: str | Path, systems: Sequence[str] | None = None) -> Path:
    """Write the LogHub events into ``db_path`` (DuckDB, table ``events``), replacing a previous store.

    Written to a temporary file and moved into place, so an interrupted build leaves nothing half-written.
    """
    import duckdb

    root = Path(root)
    chosen = [s for s in SYSTEMS if systems is None or s.name.lower() in {x.lower() for x in systems}]
    if systems is not None and len(chosen) != len(set(x.lower() for x in systems)):
        known = ", ".join(s.name.lower() for s in SYSTEMS)
        raise Nl2qError(f"unknown LogHub system in {list(systems)}", f"choose from {known}")
    columns: dict[str, list[str]] = {}
    owners: dict[str, set[tuple[str, str]]] = {}
    all_rows: list[dict[str, object]] = []
    for system in chosen:
        fields, rows = read_system(root, system)
        for f in fields:
            columns.setdefault(f, []).extend(str(r[f]) for r in rows)
            owners.setdefault(f, set()).add((system.name.lower(), f"loghub:{system.name.lower()}"))
        all_rows += rows
    kinds = {name: _number_kind(values) for name, values in columns.items()}
    names = [c for c in columns if c not in BASE_COLUMNS]
    physical = _physical_names(names)
    out = Path(db_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        cols = ['"_time" TIMESTAMP', '"_raw" VARCHAR', '"index" VARCHAR', '"sourcetype" VARCHAR',
                '"source" VARCHAR', '"host" VARCHAR', '"linecount" BIGINT']
        cols += [f'"{physical[n]}" {kinds[n]}' for n in names]
        con.execute(f"CREATE TABLE {TABLE} ({', '.join(cols)})")
        con.execute(f"CREATE TABLE {FIELDS} (field VARCHAR, \"column\" VARCHAR, type VARCHAR, \"index\" VARCHAR, "
                    "sourcetype VARCHAR)")
        meta = [(n, n, t, None, None) for n, t in zip(BASE_COLUMNS, ("TIMESTAMP", "VARCHAR", "VARCHAR", "VARCHAR",
                                                                     "VARCHAR", "VARCHAR", "BIGINT"))]
        meta += [(n, physical[n], kinds[n], idx, st) for n in names for idx, st in sorted(owners[n])]
        con.executemany(f"INSERT INTO {FIELDS} VALUES (?, ?, ?, ?, ?)", meta)

        def value(row: dict[str, object], n: str) -> object:
            v = row.get(n)
            if v is None or v == "":
                return None
            return int(v) if kinds[n] == "BIGINT" else float(v) if kinds[n] == "DOUBLE" else v  # type: ignore[arg-type]

        staged = out.with_name(out.name + ".jsonl")  # DuckDB reads a file far faster than row-by-row inserts
        try:
            with staged.open("w", encoding="utf-8") as f:
                for r in all_rows:
                    rec = {c: r[c] for c in BASE_COLUMNS} | {physical[n]: value(r, n) for n in names}
                    rec["_time"] = r["_time"].isoformat(sep=" ")  # type: ignore[attr-defined]
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            types = {"_time": "TIMESTAMP", "_raw": "VARCHAR", "index": "VARCHAR", "sourcetype": "VARCHAR",
                     "source": "VARCHAR", "host": "VARCHAR", "linecount": "BIGINT"}
            types |= {physical[n]: kinds[n] for n in names}
            spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}"
            con.execute(f"INSERT INTO {TABLE} SELECT * FROM read_json(?, format='newline_delimited', "
                        f"columns={spec})", [str(staged)])
        finally:
            staged.unlink(missing_ok=True)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    tmp.replace(out)
    return out
