"""The offline event store: LogHub's structured logs as events, one DuckDB table, fields mapped case-sensitively."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from nl2q.errors import Nl2qError
from nl2q.targets.spl.events import FIELDS, SYSTEMS, TABLE, build_store
from nl2q.targets.spl.schema import load_schema

LOGHUB = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks" / "loghub"
pytestmark = pytest.mark.skipif(not LOGHUB.is_dir(), reason="../shared/benchmarks/loghub is absent")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("spl") / "loghub.duckdb", LOGHUB)


def test_every_system_is_an_index_with_its_lines_and_timestamps(store: Path) -> None:
    con = duckdb.connect(str(store), read_only=True)
    rows = con.execute(f'SELECT "index", sourcetype, count(*), count(_time), min(_time) < max(_time) '
                       f"FROM {TABLE} GROUP BY ALL ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == sorted(s.name.lower() for s in SYSTEMS)
    assert all(r[1] == f"loghub:{r[0]}" and r[2] == 2000 and r[3] == 2000 and r[4] for r in rows)
    raw, content = con.execute(f"SELECT _raw, Content FROM {TABLE} WHERE \"index\" = 'hdfs' LIMIT 1").fetchone()
    assert content in raw and raw.startswith("0811")  # the original line, not the parsed content


def test_fields_that_differ_only_in_case_stay_apart(store: Path) -> None:
    schema = load_schema(store)
    pid, big = schema.field("Pid"), schema.field("PID")
    assert pid and big and pid.column != big.column
    assert "linux" in big.indexes and "linux" not in pid.indexes and "hdfs" in pid.indexes
    assert pid.type == "BIGINT" and schema.field("Level").type == "VARCHAR"
    con = duckdb.connect(str(store), read_only=True)
    assert con.execute(f'SELECT count(*) FROM {TABLE} WHERE "{big.column}" IS NOT NULL AND "index" = \'linux\'').fetchone()[0] > 0
    assert con.execute(f"SELECT count(DISTINCT field) FROM {FIELDS}").fetchone()[0] == len(schema.fields)


def test_a_chosen_subset_and_an_unknown_system(tmp_path: Path) -> None:
    out = build_store(tmp_path / "two.duckdb", LOGHUB, ["hdfs", "OpenSSH"])
    assert load_schema(out).indexes == ["hdfs", "openssh"]
    with pytest.raises(Nl2qError, match="unknown LogHub system"):
        build_store(tmp_path / "bad.duckdb", LOGHUB, ["hdfs", "nosuch"])
    assert not (tmp_path / "bad.duckdb").exists()


def test_a_failed_build_leaves_the_previous_store(tmp_path: Path) -> None:
    out = build_store(tmp_path / "s.duckdb", LOGHUB, ["hdfs"])
    broken = tmp_path / "broken"
    (broken / "HDFS").mkdir(parents=True)
    (broken / "HDFS" / "HDFS_2k.log_structured.csv").write_text("LineId,Date,Time,Content\n1,notadate,x,y\n")
    with pytest.raises(Nl2qError, match="cannot read its timestamp"):
        build_store(out, broken, ["hdfs"])
    assert load_schema(out).indexes == ["hdfs"]
