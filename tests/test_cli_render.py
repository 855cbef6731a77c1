"""The CLI renders every kind of outcome: rows for queries; output, exit status and effects for the rest."""

from __future__ import annotations

from nl2q import DryRun, Effect
from nl2q.cli import render_outcome


def test_rows_render_as_a_table_with_their_count():
    lines = render_outcome(DryRun(True, "duckdb", "run", columns=["host", "cpus"], rows=[["web1", 8]], row_count=1))
    text = "\n".join(lines)
    assert "host | cpus" in text and "web1 | 8" in text and "(1 row(s)" in text


def test_scripts_render_output_exit_status_and_effects():
    dry = DryRun(True, "sandbox", "run", output="12K\t/srv/a\n", exit_status=0,
                 effects=[Effect("file.deleted", "/srv/a/old.log"), Effect("file.created", "/srv/a/x.gz", "2 KB")])
    text = "\n".join(render_outcome(dry))
    assert "12K\t/srv/a" in text and "exit status 0" in text
    assert "file.deleted /srv/a/old.log" in text and "file.created /srv/a/x.gz (2 KB)" in text
    assert "row(s)" not in text


def test_explained_but_not_run_shows_no_table():
    assert render_outcome(DryRun(True, "bolt", "explain", plan="Filter")) == []
